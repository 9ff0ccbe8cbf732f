"""Smooth signals with analytic first and second derivatives.

Every simulated quantity (bar height, lateral position, tilt, centre of pressure, fault
envelopes) is a ``Track``: ``track.eval(t)`` returns ``(p, v, a)`` arrays, the value and its
first and second time derivatives. The IMU signal and the platform forces are built from these
exact derivatives, so the ground truth and the generated signals cannot disagree.
"""
from __future__ import annotations

from typing import Protocol

import numpy as np

Triple = tuple[np.ndarray, np.ndarray, np.ndarray]


class Track(Protocol):
    def eval(self, t: np.ndarray) -> Triple: ...


class Knots:
    """Piecewise quintic Hermite curve: value, velocity and acceleration given at each knot.

    Between two knots with zero velocity and acceleration the segment is the minimum-jerk
    move; position, velocity and acceleration are continuous everywhere. The curve holds its
    first value before the first knot and its last value after the last knot.
    """

    def __init__(self, p0: float = 0.0, t0: float = 0.0) -> None:
        self.t: list[float] = [t0]
        self.p: list[float] = [p0]
        self.v: list[float] = [0.0]
        self.a: list[float] = [0.0]

    @property
    def value(self) -> float:
        return self.p[-1]

    @property
    def end_t(self) -> float:
        return self.t[-1]

    def add(self, t: float, p: float, v: float = 0.0, a: float = 0.0) -> None:
        if t <= self.t[-1]:
            raise ValueError(f"knot at {t:.6f} s is not after the previous one ({self.t[-1]:.6f} s)")
        self.t.append(t)
        self.p.append(p)
        self.v.append(v)
        self.a.append(a)

    def move(self, t0: float, t1: float, p: float, v: float = 0.0) -> None:
        """Hold the current value until ``t0`` (if later), then move smoothly to ``p`` at ``t1``."""
        if t0 > self.t[-1]:
            if self.v[-1] != 0.0 or self.a[-1] != 0.0:
                raise ValueError("cannot hold a track that is still moving")
            self.add(t0, self.p[-1])
        self.add(t1, p, v)

    def eval(self, t: np.ndarray) -> Triple:
        t = np.asarray(t, dtype=float)
        kt = np.asarray(self.t)
        p, v, a = (np.asarray(x) for x in (self.p, self.v, self.a))
        if len(kt) == 1:
            return np.full_like(t, p[0]), np.zeros_like(t), np.zeros_like(t)
        i = np.clip(np.searchsorted(kt, t, side="right") - 1, 0, len(kt) - 2)
        h = kt[i + 1] - kt[i]
        s = np.clip((t - kt[i]) / h, 0.0, 1.0)
        dp = p[i + 1] - p[i]
        v0, v1 = v[i] * h, v[i + 1] * h
        a0, a1 = a[i] * h * h, a[i + 1] * h * h
        c0, c1, c2 = p[i], v0, a0 / 2
        c3 = 10 * dp - 6 * v0 - 4 * v1 - 1.5 * a0 + 0.5 * a1
        c4 = -15 * dp + 8 * v0 + 7 * v1 + 1.5 * a0 - a1
        c5 = 6 * dp - 3 * v0 - 3 * v1 - 0.5 * a0 + 0.5 * a1
        pos = c0 + s * (c1 + s * (c2 + s * (c3 + s * (c4 + s * c5))))
        vel = (c1 + s * (2 * c2 + s * (3 * c3 + s * (4 * c4 + s * 5 * c5)))) / h
        acc = (2 * c2 + s * (6 * c3 + s * (12 * c4 + s * 20 * c5))) / (h * h)
        outside = (t < kt[0]) | (t > kt[-1])
        vel = np.where(outside, 0.0, vel)
        acc = np.where(outside, 0.0, acc)
        return pos, vel, acc


class Sine:
    """``amp * sin(2*pi*freq*(t - t0) + phase)``."""

    def __init__(self, amp: float, freq_hz: float, phase: float = 0.0, t0: float = 0.0) -> None:
        self.amp, self.w, self.phase, self.t0 = amp, 2 * np.pi * freq_hz, phase, t0

    def eval(self, t: np.ndarray) -> Triple:
        arg = self.w * (np.asarray(t, dtype=float) - self.t0) + self.phase
        s, c = np.sin(arg), np.cos(arg)
        return self.amp * s, self.amp * self.w * c, -self.amp * self.w * self.w * s


class Scaled:
    def __init__(self, track: Track, gain: float, offset: float = 0.0) -> None:
        self.track, self.gain, self.offset = track, gain, offset

    def eval(self, t: np.ndarray) -> Triple:
        p, v, a = self.track.eval(t)
        return self.gain * p + self.offset, self.gain * v, self.gain * a


class Product:
    """``f * g`` (an envelope times an oscillation), by the product rule."""

    def __init__(self, f: Track, g: Track) -> None:
        self.f, self.g = f, g

    def eval(self, t: np.ndarray) -> Triple:
        fp, fv, fa = self.f.eval(t)
        gp, gv, ga = self.g.eval(t)
        return fp * gp, fv * gp + fp * gv, fa * gp + 2 * fv * gv + fp * ga


class Sum:
    def __init__(self, *tracks: Track) -> None:
        self.tracks = list(tracks)

    def append(self, track: Track) -> None:
        self.tracks.append(track)

    def eval(self, t: np.ndarray) -> Triple:
        t = np.asarray(t, dtype=float)
        total = [np.zeros_like(t), np.zeros_like(t), np.zeros_like(t)]
        for track in self.tracks:
            for acc, part in zip(total, track.eval(t)):
                acc += part
        return total[0], total[1], total[2]


def envelope(onset: float, ramp_up: float, until: float, ramp_down: float) -> Knots:
    """0 before ``onset``, smoothly 1 after ``onset + ramp_up`` up to ``until``, back to 0."""
    k = Knots(0.0)
    k.move(onset, onset + ramp_up, 1.0)
    k.move(max(until, onset + ramp_up + 1e-3), max(until, onset + ramp_up + 1e-3) + ramp_down, 0.0)
    return k


def slow_sway(rng: np.random.Generator, rms: float, f_lo: float = 0.1, f_hi: float = 0.6,
              parts: int = 3) -> Sum:
    """Natural postural sway: a few slow sinusoids with random phases, total RMS ``rms``."""
    amp = rms * np.sqrt(2.0 / parts)
    return Sum(*(Sine(amp, rng.uniform(f_lo, f_hi), rng.uniform(0, 2 * np.pi))
                 for _ in range(parts)))
