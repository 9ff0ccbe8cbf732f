"""The CLI's shape: light start-up, global options anywhere, --version, interrupted start-up."""
from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from liftguard import __version__
from liftguard.cli import COMMANDS, build_parser, command_in

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("numpy", "sklearn", "scipy", "gpiozero", "edge_agent.daemon", "models")


def cli(*argv: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "liftguard", *argv], capture_output=True,
                          text=True, cwd=REPO, timeout=120, **kw)


@pytest.mark.parametrize("argv", [["--help"], ["status", "--help"], ["sessions", "--help"]])
def test_light_commands_import_nothing_heavy(argv):
    code = ("import sys, runpy; sys.argv = ['liftguard', *sys.argv[1:]]\n"
            "try:\n    runpy.run_module('liftguard', run_name='__main__')\n"
            "except SystemExit:\n    pass\n"
            "import json; print(json.dumps(sorted(m for m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True,
                         cwd=REPO, timeout=60)
    loaded = set(json.loads(out.stdout.strip().splitlines()[-1]))
    assert not [m for m in loaded if m.split(".")[0] in HEAVY or m in HEAVY
                or m.startswith("edge_agent.daemon")], argv


def test_status_without_a_daemon_imports_nothing_heavy(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("[api]\nport = 9\n")
    code = ("import sys\nfrom liftguard.cli import main\nrc = main(['--config', sys.argv[1], "
            "'status'])\nprint(rc, 'numpy' in sys.modules, 'sklearn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(config)], capture_output=True,
                         text=True, cwd=REPO, timeout=60)
    assert out.stdout.split()[-2:] == ["False", "False"], out.stdout + out.stderr


def test_static_help_texts_are_what_each_command_registers():
    for name, (module, help_text) in COMMANDS.items():
        sub = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(f"liftguard.commands.{module}").register(sub)
        assert [a.help for a in sub._choices_actions if a.dest == name] == [help_text], name


def _parsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _parsers(child, path + (name,))


def test_every_subcommand_accepts_config_and_log_level_after_it():
    for path, parser in _parsers(build_parser("*")):
        options = {o for a in parser._actions for o in a.option_strings}
        assert {"--config", "--log-level"} <= options, path


def test_config_after_the_subcommand_is_used(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[nosuchsection]\nx = 1\n")
    for argv in (["sessions", "list", "--config", str(bad)], ["--config", str(bad), "sessions", "list"],
                 ["run", "--config", str(bad)], ["status", "--config", str(bad), "--log-level", "ERROR"]):
        out = cli(*argv)
        assert out.returncode == 2 and str(bad) in out.stderr, (argv, out.stderr)


def test_option_after_the_command_wins_and_before_is_kept(tmp_path):
    args = build_parser("status").parse_args(["--config", "a.toml", "status"])
    assert args.config == "a.toml" and args.log_level is None
    args = build_parser("status").parse_args(["--config", "a.toml", "status", "--config", "b.toml"])
    assert args.config == "b.toml"
    assert command_in(["--config", "x.toml", "--log-level", "INFO", "sessions", "list"]) == "sessions"


def test_version():
    out = cli("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"liftguard {__version__}"


def test_unknown_command_is_a_usage_error():
    out = cli("no-such-command")
    assert out.returncode == 2 and "invalid choice" in out.stderr


def test_ctrl_c_during_start_up_is_one_line_and_130(monkeypatch, capsys):
    from liftguard import cli as cli_module

    def interrupted(command):
        raise KeyboardInterrupt
    monkeypatch.setattr(cli_module, "build_parser", interrupted)
    assert cli_module.main(["status"]) == 130
    assert capsys.readouterr().err == "liftguard: interrupted\n"


@pytest.mark.parametrize("body,problem", [
    ('[source]\nkind = "replay"\n', "replay_file"),
    ('[source]\nkind = "replay"\nreplay_file = "/nonexistent/rec.csv"\n', "no such file"),
    ('[imu]\nenabled = false\n[loadcells]\nenabled = false\n', "both disabled"),
    ('[api]\nbind = "0.0.0.0"\n', "api_token"),
])
def test_config_check_applies_the_start_up_rules_run_applies(tmp_path, body, problem):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[device]\ndata_dir = "{tmp_path / "d"}"\nsecrets_file = ""\n' + body)
    env = {k: v for k, v in __import__("os").environ.items() if k != "LIFTGUARD_API_TOKEN"}
    checked = cli("config", "check", "--config", str(cfg), env=env)
    assert checked.returncode == 2 and problem in checked.stderr, checked.stderr
    ran = cli("run", "--config", str(cfg), env=env)
    assert ran.returncode == 2 and problem in ran.stderr, ran.stderr


def test_config_check_passes_a_good_config(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[device]\ndata_dir = "{tmp_path / "d"}"\nsecrets_file = ""\n'
                   '[source]\nkind = "simulator"\n')
    checked = cli("config", "check", "--config", str(cfg))
    assert checked.returncode == 0 and "OK" in checked.stdout, checked.stderr


def test_status_text_has_no_python_dicts():
    from liftguard.commands.status import human, pairs

    assert pairs({"imu": {"ring": 3, "crc": 0}, "platform": 0}) == "imu.ring 3"
    status = {"device_id": "b", "ready": True, "uptime_s": 5, "session": None,
              "sources": {}, "realtime": {"decisions": 1, "decision_latency_ms": None, "alerts": 0},
              "model": None, "model_reason": "rules", "drops": {"imu": {"ring": 2}},
              "disk": {"db_bytes": 1e6, "cap_bytes": 4e9, "raw_capture_paused": False},
              "sync_backlog": {"sensor_data": 4}, "sync": "direct", "sync_hold": None}
    text = human(status)
    assert "{" not in text and "drops: imu.ring 2" in text and "sync backlog: sensor_data 4" in text
    assert "sync: direct" in text
