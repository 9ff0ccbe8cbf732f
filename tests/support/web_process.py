"""The coach app as deployed: `liftguard web --config FILE` (gunicorn) in a subprocess, its
secrets in the environment, and a small cookie-keeping HTTP client that reads CSRF tokens
from forms the way a browser submits them. Also a real SMTP server on a loopback port
(aiosmtpd) that keeps what it receives."""
from __future__ import annotations

import email
import email.policy
import http.cookiejar
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from tests.support.services import PgDatabase, free_port, port_accepts
from tests.support.web_support import TEST_SECRET_KEY, WEB_ROLE, WEB_ROLE_PASSWORD, csrf_token

REPO = Path(__file__).resolve().parents[2]


class LiftguardWeb:
    """``with LiftguardWeb(tmp_path, db, extra_web="...") as web:`` serves on ``web.url``;
    ``web.output`` holds everything it logged once it has stopped."""

    def __init__(self, tmp_path: Path, db: PgDatabase, extra_web: str = "",
                 env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        secrets = tmp_path / "web-secrets.toml"
        secrets.write_text("")
        secrets.chmod(0o600)
        self.config = tmp_path / "web.toml"
        dsn = db.dsn_for(WEB_ROLE, None)  # the password comes from the secrets, as deployed
        self.config.write_text(
            f'[device]\nsecrets_file = "{secrets}"\n[database]\ndsn = "{dsn}"\n'
            f'[web]\nworkers = 1\nthreads = 2\nsecure_cookies = false\n{extra_web}')
        self.env = {**os.environ, "PYTHONPATH": str(REPO),
                    "LIFTGUARD_WEB_SECRET_KEY": TEST_SECRET_KEY,
                    "LIFTGUARD_DATABASE_PASSWORD": WEB_ROLE_PASSWORD, **(env or {})}
        self.output = ""
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> "LiftguardWeb":
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "liftguard.cli", "--config", str(self.config), "web",
             "--port", str(self.port)], env=self.env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 60
        while not port_accepts(self.port):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise AssertionError(f"liftguard web did not start:\n{self.output}")
            time.sleep(0.1)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._proc is not None
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
        self.output, _ = self._proc.communicate(timeout=60)

    def browser(self, forwarded_for: str | None = None) -> "Browser":
        return Browser(self.url, forwarded_for)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@dataclass
class Answer:
    status: int
    headers: Any
    text: str


class Browser:
    """Cookies kept, redirects not followed (the test looks at them)."""

    def __init__(self, base: str, forwarded_for: str | None = None) -> None:
        self.base = base
        self.forwarded_for = forwarded_for
        self.jar = http.cookiejar.CookieJar()
        self._opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar),
                                                   _NoRedirect())

    def request(self, path: str, data: dict[str, str] | None = None) -> Answer:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        req = urllib.request.Request(self.base + path, data=body)
        if self.forwarded_for:
            req.add_header("X-Forwarded-For", self.forwarded_for)
        try:
            with self._opener.open(req, timeout=30) as response:
                return Answer(response.status, response.headers, response.read().decode())
        except urllib.error.HTTPError as exc:
            return Answer(exc.code, exc.headers, exc.read().decode())

    def get(self, path: str) -> Answer:
        return self.request(path)

    def post_form(self, path: str, data: dict[str, str], token_from: str | None = None) -> Answer:
        page = self.get(token_from or path)
        assert page.status == 200, f"GET {token_from or path} -> {page.status}"
        return self.request(path, {**data, "csrf_token": csrf_token(page.text)})

    def login(self, email_address: str, password: str) -> Answer:
        return self.post_form("/login", {"email": email_address, "password": password})


@dataclass
class Inbox:
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content,
                                                      policy=email.policy.default))
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"

    def links(self) -> list[str]:
        found = []
        for msg in self.messages:
            body = msg.get_body(("plain",)).get_content()
            found += [w for w in body.split() if "/signup?invite=" in w]
        return found


class SmtpSink:
    """A real SMTP server (aiosmtpd) on a free loopback port; ``inbox`` keeps the mail. With
    ``login=(user, password)`` it takes mail only after AUTH with exactly those (plain text is
    fine on loopback)."""

    def __init__(self, login: tuple[str, str] | None = None) -> None:
        from aiosmtpd.controller import Controller

        self.port = free_port()
        self.inbox = Inbox()
        self.logins: list[tuple[str, bool]] = []
        auth: dict[str, Any] = {}
        if login is not None:
            auth = {"authenticator": self._authenticator(login), "auth_required": True,
                    "auth_require_tls": False}
        self._controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port, **auth)

    def _authenticator(self, login: tuple[str, str]) -> Any:
        from aiosmtpd.smtp import AuthResult, LoginPassword

        def check(server: Any, session: Any, envelope: Any, mechanism: str,
                  auth_data: Any) -> AuthResult:
            ok = (isinstance(auth_data, LoginPassword)
                  and (auth_data.login.decode(), auth_data.password.decode()) == login)
            self.logins.append((auth_data.login.decode(), ok))
            return AuthResult(success=ok)
        return check

    def __enter__(self) -> "SmtpSink":
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()
