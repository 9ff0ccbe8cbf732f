"""``IMUSource``: frames from an MPU-6050-family IMU, read through its FIFO.

Timing. The chip samples on its own oscillator and queues samples in its FIFO; Python only
collects them. Sample ``seq`` is stamped ``anchor + (seq - anchor_seq) * period`` on the host
monotonic clock (``SampleTimeline``), never with the time Python happened to read it, so
irregular polling does not show up as timing jitter. The chip's oscillator may differ from the
host clock by a few percent, so the mapping is slowly re-anchored: every observation "sample
``s`` was already in the FIFO at host time ``now``" bounds that sample's time from above; the
observation closest to that bound in each window (2 s) is kept, a line through the last few is
the chip's real period and phase, and the stamps slew towards that line over the next window
(no jumps). A sample is never stamped later than the moment it was seen in the FIFO.

Errors. ``start()`` raises ``SensorError`` with a one-line reason when the bus or chip is
missing. After that nothing raises out of ``poll()``: I2C errors (errno 5, 16, 121...) are
counted in ``health`` and retried on a later poll after an exponential backoff measured on the
clock (``poll()`` returns ``[]`` meanwhile; it never sleeps). After
``RetryPolicy.failures_before_reinit`` consecutive failures, or a chip that stops delivering,
the chip is reset and reconfigured, and ``seq`` jumps over the samples missed meanwhile. A FIFO
overflow or a misaligned FIFO is reset the same way and the lost samples become a ``seq`` gap.
"""
from __future__ import annotations

import logging
import os
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from sensors.clock import SYSTEM_CLOCK, Clock
from sensors.errors import SensorError
from sensors.frame import IMU_CHANNELS, Frame
from sensors.i2c import BusFactory, SharedBus, describe_oserror, is_transient
from sensors.imu_calibration import IDENTITY, ImuCalibration, calibration_path, load_calibration
from sensors.mpu6050 import (
    MPU6050,
    RESET_SETTLE_S,
    SAMPLE_BYTES,
    IntBit,
    MPU6050Settings,
    PowerMgmt1,
    Register,
)
from sensors.source import FrameSource

log = logging.getLogger(__name__)


