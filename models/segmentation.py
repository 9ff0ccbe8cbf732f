"""Rep segmentation for squat, bench press and deadlift, incremental and offline.

A rep is a vertical excursion of the bar away from its rest level and back: down-up for squat and
bench (lockout -> bottom -> lockout), up-down for the deadlift (floor -> lockout -> floor). The
trace is first turned into zigzag pivots with hysteresis ``min_rom_m`` (a swing only counts once
the bar has travelled that far), so walk-outs, re-racks, hitching and small moves never form reps;
a pause at the bottom or at lockout is just a flat part of a swing.

Phase boundaries come from the sign of the vertical velocity inside each swing, kept within
``EDGE_FRACTION`` (10 %) of the rep's ROM of the level the bar leaves or reaches; see
:func:`reps_from_trace`.

:class:`RepSegmenter` is fed blocks of IMU samples. Velocity is only final once the bar has come
to rest (zero-velocity update), so reps are found every time a rest is confirmed -- that is
``REST_WINDOW_S`` (0.15 s) after the bar stops at lockout, within the 300 ms budget. Offline
segmentation (:func:`segment_bar`) feeds the whole recording through the same class, so both
give identical reps. The segmenter keeps the set's samples (about 5 kB per second at 100 Hz).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models import kinematics
from models.orientation import UpFilter

PHASE_VELOCITY_MPS = 0.0
EDGE_FRACTION = 0.10

MIN_ROM_M = {"squat": 0.20, "bench_press": 0.10, "deadlift": 0.20}
LIFTS = tuple(MIN_ROM_M)
LIFT_ALIASES = {"bench": "bench_press"}


def canonical_lift(lift: str) -> str:
    """The lift's canonical name (``bench`` is accepted for ``bench_press``); ValueError if unknown."""
    name = LIFT_ALIASES.get(lift, lift)
    if name not in MIN_ROM_M:
        raise ValueError(f"unknown lift {lift!r}; expected one of {', '.join(LIFTS)}")
    return name


def lift_direction(lift: str) -> int:
    """+1 when a rep starts downwards (squat, bench press), -1 when upwards (deadlift)."""
    return -1 if canonical_lift(lift) == "deadlift" else 1


@dataclass(frozen=True)
class RepBounds:
    """Sample indices of one rep. ``turn`` = bottom for squat/bench, lockout for deadlift."""

    number: int
    start: int
    first_end: int     # end of the first phase (eccentric for squat/bench)
    turn: int          # start of the second phase
    end: int


def zigzag(x: np.ndarray, threshold: float) -> tuple[list[int], int | None]:
    """Alternating extremum indices whose swings are all >= ``threshold``.

    Returns (confirmed pivots, provisional last extremum or None). The first pivot is the first
    extreme of the trace's opening swing. Causal: pivots up to time T depend only on x[:T+1].
    """
    return _zigzag_from(np.asarray(x, dtype=float).tolist(), threshold, 1, (0, 0, 0), [])


def _zigzag_from(x: list[float], threshold: float, begin: int, state: tuple[int, int, int],
                 pivots: list[int], checkpoints: dict[int, tuple[int, int, int, int]] | None = None,
                 every: int = 256) -> tuple[list[int], int | None]:
    """``zigzag``'s scan from sample ``begin`` on, in ``state`` (hi, lo, trend) with ``pivots``
    found before it; ``checkpoints[i]`` gets (hi, lo, trend, pivot count) after each
    ``every``-th sample, to resume from later (``SegmentationMemo.zigzag``)."""
    pivots = list(pivots)
    if not x:
        return pivots, None
    hi, lo, trend = state  # trend: +1 rising from a low, -1 falling from a high, 0 undecided
    for i in range(begin, len(x)):
        xi = x[i]
        if trend >= 0 and xi > x[hi]:
            hi = i
        if trend <= 0 and xi < x[lo]:
            lo = i
        if trend == 0:
            if x[hi] - x[lo] >= threshold:
                trend = 1 if hi > lo else -1
                pivots.append(lo if trend == 1 else hi)
                if trend == 1:
                    lo = hi
                else:
                    hi = lo
        elif trend == 1 and x[hi] - xi >= threshold:
            pivots.append(hi)
            trend, lo = -1, i
        elif trend == -1 and xi - x[lo] >= threshold:
            pivots.append(lo)
            trend, hi = 1, i
        if checkpoints is not None and (i + 1) % every == 0:
            checkpoints[i + 1] = (hi, lo, trend, len(pivots))
    last = hi if trend == 1 else lo if trend == -1 else None
    return pivots, last


