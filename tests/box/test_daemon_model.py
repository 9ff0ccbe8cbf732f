"""The daemon with the default bundle: ModelScorer fused with the rules, alerts, refusals."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from edge_agent.daemon.recent import rows
from edge_agent.daemon.scoring import ModelScorer, RuleScorer, Window, make_scorer
from liftguard.box import run_box_session as run_session
from models import align_frames
from models.anomaly import load_bundle
from sensors.frame import BOX_CHANNELS, IMU_CHANNELS, PLATFORM_CHANNELS
from sensors.simulator import SimulatorSource, simulate_set
from tests.support.daemon_helpers import NO_PINS, config

BUNDLE = Path(__file__).resolve().parents[2] / "models" / "bundles" / "default"


def _session(tmp_path: Path, bundle: Path, faults: dict[int, str], seed: int = 3, reps: int = 5):
    cfg = config(tmp_path / "data", daemon={"model_bundle": str(bundle)}, feedback={"console": False, **NO_PINS})
    source = SimulatorSource(lift="squat", reps=reps, faults=faults, seed=seed, realtime=False)
    return source, run_session(cfg, source, "squat", realtime=False, athlete="lifter@example.com")


def test_daemon_uses_the_bundle_and_alerts_live_on_an_injected_tremor(tmp_path):
    # tremor is not one of the live metric rules: a live alert here comes from the model
    source, result = _session(tmp_path, BUNDLE, {3: "tremor"})
    assert result.status["model"]["kind"] == "model" and result.status["model_reason"] is None
    truth = source.set.reps[2]
    hits = [a for a in result.alerts if truth.fault_onset_s <= a["t_s"] <= truth.end_s + 0.5]
    assert hits, result.alerts
    assert hits[0]["reason"].endswith("(anomaly model)")
    assert not [a for a in result.alerts if a["t_s"] < source.set.reps[2].start_s], "no alert on the clean reps before it"


def test_a_tampered_bundle_is_refused_with_the_reason_and_rules_take_over(tmp_path):
    copy = tmp_path / "bundle"
    shutil.copytree(BUNDLE, copy)
    detectors = copy / "detectors.joblib"
    data = bytearray(detectors.read_bytes())
    data[len(data) // 2] ^= 0xFF
    detectors.write_bytes(bytes(data))
    source, result = _session(tmp_path, copy, {2: "tilt"}, reps=3)
    assert result.status["model"] is None
    assert "SHA-256 mismatch" in result.status["model_reason"] and "detectors.joblib" in result.status["model_reason"]
    truth = source.set.reps[1]
    assert any(truth.fault_onset_s <= a["t_s"] <= truth.end_s + 0.5 for a in result.alerts), "rules still alert"


def test_cheap_window_resample_matches_align_frames():
    """The per-hop np.interp of the loop's rows gives the model what align_frames would."""
    scorer, info, reason = make_scorer(BUNDLE, 0.9)
    assert isinstance(scorer, ModelScorer), reason
    model = scorer.model
    frames = simulate_set("squat", reps=1, seed=2).frames
    end_ns = frames[len(frames) // 2].mono_ns
    recent = [f for f in frames if end_ns - 1_500_000_000 < f.mono_ns <= end_ns]
    imu = [f for f in recent if f.source == "imu"]
    plat = [f for f in recent if f.source == "platform"]
    window = Window(end_ns, rows(imu, IMU_CHANNELS), np.array([f.mono_ns for f in imu]),
                    rows(plat, PLATFORM_CHANNELS), np.array([f.mono_ns for f in plat]), [])
    got = scorer.window_rows(window)
    # align_frames on a grid ending at end_ns
    start = end_ns - (model.window_len - 1) * 10_000_000
    aligned = align_frames([f for f in recent if f.mono_ns >= start - 20_000_000], rate_hz=model.sample_rate_hz)
    expected = aligned.stack(BOX_CHANNELS)
    t_ns = aligned.t0_ns + np.round(aligned.t * 1e9).astype(np.int64)
    pick = [int(np.argmin(np.abs(t_ns - (start + k * 10_000_000)))) for k in range(model.window_len)]
    assert got.shape == (model.window_len, len(BOX_CHANNELS))
    scale = np.nanmax(np.abs(expected[pick]), axis=0) + 1e-9
    assert np.nanmax(np.abs(got - expected[pick]) / scale) < 0.05


def test_a_gap_in_the_window_is_not_scored_as_normal():
    scorer, _, _ = make_scorer(BUNDLE, 0.9)
    frames = [f for f in simulate_set("squat", reps=1, seed=2).frames]
    end_ns = frames[len(frames) // 2].mono_ns
    recent = [f for f in frames if end_ns - 1_000_000_000 < f.mono_ns <= end_ns
              and not (f.source == "imu" and end_ns - 600_000_000 < f.mono_ns < end_ns - 400_000_000)]
    imu = [f for f in recent if f.source == "imu"]
    plat = [f for f in recent if f.source == "platform"]
    window = Window(end_ns, rows(imu, IMU_CHANNELS), np.array([f.mono_ns for f in imu]),
                    rows(plat, PLATFORM_CHANNELS), np.array([f.mono_ns for f in plat]), [])
    assert np.isnan(scorer._model_score(window).probability)


def test_without_a_bundle_the_rules_decide(tmp_path):
    scorer, info, reason = make_scorer(tmp_path / "none", 0.9)
    assert isinstance(scorer, RuleScorer) and info is None and "no model bundle" in reason


def test_the_model_flags_the_faulty_rep_and_only_it():
    """What the session worker hands to rep_feedback: the attribution of flagged reps."""
    from models import analyze_frames
    from models.anomaly.segments import flagged_attribution, rep_decisions

    model = load_bundle(BUNDLE)
    sset = simulate_set("squat", reps=5, faults={3: "fast_eccentric"}, seed=8)
    reps = analyze_frames(sset.frames, "squat").reps
    flagged = [flagged_attribution(d) is not None for d in rep_decisions(model, sset.frames, reps)]
    truth = sset.reps[2]
    faulty = [min(r.end_s, truth.end_s) - max(r.start_s, truth.start_s) > 0 for r in reps]
    assert any(f and g for f, g in zip(faulty, flagged))
    assert not any(g and not f for f, g in zip(faulty, flagged)), (faulty, flagged)
