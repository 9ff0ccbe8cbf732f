"""Recording CSV (what ``liftguard export`` writes and ``liftguard replay`` reads) + labels file.

Format (docs/recording-format.md):

* Optional leading comment lines ``# key=value`` (metadata: ``start_mono_ns``,
  ``start_wall_s``); comment lines (``#``) and blank lines are skipped anywhere.
* Header: ``t`` then channel names. A name may carry a unit suffix, ``ax[g]``, ``gx[deg/s]``,
  ``f_fl[kN]``, ``t[ms]``: values are converted to SI on read; an unknown unit is an error.
* One row per sample instant of one source; a blank cell means that channel was not sampled at
  that instant. ``t`` is seconds since the first frame (monotonic clock) and never decreases.
* Channels of ``IMU_CHANNELS`` form source "imu", ``PLATFORM_CHANNELS`` form "platform", any
  other name goes to source "aux". In a row, a source's columns are all filled or all blank.

``seq`` is not stored: it is rebuilt from the timing (a gap longer than 1.5 nominal periods
counts the missing samples), so lost samples survive a round trip.
"""
from __future__ import annotations

import io
import itertools
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from sensors.frame import IMU_CHANNELS, PLATFORM_CHANNELS, STANDARD_GRAVITY, Frame

AUX_SOURCE = "aux"
SOURCE_CHANNELS: dict[str, tuple[str, ...]] = {"imu": IMU_CHANNELS, "platform": PLATFORM_CHANNELS}
_CHANNEL_SOURCE = {c: s for s, chans in SOURCE_CHANNELS.items() for c in chans}
_SOURCE_ORDER = {"imu": 0, "platform": 1, AUX_SOURCE: 2}

_DEG = math.pi / 180.0
UNIT_SCALE: dict[str, tuple[str, float]] = {
    # unit suffix -> (quantity, factor to SI)
    "s": ("time", 1.0), "ms": ("time", 1e-3), "us": ("time", 1e-6), "ns": ("time", 1e-9),
    "m/s^2": ("acceleration", 1.0), "m/s2": ("acceleration", 1.0),
    "g": ("acceleration", STANDARD_GRAVITY), "mg": ("acceleration", STANDARD_GRAVITY / 1000),
    "rad/s": ("angular rate", 1.0), "deg/s": ("angular rate", _DEG), "dps": ("angular rate", _DEG),
    "N": ("force", 1.0), "kN": ("force", 1000.0), "kgf": ("force", STANDARD_GRAVITY),
}
CHANNEL_QUANTITY: dict[str, str] = {
    **{c: "acceleration" for c in ("ax", "ay", "az")},
    **{c: "angular rate" for c in ("gx", "gy", "gz")},
    **{c: "force" for c in PLATFORM_CHANNELS},
    "t": "time",
}
VALUE_FORMAT = "%.7g"
FORMAT_VERSION = 1
INT64_MAX = (1 << 63) - 1
MAX_DURATION_S = 1e6
"""Longest recording span ``t`` may cover (11.6 days); beyond, nanosecond times leave int64."""
MAX_VALUE = 1e12
"""Largest magnitude a channel value may have in SI units (a sensor never reads more)."""


class RecordingError(Exception):
    """A recording or labels file that cannot be read; the message starts ``file:line:``."""


@dataclass
class Recording:
    path: Path
    frames: list[Frame]
    channels: tuple[str, ...]          # SI channel names, header order
    sources: tuple[str, ...]           # sources present, in frame-order of first appearance
    start_mono_ns: int = 0
    start_wall_s: float = 0.0
    metadata: dict[str, str] = field(default_factory=dict)

    def source_frames(self, source: str) -> list[Frame]:
        return [f for f in self.frames if f.source == source]

    @property
    def duration_s(self) -> float:
        return 0.0 if not self.frames else (self.frames[-1].mono_ns - self.frames[0].mono_ns) / 1e9


# --- writing -------------------------------------------------------------------------------

