"""A box whose wall clock steps: NTP steps, stale wall clocks, recording a set across them."""
from __future__ import annotations

from edge_agent.store import LocalStore
from sensors.clock import ManualClock
from sensors.frame import IMU_CHANNELS
from tests.support.sync_support import frames_for

STALE_WALL_S = 1_600_000_000.0          # what fake-hwclock restored at boot


NTP_STEP_S = 86_400.0 * 40 + 123.456    # how far NTP moves the clock when it answers


def record(store: LocalStore, clock: ManualClock, *, synced: bool, seconds: int = 3) -> str:
    sid = store.start_session("squat", wall_clock_synced=synced)
    t0 = clock.mono_ns() / 1e9
    for s in range(seconds):
        frames = frames_for("imu", IMU_CHANNELS, 50, t0 + s, 1, s * 50)
        store.submit_frames(sid, [f._replace(wall_s=clock.wall_s() + (f.mono_ns - clock.mono_ns()) / 1e9)
                                  for f in frames])
        clock.advance(1.0)
    store.end_session(sid, "api")
    store.flush()
    return sid
