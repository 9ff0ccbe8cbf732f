"""An athlete overlay and the live window decision (issue 26): on the default bundle an overlay
moves windows by the platform channels' static offsets only (body mass and bar load on the load
cells), not by the enrolment session's IMU bias or its rep windows' feature medians."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from evaluation.simfaults import enrolment_overlay
from liftguard.box import run_box_session as run_session
from models.anomaly import load_bundle
from models.anomaly.overlay import overlay_dir, save_overlay
from models.anomaly.segments import set_segments, simulated_athlete
from sensors.frame import PLATFORM_CHANNELS
from sensors.simulator import SimulatorSource, simulate_set
from tests.support.command_support import BUNDLE
from tests.support.daemon_helpers import NO_PINS, config

ALERTED_SEED = 10_006
"""The clean deadlift set of `liftguard evaluate --with-profile` whose first rep alerted live
(at 2.6 s) when the whole overlay shifted its windows."""


def test_a_clean_deadlift_set_with_the_athletes_overlay_gets_no_live_alert(tmp_path, caplog):
    caplog.set_level("INFO", logger="edge_agent.daemon.sessions")
    model = load_bundle(BUNDLE)
    athlete = simulated_athlete("deadlift", np.random.default_rng([ALERTED_SEED, 17]))
    cfg = config(tmp_path / "data", daemon={"model_bundle": str(BUNDLE)}, feedback={"console": False, **NO_PINS})
    email = "lifter@example.com"
    save_overlay(overlay_dir(cfg.data_dir / "athletes", email, "deadlift"), model,
                 enrolment_overlay(model, "deadlift", ALERTED_SEED), {"lift": "deadlift", "reps": 6})
    source = SimulatorSource(lift="deadlift", reps=6, seed=ALERTED_SEED, realtime=False,
                             athlete_mass_kg=athlete.body_mass_kg, bar_load_kg=athlete.bar_load_kg)
    result = run_session(cfg, source, "deadlift", realtime=False, athlete=email)
    assert f"using {email}'s calibrated deadlift overlay" in caplog.text
    assert result.alerts == []


def test_an_overlay_moves_windows_by_the_platform_offsets_only():
    model = load_bundle(BUNDLE)
    overlay = enrolment_overlay(model, "deadlift", ALERTED_SEED)
    platform = np.array([ch in PLATFORM_CHANNELS for ch in model.channels])
    static_only = replace(overlay, channel_offset=np.where(platform, overlay.channel_offset, 0.0),
                          window_feature_centre=np.zeros_like(overlay.window_feature_centre))
    athlete = simulated_athlete("deadlift", np.random.default_rng([ALERTED_SEED, 17]))
    clean = simulate_set("deadlift", reps=2, seed=ALERTED_SEED, athlete_mass_kg=athlete.body_mass_kg,
                         bar_load_kg=athlete.bar_load_kg)
    window = set_segments(clean.frames, "deadlift", model.channels, model.sample_rate_hz).reps[0][:model.window_len]
    with_overlay = model.score_window(window, overlay)
    assert with_overlay.fused_p == model.score_window(window, static_only).fused_p
    assert with_overlay.fused_p != model.score_window(window).fused_p, "the body-mass offset still applies"
