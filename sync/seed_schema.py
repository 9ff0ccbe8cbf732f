"""The original product's tables column by column (../shared/SEED-SCHEMA.md), as PostgreSQL
reports them: what ``liftguard db migrate`` requires of a database it adopts, and what
migration 0001 creates."""
from __future__ import annotations

from typing import Any

from sync.lifts import LIFT_TYPES

_UUID, _TS = "uuid", "timestamp without time zone"
_STAMPS = (("created_at", _TS, True), ("updated_at", _TS, True))

SEED_COLUMNS: dict[str, tuple[tuple[str, str, bool], ...]] = {
    "users": (("id", _UUID, False), ("first_name", "character varying(100)", False),
              ("last_name", "character varying(100)", False),
              ("email", "character varying(255)", False),
              ("role", "character varying(50)", True), *_STAMPS),
    "sessions": (("id", _UUID, False), ("trainer", _UUID, True), ("athlete", _UUID, True),
                 ("lift_type", "lift_type", False), ("sensor_data_id", _UUID, True),
                 ("performance_metric_id", _UUID, True), ("feedback_id", _UUID, True),
                 ("started_at", _TS, True), ("ended_at", _TS, True), *_STAMPS,
                 ("status", "character varying(50)", False)),
    "sensor_data": (("id", _UUID, False), ("athlete", _UUID, True), ("session", _UUID, True),
                    ("raw_data", "jsonb", False), *_STAMPS),
    "performance_metrics": (("id", _UUID, False), ("session", _UUID, False),
                            ("balance_score", "double precision", False),
                            ("stability_score", "double precision", False),
                            ("injury_risk", "double precision", False), *_STAMPS),
    "feedback": (("id", _UUID, False), ("session", _UUID, False),
                 ("metrics_id", _UUID, False), ("feedback_text", "text", False), *_STAMPS),
}
"""table -> ((column, type as ``format_type`` gives it, nullable), ...) in the seed's order."""

SEED_TABLES = tuple(SEED_COLUMNS)

"""Labels of the seed's enum ``lift_type``, in order."""


def actual_columns(cur: Any, tables: tuple[str, ...] = SEED_TABLES
                   ) -> dict[str, dict[str, tuple[str, bool]]]:
    """table -> column -> (type, nullable) of these tables in the current schema."""
    cur.execute("SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), "
                "NOT a.attnotnull FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
                "WHERE c.relnamespace = current_schema()::regnamespace "
                "AND c.relname = ANY(%s) AND c.relkind = 'r' AND a.attnum > 0 "
                "AND NOT a.attisdropped ORDER BY c.relname, a.attnum", (list(tables),))
    found: dict[str, dict[str, tuple[str, bool]]] = {t: {} for t in tables}
    for table, column, type_, nullable in cur.fetchall():
        found[table][column] = (type_, nullable)
    return found


def differences(cur: Any) -> list[str]:
    """Every way the seed tables and ``lift_type`` differ from the original, one line each
    naming the table and column; empty when they match exactly."""
    problems: list[str] = []
    actual = actual_columns(cur)
    for table, expected in SEED_COLUMNS.items():
        have = actual[table]
        for column, type_, nullable in expected:
            if column not in have:
                problems.append(f"{table}.{column}: missing (expected {_describe(type_, nullable)})")
                continue
            got_type, got_nullable = have[column]
            if (got_type, got_nullable) != (type_, nullable):
                problems.append(f"{table}.{column}: is {_describe(got_type, got_nullable)}, "
                                f"expected {_describe(type_, nullable)}")
        for column in sorted(set(have) - {c for c, _, _ in expected}):
            problems.append(f"{table}.{column}: not a column of the original schema "
                            f"({_describe(*have[column])})")
    cur.execute("SELECT coalesce(array_agg(enumlabel::text ORDER BY enumsortorder), '{}') "
                "FROM pg_enum WHERE enumtypid = to_regtype('lift_type')")
    labels = tuple(cur.fetchone()[0])
    if labels != LIFT_TYPES:
        problems.append(f"type lift_type: labels {', '.join(labels) or 'none'}, expected "
                        f"{', '.join(LIFT_TYPES)}")
    return problems


def _describe(type_: str, nullable: bool) -> str:
    return f"{type_} {'NULL' if nullable else 'NOT NULL'}"
