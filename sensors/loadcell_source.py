"""The four-corner load-cell platform: frames from a microcontroller over USB serial (pyserial).

Three layers, each with one job:

* ``SerialFrameReader`` opens the port (any pyserial URL: a device path, ``loop://``,
  ``spy://``), reads whatever is waiting without blocking, decodes it, and when the device
  disappears marks the health ``disconnected`` and reopens it with backoff, timed on the
  ``Clock`` (``poll()`` never sleeps).
* ``DeviceClockMapper`` turns the device's wrapping microsecond clock into host monotonic ns.
* ``LoadCellSource`` applies tare and scale (counts -> newtons) and yields ``Frame``s whose
  ``seq`` jumps where device frames were lost.
"""
from __future__ import annotations

import errno
import logging
import os
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import serial

from sensors.clock import SYSTEM_CLOCK, Clock
from sensors.errors import SensorError
from sensors.frame import PLATFORM_CHANNELS, Frame
from sensors.loadcell_calibration import LoadCellCalibration, load_calibration
from sensors.loadcell_protocol import (
    DEVICE_CLOCK_MODULUS,
    STATUS_SATURATED_SHIFT,
    STATUS_TIMEOUT_SHIFT,
    STATUS_TX_OVERFLOW,
    DecodedFrame,
    FrameDecoder,
    channels_flagged,
)
from sensors.source import FrameSource, SourceHealth

log = logging.getLogger(__name__)

DEFAULT_CALIBRATION_NAME = "loadcell-calibration.json"
NOMINAL_RATE_HZ = 80.0
MAX_READ_BYTES = 64 * 1024
STALE_AFTER_S = 1.0
CHANNEL_FLAG_BITS = (0xF << STATUS_TIMEOUT_SHIFT) | (0xF << STATUS_SATURATED_SHIFT)

PortOpener = Callable[..., serial.SerialBase]


def describe_open_error(port: str, exc: BaseException) -> str:
    """One sentence an operator can act on, for a failure to open ``port``."""
    code = getattr(exc, "errno", None)
    if code == errno.ENOENT:
        return f"serial port {port} not found: is the platform's USB cable plugged in?"
    if code == errno.EACCES:
        return (f"permission denied opening serial port {port}: add the user running liftguard "
                "to the 'dialout' group (sudo usermod -aG dialout <user>) and restart it")
    if code == errno.EBUSY:
        return f"serial port {port} is busy: another program has it open"
    return f"cannot open serial port {port}: {exc}"