def write_recording(path: str | os.PathLike[str], frames: Sequence[Frame]) -> Path:
    """Write frames (any sources, sorted or not) as a recording CSV; returns the path.

    ``t`` is exact to the nanosecond; values use 7 significant digits (``%.7g``).
    """
    if not frames:
        raise ValueError("no frames to write: a recording needs at least one sample")
    path = Path(path)
    ordered = sorted(frames, key=recording_order)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="ascii") as out:
        out.writelines(recording_lines(ordered, _columns(ordered)))
    os.replace(tmp, path)
    return path


def recording_order(frame: Frame) -> tuple[int, int]:
    """The row order of a recording: monotonic time, then imu before platform before aux."""
    return frame.mono_ns, _SOURCE_ORDER.get(frame.source, 3)


def recording_lines(frames: Iterable[Frame], columns: Sequence[str]) -> Iterator[str]:
    """The recording's lines (each ending in a newline) for frames already in
    :func:`recording_order`, with the given value columns (channel names, header order); lets
    a server stream a long session without holding all its frames. Yields nothing for none."""
    index = {c: i for i, c in enumerate(columns)}
    width = len(columns)
    it = iter(frames)
    first = next(it, None)
    if first is None:
        return
    first_ns = first.mono_ns
    yield (f"# liftguard recording v{FORMAT_VERSION}\n# start_mono_ns={first_ns}\n"
           f"# start_wall_s={first.wall_s!r}\n" + ",".join(("t", *columns)) + "\n")
    for f in itertools.chain((first,), it):
        cells = [""] * width
        for name, value in zip(f.channels, f.values):
            cells[index[name]] = VALUE_FORMAT % value
        dt = f.mono_ns - first_ns
        yield f"{dt // 1_000_000_000}.{dt % 1_000_000_000:09d}," + ",".join(cells) + "\n"


def recording_columns(channels: Iterable[str]) -> tuple[str, ...]:
    """The value columns of a recording holding these channels, in header order."""
    seen = dict.fromkeys(channels)
    known = [c for c in IMU_CHANNELS + PLATFORM_CHANNELS if c in seen]
    return tuple(known + [c for c in seen if c not in _CHANNEL_SOURCE])


def _columns(frames: Iterable[Frame]) -> tuple[str, ...]:
    return recording_columns(c for f in frames for c in f.channels)


# --- reading -------------------------------------------------------------------------------

def read_recording(path: str | os.PathLike[str]) -> Recording:
    """Read a recording CSV into frames (SI units), or raise ``RecordingError`` naming the line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecordingError(f"{path}: recording not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RecordingError(f"{path}: cannot read recording: {exc}") from None
    return _Parser(path, text).parse()


def split_lines(text: str) -> list[str]:
    """Lines as the csv module, ``sed -n Np`` and editors count them: ended by ``\n`` or
    ``\r\n`` only. ``str.splitlines`` also splits on ``\x1c``-``\x1e``, ``\x85``, U+2028
    and U+2029, which would turn the rest of a comment into a data row and shift every line
    number after it."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


# Metadata the reader interprets: given twice, which one is meant is a guess, so it is refused.
_INTERPRETED_METADATA = ("start_mono_ns", "start_wall_s")


