"""CSV for spreadsheets: text cells that a spreadsheet would run as a formula are neutralised.

A cell whose text starts with ``=``, ``+``, ``-`` or ``@`` (or a tab / carriage return, which
some spreadsheets skip before looking for one) gets a leading apostrophe, the OWASP "CSV
injection" advice that wger's exports follow too. Numbers are written as numbers: a negative
velocity stays ``-0.12`` (a spreadsheet reads it as a value, never as a formula), so only text
(names, e-mails, feedback) can carry a formula in.
"""
from __future__ import annotations

import csv
import io
from typing import Any, Iterable, Iterator, Sequence

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """The cell as it is written: text starting a formula gets a leading apostrophe."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_lines(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    """The header then one line per row, each neutralised; yields text for a streamed response."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([neutralise(c) for c in header])
    yield buf.getvalue()
    for row in rows:
        buf.seek(0)
        buf.truncate()
        writer.writerow([neutralise(c) for c in row])
        yield buf.getvalue()
