"""Coach labels on reps (``rep_labels``, migration 0006), pulled by the box that recorded the
sessions, as the roster is pulled; and the box's report of the athlete profile it built from
them (``athlete_profiles``), which the athlete page shows.

Only labels of sessions this box recorded are pulled: the box builds profiles from its own
stored frames. The athlete is named by e-mail (lower case), the key of the box's overlays
(``liftguard calibrate athlete --athlete EMAIL``).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Iterable

VERDICTS = ("clean", "fault")


@dataclass(frozen=True)
class RepLabel:
    session_id: str
    rep_number: int
    verdict: str
    athlete_id: str
    athlete_email: str
    lift_type: str


def fetch_labels(conn: Any, device_id: str) -> list[RepLabel]:
    with conn.cursor() as cur:
        cur.execute("SELECT l.session_id::text, l.rep_number, l.verdict, u.id::text, "
                    "lower(u.email), s.lift_type::text FROM rep_labels l "
                    "JOIN sessions s ON s.id = l.session_id JOIN users u ON u.id = s.athlete "
                    "WHERE s.device_id = %s ORDER BY 5, 6, 1, 2", (device_id,))
        rows = cur.fetchall()
    conn.rollback()
    return [RepLabel(*r) for r in rows]


def group_clean(labels: Iterable[RepLabel]) -> dict[tuple[str, str], dict[str, set[int]]]:
    """{(athlete e-mail, lift): {session id: clean rep numbers}} for every athlete and lift
    that has labels at all (an entry with no clean reps means: drop the profile)."""
    out: dict[tuple[str, str], dict[str, set[int]]] = {}
    for label in labels:
        sessions = out.setdefault((label.athlete_email, label.lift_type), {})
        reps = sessions.setdefault(label.session_id, set())
        if label.verdict == "clean":
            reps.add(label.rep_number)
    return {key: {s: r for s, r in sessions.items() if r} for key, sessions in out.items()}


def fingerprint(clean: dict[str, set[int]]) -> str:
    """Changes exactly when the set of clean reps changes."""
    text = ";".join(f"{s}:{','.join(map(str, sorted(r)))}" for s, r in sorted(clean.items()))
    return hashlib.sha256(text.encode()).hexdigest()


def athlete_ids(labels: Iterable[RepLabel]) -> dict[str, str]:
    return {label.athlete_email: label.athlete_id for label in labels}


def report_profile(conn: Any, athlete_id: str, lift: str, device_id: str, refreshed_at: float,
                   rep_count: int, session_count: int) -> None:
    with conn.cursor() as cur:
        cur.execute("INSERT INTO athlete_profiles (athlete, lift_type, device_id, refreshed_at, "
                    "rep_count, session_count) VALUES (%s, %s::lift_type, %s, to_timestamp(%s), "
                    "%s, %s) ON CONFLICT (athlete, lift_type, device_id) DO UPDATE SET "
                    "refreshed_at = EXCLUDED.refreshed_at, rep_count = EXCLUDED.rep_count, "
                    "session_count = EXCLUDED.session_count",
                    (athlete_id, lift, device_id, refreshed_at, rep_count, session_count))
    conn.commit()
