"""Support for the coach web app tests: settings for a database the app reaches as the
least-privilege web role, users of each role, and signing in the way a browser does (the CSRF
token is read from the form). The fixtures (``web_db``, ``db_conn``, ``web_app``, ``client``,
``make_user``, ``login_as``) are in tests/web/conftest.py."""
from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

from coach import WebSettings
from sync.migrate import migrate
from sync.roles import apply_roles, password_env_var
from tests.support.services import PgDatabase, PostgresServer

# Test-only values, not secrets of anything real.
WEB_ROLE = "liftguard_web_test"
WEB_ROLE_PASSWORD = "web-role-test-Pw-1"
TEST_SECRET_KEY = "test-secret-key-for-the-coach-app-only-0123456789"
PASSWORD = "correct horse battery staple"
ROLES = ("admin", "trainer", "athlete")

_CSRF_INPUT = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


def unique_role_name(prefix: str) -> str:
    """Roles are cluster-wide and the tests share one cluster."""
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


_TEMPLATES: dict[int, str] = {}  # id(server) -> its template database


def _template(server: PostgresServer) -> str:
    """One database per test cluster, migrated and granted once; each test gets a copy (much
    faster than migrating per test). Nobody stays connected to it; it goes with the cluster."""
    if id(server) not in _TEMPLATES:
        name = unique_role_name("webtmpl")
        server.create_database(name)
        conn = PgDatabase(server, name).connect()
        try:
            migrate(conn)
            apply_roles(conn, {WEB_ROLE: "web"}, {password_env_var(WEB_ROLE): WEB_ROLE_PASSWORD})
        finally:
            conn.close()
        _TEMPLATES[id(server)] = name
    return _TEMPLATES[id(server)]


def settings_for(db: PgDatabase, **changes: Any) -> WebSettings:
    fields: dict[str, Any] = {"dsn": db.dsn_for(WEB_ROLE, WEB_ROLE_PASSWORD),
                              "secret_key": TEST_SECRET_KEY}
    fields.update(changes)
    return WebSettings(**fields)


def csrf_token(html: str) -> str:
    """The CSRF token of the first form in a page."""
    match = _CSRF_INPUT.search(html)
    assert match, "no csrf_token field in the page"
    return match.group(1) or match.group(2)


def form_token(client: Any, url: str) -> str:
    """GET ``url`` and return the CSRF token of its form."""
    page = client.get(url)
    assert page.status_code == 200, f"GET {url} -> {page.status_code}"
    return csrf_token(page.get_data(as_text=True))


def post_form(client: Any, url: str, data: dict[str, Any], token_from: str | None = None,
              **kwargs: Any) -> Any:
    """POST ``data`` with a valid CSRF token read from the form at ``token_from`` (default ``url``;
    for POST-only URLs name the page holding the form)."""
    token = form_token(client, token_from or url)
    return client.post(url, data={**data, "csrf_token": token}, **kwargs)


def home_path(app: Any) -> str:
    """Where signing in leads: the dashboard when installed, else the profile."""
    return "/dashboard" if "dashboard.index" in app.view_functions else "/profile"


def login(client: Any, email: str, password: str = PASSWORD) -> Any:
    return post_form(client, "/login", {"email": email, "password": password})


def rows(conn: Any, sql: str, params: tuple = ()) -> list[tuple]:
    """Every row of ``sql`` (the transaction is committed, so later reads see new data)."""
    with conn.cursor() as cur:
        cur.execute(sql, params)
        found = cur.fetchall()
    conn.commit()
    return found


def seed_user(conn: Any, email: str, role: str | None) -> dict[str, Any]:
    """A user as the original product left them: a ``users`` row and no credentials."""
    with conn.cursor() as cur:
        cur.execute("INSERT INTO users (first_name, last_name, email, role) "
                    "VALUES ('Seed', 'User', %s, %s) RETURNING id::text", (email, role))
        user_id = cur.fetchone()[0]
    conn.commit()
    return {"id": user_id, "email": email, "role": role, "password": None}


def assign(conn: Any, trainer: dict[str, Any], athlete: dict[str, Any]) -> None:
    with conn.cursor() as cur:
        cur.execute("INSERT INTO trainer_athletes (trainer_id, athlete_id) VALUES (%s, %s)",
                    (trainer["id"], athlete["id"]))
    conn.commit()


def add_session(conn: Any, athlete: dict[str, Any] | None, lift: str = "squat",
                started_at: str = "2026-11-30 10:00:00", status: str = "ended",
                trainer: dict[str, Any] | None = None) -> str:
    """A bare synced session row (no raw data or metrics) for ``athlete``; returns its id."""
    with conn.cursor() as cur:
        cur.execute("""INSERT INTO sessions (athlete, trainer, lift_type, started_at, status)
                       VALUES (%s, %s, %s, %s, %s) RETURNING id::text""",
                    (athlete and athlete["id"], trainer and trainer["id"], lift, started_at,
                     status))
        session_id = cur.fetchone()[0]
    conn.commit()
    return session_id


def rep_labels(conn: Any, session_id: str,
               columns: str = "rep_number, verdict, fault_kind") -> list[tuple[Any, ...]]:
    """The session's coach labels (``columns`` of ``rep_labels``), in rep order."""
    with conn.cursor() as cur:
        cur.execute(f"SELECT {columns} FROM rep_labels WHERE session_id = %s ORDER BY 1",
                    (session_id,))
        rows = cur.fetchall()
    conn.rollback()
    return rows


def write_config(tmp_path: Path, dsn: str, extra: str = "") -> Path:
    cfg = tmp_path / "web.toml"
    secrets = tmp_path / "secrets.toml"
    secrets.write_text("")
    secrets.chmod(0o600)
    cfg.write_text(f'[device]\nsecrets_file = "{secrets}"\n[database]\ndsn = "{dsn}"\n'
                   f'[web]\nworkers = 1\nthreads = 2\n{extra}')
    return cfg
