"""Columnar JSON encoding of a run of frames from one source (``sensor_data.raw_data``).

The wire format of raw chunks, shared by the box (which writes it), the ingester (which
validates it) and the web app (which reads it), specified in docs/local-store.md; in short::

    {"v": 1, "source": "imu", "channels": ["ax", ...], "n": 200,
     "seq0": 1000, "seq_jumps": [[i, seq_i], ...],        # only where seq != previous + 1
     "t0_ns": 123456789, "dt_ns": 5000000 | [d1, ..., d(n-1)],
     "wall_t0": 1700000000.25, "wall_steps": [[i, wall_i], ...],
     "decimals": [4, 4, 4, 5, 5, 5],                      # only when values were rounded
     "values": [[ax0, ax1, ...], [ay0, ...], ...]}        # one list per channel, NaN -> null

Version 2 (what the box writes, ``encode_counts_chunk``) keeps every field but ``values`` and
``decimals``, and carries each channel as integer counts of its resolution, delta-coded::

    {"v": 2, ...same header as v1..., "dt_ns": 5000000 | "5000012,-3,0,...",
     "scale": [0.0023941, ...],                            # one resolution per channel
     "counts": ["4096,-3,,5,...", ...]}                     # one string per channel

A ``counts`` string has ``n`` comma-separated fields: the first number is a count, every later
number the difference from the previous number, an empty field a missing value (NaN); a value
is ``count * scale``. A non-uniform ``dt_ns`` is the n-1 steps coded the same way. The numbers
are a string, not a JSON array, because JSONB stores each array number as a ``numeric`` of
about 12 bytes, while a string stays about 3 bytes a value and TOAST compresses it further
(figures in docs/database.md).

Sequence numbers and monotonic times round-trip exactly; wall time round-trips to within
``WALL_TOLERANCE_S`` (a new anchor is written whenever the wall clock steps); v1 values
round-trip exactly when ``decimals`` is None, else to half a unit of the stated decimal place;
v2 values to half their channel's ``scale``. Both versions decode everywhere.
"""
from __future__ import annotations

import functools
import json
import math
import re
from itertools import accumulate
from typing import Any, Mapping, Sequence

from sensors.frame import PLATFORM_CHANNELS, STANDARD_GRAVITY, Frame
from sync.json_values import is_finite_number

FORMAT_VERSION = 1
COUNTS_VERSION = 2
VERSIONS = (FORMAT_VERSION, COUNTS_VERSION)
MAX_COUNT = 2 ** 53
"""Largest count magnitude (a float holds every integer up to here exactly)."""
_FIELD_DIGITS = 17
"""A difference of two counts within +-MAX_COUNT has at most 17 digits."""
_FIELD = f"-?[0-9]{{1,{_FIELD_DIGITS}}}"
_COUNTS_TEXT = re.compile(f"(?:{_FIELD}+)?(?:,(?:{_FIELD}+)?)*+")
"""A counts string: comma-separated fields, each empty or an integer of 1-17 digits. The
quantifiers are possessive: a comma ends every field, so giving digits back can never make a
match, and not keeping the positions to backtrack to makes the ingester's check of a chunk a
third faster."""

WALL_TOLERANCE_S = 0.001
"""Wall time is rebuilt from the monotonic clock between anchors; a drift above this adds one."""

DEFAULT_DECIMALS: dict[str, int] = {
    **{c: 4 for c in ("ax", "ay", "az")},   # 1e-4 m/s^2; MPU-6050 LSB >= 6e-4 m/s^2 (+-2 g)
    **{c: 5 for c in ("gx", "gy", "gz")},   # 1e-5 rad/s; LSB >= 1.3e-4 rad/s (+-250 dps)
    **{c: 3 for c in PLATFORM_CHANNELS},    # 1e-3 N; load-cell noise is tens of mN
}
"""Rounding per channel, at least 5x finer than the sensor can resolve, so nothing the sensor
measured is lost while the JSON shrinks about 2.5x. Unknown channels are not rounded."""


FORCE_RESOLUTION_N = 0.01
"""One HX711 count after calibration: the platform's cells give about 100 counts per newton
(docs/loadcell-protocol.md, ``counts_per_newton``), and their noise is about 1 N."""