class SerialFrameReader:
    """Decoded frames from a serial port, surviving unplug/replug.

    ``read_frames()`` returns at once: it reads only the bytes already waiting. A read error
    (``SerialException``/``OSError``) or the device path vanishing means the device is gone:
    the port is closed, ``health.state`` becomes ``disconnected`` and reopening is tried at
    ``backoff_initial_s`` after the loss, doubling up to ``backoff_max_s``.
    """

    def __init__(self, port: str, baudrate: int = 115200, *, clock: Clock = SYSTEM_CLOCK,
                 open_port: PortOpener = serial.serial_for_url,
                 health: SourceHealth | None = None,
                 backoff_initial_s: float = 0.5, backoff_max_s: float = 5.0) -> None:
        self.port = port
        self.baudrate = baudrate
        self.clock = clock
        self.health = health if health is not None else SourceHealth()
        self.decoder = FrameDecoder()
        self._open_port = open_port
        self._serial: serial.SerialBase | None = None
        self._is_path = "://" not in port
        self._backoff_initial_ns = int(backoff_initial_s * 1e9)
        self._backoff_max_ns = int(backoff_max_s * 1e9)
        self._backoff_ns = self._backoff_initial_ns
        self._next_attempt_ns = 0
        self._ever_connected = False
        self._lost_at_ns: int | None = None
        self.connected_at_ns = 0
        self.health.extra.setdefault("disconnects", 0)

    @property
    def connected(self) -> bool:
        return self._serial is not None

    def open(self) -> bool:
        """First open; False (reason in ``health.last_error``) when the device is absent, in
        which case ``read_frames()`` keeps retrying. An unusable port setting (bad URL, bad
        baud rate) raises SensorError."""
        return self._try_open(first=True)

    def close(self) -> None:
        if self._serial is not None:
            try:
                self._serial.close()
            except (serial.SerialException, OSError):
                pass
            self._serial = None

    def read_frames(self) -> list[DecodedFrame]:
        if self._serial is None:
            if self.clock.mono_ns() < self._next_attempt_ns or not self._try_open(first=False):
                return []
        assert self._serial is not None
        try:
            if self._is_path and not os.path.exists(self.port):
                raise OSError(errno.ENOENT, "device path vanished", self.port)
            # in_waiting alone never notices a hung-up device; a 1-byte non-blocking read does.
            data = self._serial.read(min(self._serial.in_waiting or 1, MAX_READ_BYTES))
        except (serial.SerialException, OSError) as exc:
            self._lost(exc)
            return []
        return self.decoder.feed(data) if data else []

    def _try_open(self, *, first: bool) -> bool:
        if not first:
            self.health.retries += 1
        try:
            port = self._open_port(self.port, baudrate=self.baudrate, timeout=0)
        except (serial.SerialException, OSError, ValueError) as exc:
            if isinstance(exc, ValueError) and first:
                raise SensorError(f"load cells: invalid serial port setting {self.port!r} "
                                  f"(baudrate {self.baudrate}): {exc}") from exc
            message = describe_open_error(self.port, exc)
            if not first and self.health.last_error != message:
                log.warning("load cells: %s; retrying with backoff up to %.0f s", message,
                            self._backoff_max_ns / 1e9)
            self.health.last_error = message
            self.health.state = "disconnected"
            self._next_attempt_ns = self.clock.mono_ns() + self._backoff_ns
            self._backoff_ns = min(2 * self._backoff_ns, self._backoff_max_ns)
            return False
        try:
            port.reset_input_buffer()  # bytes from before this open belong to nobody
        except (serial.SerialException, OSError):
            pass
        self._serial = port
        self.connected_at_ns = self.clock.mono_ns()
        self._backoff_ns = self._backoff_initial_ns
        self.health.state = "running"
        if self._ever_connected:
            self.health.reconnects += 1
            away_s = (self.clock.mono_ns() - (self._lost_at_ns or 0)) / 1e9
            log.warning("load cells: serial port %s is back after %.1f s; resuming", self.port,
                        away_s)
        else:
            log.info("load cells: reading frames from %s at %d baud", self.port, self.baudrate)
        self._ever_connected = True
        return True

    def _lost(self, exc: BaseException) -> None:
        self.close()
        self.decoder.discard_pending()
        self.health.state = "disconnected"
        self.health.errors += 1
        self.health.extra["disconnects"] += 1
        self.health.last_error = f"serial port {self.port} lost: {exc}"
        self._lost_at_ns = self.clock.mono_ns()
        self._next_attempt_ns = self._lost_at_ns + self._backoff_initial_ns
        self._backoff_ns = min(2 * self._backoff_initial_ns, self._backoff_max_ns)
        log.warning("load cells: serial port %s disconnected (%s): platform data stops until "
                    "it is back; reopening with backoff", self.port, exc)


class DeviceClockMapper:
    """Maps the device's u32 microsecond clock onto host monotonic nanoseconds.

    Unwrap: each reading advances the extended device time by the u32 difference from the
    previous one (valid while frames arrive at least every ~71 min; a reset re-anchors).

    Offset: host_rx - device_time is the true offset plus a non-negative transport delay,
    so the estimate follows the smallest observed value: it drops at once to any smaller
    observation, and rises towards larger ones by at most ``max_drift_ppm`` of the elapsed
    device time. That tracks oscillator drift in both directions (a slow device clock makes
    the offset grow; NTP slewing of CLOCK_MONOTONIC is below 500 ppm) while USB/scheduling
    delays, which come and go, do not move timestamps. Mapped times are never later than the
    host receive time and never go backwards.
    """

    def __init__(self, max_drift_ppm: float = 1000.0) -> None:
        self.max_drift = max_drift_ppm * 1e-6
        self._last_mono_ns: int | None = None
        self.reset()

    def reset(self) -> None:
        """Forget the device clock (it restarted); mapped times still never go backwards."""
        self._last_raw: int | None = None
        self._extended_us = 0
        self._offset_ns: int | None = None
        self._offset_at_us = 0

    def map_batch(self, device_us: Iterable[int], host_rx_ns: int) -> list[int]:
        """Host monotonic times of frames received together at ``host_rx_ns``, oldest first."""
        extended = [self._unwrap(t) for t in device_us]
        if not extended:
            return []
        self._observe(extended[-1], host_rx_ns)  # the newest frame had the least delay
        assert self._offset_ns is not None
        out = []
        for t_us in extended:
            mono = t_us * 1000 + self._offset_ns
            if self._last_mono_ns is not None and mono <= self._last_mono_ns:
                mono = self._last_mono_ns + 1
            self._last_mono_ns = mono
            out.append(mono)
        return out

    def _unwrap(self, raw: int) -> int:
        if self._last_raw is not None:
            self._extended_us += (raw - self._last_raw) % DEVICE_CLOCK_MODULUS
        else:
            self._extended_us = raw
        self._last_raw = raw
        return self._extended_us

    def _observe(self, t_us: int, host_rx_ns: int) -> None:
        observed = host_rx_ns - t_us * 1000
        if self._offset_ns is None or observed <= self._offset_ns:
            self._offset_ns = observed
        else:
            allowed = int((t_us - self._offset_at_us) * 1000 * self.max_drift)
            self._offset_ns += min(observed - self._offset_ns, max(allowed, 0))
        self._offset_at_us = t_us


