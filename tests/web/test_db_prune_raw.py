"""`liftguard db prune-raw` (raw-data retention) through its entry point against a real
PostgreSQL, the password from the secrets file; hostile `--older-than` values; the web app as
deployed (`liftguard web`) after a prune; and coaches and athletes over HTTP, who cannot prune."""
from __future__ import annotations

import contextlib
import io
import os
import re
from datetime import datetime, timedelta
from pathlib import Path

import psycopg2
import psycopg2.errors
import pytest
from hypothesis import given
from hypothesis import strategies as st

from liftguard.cli import build_parser, main
from sensors.recording import read_recording
from sync.retention import MAX_DAYS
from tests.support.review_support import ready, simulated_session
from tests.support.web_process import LiftguardWeb
from tests.support.web_support import PASSWORD, WEB_ROLE, WEB_ROLE_PASSWORD, assign, rows

REPO = Path(__file__).resolve().parents[2]
NOW = datetime.utcnow()


@pytest.fixture
def cli(tmp_path, web_db, monkeypatch):
    """``cli("--older-than", "30", ...)`` runs `liftguard db prune-raw` as an operator would:
    a config file naming a 0600 secrets file with the database password, a DSN without it."""
    monkeypatch.delenv("LIFTGUARD_DATABASE_PASSWORD", raising=False)
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'database_password = "{web_db.server.password}"\n')
    os.chmod(secrets, 0o600)
    cfg = tmp_path / "config.toml"
    server = web_db.server
    dsn = f"host={server.host} port={server.port} dbname={web_db.name} user={server.superuser}"
    cfg.write_text(f'[device]\nsecrets_file = "{secrets}"\n[database]\ndsn = "{dsn}"\n')

    def run(*args: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(["--config", str(cfg), "db", "prune-raw", *args])
            except SystemExit as exc:  # argparse refusals
                code = exc.code
        return code, out.getvalue(), err.getvalue()
    return run


def counts(conn, sid: str) -> dict[str, int]:
    found = {}
    for table, column in (("sensor_data", "session"), ("rep_metrics", "session_id"),
                          ("performance_metrics", "session"), ("feedback", "session")):
        found[table] = rows(conn, f"SELECT count(*) FROM {table} WHERE {column} = %s",
                            (sid,))[0][0]
    return found


@pytest.fixture
def gym(db_conn, make_user, login_as):
    """A trainer and an athlete; the athlete has an old ended session (40 days), a recent one
    (2 days) and an old one still active, each with raw chunks, reps and scores. The trainer
    has opened each once, so the web app has made their display series (0010), which the
    charts draw from once the raw chunks are gone."""
    trainer, athlete = make_user("trainer"), make_user("athlete")
    assign(db_conn, trainer, athlete)
    old = simulated_session(db_conn, athlete["id"], started_at=NOW - timedelta(days=40),
                            notes=["instability at 3.0 s: bar swaying sideways"])
    recent = simulated_session(db_conn, athlete["id"], seed=3,
                               started_at=NOW - timedelta(days=2))
    stuck = simulated_session(db_conn, athlete["id"], seed=4, status="active",
                              started_at=NOW - timedelta(days=50))
    client, _ = login_as(user=trainer)
    for sid in (old, recent):
        assert ready(client, f"/sessions/{sid}/charts/tilt.svg").status_code == 200
    assert rows(db_conn, "SELECT count(*) FROM session_series WHERE final") == [(2,)]
    return {"trainer": trainer, "athlete": athlete, "old": old, "recent": recent,
            "stuck": stuck}


def raw_stats(conn, sid: str) -> tuple[int, int, int]:
    return rows(conn, "SELECT count(*), COALESCE(sum((raw_data->>'n')::int), 0), "
                      "COALESCE(sum(pg_column_size(raw_data)), 0) FROM sensor_data "
                      "WHERE session = %s", (sid,))[0]


@pytest.mark.integration
def test_dry_run_lists_then_prune_deletes_only_old_raw_chunks(cli, gym, db_conn):
    before = {k: counts(db_conn, gym[k]) for k in ("old", "recent", "stuck")}
    chunks, frames, size = raw_stats(db_conn, gym["old"])
    assert chunks > 10 and all(v > 0 for v in before["old"].values())

    code, out, err = cli("--older-than", "30", "--dry-run")
    assert code == 0, err
    assert ("dry run: would delete the raw data of 1 session(s)" in out
            and f"{chunks} chunks, {frames} frames, {size / 1e6:.1f} MB" in out), out
    assert gym["old"] in out and gym["recent"] not in out and gym["stuck"] not in out
    assert "1 active session(s) older than that are never pruned" in out
    assert {k: counts(db_conn, gym[k]) for k in before} == before     # nothing deleted

    code, out, err = cli("--older-than", "30")
    assert code == 0, err
    assert "deleted the raw data of 1 session(s)" in out and f"{chunks} chunks" in out
    after = {k: counts(db_conn, gym[k]) for k in before}
    assert after["old"] == {**before["old"], "sensor_data": 0}        # metrics, reps, feedback kept
    assert after["recent"] == before["recent"] and after["stuck"] == before["stuck"]
    assert rows(db_conn, "SELECT chunks, frames, raw_bytes, older_than_days, "
                         "sensor_data_id IS NULL FROM raw_data_pruned p JOIN sessions s "
                         "ON s.id = p.session_id") == [(chunks, frames, size, 30, True)]

    code, out, _ = cli("--older-than", "30")
    assert code == 0 and "deleted the raw data of 0 session(s)" in out
    assert rows(db_conn, "SELECT chunks FROM raw_data_pruned") == [(chunks,)]


@pytest.mark.integration
def test_a_chunk_that_arrives_after_a_prune_is_pruned_next_time_and_counted(cli, gym, db_conn):
    chunks, _, _ = raw_stats(db_conn, gym["old"])
    assert cli("--older-than", "30")[0] == 0
    rows(db_conn, "INSERT INTO sensor_data (session, raw_data, chunk_seq, mono_start_ns, "
                  "mono_end_ns) SELECT %s, raw_data, 9999, mono_start_ns, mono_end_ns "
                  "FROM sensor_data WHERE session = %s LIMIT 1 RETURNING 1",
         (gym["old"], gym["recent"]))
    code, out, _ = cli("--older-than", "30")
    assert code == 0 and "deleted the raw data of 1 session(s)" in out and " 1 chunks" in out
    assert rows(db_conn, "SELECT chunks FROM raw_data_pruned") == [(chunks + 1,)]


@pytest.mark.integration
def test_a_session_without_its_display_series_keeps_its_raw_data(cli, gym, db_conn):
    """Nobody opened it since it synced: its charts still need the raw chunks."""
    rows(db_conn, "DELETE FROM session_series WHERE session = %s RETURNING 1", (gym["old"],))
    chunks = raw_stats(db_conn, gym["old"])[0]
    code, out, _ = cli("--older-than", "30")
    assert code == 0 and "deleted the raw data of 0 session(s)" in out
    assert "1 old session(s) keep their raw data until their display series is made" in out
    assert raw_stats(db_conn, gym["old"])[0] == chunks


@pytest.mark.integration
def test_nothing_is_pruned_without_an_explicit_age(cli, gym, db_conn):
    code, _, err = cli()
    assert code == 2 and "--older-than" in err and "required" in err
    code, _, err = cli("--older-than", "0")
    assert code == 2 and "out of range: give 1 to 36500" in err
    assert raw_stats(db_conn, gym["old"])[0] > 0
    shipped = [p for p in (REPO / "systemd").iterdir()] + [REPO / "config.example.toml"]
    assert not [p for p in shipped if "prune" in p.read_text()], "nothing prunes on its own"


@pytest.mark.integration
def test_prune_refuses_a_database_that_is_not_migrated(cli, web_db, db_conn):
    rows(db_conn, "DELETE FROM schema_version WHERE version = 12 RETURNING 1")
    code, out, _ = cli("--older-than", "30")
    assert code == 1 and "run `liftguard db migrate` first" in out


# ---- hostile --older-than values ------------------------------------------------------------

def _parse(value: str) -> tuple[int | None, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            args = build_parser("db").parse_args(
                ["db", "prune-raw", f"--older-than={value}", "--dsn", "host=x"])
        except SystemExit as exc:
            assert exc.code == 2
            return None, err.getvalue()
    return args.older_than, ""


DOCUMENTED = re.compile(r"argument --older-than: (expected a whole number of days from 1 to "
                        rf"{MAX_DAYS}, got .*|.* days is out of range: give 1 to {MAX_DAYS})\n")

valid = st.integers(1, MAX_DAYS).map(str)
mutated = st.one_of(
    st.integers(-10**40, 10**40).map(str),                      # negative, zero, huge
    st.floats(allow_nan=True, allow_infinity=True).map(repr),     # 1.5, nan, inf, 1e300
    st.tuples(valid, st.sampled_from(["d", " days", ".0", "e3", "_0", "\x00", "٣", "½"]))
    .map("".join),
    st.tuples(st.sampled_from(["-", "+", "0x", "٣", "\t", "1_"]), valid).map("".join),
    st.text(max_size=30), valid)


@given(value=mutated)
def test_hostile_older_than_gives_only_the_documented_error(value):
    days, err = _parse(value)
    if days is not None:
        assert 1 <= days <= MAX_DAYS and days == int(value.strip())
        assert value.strip().isascii() and value.strip().isdigit()
    else:
        assert DOCUMENTED.search(err), err
        assert "Traceback" not in err
    assert _parse("30") == (30, "")            # a valid value after a bad one still works


# ---- the web app after a prune, and attackers ------------------------------------------------

@pytest.mark.integration
def test_every_session_page_still_works_after_pruning(tmp_path, cli, gym, db_conn, web_db):
    assert cli("--older-than", "30")[0] == 0
    sid = gym["old"]
    with LiftguardWeb(tmp_path, web_db) as web:
        for who in ("trainer", "athlete"):
            b = web.browser()
            assert b.login(gym[who]["email"], PASSWORD).status == 302
            page = b.get(f"/sessions/{sid}")
            assert page.status == 200 and "bar swaying sideways" in page.text
            for name in ("displacement", "tilt", "cop", "raw"):
                chart = b.get(f"/sessions/{sid}/charts/{name}.svg")
                assert chart.status == 200 and "<path" in chart.text, name  # from the series
            raw = b.get(f"/sessions/{sid}/sensor_data")
            assert raw.status == 200 and "Raw data pruned:" in raw.text
            assert "older-than 30" in raw.text and "Download recording CSV" not in raw.text
            assert b.get(f"/sessions/{sid}/sensor_data/raw.svg").status == 200
            export = b.get(f"/sessions/{sid}/sensor_data?format=csv")
            assert export.status == 410 and "were deleted on" in export.text
            reps = b.get(f"/sessions/{sid}/reps.csv")
            assert reps.status == 200
            assert len(reps.text.splitlines()) == 1 + counts(db_conn, sid)["rep_metrics"] > 1
            assert b.get(f"/sessions/{gym['recent']}/sensor_data?format=csv").status == 200
    assert "Traceback" not in web.output


@pytest.mark.integration
def test_a_partly_pruned_export_says_so_and_still_replays(tmp_path, cli, gym, db_conn, web_db):
    assert cli("--older-than", "30")[0] == 0
    rows(db_conn, "INSERT INTO sensor_data (session, raw_data, chunk_seq, mono_start_ns, "
                  "mono_end_ns) SELECT %s, raw_data, chunk_seq, mono_start_ns, mono_end_ns "
                  "FROM sensor_data WHERE session = %s RETURNING 1", (gym["old"], gym["recent"]))
    with LiftguardWeb(tmp_path, web_db) as web:
        b = web.browser()
        assert b.login(gym["athlete"]["email"], PASSWORD).status == 302
        export = b.get(f"/sessions/{gym['old']}/sensor_data?format=csv")
        page = b.get(f"/sessions/{gym['old']}/sensor_data")
    assert export.status == 200 and "were deleted on" in export.headers["X-Liftguard-Raw-Pruned"]
    assert export.text.startswith("# raw_data_pruned=")
    assert "liftguard db prune-raw --older-than 30" in export.text.splitlines()[1]
    path = tmp_path / "partial.csv"
    path.write_text(export.text)
    recording = read_recording(path)
    assert len(recording.frames) == raw_stats(db_conn, gym["recent"])[1]
    assert "raw_data_pruned" in recording.metadata
    assert page.status == 200 and "What is shown below arrived after that" in page.text


def _path_for(rule, sid: str) -> str:
    values = {a: ("raw" if a == "name" else "static.css" if a == "filename" else sid)
              for a in rule.arguments}
    path = rule.rule
    for name, value in values.items():
        path = re.sub(rf"<(?:[^:>]+:)?{name}>", value, path)
    return path


@pytest.mark.integration
def test_coaches_and_athletes_cannot_prune_over_http(tmp_path, gym, db_conn, web_db, web_app):
    """No web route prunes: a signed-in trainer and athlete call every route of the app with
    every method it takes (POSTs with a valid CSRF token), on the prunable session; its raw
    chunks are all still there and nothing is recorded as pruned. The web app's database
    role could not delete them anyway."""
    sid = gym["old"]
    before = raw_stats(db_conn, sid)
    rules = [r for r in web_app.url_map.iter_rules() if r.endpoint != "static"]
    assert len(rules) > 20 and any("POST" in r.methods for r in rules)
    with LiftguardWeb(tmp_path, web_db) as web:
        for who in ("trainer", "athlete"):
            b = web.browser()
            assert b.login(gym[who]["email"], PASSWORD).status == 302
            for rule in rules:
                path = _path_for(rule, sid)
                if "GET" in rule.methods:
                    assert b.get(path).status < 500, path
                if "POST" in rule.methods and path != "/logout":
                    assert b.post_form(path, {"older_than": "1", "dry_run": ""},
                                       token_from="/profile").status < 500, path
            for path in (f"/sessions/{sid}/prune", "/admin/prune-raw", "/db/prune-raw"):
                assert b.request(path, {"older_than": "1"}).status in (400, 404, 405), path
    assert raw_stats(db_conn, sid) == before
    assert rows(db_conn, "SELECT count(*) FROM raw_data_pruned") == [(0,)]
    web_conn = psycopg2.connect(web_db.dsn_for(WEB_ROLE, WEB_ROLE_PASSWORD))
    try:
        for sql in ("DELETE FROM sensor_data WHERE session = %s",
                    "INSERT INTO raw_data_pruned (session_id, older_than_days, chunks, frames, "
                    "raw_bytes) VALUES (%s, 1, 0, 0, 0)"):
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                with web_conn, web_conn.cursor() as cur:
                    cur.execute(sql, (sid,))
    finally:
        web_conn.close()
    assert "Traceback" not in web.output