class _Parser:
    def __init__(self, path: Path, text: str) -> None:
        self.path, self.text = path, text
        self.metadata: dict[str, str] = {}
        self.metadata_line: dict[str, int] = {}

    def fail(self, line: int | None, what: str) -> RecordingError:
        where = f"{self.path}:{line}" if line is not None else str(self.path)
        return RecordingError(f"{where}: {what}")

    def parse(self) -> Recording:
        lines = split_lines(self.text)
        header_at = self._read_preamble(lines)
        names, scales = self._read_header(lines[header_at], header_at + 1)
        fast = _fast_table(lines[header_at + 1:], len(names) + 1)
        if fast is not None:
            table = fast
            line_numbers = np.arange(len(table)) + header_at + 2
        else:
            line_numbers, rows = self._data_rows(lines, header_at + 1, len(names) + 1)
            table = self._numbers(rows, line_numbers, ("t",) + names)
        t = table[:, 0] * scales[0]
        self._check_time(t, line_numbers)
        values = table[:, 1:] * np.asarray(scales[1:])
        self._check_values(values, line_numbers, names)
        start_ns = self._meta_int("start_mono_ns", 0, INT64_MAX - int(MAX_DURATION_S * 1e9))
        start_wall = self._meta_float("start_wall_s", 0.0)
        mono_ns = start_ns + np.rint((t - (t[0] if len(t) else 0.0)) * 1e9).astype(np.int64)
        frames, sources = self._frames(names, values, mono_ns, line_numbers, start_ns, start_wall)
        return Recording(self.path, frames, names, sources, start_ns, start_wall, self.metadata)

    def _read_preamble(self, lines: list[str]) -> int:
        for i, line in enumerate(lines):
            s = line.strip()
            if not s:
                continue
            if s.startswith("#"):
                key, eq, value = s[1:].partition("=")
                if eq:
                    key = key.strip()
                    if key in _INTERPRETED_METADATA and key in self.metadata_line:
                        raise self.fail(i + 1, f"metadata {key} given again (first on line "
                                               f"{self.metadata_line[key]}); keep one")
                    self.metadata[key] = value.strip()
                    self.metadata_line[key] = i + 1
                continue
            return i
        raise self.fail(None, "empty recording: no header line ('t,' followed by channel names)")

    def _meta_int(self, key: str, default: int, hi: int) -> int:
        value = self.metadata.get(key)
        if value is None:
            return default
        shown = value if len(value) <= 40 else value[:37] + "..."
        try:
            out = int(value) if len(value) <= 40 else None
        except ValueError:
            out = None
        if out is None:
            raise self.fail(self.metadata_line[key], f"metadata {key}: {shown!r} is not an integer")
        if not 0 <= out <= hi:
            raise self.fail(self.metadata_line[key], f"metadata {key}: {shown} is out of range "
                                                     f"0..{hi}")
        return out

    def _meta_float(self, key: str, default: float) -> float:
        value = self.metadata.get(key)
        if value is None:
            return default
        try:
            out = float(value)
        except ValueError:
            out = math.nan
        if not math.isfinite(out):
            raise self.fail(self.metadata_line[key], f"metadata {key}: {value!r} is not a number")
        return out

    def _read_header(self, line: str, lineno: int) -> tuple[tuple[str, ...], list[float]]:
        cells = [c.strip() for c in line.split(",")]
        parsed = [self._column(c, lineno) for c in cells]
        if parsed[0][0] != "t":
            raise self.fail(lineno, f"first column must be 't' (time in seconds), found {cells[0]!r}")
        names = tuple(name for name, _ in parsed[1:])
        if not names:
            raise self.fail(lineno, "header has no channel columns after 't'")
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise self.fail(lineno, f"channel {name!r} appears twice in the header")
            seen.add(name)
        return names, [scale for _, scale in parsed]

    def _column(self, cell: str, lineno: int) -> tuple[str, float]:
        name, unit = cell, None
        if cell.endswith("]") and "[" in cell:
            name, unit = cell[:-1].split("[", 1)
            name, unit = name.strip(), unit.strip()
        if not name:
            raise self.fail(lineno, f"empty column name in header ({cell!r})")
        if unit is None:
            return name, 1.0
        if unit not in UNIT_SCALE:
            raise self.fail(lineno, f"column {cell!r}: unknown unit {unit!r} "
                                    f"(known: {', '.join(UNIT_SCALE)})")
        quantity, scale = UNIT_SCALE[unit]
        expected = CHANNEL_QUANTITY.get(name)
        if expected is not None and quantity != expected:
            raise self.fail(lineno, f"column {cell!r}: {unit!r} is a unit of {quantity}, "
                                    f"but {name} is {expected}")
        return name, scale

    def _data_rows(self, lines: list[str], first: int, width: int
                   ) -> tuple[np.ndarray, list[list[str]]]:
        numbers: list[int] = []
        rows: list[list[str]] = []
        for i in range(first, len(lines)):
            s = lines[i].replace(" ", "").replace("\t", "")
            if not s or s[0] == "#":
                continue
            cells = s.split(",")
            if len(cells) != width:
                raise self.fail(i + 1, f"row has {len(cells)} cells, the header has {width}")
            numbers.append(i + 1)
            rows.append(cells)
        if not rows:
            raise self.fail(None, "recording has a header but no data rows")
        return np.asarray(numbers), rows

    def _numbers(self, rows: list[list[str]], line_numbers: np.ndarray,
                 columns: tuple[str, ...]) -> np.ndarray:
        cells = np.asarray(rows, dtype=str)
        blank = cells == ""
        if blank[:, 0].any():
            raise self.fail(int(line_numbers[np.argmax(blank[:, 0])]), "column 't' is blank")
        out = np.empty(cells.shape, dtype=np.float64)
        for j in range(cells.shape[1]):
            col = np.where(blank[:, j], "nan", cells[:, j])
            try:
                out[:, j] = col.astype(np.float64)
            except ValueError:
                self._raise_bad_cell(col, blank[:, j], line_numbers, columns[j])
            bad = ~blank[:, j] & ~np.isfinite(out[:, j])
            if bad.any():
                k = int(np.argmax(bad))
                raise self.fail(int(line_numbers[k]), f"column {columns[j]!r}: {str(cells[k, j])!r} "
                                                      f"is not a finite number")
        out[blank] = np.nan
        return out

    def _raise_bad_cell(self, col: np.ndarray, blank: np.ndarray, line_numbers: np.ndarray,
                        name: str) -> None:
        for k, cell in enumerate(col.tolist()):
            if blank[k]:
                continue
            try:
                float(cell)
            except ValueError:
                raise self.fail(int(line_numbers[k]),
                                f"column {name!r}: {cell!r} is not a number") from None
        raise self.fail(None, f"column {name!r}: unparseable value")  # pragma: no cover

    def _check_time(self, t: np.ndarray, line_numbers: np.ndarray) -> None:
        far = np.flatnonzero(~(np.abs(t - t[0]) <= MAX_DURATION_S)) if len(t) else []
        if len(far):
            k = int(far[0])
            raise self.fail(int(line_numbers[k]), f"t={t[k]:.9g} s is {MAX_DURATION_S:g} s or "
                                                  f"more after the first row: out of range")
        back = np.flatnonzero(np.diff(t) < 0)
        if back.size:
            k = int(back[0]) + 1
            raise self.fail(int(line_numbers[k]), f"time goes backwards: t={t[k]:.9g} s after "
                                                  f"t={t[k - 1]:.9g} s")

    def _check_values(self, values: np.ndarray, line_numbers: np.ndarray,
                      names: tuple[str, ...]) -> None:
        bad = ~np.isnan(values) & ~(np.abs(values) <= MAX_VALUE)
        if bad.any():
            k, j = (int(i) for i in np.argwhere(bad)[0])
            raise self.fail(int(line_numbers[k]), f"column {names[j]!r}: {values[k, j]:.9g} is "
                                                  f"out of range (at most {MAX_VALUE:g} in SI units)")

    def _frames(self, names: tuple[str, ...], values: np.ndarray, mono_ns: np.ndarray,
                line_numbers: np.ndarray, start_ns: int, start_wall: float
                ) -> tuple[list[Frame], tuple[str, ...]]:
        groups: dict[str, list[int]] = {}
        for j, name in enumerate(names):
            groups.setdefault(_CHANNEL_SOURCE.get(name, AUX_SOURCE), []).append(j)
        sampled = ~np.isnan(values)
        any_sampled = np.zeros(len(values), dtype=bool)
        keyed: list[tuple[np.ndarray, list[Frame]]] = []
        for source, cols in sorted(groups.items(), key=lambda kv: _SOURCE_ORDER[kv[0]]):
            part = sampled[:, cols]
            rows_on = part.any(axis=1)
            partial = rows_on & ~part.all(axis=1)
            if partial.any():
                k = int(np.argmax(partial))
                missing = [names[c] for c, on in zip(cols, part[k]) if not on]
                raise self.fail(int(line_numbers[k]),
                                f"{source} columns partly blank ({', '.join(missing)} missing): "
                                f"a row holds all of a source's channels or none")
            any_sampled |= rows_on
            idx = np.flatnonzero(rows_on)
            if not idx.size:
                continue
            ns = mono_ns[idx]
            seq = _sequence_numbers(ns)
            chans = tuple(names[c] for c in cols)
            wall = start_wall + (ns - start_ns) / 1e9
            frames = [Frame(source, s, n, w, chans, tuple(v))
                      for s, n, w, v in zip(seq.tolist(), ns.tolist(), wall.tolist(),
                                            values[np.ix_(idx, cols)].tolist())]
            keyed.append((idx * 4 + _SOURCE_ORDER[source], frames))
        if not any_sampled.all():
            k = int(np.argmin(any_sampled))
            raise self.fail(int(line_numbers[k]), "row has a time but no channel values")
        keys = np.concatenate([k for k, _ in keyed])
        flat = [f for _, fs in keyed for f in fs]
        order = np.argsort(keys, kind="stable")
        sources = tuple(s for s in ("imu", "platform", AUX_SOURCE)
                        if any(fs and fs[0].source == s for _, fs in keyed))
        return [flat[i] for i in order.tolist()], sources


