"""Bundles to refuse: the shipped one, a box's channels, a manifest field set to anything."""
from __future__ import annotations

import json
from pathlib import Path

from edge_agent.bundles.model_store import BoxSensors
from models.anomaly.bundle import MANIFEST
from sensors.frame import BOX_CHANNELS

DEFAULT_BUNDLE = Path(__file__).resolve().parents[2] / "models" / "bundles" / "default"


BOX = BoxSensors(tuple(BOX_CHANNELS), 200.0)


def set_field(bundle: Path, dotted: str, literal: str) -> None:
    """Write ``literal`` (raw JSON text, e.g. ``1e999``) as the value of ``dotted``."""
    manifest = json.loads(manifest_text(bundle))
    node = manifest
    *parents, leaf = dotted.split(".")
    for part in parents:
        node = node[part]
    node[leaf] = "@@VALUE@@"
    (bundle / MANIFEST).write_text(json.dumps(manifest).replace('"@@VALUE@@"', literal))


def manifest_text(bundle: Path) -> str:
    return (bundle / MANIFEST).read_text()
