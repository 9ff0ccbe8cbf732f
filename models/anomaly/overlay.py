"""Per-athlete overlay on a shared bundle: the athlete's clean norm relative to the population's.

People differ more than reps (build, body mass on the load cells, style). An overlay moves an
athlete's signals and features onto the population norm the bundle was trained around:
``overlay = athlete profile - population profile`` (channel means, median window features,
median rep features; ``AnomalyModel.enrol`` computes the athlete's from a few clean reps,
the bundle's manifest holds the population's under ``population_norm``). Scoring with the
overlay subtracts it, so a heavy athlete's larger corner forces are not an anomaly, while a
shift away from *their own* norm still is. Rep decisions use the whole overlay; live windows
only its platform channels' static offsets (``AnomalyModel.score_window``, docs/models.md).
The detectors, the autoencoder and the thresholds stay the base bundle's.

On disk an overlay is a directory with ``overlay.json`` (the three vectors as JSON arrays,
no pickle) and ``manifest.json`` holding its SHA-256 and the SHA-256 of the base bundle's
manifest it was made for. Loading verifies both before reading the vectors, and refuses an
overlay made for another bundle.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from models.anomaly.bundle import MANIFEST, sha256_file
from models.anomaly.errors import OverlayError
from models.anomaly.model import AnomalyModel
from models.anomaly.pipeline import AthleteProfile

POPULATION_KEY = "population_norm"
OVERLAY_FILE = "overlay.json"
OVERLAY_FORMAT = 1
MIN_CLEAN_REPS = 3
"""Fewest clean reps an overlay is made from (`calibrate athlete`, coach-label profiles)."""


def overlay_dir(root: Path, athlete: str, lift: str) -> Path:
    """``<root>/<sha256(lower-cased email)[:16]>/<lift>``: no e-mail address in a path."""
    digest = hashlib.sha256(athlete.strip().lower().encode()).hexdigest()[:16]
    return Path(root) / digest / lift


def population_profile(model: AnomalyModel) -> AthleteProfile:
    norm = model.manifest.get(POPULATION_KEY)
    if not norm:
        raise OverlayError(f"bundle {model.bundle_dir} has no population norm; retrain it with "
                           "`liftguard train` to use athlete overlays")
    return AthleteProfile.from_dict(norm)


def make_overlay(model: AnomalyModel, clean_reps: list[np.ndarray]) -> AthleteProfile:
    """The overlay for an athlete from their clean rep segments (bundle channels and rate)."""
    athlete, population = model.enrol(clean_reps), population_profile(model)
    return AthleteProfile(athlete.channel_offset - population.channel_offset,
                          athlete.window_feature_centre - population.window_feature_centre,
                          athlete.rep_feature_centre - population.rep_feature_centre,
                          athlete.rep_distance_baseline)


def bundle_id(model: AnomalyModel) -> str:
    """SHA-256 of the manifest of the bundle ``model`` was loaded from: a retrained bundle
    installed at the same path has another."""
    if model.bundle_dir is None:
        raise OverlayError("the model was not loaded from a bundle directory")
    return sha256_file(Path(model.bundle_dir) / MANIFEST)


def save_overlay(directory: Path, model: AnomalyModel, overlay: AthleteProfile, meta: dict[str, Any]) -> Path:
    """Write an overlay atomically (replacing an older one)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    body = directory / OVERLAY_FILE
    tmp = body.with_suffix(".tmp")
    tmp.write_text(json.dumps({"format": OVERLAY_FORMAT, **overlay.to_dict()}))
    os.replace(tmp, body)
    manifest = {"format": OVERLAY_FORMAT, "base_bundle_manifest_sha256": bundle_id(model),
                "files": {OVERLAY_FILE: sha256_file(body)},
                "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"), **meta}
    tmp = directory / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True))
    os.replace(tmp, directory / MANIFEST)
    return directory


def load_overlay(directory: Path, model: AnomalyModel) -> AthleteProfile:
    """Verify and read an overlay for ``model``; raises ``OverlayError`` naming the problem."""
    directory = Path(directory)
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
    except FileNotFoundError as exc:
        raise OverlayError(f"{directory}: no athlete overlay") from exc
    except (OSError, ValueError) as exc:
        raise OverlayError(f"{directory / MANIFEST}: unreadable: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != OVERLAY_FORMAT:
        raise OverlayError(f"{directory / MANIFEST}: unknown overlay format")
    if manifest.get("base_bundle_manifest_sha256") != bundle_id(model):
        raise OverlayError(f"{directory}: made for another model bundle; calibrate the athlete again")
    expected = str((manifest.get("files") or {}).get(OVERLAY_FILE))
    body = directory / OVERLAY_FILE
    if not body.is_file() or not hmac.compare_digest(sha256_file(body), expected):
        raise OverlayError(f"{body}: missing or SHA-256 mismatch; overlay altered or corrupt")
    data = json.loads(body.read_text())
    try:
        profile = AthleteProfile.from_dict(data)
    except (ValueError, TypeError, KeyError) as exc:
        raise OverlayError(f"{body}: {exc}") from exc
    sizes = (model.geometry.n_channels, len(model.components.window_median), len(model.components.rep_median))
    if tuple(len(v) for v in (profile.channel_offset, profile.window_feature_centre, profile.rep_feature_centre)) != sizes:
        raise OverlayError(f"{body}: vector sizes do not match the bundle")
    return profile
