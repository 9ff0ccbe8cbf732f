"""Which model bundle decides: one rule for every command that decides (run, demo, replay,
calibrate athlete, ...), so the same data gets the same decisions everywhere.

1. ``[daemon] model_bundle`` when set (an explicit choice; a missing bundle there means the
   metric rules, with the reason in the log and ``/status``);
2. else the installed bundle, ``<data_dir>/models/default`` (``liftguard model install``);
3. else the bundle shipped with the software, ``models/bundles/default``: the reason is logged
   once per process and shown in ``/status`` as ``model_reason``.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SHIPPED_BUNDLE = Path(__file__).resolve().parents[2] / "models" / "bundles" / "default"
MANIFEST = "manifest.json"
_logged: set[str] = set()


def installed_bundle(cfg: Any) -> Path:
    """The path the box's installed bundle lives at (usually the ``models/default`` link)."""
    return cfg.data_path(cfg.get("daemon.model_bundle"), "models/default")


def choose_bundle(cfg: Any, shipped: Path = SHIPPED_BUNDLE) -> tuple[Path, str | None]:
    """(bundle path to load, why it is the shipped one, or None)."""
    installed = installed_bundle(cfg)
    if cfg.get("daemon.model_bundle") or (installed / MANIFEST).exists():
        return installed, None
    if not (shipped / MANIFEST).exists():
        return installed, None
    reason = (f"no model bundle installed at {installed}: using the bundle shipped with "
              f"liftguard, {shipped} ('liftguard model install DIR' installs another)")
    if reason not in _logged:
        _logged.add(reason)
        log.info("%s", reason)
    return shipped, reason


def pin_bundle(values: dict[str, dict[str, Any]], cfg: Any) -> None:
    """For commands that run the daemon on another data directory (demo, replay): decide with
    the bundle ``cfg``'s box would use, not with whatever that directory holds."""
    values["daemon"]["model_bundle"] = str(choose_bundle(cfg)[0])