_NOT_PLAIN_NUMBERS = re.compile(r"[^0-9eE+\-.,\n]")


def _fast_table(body: list[str], width: int) -> np.ndarray | None:
    """Parse a well-formed body (numbers and blank cells only, no comments or empty lines) in
    C with ``np.loadtxt``; ``None`` sends anything else to the careful line-by-line parser,
    which also finds and reports the bad line."""
    text = "\n".join(body).rstrip("\n")
    if (not text or _NOT_PLAIN_NUMBERS.search(text) or "\n\n" in text or text[0] == ","
            or "\n," in text):
        return None
    text = text.replace(",,", ",nan,").replace(",,", ",nan,")
    text = text.replace(",\n", ",nan\n")
    if text.endswith(","):
        text += "nan"
    try:
        table = np.loadtxt(io.StringIO(text), delimiter=",", ndmin=2, dtype=np.float64)
    except ValueError:
        return None
    if (table.shape != (text.count("\n") + 1, width) or np.isnan(table[:, 0]).any()
            or np.isinf(table).any()):
        return None
    return table


def _sequence_numbers(mono_ns: np.ndarray) -> np.ndarray:
    """Per-source sample counters rebuilt from timing: a gap of k nominal periods adds k."""
    if len(mono_ns) < 2:
        return np.zeros(len(mono_ns), dtype=np.int64)
    dt = np.diff(mono_ns).astype(np.float64)
    period = float(np.median(dt))
    steps = np.ones(len(dt), dtype=np.int64) if period <= 0 else \
        np.maximum(1, np.rint(dt / period)).astype(np.int64)
    return np.concatenate([[0], np.cumsum(steps)])