def excursions(x: np.ndarray, threshold: float, direction: int = 1, final: bool = True,
               min_return: float = 0.7, zig=zigzag) -> list[tuple[int, int, int]]:
    """(top, extreme, top) index triples of every away-and-back excursion of ``direction * x``.

    ``direction=+1`` finds down-up excursions (dips). When ``final`` is True the trace's last
    extremum counts as the closing top even though nothing after it confirms it, provided the
    return swing covers ``min_return`` of the outward one (a bar stalled mid-way is no rep yet).
    ``zig``: ``zigzag`` or a memo's (``SegmentationMemo.zigzag``, the same result).
    """
    y = -direction * np.asarray(x, dtype=float)   # dips become peaks of y
    pivots, last = zig(y, threshold)
    if final and last is not None and len(pivots) >= 2:
        a, b = pivots[-2], pivots[-1]
        if y[b] > y[a] and y[b] - y[last] >= min_return * (y[b] - y[a]):
            pivots = pivots + [last]
    out = []
    for k in range(len(pivots) - 2):
        a, b, c = pivots[k:k + 3]
        if y[b] > y[a] and y[b] > y[c]:
            out.append((a, b, c))
    return out


def _first(mask: np.ndarray, offset: int, default: int) -> int:
    idx = np.flatnonzero(mask)
    return offset + int(idx[0]) if idx.size else default


def _last(mask: np.ndarray, offset: int, default: int) -> int:
    idx = np.flatnonzero(mask)
    return offset + int(idx[-1]) if idx.size else default


def reps_from_trace(z: np.ndarray, v: np.ndarray, lift: str, rate_hz: float,
                    min_rom_m: float | None = None, final: bool = True,
                    zig=zigzag) -> list[RepBounds]:
    """Reps in a displacement (m) / velocity (m/s) trace; see the module docstring."""
    d = lift_direction(lift)
    h = MIN_ROM_M[canonical_lift(lift)] if min_rom_m is None else min_rom_m
    y, vy = -d * z, -d * v  # away-from-rest is "up" in y
    reps: list[RepBounds] = []
    for a, b, c in excursions(z, h, d, final=final, zig=zig):
        rom = y[b] - min(y[a], y[c])
        edge = EDGE_FRACTION * rom
        k1 = a + int(np.argmax(vy[a:b + 1]))          # fastest away from rest
        k2 = b + int(np.argmin(vy[b:c + 1]))          # fastest back
        start = _last((vy[a:k1 + 1] <= PHASE_VELOCITY_MPS) & (y[a:k1 + 1] <= y[a] + edge), a, a)
        first_end = _first((vy[k1:b + 1] <= PHASE_VELOCITY_MPS) & (y[k1:b + 1] >= y[b] - edge), k1, b)
        turn = _last((vy[b:k2 + 1] >= -PHASE_VELOCITY_MPS) & (y[b:k2 + 1] >= y[b] - edge), b, b)
        end = _first((vy[k2:c + 1] >= -PHASE_VELOCITY_MPS) & (y[k2:c + 1] <= y[a] + edge), k2, c)
        reps.append(RepBounds(len(reps) + 1, start, first_end, turn, end))
    return reps


def _leading_equal(x: np.ndarray, y: np.ndarray) -> int:
    """How many leading rows of ``x`` and ``y`` are bit-identical (NaNs included)."""
    n = min(x.shape[0], y.shape[0])
    if n == 0 or x.shape[1:] != y.shape[1:]:
        return 0
    a = np.ascontiguousarray(x[:n]).view(np.uint8).reshape(n, -1)
    b = np.ascontiguousarray(y[:n]).view(np.uint8).reshape(n, -1)
    differ = np.flatnonzero((a != b).any(axis=1))
    return int(differ[0]) if differ.size else n


