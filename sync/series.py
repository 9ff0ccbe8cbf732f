"""The display-series record of a session (``session_series``): what the web app's session
charts draw, built by the box from its own data (``models.display_series``) and synced as a
row of its own (docs/database.md, "session_series"; docs/sync.md).

A record is a JSON object, size-bounded whatever the session's length::

    {"v": 1, "t0_ns": <monotonic ns of the session's first sample>, "duration_s": 7200.0,
     "bucket_s": 25.6,                       # width of one envelope bucket
     "envelopes": {"az": {"scale": 0.01, "min": [981, null, ...], "max": [...]}, ...},
     "tilt_level_deg": 0.4,                  # tilt read at rest (the chart's zero), or null
     "reps": [{"n": 1, "t0": 12.31, "t1": 14.9, "z_mm": [0, -12, ...],
               "cop_mm": [[x, ...], [y, ...]]}, ...],
     "notes": ["no platform data (f_fl f_fr f_rl f_rr)"]}

- ``envelopes``: per channel (the raw channels, ``tilt_deg``, ``cop_x``, ``cop_y``) the
  minimum and maximum of each bucket, bucket k covering ``[k, k+1) * bucket_s`` from ``t0_ns``,
  as integer counts of ``scale`` (value = count * scale); null = no sample in the bucket. At
  most ``MAX_BUCKETS`` (512) buckets: the builder doubles ``bucket_s`` when a session outgrows them.
- ``reps``: per rep, its span (s from ``t0_ns``) and its bar displacement from the rep's own
  start (``z_mm``, mm, evenly spaced over the span; null where unknown) and centre-of-pressure
  path (``cop_mm``, optional, evenly spaced over the span too), each at most
  ``MAX_REP_POINTS`` points.

``check_series`` is what the ingester and the direct sink apply before storing one; it raises
``SeriesFormatError`` naming the first problem.
"""
from __future__ import annotations

import math
import re
from typing import Any

SERIES_VERSION = 1
MAX_BUCKETS = 512
MAX_REP_POINTS = 64
MAX_SERIES_BYTES = 240_000
"""What a builder keeps a record under (compact JSON), so one fits an MQTT message
(``sync.payloads.DEFAULT_MAX_PAYLOAD_BYTES``, 256 KiB, with room for the message around it;
beyond it the builder halves, then drops, the reps' CoP paths)."""
MAX_REPS = 10_000
MAX_CHANNELS = 32
MAX_NOTES = 20
MAX_COUNT = 2**31 - 1
CHANNEL_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


class SeriesFormatError(ValueError):
    """A display-series record that cannot be stored; the message names the field."""