class SampleTimeline:
    """Maps sample numbers to host monotonic time for a sensor that samples on its own clock.

    ``observe(seq, now)`` records that sample ``seq`` existed at host time ``now``: an upper
    bound on its time. The tightest bound of every ``point_s`` is kept (``history`` of them);
    the lower envelope of those points gives the chip's period and phase, and the stamping
    line slews to it over ``slew_s``.
    """

    MIN_FIT_SPAN_NS = 500_000_000
    """Baseline needed before the chip's period is first estimated."""

    def __init__(self, nominal_period_ns: int, *, point_s: float = 0.25, slew_s: float = 1.0,
                 history: int = 128, max_rate_error: float = 0.05) -> None:
        self.nominal_period_ns = float(nominal_period_ns)
        self.max_rate_error = max_rate_error
        self.point_ns = int(point_s * 1e9)
        self.slew_ns = int(slew_s * 1e9)
        self.period_ns = self.nominal_period_ns
        """Slope used for stamping now (the chip's period plus any phase slew)."""
        self.chip_period_ns = self.nominal_period_ns
        """Best estimate of the chip's real sample period on the host clock."""
        self.steps = 0
        """Times a stamp had to be pulled back because it would have been in the future."""
        self._anchor_seq = 0
        self._anchor_ns = 0.0
        self._points: deque[tuple[int, int]] = deque(maxlen=history)
        self._window_start_ns: int | None = None
        self._window_best: tuple[float, int, int] | None = None
        self._last_stamp_ns = -1
        self._next_seq = 0

    def restart(self, seq: int, first_sample_ns: float) -> None:
        """Hard re-anchor (after a FIFO or chip reset); the period estimate is kept."""
        self._anchor_seq, self._anchor_ns = seq, float(first_sample_ns)
        self._next_seq = seq
        self.period_ns = self.chip_period_ns
        self._points.clear()
        self._window_start_ns = self._window_best = None

    def time_of(self, seq: int) -> float:
        return self._anchor_ns + (seq - self._anchor_seq) * self.period_ns

    def samples_due(self, seq: int, now_ns: int) -> int:
        """How many samples from ``seq`` on the chip has produced by ``now_ns``."""
        first = self.time_of(seq)
        return 0 if now_ns < first else int((now_ns - first) // self.chip_period_ns) + 1

    def stamps(self, first_seq: int, n: int) -> np.ndarray:
        """Monotonic ns for samples ``first_seq .. first_seq + n - 1``, strictly increasing."""
        seqs = np.arange(first_seq, first_seq + n, dtype=np.float64)
        t = np.rint(self._anchor_ns + (seqs - self._anchor_seq) * self.period_ns).astype(np.int64)
        t = np.maximum(t, self._last_stamp_ns + 1 + np.arange(n, dtype=np.int64))
        if n:
            self._last_stamp_ns = int(t[-1])
            self._next_seq = first_seq + n
        return t

    def observe(self, seq: int, now_ns: int) -> None:
        """Sample ``seq`` was in the FIFO at ``now_ns``, so it was produced at or before then."""
        lag = now_ns - self.time_of(seq)
        if lag < 0:  # never stamp a sample later than it was seen
            self._anchor_ns += lag
            self.steps += 1
        offset = now_ns - seq * self.chip_period_ns
        if self._window_best is None or offset < self._window_best[0]:
            self._window_best = (offset, seq, now_ns)
        if self._window_start_ns is None:
            self._window_start_ns = now_ns
        elif now_ns - self._window_start_ns >= self.point_ns:
            self._points.append(self._window_best[1:])
            self._window_start_ns = self._window_best = None
            self._refit()

    def _refit(self) -> None:
        lo, hi = (self.nominal_period_ns * (1 - self.max_rate_error),
                  self.nominal_period_ns * (1 + self.max_rate_error))
        points = list(self._points)
        if points[-1][1] - points[0][1] >= self.MIN_FIT_SPAN_NS:
            slope, offset = lower_envelope(points)
            if lo <= slope <= hi:
                self.chip_period_ns = slope
            else:
                offset = min(t - s * self.chip_period_ns for s, t in points)
        else:  # too short a baseline for a period estimate: correct the phase only
            offset = points[-1][1] - points[-1][0] * self.chip_period_ns
        # Slew: keep the next stamp where it is and reach the envelope line ``slew_ns`` later
        # (sooner while the baseline is short and the first estimates are still coarse).
        here_seq = self._next_seq
        here = self.time_of(here_seq)
        slew_ns = min(self.slew_ns, max(self.point_ns, points[-1][1] - points[0][1]))
        horizon = max(1.0, slew_ns / self.chip_period_ns)
        target = offset + (here_seq + horizon) * self.chip_period_ns
        self._anchor_seq, self._anchor_ns = here_seq, here
        self.period_ns = float(np.clip((target - here) / horizon, lo, hi))


def lower_envelope(points: list[tuple[int, int]]) -> tuple[float, float]:
    """The line ``t = offset + slope * seq`` below every (seq, t) point, closest to them overall.

    Each point bounds the sample's time from above, so the true line lies under all of them;
    among such lines the one closest on average is the lower convex hull's edge that spans
    the mean ``seq`` (the clock-synchronisation "convex hull" estimator).
    """
    hull: list[tuple[int, int]] = []
    for p in sorted(points):
        while len(hull) >= 2 and ((hull[-1][0] - hull[-2][0]) * (p[1] - hull[-2][1])
                                  - (hull[-1][1] - hull[-2][1]) * (p[0] - hull[-2][0])) <= 0:
            hull.pop()
        hull.append(p)
    mean_seq = sum(p[0] for p in points) / len(points)
    a, b = hull[0], hull[-1]
    for a, b in zip(hull, hull[1:]):
        if b[0] >= mean_seq:
            break
    slope = (b[1] - a[1]) / (b[0] - a[0])
    return slope, a[1] - slope * a[0]


@dataclass(frozen=True)
class RetryPolicy:
    base_backoff_s: float = 0.01
    max_backoff_s: float = 2.0
    failures_before_reinit: int = 5
    stall_periods: int = 20
    """No sample for this many periods (at least 0.5 s) while the chip answers: re-initialise."""

    def backoff_s(self, failures: int) -> float:
        return min(self.max_backoff_s, self.base_backoff_s * 2 ** max(0, failures - 1))


class IMUSource(FrameSource):
    """Bar IMU frames (``ax ay az`` m/s^2, ``gx gy gz`` rad/s) from an MPU-6050 on I2C."""

    name = "imu"
    channels = IMU_CHANNELS

    def __init__(self, bus: int = 1, address: int = 0x68, *, sample_rate_hz: float = 200,
                 dlpf_hz: int = 44, accel_range_g: int = 8, gyro_range_dps: int = 1000,
                 calibration: ImuCalibration = IDENTITY, clock: Clock = SYSTEM_CLOCK,
                 bus_factory: BusFactory | None = None, retry: RetryPolicy = RetryPolicy(),
                 max_samples_per_poll: int = 24) -> None:
        super().__init__()
        self.bus_number = bus
        self.address = address
        self.settings = MPU6050Settings(sample_rate_hz, dlpf_hz, accel_range_g, gyro_range_dps)
        self.calibration = calibration
        self.clock = clock
        self.retry = retry
        self.max_samples_per_poll = max_samples_per_poll
        self.timeline = SampleTimeline(self.settings.sample_period_ns)
        self._bus_factory = bus_factory
        self._bus: SharedBus | None = None
        self._chip: MPU6050 | None = None
        self._seq_next = 0
        self._failures = 0
        self._retry_at_ns = 0
        self._reinit_phase: str | None = None  # None | "reset" | "configure"
        self._fifo_needs_reset = False
        self._last_data_ns = 0
        self.health.extra.update(fifo_overflows=0, fifo_resets=0, chip_resets=0,
                                 timeline_steps=0, rate_hz=self.settings.actual_rate_hz)

    @classmethod
    def from_config(cls, section: dict[str, Any], data_dir: str | os.PathLike[str], *,
                    clock: Clock = SYSTEM_CLOCK, bus_factory: BusFactory | None = None,
                    use_calibration: bool = True) -> "IMUSource":
        """From the ``[imu]`` config section; the calibration file is applied when present."""
        calibration = IDENTITY
        if use_calibration:
            path = calibration_path(section.get("calibration_file", ""), data_dir)
            if path.exists():
                calibration = load_calibration(path)
            else:
                log.warning("no IMU calibration at %s: readings are uncalibrated "
                            "(run 'liftguard calibrate imu')", path)
        return cls(section.get("bus", 1), section.get("address", 0x68),
                   sample_rate_hz=section.get("sample_rate_hz", 200),
                   dlpf_hz=section.get("dlpf_hz", 44),
                   accel_range_g=section.get("accel_range_g", 8),
                   gyro_range_dps=section.get("gyro_range_dps", 1000),
                   calibration=calibration, clock=clock, bus_factory=bus_factory)

    @property
    def description(self) -> str:
        s = self.settings
        chip = self.health.extra.get("chip", "MPU-6050")
        return (f"{chip} at 0x{self.address:02x} on /dev/i2c-{self.bus_number}: "
                f"{s.actual_rate_hz:g} Hz (SMPLRT_DIV {s.smplrt_div}), DLPF {s.dlpf_hz} Hz, "
                f"+-{s.accel_range_g} g, +-{s.gyro_range_dps} dps")

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        if self._chip is not None:
            return
        bus = SharedBus.open(self.bus_number, self._bus_factory)
        chip = MPU6050(bus, self.address, self.settings)
        try:
            model = chip.identify()
            chip.reset()
            self.clock.sleep(RESET_SETTLE_S)
            chip.configure()
        except OSError as exc:
            bus.close()
            raise SensorError(f"IMU at {chip.where} failed during set-up "
                              f"({describe_oserror(exc)}): check wiring and power") from None
        except SensorError:
            bus.close()
            raise
        self._bus, self._chip = bus, chip
        self.health.extra["chip"] = model.name
        self._seq_next = 0
        self._failures = 0
        self._reinit_phase = None
        self._fifo_needs_reset = False
        now = self.clock.mono_ns()
        self._last_data_ns = now
        self.timeline.restart(0, now + self.timeline.chip_period_ns)
        self.health.state = "running"
        log.info("IMU started: %s; %s", self.description,
                 "calibration applied" if not self.calibration.is_identity else "uncalibrated")

    def stop(self) -> None:
        if self._chip is not None and self._bus is not None:
            try:  # best effort: leave the chip asleep (about 5 uA instead of 4 mA)
                self._bus.write_byte_data(self.address, Register.PWR_MGMT_1, PowerMgmt1.SLEEP)
            except OSError:
                pass
            self._bus.close()
        self._bus = self._chip = None
        super().stop()

    # -- polling ----------------------------------------------------------------------------
    def poll(self) -> list[Frame]:
        if self._chip is None:
            return []
        now = self.clock.mono_ns()
        if now < self._retry_at_ns:
            return []
        if self._failures:
            self.health.retries += 1
        try:
            frames = self._step(self._chip, now)
        except (OSError, SensorError) as exc:
            self._on_failure(exc)
            return []
        if frames is not None and self._failures:
            log.info("IMU recovered after %d failed attempt(s)", self._failures)
            self._failures = 0
            self.health.state = "running"
        return frames or []

    def _step(self, chip: MPU6050, now: int) -> list[Frame] | None:
        """One attempt; ``None`` while a re-initialisation is waiting for the chip."""
        if self._reinit_phase == "reset":
            chip.identify()
            chip.reset()
            self.health.extra["chip_resets"] += 1
            self._reinit_phase = "configure"
            self._retry_at_ns = now + int(RESET_SETTLE_S * 1e9)
            return None
        if self._reinit_phase == "configure":
            chip.configure()
            self._reinit_phase = None
            self.health.reconnects += 1
            self._skip_lost("chip re-initialised")
            return []
        if self._fifo_needs_reset:
            chip.reset_fifo()
            self._fifo_needs_reset = False
            self._skip_lost("FIFO reset after an interrupted read")
            return []
        return self._read_fifo(chip)

    def _read_fifo(self, chip: MPU6050) -> list[Frame]:
        status = chip.read_int_status()
        count = chip.fifo_count()
        seen_ns = self.clock.mono_ns()
        if status & IntBit.FIFO_OFLOW or count >= chip.fifo_bytes:
            self.health.extra["fifo_overflows"] += 1
            self._restart_fifo(chip, f"FIFO overflow ({count} bytes queued; was poll() "
                                     "called often enough?)")
            return []
        if count % SAMPLE_BYTES:
            self._restart_fifo(chip, f"FIFO holds {count} bytes, not a whole number of "
                                     f"{SAMPLE_BYTES}-byte samples")
            return []
        available = count // SAMPLE_BYTES
        if available == 0:
            stall_ns = max(0.5e9, self.retry.stall_periods * self.timeline.chip_period_ns)
            silent_s = (seen_ns - self._last_data_ns) / 1e9
            if silent_s * 1e9 > stall_ns:
                self._last_data_ns = seen_ns
                raise SensorError(f"no IMU samples for {silent_s:.1f} s although the chip "
                                  "answers (did it reset itself?)")
            return []
        self._last_data_ns = seen_ns
        self.timeline.observe(self._seq_next + available - 1, seen_ns)
        n = min(available, self.max_samples_per_poll)
        self._fifo_needs_reset = True  # a read that fails half-way leaves the FIFO misaligned
        data = chip.read_samples(n)
        self._fifo_needs_reset = False
        return self._frames(self.calibration.apply(data))

    def _frames(self, values: np.ndarray) -> list[Frame]:
        n = len(values)
        stamps = self.timeline.stamps(self._seq_next, n)
        wall_offset_s = self.clock.wall_s() - self.clock.mono_ns() / 1e9
        frames = [Frame(self.name, self._seq_next + i, int(t), t / 1e9 + wall_offset_s,
                        self.channels, tuple(row))
                  for i, (t, row) in enumerate(zip(stamps.tolist(), values.tolist()))]
        self._seq_next += n
        self.health.frames += n
        self.health.extra["timeline_steps"] = self.timeline.steps
        return frames

    def _restart_fifo(self, chip: MPU6050, reason: str) -> None:
        chip.reset_fifo()
        self._skip_lost(reason)

    def _skip_lost(self, reason: str) -> None:
        """Account for samples made since the last one read, and restart the timeline."""
        now = self.clock.mono_ns()
        lost = self.timeline.samples_due(self._seq_next, now)
        self.health.extra["fifo_resets"] += 1
        self.health.lost_samples += lost
        log.warning("IMU %s: FIFO restarted, about %d sample(s) lost (seq %d -> %d)",
                    reason, lost, self._seq_next, self._seq_next + lost)
        self._seq_next += lost
        self._last_data_ns = now
        self.timeline.restart(self._seq_next, now + self.timeline.chip_period_ns)

    def _on_failure(self, exc: OSError | SensorError) -> None:
        self._failures += 1
        self.health.errors += 1
        what = describe_oserror(exc) if isinstance(exc, OSError) else str(exc)
        self.health.last_error = what
        reinit = (self._failures >= self.retry.failures_before_reinit or not is_transient(exc)
                  or self._reinit_phase is not None)
        if reinit and self._reinit_phase != "reset":
            if self._reinit_phase is None:
                log.error("IMU at 0x%02x on /dev/i2c-%d: %s; re-initialising the chip",
                          self.address, self.bus_number, what)
            self._reinit_phase = "reset"
        self.health.state = "disconnected" if self._reinit_phase else "degraded"
        delay = self.retry.backoff_s(self._failures)
        self._retry_at_ns = self.clock.mono_ns() + int(delay * 1e9)
        level = logging.WARNING if self._failures == 1 else logging.DEBUG
        log.log(level, "IMU I2C error (%s), attempt %d; retrying in %.0f ms",
                what, self._failures, delay * 1e3)


def collect_frames(source: FrameSource, seconds: float, clock: Clock,
                   poll_interval_s: float = 0.01) -> list[Frame]:
    """Poll a started source for ``seconds`` of ``clock`` time (tools, not the real-time loop)."""
    end = clock.mono_ns() + int(seconds * 1e9)
    frames: list[Frame] = []
    while clock.mono_ns() < end:
        frames += source.poll()
        clock.sleep(poll_interval_s)
    return frames + source.poll()


def probe_imu(section: dict[str, Any], *, bus_factory: BusFactory | None = None,
              clock: Clock = SYSTEM_CLOCK, seconds: float = 0.3) -> tuple[bool, str]:
    """For ``liftguard sensors check``: is the IMU there, and what does it read (uncalibrated)?"""
    if not section.get("enabled", True):
        return True, "IMU disabled ([imu] enabled = false)"
    try:
        source = IMUSource.from_config(section, ".", clock=clock, bus_factory=bus_factory,
                                       use_calibration=False)
        source.start()
    except (SensorError, ValueError) as exc:
        return False, str(exc)
    try:
        frames = collect_frames(source, seconds, clock)
    finally:
        source.stop()
    if not frames:
        return False, (f"{source.description}: answered but delivered no samples in "
                       f"{seconds:g} s ({source.health.last_error or 'FIFO stayed empty'})")
    mean = np.mean([f.values for f in frames], axis=0)
    readings = " ".join(f"{ch}={v:+.2f}" for ch, v in zip(IMU_CHANNELS, mean))
    return True, (f"{source.description}; {len(frames)} samples in {seconds:g} s, "
                  f"mean {readings} (m/s^2, rad/s, uncalibrated)")