class SegmentationMemo:
    """What the last segmentation of one set computed, for the next one of the same set grown
    by a few seconds (the session worker segments the whole set so far at every rep).

    A result is reused only where its inputs are bit-identical to last time's -- the
    orientation filter's output and the rest and zigzag scans' states up to their last
    checkpoint before the first sample that differs, and the rep detection at a rest whose whole vertical
    acceleration and rest trace up to it are the same -- so the segmentation equals a fresh one
    exactly; it just skips recomputing the set's start at every rep. One memo per set, used by
    one thread.
    """

    CHECKPOINT_EVERY = 256

    def __init__(self) -> None:
        self._up_key: tuple | None = None
        self._accel = self._gyro = self._up = np.zeros((0, 3))
        self._states: dict[int, tuple[float, float, float] | None] = {}
        self._detects: dict[tuple, tuple[tuple, tuple]] = {}   # this time's: (inputs, result)
        self._earlier: dict[tuple, tuple[tuple, tuple]] = {}   # last time's
        self._arrays: tuple[np.ndarray, np.ndarray] | None = None        # this time's inputs
        self._last_arrays: tuple[np.ndarray, np.ndarray] | None = None   # last time's
        self._same = 0   # how many leading samples of the two are bit-identical
        self._zz_x, self._zz_threshold = np.zeros(0), None   # the last zigzag scan's input
        self._zz_states: dict[int, tuple[int, int, int, int]] = {}
        self._zz_pivots: list[int] = []
        self._rest_key: tuple | None = None            # the last rest scan's detector and input
        self._rest_quiet, self._rest_a = np.zeros(0, bool), np.zeros(0)
        self._rest_out = np.zeros(0, bool)
        self._rest_states: dict[int, tuple[tuple[float, bool, int | None], bool]] = {}

    def begin(self) -> None:
        """A new segmentation: keep last time's rep detections only for this one."""
        self._earlier, self._detects = self._detects, {}
        self._last_arrays, self._arrays = self._arrays, None

    def up(self, flt: UpFilter, accel: np.ndarray, gyro: np.ndarray) -> np.ndarray:
        """``flt.update(accel, gyro)`` for a fresh filter, reusing last time's leading part."""
        key = flt.params
        same = 0
        if key == self._up_key and flt.state is None:
            same = min(_leading_equal(accel, self._accel), _leading_equal(gyro, self._gyro))
        start = max((c for c in self._states if c <= same), default=0) if same else 0
        states = {c: v for c, v in self._states.items() if c <= start}
        if start:
            flt.resume(states[start])
        rest: dict[int, tuple[float, float, float] | None] = {}
        tail = flt.update(accel[start:], gyro[start:], rest, self.CHECKPOINT_EVERY)
        states.update({start + c: v for c, v in rest.items()})
        up = np.concatenate([self._up[:start], tail]) if start else tail
        self._up_key, self._accel, self._gyro, self._up = key, accel.copy(), gyro.copy(), up
        self._states = states
        return up.copy()

    def rest(self, detector: kinematics.RestDetector, quiet: np.ndarray,
             a_vert: np.ndarray) -> np.ndarray:
        """``detector.update(quiet, a_vert)`` for a fresh detector, resuming last time's scan
        at its last checkpoint before the first sample that differs. A rest decision is final
        except that a long quiet stretch, once recognised, is rest from its start: so the
        leading part is last time's decisions as they stood at the checkpoint (the stretch in
        progress there is all not-rest unless its last sample was rest already, as a stretch
        turns rest from some sample on or all at once), and a stretch recognised after it
        marks its start as the scan from the start would."""
        key = detector.params
        same = 0
        if key == self._rest_key and detector.fed == 0:
            same = min(_leading_equal(quiet, self._rest_quiet),
                       _leading_equal(a_vert, self._rest_a))
        begin = max((c for c in self._rest_states if c <= same), default=0)
        states = {c: v for c, v in self._rest_states.items() if c <= begin}
        head = np.zeros(0, bool)
        if begin:
            state, last_rest = states[begin]
            head = self._rest_out[:begin].copy()
            if state[2] is not None and not last_rest:
                head[state[2]:] = False
            detector.resume(state, begin)
        tail = detector.update(quiet[begin:], a_vert[begin:], states, self.CHECKPOINT_EVERY)
        out = np.concatenate([head, tail])
        if detector.backfill_from is not None:   # the scan from the start has it in one block
            out[detector.backfill_from:begin] = True
            detector.backfill_from = None
        self._rest_key, self._rest_quiet, self._rest_a = key, quiet.copy(), a_vert.copy()
        self._rest_out, self._rest_states = out.copy(), states
        return out

    def zigzag(self, x: np.ndarray, threshold: float) -> tuple[list[int], int | None]:
        """``zigzag(x, threshold)``, resuming the last call's scan at its last checkpoint
        before the first sample that differs (the displacement of the set so far changes only
        from the last rest on as it grows)."""
        xs = np.array(x, dtype=float)
        same = _leading_equal(xs, self._zz_x) if threshold == self._zz_threshold else 0
        begin = max((c for c in self._zz_states if c <= same), default=0)
        checkpoints = {c: v for c, v in self._zz_states.items() if c <= begin}
        if begin:
            hi, lo, trend, count = checkpoints[begin]
            state, pivots = (hi, lo, trend), self._zz_pivots[:count]
        else:
            begin, state, pivots = 1, (0, 0, 0), []
        pivots, last = _zigzag_from(xs.tolist(), threshold, begin, state, pivots, checkpoints,
                                    self.CHECKPOINT_EVERY)
        self._zz_x, self._zz_threshold = xs, threshold
        self._zz_states, self._zz_pivots = checkpoints, pivots
        return list(pivots), last

    def detect(self, key: tuple, a_vert: np.ndarray, confirmed: np.ndarray,
               compute) -> tuple[kinematics.VerticalMotion, list[RepBounds]]:
        """``compute()``, the rep detection at ``key`` = (lift, rate, min ROM, sample count
        ``upto``, end of data or not) on the first ``upto`` samples of ``a_vert`` and
        ``confirmed`` (the segmentation's whole vertical acceleration and confirmed rests), or
        last time's result at the same key when those samples are bit-identical to the arrays
        last time's was computed on. The prefix they share is found once per segmentation, so
        the rests before the new rep cost nothing. The motion's arrays are shared with the
        memo and read-only."""
        arrays = self._arrays
        if arrays is None or arrays[0] is not a_vert or arrays[1] is not confirmed:
            arrays = self._arrays = (a_vert, confirmed)
            last = self._last_arrays
            self._same = 0 if last is None else min(_leading_equal(a_vert, last[0]),
                                                    _leading_equal(confirmed, last[1]))
        entry = self._earlier.get(key)
        upto = key[3]
        if entry is not None and entry[0] is self._last_arrays and upto <= self._same:
            found = entry[1]
        else:
            motion, reps = compute()
            for array in (motion.velocity, motion.displacement, motion.rest):
                array.flags.writeable = False
            found = (motion, reps)
        self._detects[key] = (arrays, found)
        return found[0], list(found[1])


