"""A box updated with a retrained bundle at the same path rebuilds its athletes' profiles.

Overlays are tied to the manifest of the bundle they were made for and are refused by another
one, so an update that installs a new bundle where the old one was must not look like "nothing
changed" to the refresher, or every athlete silently falls back to the population decision."""
from __future__ import annotations

import json
import shutil

import pytest

from edge_agent.daemon.profiles import ProfileRefresher
from liftguard.box import box_daemon, run_box_session
from models.anomaly import load_bundle
from models.anomaly.errors import OverlayError
from models.anomaly.overlay import load_overlay, overlay_dir
from sensors.simulator import SimulatorSource
from sync.labels import RepLabel
from tests.support.command_support import BUNDLE
from tests.support.daemon_helpers import NO_PINS, config

ATHLETE = "steady@example.org"


def test_a_retrained_bundle_at_the_same_path_rebuilds_the_profiles(tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(BUNDLE, bundle)
    cfg = config(tmp_path / "box", daemon={"model_bundle": str(bundle)},
                 feedback={"console": False, **NO_PINS})
    run = run_box_session(cfg, SimulatorSource(reps=5, seed=4, realtime=False), "squat",
                          realtime=False, athlete=ATHLETE)
    labels = [RepLabel(run.session_id, n, "clean", "a1", ATHLETE, "squat") for n in range(1, 5)]
    daemon = box_daemon(cfg, sources=[SimulatorSource(reps=1, realtime=False)], api=False,
                        console=False)
    installed = {"model": load_bundle(bundle)}
    refresher = ProfileRefresher(daemon.store, lambda: installed["model"], cfg.data_dir)
    directory = overlay_dir(cfg.data_dir / "athletes", ATHLETE, "squat")
    try:
        assert [r.rep_count for r in refresher.refresh(labels)] == [4]
        load_overlay(directory, installed["model"])
        assert refresher.refresh(labels) == [], "same labels, same bundle: nothing to rebuild"

        manifest = json.loads((bundle / "manifest.json").read_text())
        manifest["created_utc"] = "2027-01-01T00:00:00+00:00"
        (bundle / "manifest.json").write_text(json.dumps(manifest))
        installed["model"] = load_bundle(bundle)
        with pytest.raises(OverlayError):
            load_overlay(directory, installed["model"])

        assert [r.rep_count for r in refresher.refresh(labels)] == [4], \
            "a new bundle at the same path rebuilds the overlay"
        load_overlay(directory, installed["model"])
    finally:
        daemon.close()
