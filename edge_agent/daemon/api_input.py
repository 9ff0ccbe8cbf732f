"""What the local API accepts from a client: JSON bodies within limits and strings SQLite and
every later reader can hold. Everything is checked before a request is answered, so a value
that would fail later (in the store writer, in sync, in PostgreSQL) is a 400 now, never a
201 followed by a lost session.
"""
from __future__ import annotations

import json
import math
from typing import Any

from edge_agent.daemon.errors import ApiError

MAX_DEPTH = 8
"""Deepest ``[``/``{`` nesting a body may have (a session body is one flat object)."""
MAX_NUMBER_CHARS = 32
"""Longest number literal accepted (a 4,000-digit integer is an attack, not a value)."""
MAX_TEXT_CHARS = 254
"""Longest string field (an e-mail address is at most 254 characters)."""


def nesting_depth(text: str, limit: int) -> int:
    """Deepest bracket nesting of a JSON text outside strings; stops counting past ``limit``.
    With at most ``limit`` opening brackets in all (every session body), that count bounds
    the depth and the scan is skipped."""
    opening = text.count("[") + text.count("{")
    if opening <= limit:
        return opening
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
        elif ch in "]}":
            depth -= 1
    return deepest


def _number(kind: type) -> Any:
    def parse(literal: str) -> Any:
        if len(literal) > MAX_NUMBER_CHARS:
            raise ApiError(400, f"body holds a number of {len(literal)} characters (at most "
                                f"{MAX_NUMBER_CHARS})")
        value = kind(literal)
        if isinstance(value, float) and not math.isfinite(value):
            raise ApiError(400, f"body holds the number {literal}, which is out of range")
        return value
    return parse


def _no_constant(name: str) -> Any:
    raise ApiError(400, f"body holds {name}, which is not a JSON number")


def decode_json(raw: bytes) -> Any:
    """A request body as JSON, or ``ApiError(400)`` saying what is wrong with it."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, f"body is not UTF-8 (byte {exc.start})") from None
    if nesting_depth(text, MAX_DEPTH) > MAX_DEPTH:
        raise ApiError(400, f"body is nested more than {MAX_DEPTH} levels deep")
    try:
        return json.loads(text, parse_int=_number(int), parse_float=_number(float),
                          parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ApiError(400, f"body is not valid JSON: {exc}") from None
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, f"body is not valid JSON: {type(exc).__name__}") from None


def check_text(field: str, value: str, max_chars: int = MAX_TEXT_CHARS) -> str:
    """``value`` when it is storable text: UTF-8 encodable (no lone surrogates), no control
    characters (NUL included), at most ``max_chars`` long; else ``ApiError(400)``."""
    if len(value) > max_chars:
        raise ApiError(400, f"{field} is {len(value)} characters long (at most {max_chars})")
    for i, ch in enumerate(value):
        code = ord(ch)
        if 0xD800 <= code <= 0xDFFF:
            raise ApiError(400, f"{field} holds a lone surrogate (U+{code:04X}) at position "
                                f"{i}: not valid Unicode text")
        if code < 0x20 or 0x7F <= code <= 0x9F:
            raise ApiError(400, f"{field} holds the control character U+{code:04X} at "
                                f"position {i}")
    return value
