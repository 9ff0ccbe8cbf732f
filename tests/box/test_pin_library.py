"""Which pin library drives the buzzer, LEDs and button (edge_agent.feedback.pin_library),
through `liftguard feedback check` and `liftguard run`.

Two seams: gpiozero's MockFactory (the real Buzzer/LED objects on mock pins), and, lowest, a
stand-in ``lgpio`` module put first on the path of a liftguard subprocess: an importable one
that records the calls gpiozero makes into it, and one whose import fails as on a box whose
venv lacks lgpio. Neither depends on whether this machine is a Raspberry Pi.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from liftguard import cli
from tests.support.daemon_helpers import free_port, wait_for

BUZZER, GREEN, AMBER, RED, BUTTON = 5, 6, 13, 19, 26

# An importable lgpio: every call gpiozero makes is appended to $FAKE_LGPIO_CALLS, and
# answers 0 (a handle, a level, success). Like the real one, it makes its notification pipe
# in $LG_WD (else the working directory) as it is imported.
RECORDING_LGPIO = textwrap.dedent("""
    import os

    with open(os.environ["FAKE_LGPIO_CALLS"], "a") as log:
        log.write(f"import LG_WD={os.environ.get('LG_WD')} cwd={os.getcwd()}\\n")
    open(os.path.join(os.environ.get("LG_WD", os.getcwd()), ".lgd-nfy0"), "w").close()

    class error(Exception):
        pass

    def __getattr__(name):
        if name.startswith("__"):
            raise AttributeError(name)
        if name.isupper():
            return 0
        def call(*args, **kwargs):
            with open(os.environ["FAKE_LGPIO_CALLS"], "a") as log:
                log.write(f"{name}{args}\\n")
            return 0
        return call
