"""A wall-clock step during a session (NTP arriving on a box without an RTC, backwards or
forwards) neither reorders stored data nor changes rep timing: both follow the monotonic clock."""
from __future__ import annotations

import pytest

from liftguard.box import box_daemon
from sensors.clock import ManualClock
from sensors.frame import BOX_CHANNELS, Frame
from sensors.replay_source import PlayedSource
from sensors.simulator.simulate import simulate_set
from tests.support.daemon_helpers import NO_PINS, config

REPS = 5
START_MONO_NS = 50_000_000_000
START_WALL_S = 1_600_000_000.0      # fake-hwclock's stale idea of "now"


class LiveStampedSource(PlayedSource):
    """Frames stamped as a live driver stamps them: monotonic and wall clock read at each
    sample from a ``ManualClock`` that steps its wall time once, mid-set."""

    name = "simulator"
    channels = BOX_CHANNELS

    def __init__(self, frames: list[Frame]) -> None:
        super().__init__(realtime=False, clock=None)
        self._frames = frames

    def start(self) -> None:
        self._play(self._frames, restamp=False)


def stamped_set(jump_s: float) -> tuple[list[Frame], float, list]:
    sim = simulate_set(lift="squat", reps=REPS, seed=11, start_mono_ns=0)
    jump_at_s = (sim.reps[1].end_s + sim.reps[2].start_s) / 2     # between reps 2 and 3
    clock = ManualClock(mono_ns=START_MONO_NS, wall_s=START_WALL_S)
    out, jumped = [], False
    for f in sorted(sim.frames, key=lambda f: f.mono_ns):
        clock.advance((START_MONO_NS + f.mono_ns - clock.mono_ns()) / 1e9)
        if not jumped and f.mono_ns >= jump_at_s * 1e9:
            clock.jump_wall(jump_s)
            jumped = True
        out.append(f._replace(mono_ns=clock.mono_ns(), wall_s=clock.wall_s()))
    return out, jump_at_s, sim.reps


def record(tmp_path, frames: list[Frame]) -> tuple[list[Frame], list[dict], list[dict]]:
    cfg = config(tmp_path, feedback=NO_PINS)
    d = box_daemon(cfg, sources=[LiveStampedSource(frames)], api=False)
    d.start(live=False)
    sid = d.sessions.start("squat")
    d.run_lockstep()
    d.loop.finish()
    d.sessions.end(sid)
    assert d.sessions.wait_idle(60)
    stored = d.store.session_frames(sid)
    reps = d.store.session_reps(sid)
    chunks = []
    after = None
    while page := d.store.sensor_chunks(sid, limit=1000, after_id=after):
        chunks += page
        after = page[-1]["id"]
    d.close()
    return stored, reps, chunks


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    frames, _, truth = stamped_set(0.0)
    return record(tmp_path_factory.mktemp("no-jump"), frames), truth


@pytest.mark.parametrize("jump_s", [-3 * 3600.0, 2 * 86_400.0], ids=["backwards", "forwards"])
def test_wall_clock_jump_changes_neither_order_nor_rep_timing(tmp_path, baseline, jump_s):
    frames, jump_at_s, truth = stamped_set(jump_s)
    walls = [f.wall_s for f in frames if f.source == "imu"]
    assert any(b - a == pytest.approx(jump_s, abs=0.01) for a, b in zip(walls, walls[1:]))

    stored, reps, chunks = record(tmp_path, frames)
    (base_frames, base_reps, _), _ = baseline

    # every frame kept, in monotonic order, each source's seq in order (no reordering)
    assert len(stored) == len(frames)
    assert [f.mono_ns for f in stored] == sorted(f.mono_ns for f in frames)
    for source in ("imu", "platform"):
        seqs = [f.seq for f in stored if f.source == source]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    # chunks come back in creation order = monotonic order, whatever their wall stamps say
    firsts = [c["t_first_ns"] for c in chunks if c["source"] == "imu"]
    assert firsts == sorted(firsts)
    stamps = [c["timestamp"] for c in chunks if c["source"] == "imu"]
    assert stamps != sorted(stamps) if jump_s < 0 else stamps == sorted(stamps)

    # reps: same count as simulated, same monotonic times as without the jump
    assert len(reps) == len(base_reps) == len(truth) == REPS
    assert [(r["start_mono_ns"], r["end_mono_ns"]) for r in reps] == \
        [(r["start_mono_ns"], r["end_mono_ns"]) for r in base_reps]
    for rep, true in zip(reps, truth):
        assert (rep["end_mono_ns"] - START_MONO_NS) / 1e9 == pytest.approx(true.end_s, abs=0.5)
    assert [f.values for f in stored] == [f.values for f in base_frames]