# --- frame statistics (for summaries) --------------------------------------------------------

@dataclass(frozen=True)
class SourceStats:
    source: str
    channels: tuple[str, ...]
    frames: int
    rate_hz: float          # from the median sample interval
    duration_s: float
    lost_samples: int       # sum of seq gaps
    gaps: int               # how many places samples are missing


def describe_frames(frames: Sequence[Frame]) -> list[SourceStats]:
    """Per-source frame counts, rates and seq gaps, sources in order of first appearance."""
    by_source: dict[str, list[Frame]] = {}
    for f in frames:
        by_source.setdefault(f.source, []).append(f)
    stats = []
    for source, fs in by_source.items():
        ns = np.fromiter((f.mono_ns for f in fs), dtype=np.int64, count=len(fs))
        seq = np.fromiter((f.seq for f in fs), dtype=np.int64, count=len(fs))
        dt = np.diff(ns)
        jumps = np.diff(seq) - 1
        stats.append(SourceStats(
            source, fs[0].channels, len(fs),
            float(1e9 / np.median(dt)) if dt.size and np.median(dt) > 0 else 0.0,
            float((ns[-1] - ns[0]) / 1e9),
            int(jumps[jumps > 0].sum()), int((jumps > 0).sum())))
    return stats


# --- labels ----------------------------------------------------------------------------------

