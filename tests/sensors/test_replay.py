"""ReplaySource and `liftguard replay`."""
from __future__ import annotations

import json

import pytest

from liftguard.cli import main
from sensors.clock import ManualClock
from sensors.frame import Frame
from sensors.recording import (
    RecordingError,
    labels_path_for,
    read_recording,
    write_labels,
    write_recording,
)
from sensors.replay_source import ReplaySource
from sensors.simulator import simulate_set


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    s = simulate_set(lift="deadlift", reps=2, seed=4, faults={1: "weight_shift"},
                     start_mono_ns=7_000_000_000)
    path = tmp_path_factory.mktemp("rec") / "dl.csv"
    write_recording(path, s.frames)
    write_labels(labels_path_for(path), s.reps, s.meta())
    return path


def drain(source, clock=None, step_s=0.0):
    frames, polls = [], 0
    while not source.exhausted:
        frames.extend(source.poll())
        polls += 1
        if clock is not None:
            clock.advance(step_s)
    return frames, polls


def test_unpaced_replay_yields_the_file_frames_in_chunks(recorded):
    src = ReplaySource(recorded, clock=ManualClock())
    assert not src.exhausted
    src.start()
    frames, polls = drain(src)
    expected = read_recording(recorded).frames
    assert frames == expected
    duration = (expected[-1].mono_ns - expected[0].mono_ns) / 1e9
    assert polls == pytest.approx(duration / 0.1, abs=2)     # 100 ms per poll
    assert src.poll() == [] and src.health.state == "finished"
    assert src.health.frames == len(expected)


def test_realtime_replay_follows_the_clock(recorded):
    clock = ManualClock(mono_ns=50_000_000_000)
    src = ReplaySource(recorded, realtime=True, restamp=True, clock=clock)
    src.start()
    first = src.poll()
    assert [f.source for f in first] == ["imu", "platform"]   # both sampled at t=0
    assert src.poll() == []                                    # time has not moved
    clock.advance(0.0501)
    batch = src.poll()
    imu = [f for f in batch if f.source == "imu"]
    assert len(imu) == 10                                      # 200 Hz x 50 ms
    assert all(f.mono_ns <= clock.mono_ns() for f in batch)
    assert batch[-1].mono_ns >= 50_000_000_000 + 45_000_000
    rest, _ = drain(src, clock, 0.5)
    original = read_recording(recorded).frames
    replayed = first + batch + rest
    assert len(replayed) == len(original)
    offset = 50_000_000_000 - original[0].mono_ns
    assert [f.mono_ns - offset for f in replayed] == [f.mono_ns for f in original]
    assert [f.values for f in replayed] == [f.values for f in original]


def test_bad_file_raises_on_start(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("t,az\n0,1\n0.1,x\n")
    with pytest.raises(RecordingError, match=r"bad.csv:3: column 'az'"):
        ReplaySource(p).start()


def test_cli_replay_summary(recorded, capsys):
    assert main(["replay", str(recorded), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    rec = read_recording(recorded)
    assert out["frames"] == len(rec.frames)
    by = {s["source"]: s for s in out["sources"]}
    assert by["imu"]["rate_hz"] == 200 and by["platform"]["rate_hz"] == 80
    assert by["imu"]["lost_samples"] == 0
    assert out["labels"]["reps"] == 2 and out["labels"]["faults"] == ["weight_shift@1"]


def test_cli_replay_reports_gaps(tmp_path, capsys):
    frames = [Frame("platform", s, s * 12_500_000, 0.0, ("f_fl",), (1.0,))
              for s in (0, 1, 2, 3, 7, 8)]
    path = write_recording(tmp_path / "gaps.csv", frames)
    assert main(["replay", str(path)]) == 0
    out = capsys.readouterr().out
    assert "platform" in out and "3 samples lost in 1 gaps" in out


def test_cli_replay_bad_file_exits_1(tmp_path, capsys):
    p = tmp_path / "bad.csv"
    p.write_text("t,az\n0,1\n-1,2\n")
    assert main(["replay", str(p)]) == 1
    err = capsys.readouterr().err
    assert f"{p}:3: time goes backwards" in err
    assert main(["replay", str(tmp_path / "missing.csv")]) == 1
    assert "not found" in capsys.readouterr().err