class RepSegmenter:
    """Incremental bar-IMU rep segmentation; feed blocks, get reps as they complete.

    ``feed`` returns the reps completed by this block. A rep is reported at the first confirmed
    rest after it (see module docstring); :meth:`finish` closes the set at the end of the data.
    """

    def __init__(self, lift: str, rate_hz: float, min_rom_m: float | None = None,
                 memo: SegmentationMemo | None = None) -> None:
        lift = canonical_lift(lift)
        self.lift, self.rate_hz, self.min_rom_m = lift, rate_hz, min_rom_m
        self._filter = UpFilter(rate_hz)
        self._memo = memo
        if memo is not None:
            memo.begin()
        # Raw samples not yet needed by the quiet-window test: only the last window's worth is
        # kept once gravity is known, so feeding stays O(block) however long the session runs.
        self._accel: list[np.ndarray] = []
        self._gyro: list[np.ndarray] = []
        self._raw_start = 0   # sample index of the first row held in _accel/_gyro
        self._done = 0        # samples whose orientation and rest state are decided
        self._up: list[np.ndarray] = []
        self._a_vert: list[np.ndarray] = []
        self._rest_confirmed: list[np.ndarray] = []
        self._rest_detector = kinematics.RestDetector(rate_hz)
        self._n = 0
        self._at_rest = False
        self._g_ref: float | None = None
        self._reported: list[RepBounds] = []
        self.reported_at: list[int] = []   # sample count when each rep was reported
        self.motion: kinematics.VerticalMotion | None = None

    @property
    def reps(self) -> list[RepBounds]:
        return list(self._reported)

    @property
    def up(self) -> np.ndarray:
        """The orientation filter's "up" vector for every sample processed, shape (n, 3)
        (NaN for samples fed before the first quiet window, which are never processed)."""
        up = np.concatenate(self._up) if self._up else np.zeros((0, 3))
        return np.vstack([up, np.full((self._n - up.shape[0], 3), np.nan)])

    def feed(self, accel: np.ndarray, gyro: np.ndarray) -> list[RepBounds]:
        accel, gyro = np.atleast_2d(accel), np.atleast_2d(gyro)
        self._accel.append(accel)
        self._gyro.append(gyro)
        self._n += accel.shape[0]
        if self._g_ref is None:
            a, g = np.concatenate(self._accel), np.concatenate(self._gyro)
            self._g_ref = kinematics.gravity_reference(a, g, self.rate_hz)
            if self._g_ref is None:
                return []
        return self._process(self._done)

    def _process(self, done: int) -> list[RepBounds]:
        """Orientation and rest decisions for samples ``done..n``, then reps at each newly
        confirmed rest."""
        w = kinematics.window_samples(self.rate_hz)
        tail = max(0, done - w + 1)
        a = np.concatenate(self._accel)[tail - self._raw_start:]
        g = np.concatenate(self._gyro)[tail - self._raw_start:]
        keep = max(0, self._n - w + 1)
        self._accel, self._gyro = [a[keep - tail:]], [g[keep - tail:]]
        self._raw_start = keep
        self._done = self._n
        quiet = kinematics.quiet_windows(a, g, self.rate_hz, self._g_ref)[done - tail:]
        if done < w - 1:
            quiet[: w - 1 - done] = False
        a, g = a[done - tail:], g[done - tail:]
        up = (self._memo.up(self._filter, a, g) if self._memo is not None and done == 0
              else self._filter.update(a, g))
        a_vert = kinematics.vertical_acceleration(a, up, self._g_ref)
        confirmed = (self._memo.rest(self._rest_detector, quiet, a_vert)
                     if self._memo is not None and done == 0
                     else self._rest_detector.update(quiet, a_vert))
        self._up.append(up)
        self._a_vert.append(a_vert)
        self._rest_confirmed.append(confirmed)
        # a long quiet stretch recognised late is rest from its start, also in earlier blocks
        lo = self._rest_detector.backfill_from
        if lo is not None:
            joined = np.concatenate(self._rest_confirmed)
            joined[lo:done] = True
            self._rest_confirmed = [joined]
            confirmed = joined[lo:]
            was_rest = bool(joined[lo - 1]) if lo > 0 else False
        else:
            lo, was_rest = done, self._at_rest
        onsets = lo + np.flatnonzero(confirmed & ~np.concatenate(([was_rest], confirmed[:-1])))
        self._at_rest = bool(confirmed[-1]) if confirmed.size else self._at_rest
        new: list[RepBounds] = []
        for onset in onsets:
            new += self._detect(upto=int(onset) + 1, final_end=False)
        return new

    def finish(self) -> list[RepBounds]:
        """Close the set: the end of the data counts as a rest."""
        if self._n == 0 or self._g_ref is None:
            return []
        return self._detect(upto=self._n, final_end=True)

    def _detect(self, upto: int, final_end: bool) -> list[RepBounds]:
        for parts in (self._rest_confirmed, self._a_vert):   # blocks are only appended
            if len(parts) > 1:
                parts[:] = [np.concatenate(parts)]
        confirmed_all, a_vert_all = self._rest_confirmed[0], self._a_vert[0]

        def compute() -> tuple[kinematics.VerticalMotion, list[RepBounds]]:
            rest = kinematics.rest_mask(confirmed_all[:upto], self.rate_hz)
            if not final_end:
                rest[-1] = True
            motion = kinematics.integrate_with_zupt(a_vert_all[:upto], rest, self.rate_hz,
                                                    close_last=True)
            return motion, reps_from_trace(motion.displacement, motion.velocity, self.lift,
                                           self.rate_hz, self.min_rom_m, final=True,
                                           zig=zigzag if self._memo is None else self._memo.zigzag)

        if self._memo is None:
            motion, found = compute()
        else:
            motion, found = self._memo.detect((self.lift, self.rate_hz, self.min_rom_m, upto,
                                               final_end), a_vert_all, confirmed_all, compute)
        self.motion = motion
        new = found[len(self._reported):]
        self._reported.extend(new)
        self.reported_at.extend([self._n] * len(new))
        return new


