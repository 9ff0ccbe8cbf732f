"""What PostgreSQL and the box can take from a decoded JSON value, checked before either sees it.

``text``/``jsonb`` refuse NUL and cannot encode lone surrogates, ``jsonb`` and ``float8`` refuse
non-finite numbers in our writers (``json.dumps(allow_nan=False)``), ``bigint`` ends at 2**63-1,
and a deeply nested value costs recursion in every reader. ``ValueProblem`` names the path of
the first offending value.
"""
from __future__ import annotations

import math
import sys
from typing import Any

MAX_DEPTH = 32
"""Deepest nesting accepted (a chunk or a rep's metrics are 3 levels deep)."""
INT64_MIN, INT64_MAX = -2**63, 2**63 - 1


def is_finite_number(value: Any) -> bool:
    """A JSON number a float can hold: not a bool, not NaN or infinite, and not an integer past
    the float range (``math.isfinite`` raises ``OverflowError`` on those, and JSON can carry
    them: ``1`` followed by 400 zeros decodes to such an int)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if isinstance(value, int):
        return -sys.float_info.max <= value <= sys.float_info.max
    return math.isfinite(value)


class ValueProblem(ValueError):
    """A value PostgreSQL or a box would refuse or choke on; the message names its path."""


def check_text(text: str, where: str) -> None:
    if "\x00" in text:
        raise ValueProblem(f"{where}: text contains NUL (\\u0000), which PostgreSQL cannot store")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueProblem(f"{where}: text contains a lone surrogate (e.g. \\ud800), which is "
                           "not valid Unicode") from None


def check_number(value: Any, where: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueProblem(f"{where}: number {value} is not finite")
    if isinstance(value, int) and not isinstance(value, bool) \
            and not INT64_MIN <= value <= INT64_MAX:
        raise ValueProblem(f"{where}: integer of {len(str(abs(value)))} digits is outside the "
                           "64-bit range")


def check_value(value: Any, where: str = "$", skip: frozenset[str] = frozenset()) -> None:
    """Walk a decoded JSON value (iteratively: depth is what is being checked); object keys in
    ``skip`` are left to the caller."""
    stack: list[tuple[Any, str, int]] = [(value, where, 0)]
    while stack:
        item, path, depth = stack.pop()
        if not isinstance(item, (dict, list)):
            _check_scalar(item, path)
            continue
        if depth >= MAX_DEPTH:
            raise ValueProblem(f"{path}: nested more than {MAX_DEPTH} levels deep")
        if isinstance(item, dict):
            for key, child in item.items():
                check_text(key, f"{path} (a key)")
                if key not in skip:
                    stack.append((child, f"{path}.{key}", depth + 1))
            continue
        for i, child in enumerate(item):
            if isinstance(child, (dict, list)):
                stack.append((child, f"{path}[{i}]", depth + 1))
            elif child is not None and type(child) is not bool:
                _check_scalar(child, path, i)


def _check_scalar(item: Any, path: str, index: int | None = None) -> None:
    try:
        if isinstance(item, str):
            check_text(item, path)
        elif isinstance(item, (int, float)):
            check_number(item, path)
    except ValueProblem as exc:
        if index is None:
            raise
        raise ValueProblem(str(exc).replace(path, f"{path}[{index}]", 1)) from None


def check_number_lists(lists: Any, where: str) -> None:
    """A list of lists of numbers or nulls (a chunk's ``values``): finite, integers within
    64 bits. The common case (only floats) costs one C-level ``sum`` per list: chunks are the
    bulk of what boxes send. A sum that overflows to infinity counts as not finite."""
    if not isinstance(lists, list) or not all(isinstance(x, list) for x in lists):
        raise ValueProblem(f"{where}: must be a list of lists of numbers")
    for i, numbers in enumerate(lists):
        try:
            total = sum(numbers)
        except (TypeError, OverflowError):  # nulls (NaN on the box), or not numbers at all
            total = _checked_sum(numbers, f"{where}[{i}]")  # checks every element itself
        else:
            if isinstance(total, float) and math.isfinite(total) \
                    and not INT64_MIN <= min(numbers) <= max(numbers) <= INT64_MAX:
                total = _checked_sum(numbers, f"{where}[{i}]")  # an integer past 64 bits?
        if isinstance(total, int):  # all integers: Python summed them exactly
            for x in numbers:
                if x is not None:
                    check_number(x, f"{where}[{i}]")
        elif not math.isfinite(total):
            bad = next((x for x in numbers if isinstance(x, float) and not math.isfinite(x)),
                       total)
            raise ValueProblem(f"{where}[{i}]: number {bad} is not finite")


def _checked_sum(numbers: list[Any], where: str) -> float | int:
    nums = []
    for x in numbers:
        if x is None:
            continue
        if type(x) not in (float, int):
            raise ValueProblem(f"{where}: {type(x).__name__} {x!r:.40} is not a number")
        check_number(x, where)
        nums.append(x)
    return math.fsum(nums) if any(isinstance(x, float) for x in nums) else sum(nums)
