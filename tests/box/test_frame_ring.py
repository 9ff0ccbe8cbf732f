"""FrameRing: the bounded buffer between a reader thread and the real-time loop keeps the
newest frames, counts what it overwrote, and hands everything over oldest first."""
from __future__ import annotations

import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_agent.daemon.ring import FrameRing
from tests.support.frames import imu_frames


def test_capacity_below_one_is_refused():
    with pytest.raises(ValueError, match="capacity must be >= 1, got 0"):
        FrameRing(0)


def test_drain_returns_everything_oldest_first_with_the_last_arrival():
    ring = FrameRing(10)
    frames = imu_frames(6)
    ring.push(frames[:4], arrival_ns=100)
    ring.push(frames[4:], arrival_ns=200)
    assert len(ring) == 6
    assert ring.drain() == (frames, 200)
    assert len(ring) == 0 and ring.drain() == ([], 200)
    assert ring.pushed == 6 and ring.overwritten == 0


def test_an_empty_push_changes_nothing():
    ring = FrameRing(3)
    ring.push(imu_frames(1), arrival_ns=5)
    ring.push([], arrival_ns=99)
    assert ring.drain() == (imu_frames(1), 5)


def test_a_full_ring_keeps_the_newest_frames_and_counts_the_overwritten():
    ring = FrameRing(4)
    frames = imu_frames(7)
    ring.push(frames[:3], arrival_ns=1)
    ring.push(frames[3:], arrival_ns=2)
    got, _ = ring.drain()
    assert got == frames[3:]
    assert ring.overwritten == 3 and ring.pushed == 7


@given(st.integers(1, 20), st.lists(st.lists(st.integers(0, 30), max_size=5), max_size=6))
def test_any_pushes_and_drains_keep_the_newest_and_account_for_every_frame(capacity, rounds):
    """Each round: pushes of the given sizes, then one drain."""
    ring = FrameRing(capacity)
    seq = 0
    drained = 0
    for sizes in rounds:
        pushed_this_round = []
        for size in sizes:
            batch = imu_frames(size, seq0=seq)
            seq += size
            pushed_this_round += batch
            ring.push(batch, arrival_ns=seq)
        got, _ = ring.drain()
        assert got == pushed_this_round[-capacity:] if pushed_this_round else got == []
        drained += len(got)
    assert ring.pushed == seq
    assert drained + ring.overwritten == seq


def test_a_writer_and_a_reader_thread_lose_nothing_but_what_is_counted():
    ring = FrameRing(50)
    frames = imu_frames(5000)
    done = threading.Event()
    got: list = []

    def write() -> None:
        for i in range(0, len(frames), 7):
            ring.push(frames[i:i + 7], arrival_ns=i)
        done.set()

    writer = threading.Thread(target=write)
    writer.start()
    while not done.is_set():
        got += ring.drain()[0]
    writer.join()
    got += ring.drain()[0]
    assert [f.seq for f in got] == sorted(f.seq for f in got)      # oldest first, no repeats
    assert len(got) + ring.overwritten == len(frames)
    assert got[-1] == frames[-1]