def chunk_resolution(accel_range_g: float = 8, gyro_range_dps: float = 1000,
                     counts_per_newton: Mapping[str, float] | None = None) -> dict[str, float]:
    """Per-channel resolution for ``encode_counts_chunk``: one MPU-6050 LSB at the configured
    full-scale ranges (16-bit signed: range / 32768) and one load-cell count for forces, from
    the platform's calibration (1 / |counts per newton| per corner) when given."""
    accel = accel_range_g * STANDARD_GRAVITY / 32768.0
    gyro = math.radians(gyro_range_dps) / 32768.0
    forces = {c: FORCE_RESOLUTION_N for c in PLATFORM_CHANNELS}
    for c, k in (counts_per_newton or {}).items():
        if c in forces and math.isfinite(k) and k != 0:
            forces[c] = 1.0 / abs(k)
    return {**{c: accel for c in ("ax", "ay", "az")}, **{c: gyro for c in ("gx", "gy", "gz")},
            **forces}


DEFAULT_RESOLUTION = chunk_resolution()


class ChunkFormatError(ValueError):
    """A chunk that cannot be decoded; the message names the offending field."""


def encode_chunk(frames: Sequence[Frame],
                 decimals: Mapping[str, int] | None = None) -> dict[str, Any]:
    """Encode frames (one source, one channel set, at least one frame) as a chunk dict.

    ``decimals`` maps channel -> decimal places to round to; None keeps values exact.
    """
    if not frames:
        raise ValueError("encode_chunk needs at least one frame")
    first = frames[0]
    for i, f in enumerate(frames):
        if f.source != first.source or f.channels != first.channels:
            raise ValueError(f"frame {i} is from {f.source!r} {f.channels} but the chunk holds "
                             f"{first.source!r} {first.channels}: one source per chunk")
    chunk: dict[str, Any] = {
        "v": FORMAT_VERSION,
        "source": first.source,
        "channels": list(first.channels),
        "n": len(frames),
        "seq0": first.seq,
    }
    jumps = [[i, frames[i].seq] for i in range(1, len(frames))
             if frames[i].seq != frames[i - 1].seq + 1]
    if jumps:
        chunk["seq_jumps"] = jumps
    chunk["t0_ns"] = first.mono_ns
    if len(frames) > 1:
        deltas = [frames[i].mono_ns - frames[i - 1].mono_ns for i in range(1, len(frames))]
        chunk["dt_ns"] = deltas[0] if all(d == deltas[0] for d in deltas) else deltas
    chunk["wall_t0"] = first.wall_s
    steps = _wall_steps(frames)
    if steps:
        chunk["wall_steps"] = steps
    places = None
    if decimals is not None:
        places = [decimals.get(c) for c in first.channels]
        if any(p is not None for p in places):
            chunk["decimals"] = places
        else:
            places = None
    chunk["values"] = [
        [_json_number(f.values[c], None if places is None else places[c]) for f in frames]
        for c in range(len(first.channels))
    ]
    return chunk


def encode_counts_chunk(frames: Sequence[Frame], resolution: Mapping[str, float]
                        ) -> dict[str, Any]:
    """Encode frames as a version-2 chunk: each value rounded to a whole count of its channel's
    resolution (so it decodes to within half of it), delta-coded.

    Raises ``ValueError`` when a channel has no resolution or a value is beyond ``MAX_COUNT``
    counts; the caller then writes version 1, which keeps any float.
    """
    chunk = encode_chunk(frames)
    channels = chunk["channels"]
    scales = []
    for c in channels:
        scale = resolution.get(c)
        if not isinstance(scale, (int, float)) or not math.isfinite(scale) or scale <= 0:
            raise ValueError(f"channel {c!r} has no resolution to count in")
        scales.append(float(scale))
    values = chunk.pop("values")
    chunk["v"] = COUNTS_VERSION
    if isinstance(chunk.get("dt_ns"), list):
        chunk["dt_ns"] = _delta_text(chunk["dt_ns"])
    chunk["scale"] = scales
    counts = []
    for name, column, scale in zip(channels, values, scales):
        ints: list[int | None] = []
        for v in column:
            if v is None:
                ints.append(None)
                continue
            if not abs(v / scale) <= MAX_COUNT:
                raise ValueError(f"channel {name!r} value {v} is beyond {MAX_COUNT} counts")
            ints.append(round(v / scale))
        counts.append(_delta_text(ints))
    chunk["counts"] = counts
    return chunk


def _delta_text(ints: Sequence[int | None]) -> str:
    out: list[str] = []
    prev = 0
    for x in ints:
        if x is None:
            out.append("")
        else:
            out.append(str(x - prev))
            prev = x
    return ",".join(out)


