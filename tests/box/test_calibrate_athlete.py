"""`liftguard calibrate athlete`: an overlay from a stored clean session, verified, used by the daemon."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from liftguard.box import box_daemon
from liftguard.box import run_box_session as run_session
from liftguard.cli import main
from models.analysis import analyze_frames
from models.anomaly import load_bundle
from models.anomaly.errors import OverlayError
from models.anomaly.overlay import load_overlay, make_overlay, overlay_dir, save_overlay
from models.anomaly.segments import rep_decisions, set_segments
from sensors.simulator import SimulatorSource, set_style, simulate_set
from tests.support.daemon_helpers import NO_PINS

BUNDLE = Path(__file__).resolve().parents[2] / "models" / "bundles" / "default"
ATHLETE = "Heavy.Lifter@example.com"
HEAVY = {"athlete_mass_kg": 125.0, "bar_load_kg": 140.0}   # heavier than any simulated training athlete


@pytest.fixture(scope="module")
def model():
    return load_bundle(BUNDLE)


def _config_file(tmp_path: Path) -> Path:
    path = tmp_path / "liftguard.toml"
    pins = "\n".join(f"{k} = {v}" for k, v in NO_PINS.items())
    path.write_text(f'[device]\nid = "t"\ndata_dir = "{tmp_path / "data"}"\nsecrets_file = ""\n'
                    f'[daemon]\nmodel_bundle = "{BUNDLE}"\n[feedback]\nconsole = false\n{pins}\n')
    return path


def test_overlay_round_trip_and_refusals(tmp_path, model):
    sset = simulate_set("squat", reps=6, seed=5, **HEAVY)
    reps = set_segments(sset.frames, "squat", model.channels, model.sample_rate_hz).reps
    overlay = make_overlay(model, reps)
    directory = save_overlay(overlay_dir(tmp_path, ATHLETE, "squat"), model, overlay, {"lift": "squat"})
    assert ATHLETE.lower() not in str(directory).lower()
    assert directory == overlay_dir(tmp_path, ATHLETE.lower(), "squat"), "e-mail case does not matter"
    loaded = load_overlay(directory, model)
    for key in ("channel_offset", "window_feature_centre", "rep_feature_centre"):
        np.testing.assert_allclose(getattr(loaded, key), getattr(overlay, key))
    # the heavy athlete's clean reps look more normal against their own overlay
    assert np.median(model.score_segments(reps, overlay)) < np.median(model.score_segments(reps))

    body = directory / "overlay.json"
    data = json.loads(body.read_text())
    data["channel_offset"][0] += 1.0
    body.write_text(json.dumps(data))
    with pytest.raises(OverlayError, match="SHA-256 mismatch"):
        load_overlay(directory, model)


def test_overlay_for_another_bundle_is_refused(tmp_path, model):
    other_dir = tmp_path / "other"
    shutil.copytree(BUNDLE, other_dir)
    manifest = json.loads((other_dir / "manifest.json").read_text())
    manifest["created_utc"] = "another training run"
    (other_dir / "manifest.json").write_text(json.dumps(manifest))
    other = load_bundle(other_dir)
    reps = set_segments(simulate_set("squat", reps=4, seed=6).frames, "squat", model.channels, 100.0).reps
    directory = save_overlay(tmp_path / "ov", other, make_overlay(other, reps), {})
    with pytest.raises(OverlayError, match="another model bundle"):
        load_overlay(directory, model)


def test_cli_from_a_stored_session_and_the_daemon_uses_it(tmp_path, capsys):
    cfg_file = _config_file(tmp_path)
    from liftguard.config import load_config

    cfg = load_config(cfg_file)
    source = SimulatorSource(lift="squat", reps=5, seed=9, realtime=False, **HEAVY)
    session = run_session(cfg, source, "squat", realtime=False, athlete=ATHLETE).session_id
    rc = main(["--config", str(cfg_file), "calibrate", "athlete", "--athlete", ATHLETE, "--lift", "squat",
               "--session", session])
    assert rc == 0, capsys.readouterr()
    directory = overlay_dir(cfg.data_dir / "athletes", ATHLETE, "squat")
    assert (directory / "overlay.json").is_file()
    assert f"session {session}" in capsys.readouterr().out

    daemon = box_daemon(cfg, sources=[SimulatorSource(lift="squat", reps=1, seed=1, realtime=False)], api=False,
                    console=False)
    try:
        daemon.sessions.start("squat", ATHLETE, reason="api")
        daemon.loop._follow_session()
        assert daemon.scorer.profile is not None
        np.testing.assert_allclose(daemon.scorer.profile.channel_offset,
                                   load_overlay(directory, daemon.scorer.model).channel_offset)
        daemon.sessions.end(None, "api")
        daemon.sessions.start("squat", "someone.else@example.com", reason="api")
        daemon.loop._follow_session()
        assert daemon.scorer.profile is None
    finally:
        daemon.close()


@pytest.mark.parametrize("extra, message", [
    (["--reps", "5"], "record a clean set as a session"),
    (["--session", "no-such-session"], "no local store at"),   # nothing recorded, none created
])
def test_cli_refusals(tmp_path, capsys, extra, message):
    cfg_file = _config_file(tmp_path)
    rc = main(["--config", str(cfg_file), "calibrate", "athlete", "--athlete", ATHLETE, "--lift", "squat", *extra])
    assert rc == 2
    assert message in capsys.readouterr().err


def test_session_with_flagged_reps_is_refused_until_each_is_confirmed(tmp_path, capsys):
    import re

    cfg_file = _config_file(tmp_path)
    from liftguard.config import load_config

    cfg = load_config(cfg_file)
    source = SimulatorSource(lift="squat", reps=5, faults={2: "tilt"}, seed=9, realtime=False,
                             **HEAVY)
    session = run_session(cfg, source, "squat", realtime=False, athlete=ATHLETE).session_id
    argv = ["--config", str(cfg_file), "calibrate", "athlete", "--athlete", ATHLETE,
            "--lift", "squat", "--session", session]
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    confirm = re.search(r"--confirm-clean ([\d,]+)", err).group(1)
    assert "2" in confirm.split(",") and "rep 2:" in err
    directory = overlay_dir(cfg.data_dir / "athletes", ATHLETE, "squat")
    assert not (directory / "overlay.json").exists()
    assert main(argv + ["--confirm-clean", confirm.replace("2", "").strip(",") or "0"]) == 2
    assert main(argv + ["--confirm-clean", confirm]) == 0, capsys.readouterr()
    assert (directory / "overlay.json").is_file()


STEADY = {"athlete_mass_kg": 80.0, "bar_load_kg": 90.0, "rep_variability": 0.5}


def _steady_source(seed: int, faults: dict[int, str] | None = None) -> SimulatorSource:
    """A steady athlete (half the usual rep-to-rep spread): their own depth and tempo in every
    set (``set_style``)."""
    return SimulatorSource(lift="squat", reps=6, seed=seed, faults=faults, realtime=False,
                           style=set_style("squat", 21), **STEADY)


def test_a_calibrated_profile_brings_the_enrolment_baseline_into_the_rep_decision(tmp_path, capsys):
    """The shipped bundle has a rep decision for athletes with a profile. After `calibrate
    athlete` on a steady athlete's clean session, the daemon's next session of theirs loads the
    overlay, which carries their enrolment baseline, and decides reps with it: a sticking point
    the population decision lets through (the form rules catch it too) is flagged, and the
    same set's clean reps are not."""
    from liftguard.config import load_config

    cfg_file = _config_file(tmp_path)
    cfg = load_config(cfg_file)
    session = run_session(cfg, _steady_source(21), "squat", realtime=False, athlete=ATHLETE).session_id
    assert main(["--config", str(cfg_file), "calibrate", "athlete", "--athlete", ATHLETE, "--lift", "squat",
                 "--session", session]) == 0, capsys.readouterr()
    directory = overlay_dir(cfg.data_dir / "athletes", ATHLETE, "squat")
    baseline = json.loads((directory / "overlay.json").read_text())["rep_distance_baseline"]
    assert baseline > 0

    faulty = _steady_source(1021, {4: "sticking_point"})
    daemon = box_daemon(cfg, sources=[faulty], api=False, console=False)
    try:
        daemon.sessions.start("squat", ATHLETE, reason="api")
        daemon.loop._follow_session()
        model, profile = daemon.scorer.model, daemon.scorer.profile
        assert model.manifest["profile_rep"]["rep_baseline_weight"] == 0.75
        assert model.uses_profile_rep(profile) and profile.rep_distance_baseline == baseline
    finally:
        daemon.close()
    later = simulate_set(**faulty._params)
    reps = analyze_frames(later.frames, "squat").reps
    truth = later.reps[3]
    k = max(range(len(reps)), key=lambda i: min(reps[i].end_s, truth.end_s) - max(reps[i].start_s, truth.start_s))
    with_profile, population = rep_decisions(model, later.frames, reps, profile), rep_decisions(model, later.frames, reps)
    assert with_profile[k].anomalous and not population[k].anomalous
    assert not any(d.anomalous for i, d in enumerate(with_profile) if i != k)