def _finite(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return -1e300 < value < 1e300 if isinstance(value, int) else math.isfinite(value)


def _count_list(value: Any, where: str, most: int) -> list[Any]:
    if not isinstance(value, list) or len(value) > most:
        raise SeriesFormatError(f"{where} must be a list of at most {most} integers or nulls")
    for i, x in enumerate(value):
        if x is None:
            continue
        if not isinstance(x, int) or isinstance(x, bool) or not -MAX_COUNT <= x <= MAX_COUNT:
            raise SeriesFormatError(f"{where}[{i}] must be an integer within ±{MAX_COUNT} or "
                                    f"null, got {x!r:.40}")
    return value


def _number(doc: dict[str, Any], key: str, where: str, *, optional: bool = False,
            positive: bool = False) -> None:
    value = doc.get(key)
    if value is None and optional:
        return
    if not _finite(value) or (positive and value <= 0) or (not positive and value < 0
                                                            and key != "tilt_level_deg"):
        kind = "a positive" if positive else "a non-negative" if key != "tilt_level_deg" else "a"
        raise SeriesFormatError(f"{where}{key} must be {kind} finite number, got {value!r:.40}")


def check_series(doc: Any) -> None:
    """Raise ``SeriesFormatError`` naming the first thing wrong with a display-series record."""
    if not isinstance(doc, dict):
        raise SeriesFormatError(f"series must be an object, got {type(doc).__name__}")
    if doc.get("v") != SERIES_VERSION or isinstance(doc.get("v"), bool):
        raise SeriesFormatError(f"series version 'v' is {doc.get('v')!r:.20}; this reader "
                                f"knows version {SERIES_VERSION}")
    t0 = doc.get("t0_ns")
    if not isinstance(t0, int) or isinstance(t0, bool) or not -2**63 <= t0 < 2**63:
        raise SeriesFormatError(f"series t0_ns must be a 64-bit integer, got {t0!r:.40}")
    _number(doc, "duration_s", "series ")
    _number(doc, "bucket_s", "series ", positive=True)
    _number(doc, "tilt_level_deg", "series ", optional=True)
    envelopes = doc.get("envelopes")
    if not isinstance(envelopes, dict) or len(envelopes) > MAX_CHANNELS:
        raise SeriesFormatError(f"series envelopes must be an object of at most "
                                f"{MAX_CHANNELS} channels")
    for name, env in envelopes.items():
        where = f"series envelopes[{name!r:.40}]"
        if not CHANNEL_NAME.match(name):
            raise SeriesFormatError(f"{where}: a channel name is lower-case letters, digits "
                                    f"and _ (at most 32)")
        if not isinstance(env, dict):
            raise SeriesFormatError(f"{where} must be an object with scale, min and max")
        if not _finite(env.get("scale")) or env["scale"] <= 0:
            raise SeriesFormatError(f"{where}.scale must be a positive finite number, got "
                                    f"{env.get('scale')!r:.40}")
        lo = _count_list(env.get("min"), f"{where}.min", MAX_BUCKETS)
        hi = _count_list(env.get("max"), f"{where}.max", MAX_BUCKETS)
        if len(lo) != len(hi):
            raise SeriesFormatError(f"{where}: min has {len(lo)} buckets, max {len(hi)}")
        for i, (a, b) in enumerate(zip(lo, hi)):
            if (a is None) != (b is None) or (a is not None and a > b):
                raise SeriesFormatError(f"{where}: bucket {i} has min {a} and max {b}")
    reps = doc.get("reps")
    if not isinstance(reps, list) or len(reps) > MAX_REPS:
        raise SeriesFormatError(f"series reps must be a list of at most {MAX_REPS} reps")
    for i, rep in enumerate(reps):
        _check_rep(rep, f"series reps[{i}]")
    notes = doc.get("notes", [])
    if not isinstance(notes, list) or len(notes) > MAX_NOTES or not all(
            isinstance(n, str) and len(n) <= 300 for n in notes):
        raise SeriesFormatError(f"series notes must be a list of at most {MAX_NOTES} texts of "
                                f"at most 300 characters")


def _check_rep(rep: Any, where: str) -> None:
    if not isinstance(rep, dict):
        raise SeriesFormatError(f"{where} must be an object with n, t0, t1 and z_mm")
    n = rep.get("n")
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_COUNT:
        raise SeriesFormatError(f"{where}.n must be a rep number 1..{MAX_COUNT}, got {n!r:.40}")
    for key in ("t0", "t1"):
        if not _finite(rep.get(key)):
            raise SeriesFormatError(f"{where}.{key} must be a finite number of seconds, got "
                                    f"{rep.get(key)!r:.40}")
    if rep["t1"] < rep["t0"]:
        raise SeriesFormatError(f"{where}: t1 {rep['t1']} is before t0 {rep['t0']}")
    _count_list(rep.get("z_mm"), f"{where}.z_mm", MAX_REP_POINTS)
    cop = rep.get("cop_mm")
    if cop is not None:
        if not isinstance(cop, list) or len(cop) != 2:
            raise SeriesFormatError(f"{where}.cop_mm must be [x list, y list] or null")
        x = _count_list(cop[0], f"{where}.cop_mm[0]", MAX_REP_POINTS)
        y = _count_list(cop[1], f"{where}.cop_mm[1]", MAX_REP_POINTS)
        if len(x) != len(y):
            raise SeriesFormatError(f"{where}.cop_mm: x has {len(x)} points, y {len(y)}")
