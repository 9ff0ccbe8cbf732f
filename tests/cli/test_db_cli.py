"""`liftguard db migrate|status` against a real PostgreSQL, password from the secrets file."""
from __future__ import annotations

import os

import pytest

from liftguard.cli import main
from sync.migrate import current_version, load_migrations

pytestmark = pytest.mark.integration


@pytest.fixture
def config_with_secret(tmp_path, pg_db, monkeypatch):
    """A config whose secrets file holds the database password; the DSN itself has none."""
    monkeypatch.delenv("LIFTGUARD_DATABASE_PASSWORD", raising=False)
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'database_password = "{pg_db.server.password}"\n')
    os.chmod(secrets, 0o600)
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[device]\nsecrets_file = "{secrets}"\n')
    server = pg_db.server
    dsn = f"host={server.host} port={server.port} dbname={pg_db.name} user={server.superuser}"
    return str(cfg), dsn


def test_migrate_applies_then_is_idempotent(config_with_secret, pg_db, capsys):
    cfg, dsn = config_with_secret
    labels = [m.label for m in load_migrations()]

    assert main(["--config", cfg, "db", "migrate", "--dsn", dsn]) == 0
    out = capsys.readouterr().out
    assert [line.removeprefix("applied ") for line in out.splitlines()
            if line.startswith("applied ")] == labels
    conn = pg_db.connect()
    assert current_version(conn) == load_migrations()[-1].version
    conn.close()

    assert main(["--config", cfg, "db", "migrate", "--dsn", dsn]) == 0
    assert "nothing to apply" in capsys.readouterr().out


def test_migrate_to_a_version_then_status_shows_pending(config_with_secret, capsys):
    cfg, dsn = config_with_secret
    first, *rest = load_migrations()
    assert main(["--config", cfg, "db", "migrate", "--dsn", dsn, "--to", str(first.version)]) == 0
    capsys.readouterr()
    assert main(["--config", cfg, "db", "status", "--dsn", dsn]) == 0
    out = capsys.readouterr().out
    assert f"schema version: {first.version}" in out
    assert "pending: " + ", ".join(m.label for m in rest) in out


def test_dsn_from_config_and_unknown_target(tmp_path, config_with_secret, capsys):
    cfg, dsn = config_with_secret
    with open(cfg, "a") as fh:
        fh.write(f'[database]\ndsn = "{dsn}"\n')
    assert main(["--config", cfg, "db", "migrate", "--to", "999"]) == 2
    assert "--to 999: no such schema version" in capsys.readouterr().err
    assert main(["--config", cfg, "db", "status"]) == 0
    assert "schema version: 0" in capsys.readouterr().out


def test_wrong_password_is_a_runtime_error(config_with_secret, monkeypatch, capsys):
    cfg, dsn = config_with_secret
    monkeypatch.setenv("LIFTGUARD_DATABASE_PASSWORD", "not-the-password")
    assert main(["--config", cfg, "db", "migrate", "--dsn", dsn]) == 1
    assert "password authentication failed" in capsys.readouterr().err


def test_missing_or_malformed_dsn_is_a_usage_error(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[device]\nsecrets_file = "{tmp_path / "none.toml"}"\n')
    assert main(["--config", str(cfg), "db", "migrate"]) == 2
    assert "pass --dsn or set [database] dsn" in capsys.readouterr().err
    bad_dsn = "host=x password=s3cret junk"
    assert main(["--config", str(cfg), "db", "migrate", "--dsn", bad_dsn]) == 2
    err = capsys.readouterr().err
    assert "not a valid libpq connection string" in err and "s3cret" not in err
