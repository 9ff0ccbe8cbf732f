"""The athlete roster pulled down from PostgreSQL's ``users`` table, so the box can attach a
session to a known athlete by e-mail or id, even while offline.

The box stores what it was given (``sessions.athlete``); the sync resolves it against
``users`` again in SQL when the session is upserted, so a roster that is out of date only
affects the check at session start, never what ends up in the database.
"""
from __future__ import annotations

import json
import os
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable

ROLES = ("admin", "trainer", "athlete")
"""``users.role`` in the seed schema (nullable): the one list the local API, the coach web app
and ``liftguard web create-user`` check against (this module is stdlib-only, so the CLI can
import it without loading Flask)."""


@dataclass(frozen=True)
class RosterEntry:
    """One row of the seed's ``users`` table."""

    id: str
    email: str
    first_name: str
    last_name: str
    role: str | None

    @property
    def name(self) -> str:
        """"First Last", what the box shows for a user."""
        return f"{self.first_name} {self.last_name}".strip()

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "name": self.name}


class Roster:
    def __init__(self, entries: Iterable[RosterEntry], fetched_at: float | None = None) -> None:
        self.entries = sorted(entries, key=lambda e: e.email.lower())
        self.fetched_at = fetched_at
        self._by_id = {e.id.lower(): e for e in self.entries}
        self._by_email = {e.email.lower(): e for e in self.entries}

    def __len__(self) -> int:
        return len(self.entries)

    def resolve(self, ref: str, role: str | None = None) -> RosterEntry | None:
        """The user with this id or e-mail (case-insensitive), optionally of ``role``."""
        key = ref.strip().lower()
        entry = self._by_id.get(key) if _is_uuid(key) else self._by_email.get(key)
        if entry is None or (role is not None and entry.role != role):
            return None
        return entry

    def save(self, path: str | os.PathLike[str]) -> None:
        p = Path(path)
        tmp = p.with_name(p.name + ".tmp")
        tmp.write_text(json.dumps({"fetched_at": self.fetched_at,
                                   "users": [asdict(e) for e in self.entries]}, indent=1))
        os.replace(tmp, p)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "Roster":
        """Read a saved roster; ``ValueError`` naming the file and problem if it is bad."""
        try:
            data = json.loads(Path(path).read_text())
            return cls([RosterEntry(**u) for u in data["users"]], data.get("fetched_at"))
        except FileNotFoundError:
            return cls([])
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}: not a roster file ({exc})") from None


def fetch_roster(conn: Any, now: float) -> Roster:
    """All users (the writer role may SELECT ``users``)."""
    with conn.cursor() as cur:
        cur.execute("SELECT id::text, email, first_name, last_name, role FROM users "
                    "ORDER BY email")
        rows = cur.fetchall()
    conn.rollback()
    return Roster([RosterEntry(*r) for r in rows], now)


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True
