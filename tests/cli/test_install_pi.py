"""scripts/install-pi against a scratch root: files, modes, idempotency, operator edits kept;
and --dry-run changes nothing."""
from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "install-pi"


def run(*args: str) -> subprocess.CompletedProcess:
    out = subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    return out


def tree(root: Path) -> dict[str, tuple[int, int, bytes | None]]:
    """Every path under root: (mode, mtime_ns, contents of files)."""
    out = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        out[str(path.relative_to(root))] = (st.st_mode, st.st_mtime_ns,
                                             path.read_bytes() if path.is_file() else None)
    return out


@pytest.fixture
def pi_root(tmp_path):
    (tmp_path / "boot" / "firmware").mkdir(parents=True)
    (tmp_path / "boot" / "firmware" / "config.txt").write_text("[all]\ndtoverlay=vc4-kms-v3d\n")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "modules").write_text("# modules\n")
    return tmp_path


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_install_into_a_scratch_root(pi_root):
    out = run("--root", str(pi_root), "--skip-venv")
    etc = pi_root / "etc" / "liftguard"
    assert (etc / "config.toml").read_text() == (REPO / "config.example.toml").read_text()
    assert mode(etc / "secrets.toml") == 0o600 and mode(etc) == 0o750
    assert "bundle_key" in (etc / "secrets.toml").read_text()
    assert mode(pi_root / "var" / "lib" / "liftguard") == 0o700
    unit = pi_root / "etc" / "systemd" / "system" / "liftguard-agent.service"
    assert unit.read_text() == (REPO / "systemd" / "liftguard-agent.service").read_text()
    boot = (pi_root / "boot" / "firmware" / "config.txt").read_text().splitlines()
    assert "dtparam=i2c_arm=on" in boot and "enable_uart=1" in boot
    assert "i2c-dev" in (pi_root / "etc" / "modules").read_text().splitlines()
    assert (pi_root / "opt" / "liftguard" / "docs" / "operations.md").is_file()
    # what acts on the running system is printed, not run
    for command in ("useradd --system", "usermod -a -G i2c,gpio,dialout liftguard"):
        assert f"skipped (--root): {command}" in out.stdout
    assert "Next steps" in out.stdout


def test_the_unit_is_enabled_and_liftguard_is_on_path(pi_root):
    """Enabling is the multi-user.target.wants link (what `systemctl enable` makes, offline
    too), and it counts as a change; `liftguard` is linked into /usr/local/bin."""
    out = run("--root", str(pi_root), "--skip-venv")
    wants = (pi_root / "etc" / "systemd" / "system" / "multi-user.target.wants"
             / "liftguard-agent.service")
    assert os.readlink(wants) == "/etc/systemd/system/liftguard-agent.service"
    assert "install-pi: enable liftguard-agent.service" in out.stdout
    link = pi_root / "usr" / "local" / "bin" / "liftguard"
    assert os.readlink(link) == "/opt/liftguard/venv/bin/liftguard"
    made = [line for line in out.stdout.splitlines()
            if line.startswith("install-pi: ") and any(
                line.startswith(f"install-pi: {verb} ") for verb in
                ("create", "write", "add", "link", "enable", "chmod", "update"))]
    assert f"done: {len(made)} change(s)" in out.stdout
    again = run("--root", str(pi_root), "--skip-venv")
    assert "liftguard-agent.service is enabled" in again.stdout
    assert "done: 0 change(s)" in again.stdout


def test_next_steps_use_liftguard_on_path(pi_root):
    out = run("--dry-run", "--root", str(pi_root))
    steps = out.stdout.split("Next steps:")[1]
    assert "venv/bin/liftguard --config" not in steps
    assert "sudo -u liftguard liftguard sensors check" in steps
    assert "liftguard feedback check --play" in steps


def test_help_is_the_usage_text_only():
    out = run("--help")
    assert "set -euo pipefail" not in out.stdout and "#" not in out.stdout
    assert out.stdout.startswith("Install liftguard on a Raspberry Pi")
    assert "--log-to-ram" in out.stdout.splitlines()[-1]


def test_second_run_changes_nothing_and_keeps_operator_edits(pi_root):
    run("--root", str(pi_root), "--skip-venv")
    config = pi_root / "etc" / "liftguard" / "config.toml"
    secrets = pi_root / "etc" / "liftguard" / "secrets.toml"
    config.write_text(config.read_text() + '\n[api]\nport = 9000\n')
    secrets.write_text('api_token = "operator-made"\n')
    before = tree(pi_root)
    out = run("--root", str(pi_root), "--skip-venv")
    assert tree(pi_root) == before
    assert "done: 0 change(s)" in out.stdout
    assert "port = 9000" in config.read_text() and "operator-made" in secrets.read_text()
    boot = (pi_root / "boot" / "firmware" / "config.txt").read_text()
    assert boot.count("enable_uart=1") == 1


def test_changed_unit_is_updated_on_the_next_run(pi_root):
    run("--root", str(pi_root), "--skip-venv")
    unit = pi_root / "etc" / "systemd" / "system" / "liftguard-agent.service"
    unit.write_text("[Service]\nExecStart=/bin/false\n")
    out = run("--root", str(pi_root), "--skip-venv")
    assert unit.read_text() == (REPO / "systemd" / "liftguard-agent.service").read_text()
    assert "update /etc/systemd/system/liftguard-agent.service" in out.stdout
    assert "skipped (--root): systemctl daemon-reload" in out.stdout


def test_dry_run_changes_nothing(pi_root):
    before = tree(pi_root)
    out = run("--dry-run", "--root", str(pi_root), "--log-to-ram")
    assert tree(pi_root) == before
    assert "would run: install -m 0600" in out.stdout and "python3 -m venv" in out.stdout
    assert "would run: apt-get install -y --no-install-recommends python3 python3-venv" in out.stdout
    assert "journald.conf.d/liftguard.conf" in out.stdout
    assert "(dry run)" in out.stdout


def test_log_to_ram_writes_a_journald_drop_in(pi_root):
    run("--root", str(pi_root), "--skip-venv", "--log-to-ram")
    dropin = pi_root / "etc" / "systemd" / "journald.conf.d" / "liftguard.conf"
    assert "Storage=volatile" in dropin.read_text().splitlines()


def test_bad_arguments_are_refused(tmp_path):
    out = subprocess.run(["bash", str(SCRIPT), "--bogus"], capture_output=True, text=True)
    assert out.returncode == 2 and "unknown option --bogus" in out.stderr
    out = subprocess.run(["bash", str(SCRIPT), "--root", str(tmp_path / "nope")],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "no such directory" in out.stderr
    assert os.access(SCRIPT, os.X_OK)


def test_next_steps_name_a_model_command_that_works(pi_root):
    """The closing model hint is a full command (no bare BUNDLE placeholder) and says the
    shipped bundle decides until another is installed."""
    out = run("--dry-run", "--root", str(pi_root))
    assert "model install BUNDLE" not in out.stdout
    assert "shipped with liftguard decides" in out.stdout
    assert "model list" in out.stdout