class LoadCellSource(FrameSource):
    """Corner forces in newtons from the load-cell platform (channels ``f_fl f_fr f_rl f_rr``).

    ``seq`` counts device frames: a device sequence gap of n frames makes ``seq`` jump by
    n + 1. After the device restarted (boot flag or sequence going backwards) the number
    lost is estimated from host time at the device's measured frame rate.

    A channel whose HX711 timed out repeats its last good value; while any channel is
    flagged (timed out or saturated) the state is ``degraded``, as it is when no frame has
    arrived for a second.
    """

    name = "platform"
    channels = PLATFORM_CHANNELS

    def __init__(self, port: str, calibration: LoadCellCalibration, baudrate: int = 115200, *,
                 clock: Clock = SYSTEM_CLOCK, open_port: PortOpener = serial.serial_for_url,
                 backoff_initial_s: float = 0.5, backoff_max_s: float = 5.0) -> None:
        super().__init__()
        self.calibration = calibration
        self.clock = clock
        self.reader = SerialFrameReader(port, baudrate, clock=clock, open_port=open_port,
                                        health=self.health, backoff_initial_s=backoff_initial_s,
                                        backoff_max_s=backoff_max_s)
        self.clock_mapper = DeviceClockMapper()
        self._next_seq = 0
        self._last_rx_ns: int | None = None
        self._last_device_us: int | None = None
        self._period_ns = 1e9 / NOMINAL_RATE_HZ
        self._flag_counts = {"channel_timeouts": 0, "channel_saturations": 0, "tx_overflows": 0}
        self.health.extra.update(self._flag_counts)

    @classmethod
    def from_config(cls, section: Mapping[str, Any], data_dir: str | os.PathLike[str], *,
                    clock: Clock = SYSTEM_CLOCK,
                    open_port: PortOpener = serial.serial_for_url) -> "LoadCellSource":
        """Build from the ``[loadcells]`` config section; the calibration file must exist."""
        return cls(section["port"], load_calibration(calibration_path(section, data_dir)),
                   section["baudrate"], clock=clock, open_port=open_port)

    def start(self) -> None:
        if not self.reader.open():
            log.warning("load cells: %s; the session runs without platform data until it "
                        "appears (retrying with backoff)", self.health.last_error)

    def stop(self) -> None:
        self.reader.close()
        super().stop()

    def poll(self) -> list[Frame]:
        decoded = self.reader.read_frames()
        now_ns = self.clock.mono_ns()
        if not decoded:
            quiet_since_ns = max(self._last_rx_ns or 0, self.reader.connected_at_ns)
            if self.reader.connected and now_ns - quiet_since_ns > STALE_AFTER_S * 1e9:
                self.health.state = "degraded"
                self.health.last_error = f"no load-cell frames for {STALE_AFTER_S:g} s"
            self._publish_decoder_stats()
            return []
        frames = []
        wall_offset_s = self.clock.wall_s() - now_ns / 1e9
        for batch in _split_at_restarts(decoded):
            if batch[0].restarted:
                self.clock_mapper.reset()  # the device clock started again
            times = self.clock_mapper.map_batch((d.device_us for d in batch), now_ns)
            for d, mono_ns in zip(batch, times):
                frames.append(Frame(self.name, self._assign_seq(d, now_ns), mono_ns,
                                    mono_ns / 1e9 + wall_offset_s, self.channels,
                                    self.calibration.forces(d.counts)))
                self._note_status(d.status)
        self._last_rx_ns = now_ns
        self.health.frames += len(frames)
        self.health.state = "degraded" if decoded[-1].status & CHANNEL_FLAG_BITS else "running"
        self._publish_decoder_stats()
        return frames

    def _assign_seq(self, d: DecodedFrame, now_ns: int) -> int:
        if d.restarted:
            elapsed = now_ns - (self._last_rx_ns or now_ns)
            step = max(1, round(elapsed / self._period_ns))
        else:
            step = 1 + d.lost_before
            if self._last_device_us is not None:
                dt_us = (d.device_us - self._last_device_us) % DEVICE_CLOCK_MODULUS
                if 0 < dt_us < 1_000_000:
                    self._period_ns += 0.01 * (dt_us * 1000 / step - self._period_ns)
        self.health.lost_samples += step - 1
        seq = self._next_seq + step - 1
        self._next_seq = seq + 1
        self._last_device_us = d.device_us
        return seq

    def _note_status(self, status: int) -> None:
        if not status:
            return
        timed_out = channels_flagged(status, STATUS_TIMEOUT_SHIFT)
        saturated = channels_flagged(status, STATUS_SATURATED_SHIFT)
        self._flag_counts["channel_timeouts"] += len(timed_out)
        self._flag_counts["channel_saturations"] += len(saturated)
        self._flag_counts["tx_overflows"] += bool(status & STATUS_TX_OVERFLOW)
        problems = []
        if timed_out:
            problems.append("HX711 not ready on " + ", ".join(timed_out))
        if saturated:
            problems.append("HX711 at end of range on " + ", ".join(saturated))
        if problems:
            self.health.last_error = "; ".join(problems)

    def _publish_decoder_stats(self) -> None:
        stats = self.reader.decoder.stats.as_dict()
        del stats["frames"]  # health.frames already counts them
        self.health.extra.update(stats)
        self.health.extra.update(self._flag_counts)


