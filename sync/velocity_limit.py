"""The velocity-loss limit a session carries (stdlib only: the box's config, the start command
and the web app's start form all check it here). ``models.velocity_cue`` applies it."""
from __future__ import annotations

from sync.json_values import is_finite_number

MIN_LIMIT_PCT = 1.0
MAX_LIMIT_PCT = 90.0


def check_limit_pct(value: object, what: str) -> float | None:
    """None (no cue) or a number of percent in ``MIN_LIMIT_PCT..MAX_LIMIT_PCT``; otherwise
    ``ValueError`` naming ``what`` and the value."""
    if value is None:
        return None
    if not is_finite_number(value):
        raise ValueError(f"{what} must be a number of percent ({MIN_LIMIT_PCT:g}..{MAX_LIMIT_PCT:g}) "
                         f"or absent, got {value!r}"[:200])
    if not MIN_LIMIT_PCT <= value <= MAX_LIMIT_PCT:
        raise ValueError(f"{what} is {value:g} %, outside {MIN_LIMIT_PCT:g}..{MAX_LIMIT_PCT:g} %")
    return float(value)