def _wall_steps(frames: Sequence[Frame]) -> list[list[float]]:
    steps: list[list[float]] = []
    anchor_t, anchor_wall = frames[0].mono_ns, frames[0].wall_s
    for i in range(1, len(frames)):
        f = frames[i]
        if abs(f.wall_s - (anchor_wall + (f.mono_ns - anchor_t) / 1e9)) > WALL_TOLERANCE_S:
            steps.append([i, f.wall_s])
            anchor_t, anchor_wall = f.mono_ns, f.wall_s
    return steps


def _json_number(v: float, places: int | None) -> float | None:
    if not math.isfinite(v):
        return None  # JSON (and PostgreSQL JSONB) has no NaN/Infinity
    return v if places is None else round(v, places)


def decode_chunk(chunk: Mapping[str, Any] | str | bytes) -> list[Frame]:
    """Frames back from a chunk dict or its JSON text (either version); missing values come
    back as NaN. ``ChunkFormatError`` names the first thing wrong."""
    c = decode_columns(chunk)
    rows = zip(*c.values)
    return [Frame(c.source, c.seqs[i], c.monos[i], c.walls[i], c.channels, row)
            for i, row in enumerate(rows)]


class ChunkColumns:
    """A decoded chunk as columns: one list per field, ``values`` one list per channel."""

    __slots__ = ("source", "channels", "seqs", "monos", "walls", "values")

    def __init__(self, source: str, channels: tuple[str, ...], seqs: list[int],
                 monos: list[int], walls: list[float], values: list[list[float]]) -> None:
        self.source, self.channels, self.seqs = source, channels, seqs
        self.monos, self.walls, self.values = monos, walls, values


def decode_columns(chunk: Mapping[str, Any] | str | bytes) -> ChunkColumns:
    """Every field of a chunk checked and expanded, without a ``Frame`` per sample."""
    chunk, version, source, channels, n = _header(chunk)
    # The value columns are checked before anything of length n is built, so a chunk that
    # claims more samples than it carries is refused instead of exhausting memory.
    if version == FORMAT_VERSION:
        values = _plain_values(chunk, channels, n)
    else:
        values = _count_values(chunk, channels, n)
    seqs = _expand_jumps(_field(chunk, "seq0", int), chunk.get("seq_jumps", []), n)
    monos = _mono_times(chunk, n, version)
    walls = _wall_times(chunk, monos)
    return ChunkColumns(source, channels, seqs, monos, walls, values)


def check_chunk(chunk: Mapping[str, Any] | str | bytes) -> None:
    """Raise ``ChunkFormatError`` for whatever ``decode_chunk`` would refuse, at a fraction of
    its cost for version 2 (counts are matched, not multiplied out): the ingester's check."""
    chunk, version, _, channels, n = _header(chunk)
    if version == FORMAT_VERSION:
        _plain_values(chunk, channels, n)
    else:
        for name, _scale, text in _count_fields(chunk, channels):
            _check_delta_text(text, n, f"'counts' of channel {name!r}", allow_missing=True)
    _field(chunk, "seq0", int)
    _check_jumps(chunk.get("seq_jumps", []), n)   # what _expand_jumps refuses, without the list
    if type(chunk.get("dt_ns")) is int and "wall_steps" not in chunk:
        _field(chunk, "t0_ns", int)   # evenly spaced, no clock step: nothing to expand
        _wall_times(chunk, [0])
    else:
        _wall_times(chunk, _mono_times(chunk, n, version))


def _header(chunk: Mapping[str, Any] | str | bytes
            ) -> tuple[Mapping[str, Any], int, str, tuple[str, ...], int]:
    if isinstance(chunk, (str, bytes)):
        try:
            chunk = json.loads(chunk)
        except json.JSONDecodeError as exc:
            raise ChunkFormatError(f"chunk is not valid JSON: {exc}") from None
    if not isinstance(chunk, Mapping):
        raise ChunkFormatError(f"chunk must be a JSON object, got {type(chunk).__name__}")
    version = chunk.get("v")
    if version not in VERSIONS or isinstance(version, bool):
        raise ChunkFormatError(f"chunk field 'v' is {version!r}; this code reads versions "
                               f"{', '.join(map(str, VERSIONS))}")
    source = _field(chunk, "source", str)
    channels = tuple(_field(chunk, "channels", list))
    n = _field(chunk, "n", int)
    if n < 1:
        raise ChunkFormatError(f"chunk field 'n' must be >= 1, got {n}")
    if not channels:
        raise ChunkFormatError("chunk field 'channels' must name at least one channel")
    if not all(isinstance(c, str) for c in channels):
        raise ChunkFormatError("chunk field 'channels' must list channel names (strings)")
    return chunk, version, source, channels, n


