"""Secrets come from the environment or a 0600 file, never from the config; loose modes warn."""
from __future__ import annotations

import logging
import os

import pytest

from liftguard.errors import ConfigError
from liftguard.secrets import load_secrets


def secrets_file(tmp_path, text, mode=0o600):
    p = tmp_path / "secrets.toml"
    p.write_text(text)
    os.chmod(p, mode)
    return p


def test_file_secret_is_read_without_warning(tmp_path, caplog):
    p = secrets_file(tmp_path, 'database_password = "s3"\n')
    with caplog.at_level(logging.WARNING):
        s = load_secrets(p, environ={})
    assert s.get("database_password") == "s3"
    assert s.sources["database_password"] == f"file:{p}"
    assert not caplog.records


def test_world_readable_file_warns(tmp_path, caplog):
    p = secrets_file(tmp_path, 'mqtt_password = "m"\n', mode=0o644)
    with caplog.at_level(logging.WARNING):
        s = load_secrets(p, environ={})
    assert s.get("mqtt_password") == "m"
    assert any("readable by group/others" in r.getMessage() and "chmod 600" in r.getMessage()
               for r in caplog.records)


def test_environment_overrides_file(tmp_path):
    p = secrets_file(tmp_path, 'api_token = "from-file"\n')
    s = load_secrets(p, environ={"LIFTGUARD_API_TOKEN": "from-env"})
    assert s.get("api_token") == "from-env"
    assert s.sources["api_token"] == "env:LIFTGUARD_API_TOKEN"


def test_missing_file_means_no_secrets(tmp_path):
    s = load_secrets(tmp_path / "absent.toml", environ={})
    assert s.get("database_password") is None


def test_unknown_secret_key_is_rejected(tmp_path):
    p = secrets_file(tmp_path, 'db_pasword = "x"\n')
    with pytest.raises(ConfigError, match="unknown secret 'db_pasword'"):
        load_secrets(p, environ={})


def test_repr_never_shows_values(tmp_path):
    p = secrets_file(tmp_path, 'database_password = "hunter2"\n')
    assert "hunter2" not in repr(load_secrets(p, environ={}))
