"""The box's processes (`liftguard run`, `demo`, `status`) load no evaluation, training or
web code: checked over ``sys.modules`` of a real process started through the entry point."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.support.daemon_helpers import free_port

REPO = Path(__file__).resolve().parents[2]
FORBIDDEN = ("evaluation", "models.anomaly.training", "models.anomaly.autoencoder_training",
             "tensorflow", "keras", "flask", "werkzeug", "coach", "matplotlib")
# Runs the CLI as `python -m liftguard` does, then prints the modules it loaded.
LOADED = ("import sys, runpy, json; sys.argv = ['liftguard', *sys.argv[1:]]\n"
          "try:\n    runpy.run_module('liftguard', run_name='__main__')\n"
          "except SystemExit as exc:\n    code = exc.code\n"
          "print(json.dumps({'code': code, 'modules': sorted(sys.modules)}))")


def forbidden(modules: list[str]) -> list[str]:
    return [m for m in modules if m.startswith(FORBIDDEN) and
            (m in FORBIDDEN or m.split(".")[0] in FORBIDDEN or
             any(m.startswith(f + ".") for f in FORBIDDEN))]


def report(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def test_the_check_sees_what_a_command_loads():
    """``evaluate --help`` loads that command's module; the filter names what it must."""
    out = subprocess.run([sys.executable, "-c", LOADED, "evaluate", "--help"],
                         capture_output=True, text=True, cwd=REPO, timeout=120)
    assert "liftguard.commands.evaluate" in report(out.stdout)["modules"]
    assert forbidden(["evaluation.metrics", "coach.server", "tensorflow", "models.anomaly.training",
                      "sync.chunks"]) == ["evaluation.metrics", "coach.server", "tensorflow",
                                          "models.anomaly.training"]


def test_status_loads_no_evaluation_training_or_web_code(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(f"[api]\nport = {free_port()}\n")
    out = subprocess.run([sys.executable, "-c", LOADED, "--config", str(config), "status"],
                         capture_output=True, text=True, cwd=REPO, timeout=120)
    got = report(out.stdout)
    assert got["code"] == 1, out.stderr       # no daemon on that port
    assert forbidden(got["modules"]) == []


def test_demo_loads_no_evaluation_training_or_web_code(tmp_path):
    env = dict(os.environ, LIFTGUARD_DEMO_DIR=str(tmp_path / "demo"))
    out = subprocess.run([sys.executable, "-c", LOADED, "demo", "--fast", "--reps", "3"],
                         capture_output=True, text=True, cwd=REPO, env=env, timeout=300)
    got = report(out.stdout)
    assert got["code"] in (0, None), out.stderr[-3000:]
    assert "edge_agent.daemon.app" in got["modules"]
    assert forbidden(got["modules"]) == []


def test_run_loads_no_evaluation_training_or_web_code(tmp_path):
    port = free_port()
    config = tmp_path / "box.toml"
    pins = "\n".join(f"{k} = -1" for k in ("buzzer_pin", "green_led_pin", "amber_led_pin",
                                           "red_led_pin", "button_pin"))
    config.write_text(f'[device]\ndata_dir = "{tmp_path / "data"}"\nsecrets_file = ""\n'
                      f'[source]\nkind = "simulator"\n[api]\nport = {port}\n'
                      f'[feedback]\n{pins}\n')
    proc = subprocess.Popen([sys.executable, "-c", LOADED, "--config", str(config), "run"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=2) as r:
                    if json.load(r)["ready"]:
                        break
            except OSError:
                assert proc.poll() is None, proc.stderr.read()[-3000:]
                time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    got = report(stdout)
    assert got["code"] in (0, None), stderr[-3000:]
    assert "edge_agent.daemon.app" in got["modules"]
    assert forbidden(got["modules"]) == []