def _plain_values(chunk: Mapping[str, Any], channels: tuple[str, ...], n: int
                  ) -> list[list[float]]:
    values = _field(chunk, "values", list)
    if len(values) != len(channels):
        raise ChunkFormatError(f"chunk field 'values' has {len(values)} columns for "
                               f"{len(channels)} channels")
    for name, column in zip(channels, values):
        if not isinstance(column, list) or len(column) != n:
            raise ChunkFormatError(f"chunk field 'values' column {name!r} must list {n} values")
    return [_floats(col, name) for name, col in zip(channels, values)]


def _count_fields(chunk: Mapping[str, Any], channels: tuple[str, ...]
                  ) -> list[tuple[str, float, Any]]:
    """(channel, scale, counts text) per channel, the scales checked."""
    scales = _field(chunk, "scale", list)
    counts = _field(chunk, "counts", list)
    for key, items in (("scale", scales), ("counts", counts)):
        if len(items) != len(channels):
            raise ChunkFormatError(f"chunk field {key!r} has {len(items)} entries for "
                                   f"{len(channels)} channels")
    for name, scale in zip(channels, scales):
        if not is_finite_number(scale) or scale <= 0:
            raise ChunkFormatError(f"chunk field 'scale' of channel {name!r} must be a "
                                   f"positive number, got {scale!r}")
    return list(zip(channels, scales, counts))


def _count_values(chunk: Mapping[str, Any], channels: tuple[str, ...], n: int
                  ) -> list[list[float]]:
    out = []
    for name, scale, text in _count_fields(chunk, channels):
        ints = _undelta(text, n, f"'counts' of channel {name!r}", allow_missing=True)
        out.append([math.nan if x is None else x * scale for x in ints])
    return out


