"""SimulatorSource pacing and config, and `liftguard simulate`."""
from __future__ import annotations

import json

import pytest

from liftguard.cli import main
from liftguard.config import load_config
from sensors.clock import ManualClock
from sensors.recording import labels_path_for, read_labels, read_recording
from sensors.simulator import SimulatorSource, simulate_set


def drain(src, clock=None, step_s=0.0):
    frames, polls = [], 0
    while not src.exhausted:
        frames.extend(src.poll())
        polls += 1
        if clock is not None:
            clock.advance(step_s)
    return frames, polls


def test_unpaced_source_yields_the_whole_set_in_100ms_chunks():
    clock = ManualClock(mono_ns=3_000_000_000)
    src = SimulatorSource(lift="bench_press", reps=2, seed=5, realtime=False, clock=clock)
    src.start()
    frames, polls = drain(src)
    ref = simulate_set(lift="bench_press", reps=2, seed=5, start_mono_ns=3_000_000_000,
                       start_wall_s=clock.wall_s())
    assert [f.values for f in frames] == [f.values for f in ref.frames]
    assert [f.mono_ns for f in frames] == [f.mono_ns for f in ref.frames]
    assert {f.source for f in frames} == {"imu", "platform"}
    assert polls == pytest.approx(ref.duration_s / 0.1, abs=2)
    assert src.health.state == "finished" and src.poll() == []


def test_realtime_source_releases_frames_as_the_clock_moves():
    clock = ManualClock(mono_ns=10_000_000_000)
    src = SimulatorSource(reps=1, seed=2, realtime=True, clock=clock)
    src.start()
    assert len(src.poll()) == 2                        # imu + platform at t = 0
    assert src.poll() == []
    clock.advance(1.0)
    batch = src.poll()
    assert sum(f.source == "imu" for f in batch) == 200
    assert sum(f.source == "platform" for f in batch) == 80
    assert max(f.mono_ns for f in batch) <= clock.mono_ns()
    assert not src.exhausted
    clock.advance(src.set.duration_s)
    src.poll()
    assert src.exhausted


def test_from_config_uses_the_simulator_section():
    section = dict(load_config(None).section("simulator"))
    section.update(lift="deadlift", reps=3, faults="tremor@2", seed=99, realtime=False)
    src = SimulatorSource.from_config(section, clock=ManualClock())
    src.start()
    assert src.realtime is False
    assert src.set.lift == "deadlift" and len(src.set.reps) == 3
    assert src.set.reps[1].fault == "tremor" and src.set.seed == 99


def test_cli_simulate_writes_recording_and_labels(tmp_path, capsys):
    out = tmp_path / "rec.csv"
    rc = main(["simulate", "--lift", "squat", "--reps", "3", "--faults", "lateral_sway@2",
               "--seed", "7", "--out", str(out), "--athlete-kg", "90", "--bar-kg", "100",
               "--imu-rate", "250", "--platform-rate", "80", "--json"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["files"] == [str(out), str(labels_path_for(out))]
    rec = read_recording(out)
    assert rec.sources == ("imu", "platform")
    labels = read_labels(labels_path_for(out))
    assert [r.fault for r in labels] == [None, "lateral_sway", None]
    ref = simulate_set(lift="squat", reps=3, faults={2: "lateral_sway"}, seed=7,
                       athlete_mass_kg=90, bar_load_kg=100, imu_rate_hz=250)
    assert labels == ref.reps
    by = {s["source"]: s for s in summary["sources"]}
    assert by["imu"]["rate_hz"] == 250
    assert by["imu"]["frames"] == len(rec.source_frames("imu"))


def test_cli_simulate_defaults_from_config_and_human_summary(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[simulator]\nlift = "bench_press"\nreps = 2\nfaults = "tilt@1"\n')
    assert main(["--config", str(cfg), "simulate"]) == 0
    out = capsys.readouterr().out
    assert "simulated bench_press: 2 reps" in out
    assert "tilt from" in out and "nothing written" in out


@pytest.mark.parametrize("argv, words", [
    (["--faults", "wobble@1"], "unknown fault type 'wobble'"),
    (["--reps", "3", "--faults", "tilt@4"], "out of range 1..3"),
    (["--reps", "0"], "--reps 0 is out of range"),
    (["--bar-kg", "-5"], "--bar-kg -5 is out of range"),
])
def test_cli_simulate_bad_arguments_exit_2(argv, words, capsys):
    assert main(["simulate", *argv]) == 2
    assert words in capsys.readouterr().err
