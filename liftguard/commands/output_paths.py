"""Output paths the user names (``export --csv``, ``simulate --out``, ``train --out``), checked
the same way before any work starts: the error names the path the user gave, never an
internal temporary file, and no missing parent directory is created silently."""
from __future__ import annotations

from pathlib import Path

from liftguard.errors import UsageError


def output_file(given: str, option: str) -> Path:
    """A file to write: its directory must exist and it must not be a directory."""
    path = Path(given)
    if path.is_dir():
        raise UsageError(f"{option} {given}: is a directory; name a file")
    parent = path.parent
    if not parent.is_dir():
        raise UsageError(f"{option} {given}: directory {parent} does not exist "
                         f"(create it first)")
    return path


def output_dir(given: str, option: str) -> Path:
    """A directory to fill: it may be new, but its parent must exist (one level is created,
    never a whole path), and it must not be a file."""
    path = Path(given)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{option} {given}: exists and is not a directory")
    if not path.exists() and not path.parent.is_dir():
        raise UsageError(f"{option} {given}: directory {path.parent} does not exist "
                         f"(create it first)")
    return path