def _split_at_restarts(decoded: list[DecodedFrame]) -> list[list[DecodedFrame]]:
    """Runs of frames on one device clock: a restarted frame begins a new run."""
    batches: list[list[DecodedFrame]] = []
    for d in decoded:
        if d.restarted or not batches:
            batches.append([])
        batches[-1].append(d)
    return batches


def calibration_path(section: Mapping[str, Any], data_dir: str | os.PathLike[str]) -> Path:
    """The configured calibration file, or ``<data_dir>/loadcell-calibration.json``."""
    configured = section.get("calibration_file", "")
    return Path(configured) if configured else Path(data_dir) / DEFAULT_CALIBRATION_NAME


def probe_loadcells(section: Mapping[str, Any], data_dir: str | os.PathLike[str] | None = None,
                    *, wait_s: float = 1.0, clock: Clock = SYSTEM_CLOCK,
                    open_port: PortOpener = serial.serial_for_url) -> tuple[bool, str]:
    """For `liftguard sensors check`: open the port, read frames for up to ``wait_s``.

    Returns (ok, one-line report): frame rate by the device clock, CRC failures, and the
    per-corner raw counts (plus newtons when a calibration file is found), or why not.
    """
    port = section["port"]
    reader = SerialFrameReader(port, section["baudrate"], clock=clock, open_port=open_port)
    try:
        if not reader.open():
            return False, reader.health.last_error or f"cannot open serial port {port}"
    except SensorError as exc:
        return False, str(exc)
    frames: list[DecodedFrame] = []
    deadline = clock.mono_ns() + int(wait_s * 1e9)
    try:
        while clock.mono_ns() < deadline:
            frames += reader.read_frames()
            if not reader.connected:
                return False, reader.health.last_error or f"serial port {port} lost"
            clock.sleep(0.01)
    finally:
        reader.close()
    stats = reader.decoder.stats
    if not frames:
        return False, (f"serial port {port} opened but no valid load-cell frame arrived in "
                       f"{wait_s:g} s ({stats.bytes_discarded} bytes discarded, "
                       f"{stats.crc_failures} CRC failures): is the firmware running and "
                       f"the baud rate ({section['baudrate']}) right?")
    dead = channels_flagged(frames[-1].status, STATUS_TIMEOUT_SHIFT)
    return not dead, _probe_report(port, frames, stats.crc_failures, stats.lost_frames,
                                   _optional_calibration(section, data_dir))


def _optional_calibration(section: Mapping[str, Any],
                          data_dir: str | os.PathLike[str] | None) -> LoadCellCalibration | None:
    if data_dir is None and not section.get("calibration_file"):
        return None
    try:
        return load_calibration(calibration_path(section, data_dir or "."))
    except SensorError:
        return None


def _probe_report(port: str, frames: list[DecodedFrame], crc_failures: int, lost: int,
                  calibration: LoadCellCalibration | None) -> str:
    span_us = (frames[-1].device_us - frames[0].device_us) % DEVICE_CLOCK_MODULUS
    rate = f"{(len(frames) - 1) * 1e6 / span_us:.1f} Hz" if span_us else "rate unknown"
    last = frames[-1]
    corners = " ".join(f"{c}={n}" for c, n in zip(PLATFORM_CHANNELS, last.counts))
    report = (f"load cells on {port}: {len(frames)} frames, {rate} by the device clock, "
              f"{crc_failures} CRC failures, {lost} frames lost; counts {corners}")
    if calibration is not None:
        forces = zip(PLATFORM_CHANNELS, calibration.forces(last.counts))
        report += "; forces " + " ".join(f"{c}={f:.1f} N" for c, f in forces)
    else:
        report += " (no calibration file: run `liftguard calibrate loadcells`)"
    flagged = channels_flagged(last.status, STATUS_TIMEOUT_SHIFT)
    if flagged:
        report += f"; HX711 not ready on {', '.join(flagged)}"
    return report
