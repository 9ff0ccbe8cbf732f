"""`liftguard web` (gunicorn, for real) and `liftguard web create-user`; the box never loads
the web app; the wheel ships it with its templates, and Flask only in the web extra."""
from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from liftguard.cli import main
from tests.support.services import free_port, port_accepts
from tests.support.web_support import TEST_SECRET_KEY, login, write_config

REPO = Path(__file__).resolve().parents[2]


def create_user(monkeypatch, cfg: Path, password: str, *, email="boss@example.org",
                role="admin") -> int:
    monkeypatch.setattr(sys, "stdin", io.StringIO(password + "\n"))
    return main(["--config", str(cfg), "web", "create-user", "--email", email,
                 "--first-name", "Bo", "--last-name", "Ss", "--role", role])


@pytest.mark.integration
def test_create_user_reads_the_password_from_stdin(monkeypatch, tmp_path, web_db, client,
                                                   capsys):
    cfg = write_config(tmp_path, web_db.dsn)
    assert create_user(monkeypatch, cfg, "a long enough secret") == 0
    assert "created admin boss@example.org" in capsys.readouterr().out
    assert login(client, "boss@example.org", "a long enough secret").status_code == 302
    assert "admin" in client.get("/profile").get_data(as_text=True)
    assert create_user(monkeypatch, cfg, "another long secret") == 1
    assert "exists already" in capsys.readouterr().err


@pytest.mark.integration
def test_create_user_refuses_bad_fields_with_exit_2(monkeypatch, tmp_path, web_db, db_conn,
                                                    capsys):
    cfg = write_config(tmp_path, web_db.dsn)
    assert create_user(monkeypatch, cfg, "short") == 2
    assert "password must be" in capsys.readouterr().err
    assert create_user(monkeypatch, cfg, "long enough pass", email="no-at-sign") == 2
    assert "email must look like" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        create_user(monkeypatch, cfg, "long enough pass", role="owner")
    assert exited.value.code == 2
    with db_conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM users")
        assert cur.fetchone()[0] == 0


def test_web_without_a_secret_key_exits_2_naming_it(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("LIFTGUARD_WEB_SECRET_KEY", raising=False)
    cfg = write_config(tmp_path, "host=127.0.0.1 dbname=x")
    assert main(["--config", str(cfg), "web"]) == 2
    assert "LIFTGUARD_WEB_SECRET_KEY" in capsys.readouterr().err


def test_web_config_section_is_validated(tmp_path, capsys):
    cfg = write_config(tmp_path, "host=127.0.0.1 dbname=x", 'signup = "everyone"\n')
    assert main(["--config", str(cfg), "web"]) == 2
    assert "[web] signup" in capsys.readouterr().err


@pytest.mark.integration
def test_liftguard_web_serves_with_gunicorn_and_stops_on_sigterm(tmp_path, web_db):
    port = free_port()
    cfg = write_config(tmp_path, web_db.dsn)
    env = {**os.environ, "PYTHONPATH": str(REPO), "LIFTGUARD_WEB_SECRET_KEY": TEST_SECRET_KEY}
    proc = subprocess.Popen([sys.executable, "-m", "liftguard.cli", "--config", str(cfg), "web",
                             "--port", str(port)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while not port_accepts(port):
            assert proc.poll() is None and time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.1)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=10) as response:
            assert response.status == 200
            assert b'name="csrf_token"' in response.read()
            cookie = response.headers["Set-Cookie"]
            assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie
            assert "default-src 'self'" in response.headers["Content-Security-Policy"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/signup?invite=SECRETTOKEN",
                                    timeout=10) as response:
            assert response.status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=40)
    assert proc.returncode == 0, output
    assert "GET /login" in output  # the access log
    assert "SECRETTOKEN" not in output  # query strings (invitation tokens) are not logged


def test_the_box_commands_never_import_the_web_app():
    code = ("import sys; from liftguard.cli import build_parser; build_parser(); "
            "import liftguard.commands.run, edge_agent.daemon; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('coach', 'flask', 'flask_wtf', 'gunicorn', 'werkzeug', 'matplotlib')); "
            "print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


def test_wheel_ships_the_web_app_and_keeps_flask_in_the_web_extra(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w",
                    str(tmp_path), str(REPO)], check=True, capture_output=True)
    wheel = zipfile.ZipFile(next(tmp_path.glob("liftguard-*.whl")))
    names = wheel.namelist()
    for name in ("coach/__init__.py", "coach/templates/base.html",
                 "coach/templates/auth/login.html", "coach/static/style.css",
                 "sync/schema/0005_web_accounts.sql"):
        assert name in names, name
    metadata = wheel.read(next(n for n in names if n.endswith("METADATA"))).decode()
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    for dep in ("flask", "flask-wtf", "gunicorn"):
        lines = [r for r in requires if r.lower().startswith(f"requires-dist: {dep}")]
        assert lines and all('extra == "web"' in r for r in lines), (dep, lines)


def test_wsgi_module_builds_the_app_from_liftguard_config(monkeypatch, tmp_path):
    import liftguard.wsgi

    cfg = write_config(tmp_path, "host=127.0.0.1 dbname=x", 'signup = "open"\n')
    monkeypatch.setenv("LIFTGUARD_CONFIG", str(cfg))
    monkeypatch.setenv("LIFTGUARD_WEB_SECRET_KEY", TEST_SECRET_KEY)
    app = liftguard.wsgi.app  # what `gunicorn liftguard.wsgi:app` loads
    assert app.config["COACH_SETTINGS"].signup == "open"
    assert app.config["SECRET_KEY"] == TEST_SECRET_KEY
    app.extensions["coach_db"].close()


def test_web_settings_take_the_command_broker_from_mqtt_and_its_password_from_secrets(tmp_path):
    from coach.settings import settings_from_config
    from liftguard.config import load_config
    from liftguard.secrets import Secrets

    base = ('[device]\nsecrets_file = ""\n[database]\ndsn = "host=db dbname=lg user=web"\n')
    path = tmp_path / "web.toml"
    path.write_text(base + '[mqtt]\nhost = "broker.lan"\nport = 8883\nusername = "liftguard-web"\n')
    secrets = Secrets({"web_secret_key": "k" * 40, "mqtt_password": "pw"}, {})
    mqtt = settings_from_config(load_config(str(path)), secrets).command_mqtt
    assert (mqtt.host, mqtt.port, mqtt.username, mqtt.password, mqtt.tls) == \
        ("broker.lan", 8883, "liftguard-web", "pw", True)
    path.write_text(base)
    assert settings_from_config(load_config(str(path)), secrets).command_mqtt is None