def segment_bar(accel: np.ndarray, gyro: np.ndarray, lift: str, rate_hz: float,
                min_rom_m: float | None = None, block: int | None = None,
                memo: SegmentationMemo | None = None) -> tuple[list[RepBounds], RepSegmenter]:
    """Offline segmentation: the whole recording through :class:`RepSegmenter` (optionally in
    blocks of ``block`` samples), then :meth:`RepSegmenter.finish`; ``memo`` (one per set)
    skips what the last segmentation of the same set, shorter, already computed."""
    seg = RepSegmenter(lift, rate_hz, min_rom_m, memo)
    step = accel.shape[0] if block is None else block
    for i in range(0, accel.shape[0], max(step, 1)):
        seg.feed(accel[i:i + step], gyro[i:i + step])
    seg.finish()
    return seg.reps, seg


def lowpass(x: np.ndarray, rate_hz: float, cutoff_hz: float) -> np.ndarray:
    """Zero-phase low-pass along axis 0 (FFT with a raised-cosine roll-off over one octave
    below ``cutoff_hz``); for offline use on recorded sets."""
    n = x.shape[0]
    pad = int(rate_hz * 2)
    xp = np.pad(x, [(pad, pad)] + [(0, 0)] * (x.ndim - 1), mode="edge")
    spec = np.fft.rfft(xp, axis=0)
    f = np.fft.rfftfreq(xp.shape[0], 1.0 / rate_hz)
    gain = np.clip((cutoff_hz - f) / (cutoff_hz / 2), 0.0, 1.0)
    gain = 0.5 - 0.5 * np.cos(np.pi * gain)
    out = np.fft.irfft(spec * gain.reshape((-1,) + (1,) * (x.ndim - 1)), n=xp.shape[0], axis=0)
    return out[pad:pad + n]


