"""``SimulatorSource``: a simulated set as a live ``FrameSource`` (paced) or as fast as possible."""
from __future__ import annotations

import logging
from typing import Any

from sensors.clock import Clock
from sensors.frame import BOX_CHANNELS
from sensors.replay_source import PlayedSource
from sensors.simulator.faults import parse_faults
from sensors.simulator.simulate import SimulatedSet, simulate_set

log = logging.getLogger(__name__)


class SimulatorSource(PlayedSource):
    """Yields the frames of one simulated set, both sources ("imu" and "platform").

    Frames are stamped on ``clock``, the first at ``start()``. ``realtime=True``: ``poll()``
    returns those whose time has come. ``realtime=False``: each ``poll()`` returns the next 100 ms of
    frames at once. ``exhausted`` once the last frame has been returned.
    """

    name = "simulator"
    channels = BOX_CHANNELS

    def __init__(self, *, lift: str = "squat", reps: int = 8, faults: dict[int, str] | None = None,
                 seed: int = 7, athlete_mass_kg: float = 80.0, bar_load_kg: float = 60.0,
                 imu_rate_hz: float = 200, platform_rate_hz: float = 80, realtime: bool = True,
                 clock: Clock | None = None, **simulate_kwargs: Any) -> None:
        super().__init__(realtime=realtime, clock=clock)
        self._params = dict(lift=lift, reps=reps, faults=dict(faults or {}), seed=seed,
                            athlete_mass_kg=athlete_mass_kg, bar_load_kg=bar_load_kg,
                            imu_rate_hz=imu_rate_hz, platform_rate_hz=platform_rate_hz,
                            **simulate_kwargs)
        self.set: SimulatedSet | None = None

    @classmethod
    def from_config(cls, section: dict[str, Any], *, clock: Clock | None = None,
                    **overrides: Any) -> "SimulatorSource":
        """Build from the validated ``[simulator]`` config section (``overrides`` win)."""
        params: dict[str, Any] = dict(
            lift=section["lift"], reps=section["reps"], seed=section["seed"],
            faults=parse_faults(section["faults"], section["reps"]),
            athlete_mass_kg=float(section["athlete_mass_kg"]),
            bar_load_kg=float(section["bar_load_kg"]), realtime=section["realtime"])
        params.update(overrides)
        return cls(clock=clock, **params)

    def start(self) -> None:
        """Simulate the whole set (well under a second), then play it from now on the clock."""
        self.set = simulate_set(start_mono_ns=0, start_wall_s=0.0, **self._params)
        self._play(self.set.frames, restamp=True)
        p = self._params
        log.info("simulator: %s set of %d reps (seed %d, faults %s), %.1f s, %s",
                 p["lift"], p["reps"], p["seed"],
                 ", ".join(f"{v}@{k}" for k, v in sorted(p["faults"].items())) or "none",
                 self.set.duration_s, "paced in real time" if self.realtime else "unpaced")

