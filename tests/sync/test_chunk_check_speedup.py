"""The ingester's chunk check was made cheaper (possessive counts pattern, one match for the
common case, sequence jumps checked without building the list): it must accept and refuse
exactly what the straightforward version did, with the same message."""
from __future__ import annotations

import math
import re

from hypothesis import given
from hypothesis import strategies as st

from sensors.frame import Frame
from sync.chunks import (
    DEFAULT_RESOLUTION,
    MAX_COUNT,
    ChunkFormatError,
    _check_delta_text,
    check_chunk,
    decode_chunk,
    encode_counts_chunk,
)

_FIELD = "-?[0-9]{1,17}"
_REFERENCE_TEXT = re.compile(f"(?:{_FIELD})?(?:,(?:{_FIELD})?)*")


def reference(text: object, n: int, allow_missing: bool) -> bool:
    """``_check_delta_text`` as it was written first (the oracle)."""
    what = "x"
    if not isinstance(text, str):
        raise ChunkFormatError(f"chunk field {what} must be a string of comma-separated "
                               f"integers, got {type(text).__name__}")
    if text.count(",") != n - 1:
        raise ChunkFormatError(f"chunk field {what} carries {text.count(',') + 1} values, "
                               f"not the {n} the chunk claims")
    if len(text) > n * 19 or not _REFERENCE_TEXT.fullmatch(text):
        raise ChunkFormatError(f"chunk field {what} must be comma-separated integers of at "
                               f"most 17 digits")
    if not allow_missing and ",," in f",{text},":
        raise ChunkFormatError(f"chunk field {what} has an empty field")
    digits = len(str(MAX_COUNT // n)) - 1
    if not re.search(f"[0-9]{{{digits + 1}}}", text):
        return False
    if allow_missing:
        prev = 0
        for f in text.split(","):
            if f:
                prev += int(f)
                if not -MAX_COUNT <= prev <= MAX_COUNT:
                    raise ChunkFormatError(f"chunk field {what} runs beyond {MAX_COUNT} counts")
        return False
    return True


def outcome(check, *args):
    try:
        return ("ok", check(*args))
    except ChunkFormatError as exc:
        return ("refused", str(exc))


long_number = st.tuples(st.sampled_from(["", "-"]), st.integers(1, 9), st.integers(11, 18)).map(
    lambda t: f"{t[0]}{t[1]}{'0' * (t[2] - 1)}")   # 11-18 digits: around the summing threshold
field = st.one_of(st.just(""), st.integers(-10**19, 10**19).map(str), long_number,
                  st.text("0123456789-", max_size=20), st.sampled_from(["--1", "1-", "-", " 1"]))
texts = st.lists(field, min_size=1, max_size=40).map(",".join)


@given(text=st.one_of(texts, st.text("0123456789,-x ", max_size=60)), extra=st.integers(-2, 2),
       allow_missing=st.booleans())
def test_the_counts_check_refuses_exactly_what_it_refused_before(text, extra, allow_missing):
    n = max(1, text.count(",") + 1 + extra)
    new = outcome(lambda: _check_delta_text(text, n, "x", allow_missing=allow_missing))
    assert new == outcome(lambda: reference(text, n, allow_missing))


@given(seed=st.integers(0, 10**6), jumps=st.lists(st.tuples(st.integers(-3, 12),
                                                             st.integers(-5, 10**6)), max_size=3))
def test_check_chunk_agrees_with_the_decoder_on_sequence_jumps(seed, jumps):
    frames = [Frame("imu", i, i * 5_000_000, 1.7e9 + i / 200, ("ax", "gx"),
                    (math.sin(seed + i), math.cos(seed + i))) for i in range(10)]
    chunk = encode_counts_chunk(frames, DEFAULT_RESOLUTION)
    chunk["seq_jumps"] = [list(j) for j in jumps]
    decoded, checked = outcome(lambda: decode_chunk(chunk)), outcome(lambda: check_chunk(chunk))
    assert checked[0] == decoded[0]
    if checked[0] == "refused":
        assert checked == decoded
    else:
        assert checked == ("ok", None)


def boundary_cases():
    """Around the summing threshold: fields of exactly ``digits`` and ``digits + 1`` digits,
    sums that stay within ``MAX_COUNT`` and sums that run past it."""
    for n in (1, 2, 7, 40, 200):
        digits = len(str(MAX_COUNT // n)) - 1
        for width in (digits - 1, digits, digits + 1, digits + 2, 17, 18):
            for lead in ("1", "9"):
                big = lead + "0" * (width - 1)
                for text in (",".join([big] * n), ",".join(["-" + big] * n),
                             ",".join([big] + ["0"] * (n - 1)),
                             ",".join([""] + [big] * (n - 1)) if n > 1 else big):
                    for allow_missing in (True, False):
                        yield text, n, allow_missing


def test_the_counts_check_agrees_at_the_summing_threshold():
    cases = list(boundary_cases())
    assert len(cases) > 200
    for text, n, allow_missing in cases:
        new = outcome(lambda: _check_delta_text(text, n, "x", allow_missing=allow_missing))
        assert new == outcome(lambda: reference(text, n, allow_missing)), (text[:60], n)