LABELS_FORMAT = "liftguard-labels"


def labels_path_for(recording: str | os.PathLike[str]) -> Path:
    """``rec.csv`` -> ``rec.labels.json`` (the labels file that sits next to a recording)."""
    p = Path(recording)
    stem = p.name[:-4] if p.name.lower().endswith(".csv") else p.name
    return p.with_name(stem + ".labels.json")


def write_labels(path: str | os.PathLike[str], reps: Sequence[Any],
                 meta: dict[str, Any] | None = None) -> Path:
    """Per-rep ground truth (``RepTruth`` list) as JSON, with optional set metadata."""
    path = Path(path)
    doc = {"format": LABELS_FORMAT, "version": FORMAT_VERSION, "set": meta or {},
           "reps": [r.as_dict() for r in reps]}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_labels(path: str | os.PathLike[str]) -> list[Any]:
    """Read a labels file back into ``RepTruth`` objects; ``RecordingError`` if it is bad."""
    from sensors.rep_truth import RepTruth

    path = Path(path)
    doc = _labels_document(path)
    if not isinstance(doc, dict) or doc.get("format") != LABELS_FORMAT:
        raise RecordingError(f"{path}: not a liftguard labels file (format != {LABELS_FORMAT!r})")
    reps = doc.get("reps")
    if not isinstance(reps, list):
        raise RecordingError(f"{path}: 'reps' must be a list")
    names = set(RepTruth.field_names())
    out = []
    for i, rep in enumerate(reps):
        if not isinstance(rep, dict):
            raise RecordingError(f"{path}: reps[{i}] is not an object")
        unknown, missing = set(rep) - names, {n for n in names if n not in rep}
        if unknown or missing:
            raise RecordingError(f"{path}: reps[{i}]: unknown keys {sorted(unknown)}, "
                                 f"missing keys {sorted(missing)}")
        _check_rep_values(path, i, rep)
        out.append(RepTruth(**rep))
    return out


LABEL_TEXT_FIELDS = ("fault",)
LABEL_INT_FIELDS = ("number",)


def _check_rep_values(path: Path, i: int, rep: dict[str, Any]) -> None:
    """Each field of a labelled rep has its type: ``number`` an integer, ``fault`` text or
    null, ``fault_onset_s`` a number or null, every other field a number (NaN marks a metric
    the simulator could not compute, never a time: ``*_s`` fields are finite; infinities and
    400-digit integers are refused)."""
    for name, value in rep.items():
        if name in LABEL_TEXT_FIELDS:
            ok = value is None or isinstance(value, str)
        elif name in LABEL_INT_FIELDS:
            ok = type(value) is int and 0 <= value <= 1_000_000
        else:
            ok = ((value is None and name == "fault_onset_s")
                  or (type(value) in (int, float)
                      and (value != value or abs(value) <= MAX_VALUE)))   # NaN or in range
        if type(value) is float and (math.isinf(value)
                                     or (math.isnan(value) and name.endswith("_s"))):
            what = "a time must be a finite number of seconds" if name.endswith("_s") else \
                "a value must be a finite number (NaN: not computed)"
            raise RecordingError(f"{path}: reps[{i}].{name} = {value!r}: {what}")
        if not ok:
            shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
            raise RecordingError(f"{path}: reps[{i}].{name} = {shown} has the wrong type or is "
                                 f"out of range")


def _labels_document(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RecordingError(f"{path}: labels file not found") from None
    except json.JSONDecodeError as exc:
        raise RecordingError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    except RecursionError:
        raise RecordingError(f"{path}: not valid labels: nested too deeply") from None
    except (OSError, ValueError) as exc:
        raise RecordingError(f"{path}: cannot read labels: {str(exc)[:200]}") from None


def read_labels_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``set`` metadata of a labels file (lift, seed, masses, rates), {} if absent."""
    doc = _labels_document(Path(path))
    meta = doc.get("set", {}) if isinstance(doc, dict) else {}
    return meta if isinstance(meta, dict) else {}
