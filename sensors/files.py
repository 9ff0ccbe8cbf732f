"""Small JSON files on an SD card (calibrations): written atomically, read with clear errors."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_json_atomic(path: str | os.PathLike[str], data: Any) -> Path:
    """Write ``data`` as JSON so a crash or power cut leaves the old file or the new one:
    temp file in the same directory, fsync, rename, fsync of the directory."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return target


def read_json_file(path: Path, what: str, missing_hint: str,
                   error: type[Exception]) -> Any:
    """Parse a JSON file; each failure raises ``error`` with a message naming ``what`` and the file.

    ``missing_hint`` tells the operator how to create a missing file.
    """
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{path}: {what} not found ({missing_hint})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot read {what}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise error(f"{path}: not valid JSON at line {exc.lineno} column {exc.colno}: "
                    f"{exc.msg} (expected a {what})") from None
