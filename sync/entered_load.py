"""The bar load a coach or athlete enters for a session (stdlib only: the box's local API, the
start command and the web app's start form all check it here). The box records it with each
rep, winning over the platform's weighing (``models.bar_load``)."""
from __future__ import annotations

from sync.json_values import is_finite_number

MAX_BAR_LOAD_KG = 500.0


def check_bar_load_kg(value: object, what: str) -> float | None:
    """None (not entered) or a number of kilograms above 0 and at most ``MAX_BAR_LOAD_KG``;
    otherwise ``ValueError`` naming ``what``."""
    if value is None:
        return None
    if not is_finite_number(value) or not 0 < value <= MAX_BAR_LOAD_KG:
        raise ValueError(f"{what} must be a number of kg above 0 and at most "
                         f"{MAX_BAR_LOAD_KG:g}, or absent")
    return float(value)