def dominant_axis(accel: np.ndarray) -> np.ndarray:
    """Projection of the (low-passed) acceleration on its first principal axis, mean removed."""
    centred = accel - accel.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[0]


@dataclass(frozen=True)
class BodyRepParams:
    cutoff_ratio: float      # low-pass cutoff as a multiple of the set's dominant rep frequency
    min_prominence: float    # fraction of the signal's 5-95 % range a swing must cover
    band_hz: tuple[float, float] = (0.15, 1.5)   # where the rep frequency is looked for


BODY_REP_PARAMS = BodyRepParams(cutoff_ratio=2.0, min_prominence=0.35)


def rep_frequency(signal: np.ndarray, rate_hz: float, band_hz: tuple[float, float]) -> float:
    """Frequency (Hz) of the largest spectral peak of ``signal`` inside ``band_hz``."""
    x = signal - signal.mean()
    n = max(x.size, int(rate_hz * 60))          # zero-pad for a finer frequency grid
    power = np.abs(np.fft.rfft(x, n=n)) ** 2
    f = np.fft.rfftfreq(n, 1.0 / rate_hz)
    sel = (f >= band_hz[0]) & (f <= band_hz[1])
    return float(f[sel][np.argmax(power[sel])])


def body_worn_reps(accel: np.ndarray, rate_hz: float,
                   params: BodyRepParams = BODY_REP_PARAMS) -> list[tuple[int, int]]:
    """(start, end) sample indices of reps from a body-worn IMU of unknown orientation.

    The set's rep frequency ``f0`` is the spectral peak of the acceleration's dominant principal
    axis; the acceleration low-passed at ``cutoff_ratio * f0`` is projected on its dominant
    principal axis (the direction in which gravity and movement change most); a rep is an excursion from the
    starting level and back, with swings of at least ``min_prominence`` of the signal's
    5-95 % range. The excursion direction is the one the signal first leaves its start level in.
    Start/end are where the signal is 15 % of the swing away from the top level.
    """
    rough = dominant_axis(lowpass(accel, rate_hz, params.band_hz[1] * 2))
    f0 = rep_frequency(rough, rate_hz, params.band_hz)
    p = dominant_axis(lowpass(accel, rate_hz, params.cutoff_ratio * f0))
    lo, hi = np.percentile(p, [5, 95])
    h = params.min_prominence * (hi - lo)
    start_level = float(np.median(p[: max(1, int(rate_hz * 0.5))]))
    away = np.flatnonzero(np.abs(p - start_level) > h)
    direction = 1 if away.size == 0 or p[away[0]] < start_level else -1
    y = -direction * p
    pivots, last = zigzag(y, h)
    if last is not None:
        pivots.append(last)
    # a set recorded from mid-rep (or cut before the last return) still counts that rep:
    # the recording's first/last sample stands in for the missing top
    if len(pivots) >= 2 and y[pivots[0]] > y[pivots[1]] and pivots[0] > 0:
        pivots.insert(0, 0)
    if len(pivots) >= 2 and y[pivots[-1]] > y[pivots[-2]] and pivots[-1] < p.size - 1:
        pivots.append(p.size - 1)
    out = []
    for k in range(len(pivots) - 2):
        a, b, c = pivots[k:k + 3]
        if not (y[b] > y[a] and y[b] > y[c]):
            continue
        edge_a, edge_c = y[a] + 0.15 * (y[b] - y[a]), y[c] + 0.15 * (y[b] - y[c])
        start = _last(y[a:b + 1] <= edge_a, a, a)
        end = _first(y[b:c + 1] <= edge_c, b, c)
        out.append((start, end))
    return out