def _check_delta_text(text: Any, n: int, what: str, *, allow_missing: bool) -> bool:
    """Check a delta-coded string's shape (see the module docstring); True when its numbers
    must still be summed to know they stay within ``MAX_COUNT``."""
    if not isinstance(text, str):
        raise ChunkFormatError(f"chunk field {what} must be a string of comma-separated "
                               f"integers, got {type(text).__name__}")
    # n fields need n-1 commas and at most 18 characters each: refuse before splitting.
    if text.count(",") != n - 1:
        raise ChunkFormatError(f"chunk field {what} carries {text.count(',') + 1} values, "
                               f"not the {n} the chunk claims")
    # n numbers below 10**(digits) cannot sum beyond n * 10**digits: only a string with a
    # longer number needs summing. One match tells both (the common case) that the string is
    # well formed and that it has no such number.
    digits = len(str(MAX_COUNT // n)) - 1
    if len(text) > n * (_FIELD_DIGITS + 2):
        short = False
    else:
        short = _short_counts_text(digits).fullmatch(text) is not None
    if not short and (len(text) > n * (_FIELD_DIGITS + 2) or not _COUNTS_TEXT.fullmatch(text)):
        raise ChunkFormatError(f"chunk field {what} must be comma-separated integers of at "
                               f"most {_FIELD_DIGITS} digits")
    if not allow_missing and ",," in f",{text},":
        raise ChunkFormatError(f"chunk field {what} has an empty field")
    if short:
        return False
    if allow_missing:
        prev = 0
        for f in text.split(","):
            if f:
                prev += int(f)
                _check_count(prev, what)
        return False
    return True


@functools.lru_cache(maxsize=32)
def _short_counts_text(digits: int) -> re.Pattern[str]:
    """``_COUNTS_TEXT`` with fields of at most ``digits`` digits."""
    field = f"-?[0-9]{{1,{max(1, min(digits, _FIELD_DIGITS))}}}+"
    return re.compile(f"(?:{field})?(?:,(?:{field})?)*+")


def _undelta(text: Any, n: int, what: str, *, allow_missing: bool) -> list[int | None]:
    """The numbers of a delta-coded string (see the module docstring), checked."""
    must_sum = _check_delta_text(text, n, what, allow_missing=allow_missing)
    fields = text.split(",")
    if "" in fields:
        out: list[int | None] = []
        prev = 0
        for f in fields:
            if f:
                prev += int(f)
                out.append(prev)
            else:
                out.append(None)
        return out
    total = list(accumulate(map(int, fields)))
    if must_sum and (max(total) > MAX_COUNT or min(total) < -MAX_COUNT):
        raise ChunkFormatError(f"chunk field {what} runs beyond {MAX_COUNT} counts")
    return total  # type: ignore[return-value]


def _check_count(count: int, what: str) -> None:
    if not -MAX_COUNT <= count <= MAX_COUNT:
        raise ChunkFormatError(f"chunk field {what} runs beyond {MAX_COUNT} counts")


def _field(chunk: Mapping[str, Any], key: str, kind: type) -> Any:
    if key not in chunk:
        raise ChunkFormatError(f"chunk field {key!r} is missing")
    value = chunk[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ChunkFormatError(f"chunk field {key!r} must be {kind.__name__}, "
                               f"got {type(value).__name__}")
    return value


def _check_jumps(jumps: Any, n: int) -> None:
    if not isinstance(jumps, list):
        raise ChunkFormatError("chunk field 'seq_jumps' must be a list of [index, seq]")
    for jump in jumps:
        if (not isinstance(jump, list) or len(jump) != 2
                or not all(isinstance(x, int) for x in jump) or not 1 <= jump[0] < n):
            raise ChunkFormatError(f"chunk field 'seq_jumps' entry {jump!r} must be "
                                   f"[index 1..{n - 1}, seq]")


def _expand_jumps(seq0: int, jumps: Any, n: int) -> list[int]:
    seqs = [seq0 + i for i in range(n)]
    _check_jumps(jumps, n)
    it = iter(sorted(jumps))
    nxt = next(it, None)
    for i in range(1, n):
        if nxt is not None and nxt[0] == i:
            seqs[i] = nxt[1]
            nxt = next(it, None)
        else:
            seqs[i] = seqs[i - 1] + 1
    return seqs


def _mono_times(chunk: Mapping[str, Any], n: int, version: int = FORMAT_VERSION) -> list[int]:
    t = _field(chunk, "t0_ns", int)
    if n == 1:
        return [t]
    dt = chunk.get("dt_ns")
    if isinstance(dt, int) and not isinstance(dt, bool):
        return [t + i * dt for i in range(n)]
    if version == COUNTS_VERSION and isinstance(dt, str):
        steps = _undelta(dt, n - 1, "'dt_ns'", allow_missing=False)
        return [t] + [t + s for s in accumulate(steps)]  # type: ignore[arg-type]
    if not isinstance(dt, list) or len(dt) != n - 1 or not all(isinstance(d, int) for d in dt):
        raise ChunkFormatError(f"chunk field 'dt_ns' must be an integer or a list of {n - 1} "
                               f"integers")
    out = [t]
    for d in dt:
        t += d
        out.append(t)
    return out


def _wall_times(chunk: Mapping[str, Any], monos: list[int]) -> list[float]:
    wall0 = chunk.get("wall_t0")
    if not isinstance(wall0, (int, float)) or isinstance(wall0, bool):
        raise ChunkFormatError("chunk field 'wall_t0' must be a number")
    anchors = {0: float(wall0)}
    steps = chunk.get("wall_steps", [])
    if not isinstance(steps, list):
        raise ChunkFormatError("chunk field 'wall_steps' must be a list of [index, wall_s]")
    for step in steps:
        if (not isinstance(step, list) or len(step) != 2 or not isinstance(step[0], int)
                or not isinstance(step[1], (int, float)) or not 1 <= step[0] < len(monos)):
            raise ChunkFormatError(f"chunk field 'wall_steps' entry {step!r} must be "
                                   f"[index 1..{len(monos) - 1}, wall_s]")
        anchors[step[0]] = float(step[1])
    walls: list[float] = []
    anchor_t, anchor_wall = monos[0], anchors[0]
    for i, t in enumerate(monos):
        if i in anchors:
            anchor_t, anchor_wall = t, anchors[i]
            walls.append(anchor_wall)
        else:
            walls.append(anchor_wall + (t - anchor_t) / 1e9)
    return walls


def _floats(column: list[Any], channel: str) -> list[float]:
    out: list[float] = []
    for i, v in enumerate(column):
        if v is None:
            out.append(math.nan)
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out.append(float(v))
        else:
            raise ChunkFormatError(f"chunk value {i} of channel {channel!r} is {v!r}, "
                                   f"not a number or null")
    return out


def chunk_to_json(chunk: Mapping[str, Any]) -> str:
    """Compact JSON text, exactly what is stored locally and sent as ``raw_data``."""
    return json.dumps(chunk, separators=(",", ":"), allow_nan=False)
