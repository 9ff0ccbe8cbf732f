"""Ctrl-C / SIGTERM in `liftguard demo` and `replay --realtime`: the session is ended and
analysed, the summary printed, exit 130 (SIGINT) or 0 (SIGTERM); `--duration` with --fast."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edge_agent.store.reader import StoreReader
from sensors.recording import write_recording
from sensors.simulator import simulate_set

REPO = Path(__file__).resolve().parents[2]


def start(argv: list[str], out: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=str(REPO))
    return subprocess.Popen([sys.executable, "-m", "liftguard", *argv], stdout=out.open("w"),
                            stderr=subprocess.STDOUT, env=env, cwd=REPO)


def wait_for_text(path: Path, pattern: str, proc: subprocess.Popen, limit_s: float = 90) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline and proc.poll() is None:
        if re.search(pattern, path.read_text()):
            return
        time.sleep(0.1)
    raise AssertionError(f"no {pattern!r} in output: {path.read_text()[-2000:]}")


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 0)])
def test_signal_during_demo_ends_the_session_and_prints_the_summary(tmp_path, sig, code):
    out = tmp_path / "out.txt"
    data = tmp_path / "data"
    proc = start(["demo", "--reps", "8", "--data-dir", str(data)], out)
    try:
        wait_for_text(out, r"rep 1: ", proc)
        proc.send_signal(sig)
        assert proc.wait(timeout=60) == code, out.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
    text = out.read_text()
    assert "Traceback" not in text
    assert text.count("summary: Set of") >= 1 and f"stopped by {sig.name}" in text
    sid = re.search(r"session ([0-9a-f-]{36}):", text).group(1)
    with StoreReader(data) as store:
        session = store.get_session(sid)
    assert session["status"] == "ended" and session["end_reason"] == "shutdown"


def test_sigint_during_replay_realtime(tmp_path):
    rec = write_recording(tmp_path / "rec.csv", simulate_set(reps=6, seed=2).frames)
    out = tmp_path / "out.txt"
    proc = start(["replay", str(rec), "--realtime", "--data-dir", str(tmp_path / "d")], out)
    try:
        wait_for_text(out, r"rep 1: ", proc)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 130, out.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
    text = out.read_text()
    assert "Traceback" not in text and "through the daemon: session" in text


def test_demo_duration_is_honoured_with_fast_and_later_faults_are_not_listed(tmp_path):
    out = subprocess.run([sys.executable, "-m", "liftguard", "demo", "--fast", "--duration",
                          "8", "--faults", "tilt@4", "--data-dir", str(tmp_path / "d")],
                         capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    seconds = float(re.search(r": ([\d.]+) s of sensor data", out.stdout).group(1))
    assert 7.5 <= seconds <= 8.5
    assert "injected tilt" not in out.stdout
    hint = re.search(r"see it with: liftguard (.+)$", out.stdout, re.M).group(1).split()
    shown = subprocess.run([sys.executable, "-m", "liftguard", *hint], capture_output=True,
                           text=True, cwd=REPO, timeout=60)
    assert shown.returncode == 0 and "session " in shown.stdout, shown.stderr


def test_each_feedback_line_and_the_summary_appear_once_and_gpio_fallbacks_are_one_line(tmp_path):
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=str(REPO))
    env.pop("GPIOZERO_PIN_FACTORY", None)
    out = subprocess.run([sys.executable, "-m", "liftguard", "demo", "--fast", "--reps", "3",
                          "--faults", "tilt@2", "--data-dir", str(tmp_path / "d")],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stdout[-2000:]
    text = out.stdout
    assert text.count("rep 1: ") == 1, text
    assert text.count("Set of 3 squats") == 1, text
    assert "PinFactoryFallback" not in text
