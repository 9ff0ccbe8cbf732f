"""Config validation: every kind of problem names the file and the key, and the CLI exits 2."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from liftguard.cli import main
from liftguard.config import SCHEMA, load_config
from liftguard.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "config.toml"
    p.write_text(text)
    return p


@pytest.mark.parametrize("text, fragments", [
    ("[imu]\nsample_rat_hz = 200\n", ["[imu] sample_rat_hz", "unknown key"]),
    ("[imu]\nsample_rate_hz = \"fast\"\n", ["[imu] sample_rate_hz", "wrong type", "integer"]),
    ("[imu]\nsample_rate_hz = 5000\n", ["[imu] sample_rate_hz", "out of range"]),
    ("[imu]\naccel_range_g = 3\n", ["[imu] accel_range_g", "must be one of"]),
    ("[imu]\nenabled = 1\n", ["[imu] enabled", "wrong type", "true/false"]),
    ("[imu]\nbus = true\n", ["[imu] bus", "wrong type"]),
    ("[imux]\nbus = 1\n", ["[imux]", "unknown section"]),
    ("imu = 3\n", ["'imu' must be a table"]),
    ("[imu\n", ["not valid TOML"]),
])
def test_each_problem_names_file_and_key(tmp_path, text, fragments):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert len(info.value.problems) == 1
    message = info.value.problems[0]
    assert message.startswith(str(path))
    for fragment in fragments:
        assert fragment in message


def test_missing_required_key_is_reported(monkeypatch, tmp_path):
    from liftguard import config as config_module
    from liftguard.config import _REQUIRED, Key
    schema = {**SCHEMA, "database": {**SCHEMA["database"], "dsn": Key(str, _REQUIRED)}}
    monkeypatch.setattr(config_module, "SCHEMA", schema)
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, "[logging]\nlevel = 'INFO'\n"))
    assert info.value.problems == [f"{tmp_path / 'config.toml'}: [database] dsn is required but missing"]


def test_all_problems_reported_together(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, "[imu]\nbus = 99\nsample_rate_hz = 0\n[api]\nport = 0\n"))
    keys = " ".join(info.value.problems)
    assert "[imu] bus" in keys and "[imu] sample_rate_hz" in keys and "[api] port" in keys


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml")


def test_example_config_is_valid_and_documents_the_defaults():
    example = load_config(REPO / "config.example.toml")
    defaults = load_config(None)
    for section, keys in SCHEMA.items():
        for key in keys:
            if (section, key) == ("device", "id"):
                continue  # commented out in the example: it defaults to the hostname
            assert example.get(f"{section}.{key}") == defaults.get(f"{section}.{key}"), (section, key)


def test_float_key_accepts_integer(tmp_path):
    cfg = load_config(write(tmp_path, "[simulator]\nathlete_mass_kg = 90\n"))
    assert cfg.get("simulator.athlete_mass_kg") == 90


def test_data_path_defaults_under_data_dir(tmp_path):
    cfg = load_config(write(tmp_path, f"[device]\ndata_dir = '{tmp_path}'\n"))
    assert cfg.data_path("", "imu-calibration.json") == tmp_path / "imu-calibration.json"
    assert cfg.data_path("/x/y.json", "imu-calibration.json") == Path("/x/y.json")


def test_cli_exits_2_on_bad_config(tmp_path, capsys):
    path = write(tmp_path, "[imu]\nsample_rate_hz = 5000\n")
    assert main(["--config", str(path), "config", "check"]) == 2
    err = capsys.readouterr().err
    assert "[imu] sample_rate_hz" in err and str(path) in err


def test_cli_config_check_ok(tmp_path, capsys):
    path = write(tmp_path, "[imu]\nsample_rate_hz = 400\n")
    assert main(["--config", str(path), "config", "check"]) == 0
    assert "OK" in capsys.readouterr().out


def test_console_script_help_and_exit_codes():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    ok = subprocess.run([sys.executable, "-m", "liftguard", "--help"], capture_output=True,
                        text=True, env=env, cwd=REPO)
    assert ok.returncode == 0 and "COMMAND" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "liftguard", "no-such-command"],
                         capture_output=True, text=True, env=env, cwd=REPO)
    assert bad.returncode == 2


def test_every_subcommand_has_help():
    import argparse

    from liftguard.cli import build_parser
    parser = build_parser("*")
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert sub.choices, "no subcommands registered"
    for name, subparser in sub.choices.items():
        assert subparser.format_help().startswith("usage: liftguard " + name), name


def test_cross_key_problem_names_both_keys(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, "[feedback]\nalert_on = 0.5\nalert_off = 0.7\n"))
    (message,) = info.value.problems
    assert message.startswith(str(tmp_path)) and "alert_off" in message and "alert_on" in message
