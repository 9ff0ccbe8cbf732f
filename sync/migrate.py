"""Versioned schema migrations for the liftguard PostgreSQL database.

Migrations are the files ``sync/schema/NNNN_name.sql``, applied in version order. Each one runs
in its own transaction together with the ``schema_version`` row that records it, so a failed
migration leaves the database at the previous version. A session-level advisory lock serialises
concurrent migrators: the second one waits, then finds nothing left to do.
"""
from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sync.seed_schema import SEED_TABLES, differences

log = logging.getLogger(__name__)

SCHEMA_DIR = Path(__file__).resolve().parent / "schema"

# pg_advisory_lock key shared by every liftguard migrator ("liftguar" as a big-endian int64).
ADVISORY_LOCK_KEY = int.from_bytes(b"liftguar", "big")

SEED_VERSION = 1

_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

_CREATE_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_version (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    sha256     TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)"""


class MigrationError(Exception):
    """A migration file is malformed or failed to apply (the message names the file), or a
    database is refused (``problems`` names each table and column that differs)."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message + ("".join(f"\n  {p}" for p in problems) if problems else ""))
        self.problems = problems or []


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path
    sql: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"


def load_migrations(directory: Path = SCHEMA_DIR) -> list[Migration]:
    """Every ``NNNN_name.sql`` in ``directory``, sorted; other ``.sql`` names are an error."""
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise MigrationError(f"{path}: migration file names must look like 0003_add_x.sql")
        version = int(match.group(1))
        if version in found:
            raise MigrationError(f"{path}: version {version} is also used by {found[version].path}")
        found[version] = Migration(version, match.group(2), path, path.read_text(encoding="utf-8"))
    if not found:
        raise MigrationError(f"{directory}: no migration files found")
    return [found[v] for v in sorted(found)]


def _applied(cur: Any) -> dict[int, str]:
    cur.execute("SELECT version, sha256 FROM schema_version")
    return dict(cur.fetchall())


def current_version(conn: Any) -> int:
    """Highest applied version; 0 for a database without ``schema_version``."""
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('schema_version') IS NOT NULL")
        if not cur.fetchone()[0]:
            conn.rollback()
            return 0
        cur.execute("SELECT coalesce(max(version), 0) FROM schema_version")
        version = cur.fetchone()[0]
    conn.rollback()
    return version


def pending(conn: Any, migrations: list[Migration] | None = None) -> list[Migration]:
    """Migrations not yet applied to the database behind ``conn``."""
    migrations = load_migrations() if migrations is None else migrations
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('schema_version') IS NOT NULL")
        applied = _applied(cur) if cur.fetchone()[0] else {}
    conn.rollback()
    return [m for m in migrations if m.version not in applied]


def _apply(conn: Any, migration: Migration) -> None:
    try:
        with conn.cursor() as cur:
            cur.execute(migration.sql)
            cur.execute("INSERT INTO schema_version (version, name, sha256) VALUES (%s, %s, %s)",
                        (migration.version, migration.name, migration.sha256))
        conn.commit()
    except Exception as exc:
        conn.rollback()
        detail = str(exc).strip().replace("\n", " | ")
        raise MigrationError(f"{migration.path}: failed, nothing from this file was applied: "
                             f"{detail}") from exc


def migrate(conn: Any, target: int | None = None,
            migrations: list[Migration] | None = None) -> list[int]:
    """Apply pending migrations up to ``target`` (default: all); return the versions applied.

    ``conn`` is a psycopg2 connection (not in autocommit mode is fine: the previous mode is
    restored). Applying again is a no-op. An already-applied file whose contents changed is
    reported with a warning and not re-run.
    """
    migrations = load_migrations() if migrations is None else migrations
    wanted = [m for m in migrations if target is None or m.version <= target]
    saved_autocommit = conn.autocommit
    conn.autocommit = False
    applied_now: list[int] = []
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
            conn.commit()
            cur.execute("SELECT to_regclass('schema_version') IS NOT NULL")
            versioned = cur.fetchone()[0]
            if versioned:
                cur.execute("SELECT EXISTS (SELECT 1 FROM schema_version)")
                versioned = cur.fetchone()[0]
            conn.rollback()
        seed = wanted[0] if wanted and wanted[0].version == SEED_VERSION else None
        adopt = seed is not None and not versioned and _existing_seed_matches(conn)
        with conn.cursor() as cur:
            cur.execute(_CREATE_VERSION_TABLE)
            if adopt:
                cur.execute("INSERT INTO schema_version (version, name, sha256) "
                            "VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                            (seed.version, seed.name, seed.sha256))
                log.info("existing seed schema found (made by the original app) and it matches "
                         "the original column by column; recorded as version %d without "
                         "re-creating it", seed.version)
            conn.commit()
            applied = _applied(cur)
            conn.rollback()
        _warn_about_drift(migrations, applied)
        for migration in wanted:
            if migration.version in applied:
                continue
            log.info("applying schema migration %s", migration.label)
            _apply(conn, migration)
            applied_now.append(migration.version)
    finally:
        if not conn.closed:  # a lost connection already released its lock
            conn.rollback()
            with conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
            conn.commit()
            conn.autocommit = saved_autocommit
    return applied_now


def _existing_seed_matches(conn: Any) -> bool:
    """True when the original product already created its tables, exactly as the original
    (column names, types, NULL-ness and the ``lift_type`` labels); False when there is no seed
    at all. Anything in between raises ``MigrationError`` naming every difference, before
    anything is written: the database needs a person to look at it.
    """
    with conn.cursor() as cur:
        cur.execute("SELECT t FROM unnest(%s::text[]) AS t WHERE to_regclass(t) IS NOT NULL",
                    (list(SEED_TABLES),))
        present = {row[0] for row in cur.fetchall()}
        cur.execute("SELECT to_regtype('lift_type') IS NOT NULL")
        has_enum = cur.fetchone()[0]
        if not present and not has_enum:
            conn.rollback()
            return False
        if present != set(SEED_TABLES) or not has_enum:
            conn.rollback()
            missing = sorted(set(SEED_TABLES) - present) + ([] if has_enum else ["type lift_type"])
            raise MigrationError(f"database has part of the seed schema but no schema_version "
                                 f"(missing: {', '.join(missing)}); refusing to guess, "
                                 "check it by hand")
        problems = differences(cur)
    conn.rollback()
    if problems:
        raise MigrationError("database has the seed tables but they differ from the original "
                             "schema (docs/database.md), so nothing was changed:", problems)
    return True


def _warn_about_drift(migrations: list[Migration], applied: dict[int, str]) -> None:
    known = {m.version: m for m in migrations}
    for version, sha in sorted(applied.items()):
        if version not in known:
            log.warning("database has schema version %d, which this liftguard does not know; "
                        "it is newer than this software", version)
        elif known[version].sha256 != sha:
            log.warning("migration %s was edited after it was applied to this database; "
                        "the edit is NOT applied (add a new migration instead)",
                        known[version].label)