""")
# lgpio as on a box without it: the import fails, whatever this machine has installed.
MISSING_LGPIO = "raise ModuleNotFoundError(\"No module named 'lgpio'\", name='lgpio')\n"
# lgpio where it cannot write its notification pipe (what the real one raises).
NO_PIPE_LGPIO = "raise FileNotFoundError(2, 'No such file or directory', '.lgd-nfy-3')\n"


def write_config(tmp_path: Path, **extra: str) -> Path:
    cfg = tmp_path / "config.toml"
    cfg.write_text(textwrap.dedent(f"""
        [device]
        id = "pin-box"
        data_dir = "{tmp_path / 'data'}"
        secrets_file = ""
        [feedback]
        buzzer_pin = {BUZZER}
        green_led_pin = {GREEN}
        amber_led_pin = {AMBER}
        red_led_pin = {RED}
        button_pin = {BUTTON}
    """) + "".join(f"[{k}]\n{v}\n" for k, v in extra.items()))
    return cfg


def stand_in(tmp_path: Path, source: str) -> dict[str, str]:
    """Environment for a liftguard subprocess that imports ``source`` as lgpio."""
    site = tmp_path / "stand-in"
    site.mkdir()
    (site / "lgpio.py").write_text(source)
    env = {k: v for k, v in os.environ.items() if k != "GPIOZERO_PIN_FACTORY"}
    env.update(PYTHONPATH=os.pathsep.join([str(site), env.get("PYTHONPATH", "")]),
               FAKE_LGPIO_CALLS=str(tmp_path / "lgpio-calls"), PYTHONUNBUFFERED="1")
    return env


def liftguard(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "liftguard", *args], env=env,
                          cwd=Path(env["FAKE_LGPIO_CALLS"]).parent, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def mock_pins(mock_factory):
    for pin in (BUZZER, GREEN, AMBER, RED):
        mock_factory.pin(pin).clear_states()
    return mock_factory


def pulses(pin) -> int:
    """Low-to-high changes recorded on a mock pin."""
    levels = [state for _, state in pin.states]
    return sum(1 for a, b in zip(levels, levels[1:]) if not a and b)


def test_feedback_check_play_pulses_every_output_on_mock_pins(tmp_path, mock_pins, capsys):
    cfg = write_config(tmp_path)
    code = cli.main(["--config", str(cfg), "feedback", "check", "--play"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "OK   pin library: mock" in out
    assert (f"buzzer on GPIO {BUZZER}, green on GPIO {GREEN}, amber on GPIO {AMBER}, "
            f"red on GPIO {RED}") in out
    assert f"session button: GPIO {BUTTON}, released now" in out
    for pin in (BUZZER, GREEN, AMBER, RED):
        assert pulses(mock_pins.pin(pin)) == 2, (pin, mock_pins.pin(pin).states)
    assert "test pattern played" in out


def test_feedback_check_without_play_leaves_the_outputs_quiet(tmp_path, mock_pins, capsys):
    assert cli.main(["--config", str(write_config(tmp_path)), "feedback", "check"]) == 0
    assert all(pulses(mock_pins.pin(p)) == 0 for p in (BUZZER, GREEN, AMBER, RED))
    assert "playing" not in capsys.readouterr().out


def test_lgpio_is_picked_when_it_can_be_imported(tmp_path):
    env = stand_in(tmp_path, RECORDING_LGPIO)
    out = liftguard(env, "--config", str(write_config(tmp_path)), "feedback", "check")
    assert "pin library: lgpio (/dev/gpiochip" in out.stdout, out.stdout + out.stderr
    calls = (tmp_path / "lgpio-calls").read_text().splitlines()
    assert calls[1] in ("gpiochip_open(0,)", "gpiochip_open(4,)")
    assert "not installed" not in out.stdout


def test_lgpio_makes_its_pipe_in_the_data_directory(tmp_path):
    """Run from a directory the liftguard user may not write (an operator's home, /), lgpio
    would fail to import: without LG_WD, liftguard points it at the data directory."""
    (tmp_path / "data").mkdir()
    env = stand_in(tmp_path, RECORDING_LGPIO)
    env.pop("LG_WD", None)
    liftguard(env, "--config", str(write_config(tmp_path)), "feedback", "check")
    first = (tmp_path / "lgpio-calls").read_text().splitlines()[0]
    assert first.startswith(f"import LG_WD={tmp_path / 'data'} ")
    assert (tmp_path / "data" / ".lgd-nfy0").exists()


def test_lgpio_that_cannot_make_its_pipe_is_named(tmp_path):
    env = stand_in(tmp_path, NO_PIPE_LGPIO)
    out = liftguard(env, "--config", str(write_config(tmp_path)), "feedback", "check")
    assert out.returncode == 1
    assert "lgpio could not make its notification pipe" in out.stdout
    assert "set LG_WD to a directory this user can write" in out.stdout


def test_a_missing_lgpio_is_named_and_the_check_fails(tmp_path):
    env = stand_in(tmp_path, MISSING_LGPIO)
    out = liftguard(env, "--config", str(write_config(tmp_path)), "feedback", "check")
    assert out.returncode == 1
    assert "FAIL pin library: lgpio unavailable: the Python module lgpio is not installed" \
        in out.stdout
    assert "pip install lgpio" in out.stdout and "the buzzer cannot sound" in out.stdout


def test_a_pin_library_named_in_the_environment_that_does_not_exist_is_named(tmp_path):
    env = dict(os.environ, GPIOZERO_PIN_FACTORY="nonesuch",
               FAKE_LGPIO_CALLS=str(tmp_path / "lgpio-calls"))
    out = liftguard(env, "--config", str(write_config(tmp_path)), "feedback", "check")
    assert out.returncode == 1
    assert "GPIOZERO_PIN_FACTORY=nonesuch names no gpiozero pin library" in out.stdout


def test_every_pin_disabled_needs_no_pin_library(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text(write_config(tmp_path).read_text().replace(f"= {BUZZER}\n", "= -1\n")
                   .replace(f"= {GREEN}\n", "= -1\n").replace(f"= {AMBER}\n", "= -1\n")
                   .replace(f"= {RED}\n", "= -1\n").replace(f"= {BUTTON}\n", "= -1\n"))
    out = liftguard(stand_in(tmp_path, MISSING_LGPIO), "--config", str(cfg), "feedback", "check")
    assert out.returncode == 0 and "console only" in out.stdout


def test_the_daemon_says_plainly_that_the_buzzer_cannot_sound(tmp_path):
    """`liftguard run` without lgpio keeps running (console feedback), and its log names the
    missing library; with one, it names the library that drives the pins."""
    cfg = write_config(tmp_path, source='kind = "simulator"', api=f"port = {free_port()}")
    for source, expected in ((MISSING_LGPIO, "the buzzer cannot sound"),
                             (RECORDING_LGPIO, "GPIO pins driven by lgpio (/dev/gpiochip")):
        log = tmp_path / f"run-{len(expected)}.log"
        site = tmp_path / "stand-in"
        if site.exists():
            (site / "lgpio.py").unlink()
            site.rmdir()
        proc = subprocess.Popen([sys.executable, "-m", "liftguard", "--config", str(cfg), "run"],
                                env=stand_in(tmp_path, source), cwd=tmp_path,
                                stdout=log.open("wb"),
                                stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: "liftguard ready" in log.read_text() or proc.poll() is not None,
                     what="daemon ready")
        finally:
            proc.terminate()
            proc.wait(timeout=60)
        text = log.read_text()
        assert expected in text, text
        if source is MISSING_LGPIO:
            assert "the Python module lgpio is not installed" in text
