"""Serving the app with gunicorn (``liftguard web``).

Each worker builds its own app and connection pool after the fork. The access log leaves out
query strings and referrers: an invitation link carries its token in the query.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

from gunicorn.app.base import BaseApplication

from coach.settings import WebSettings
from sync.netaddr import is_loopback

log = logging.getLogger(__name__)

ACCESS_LOG_FORMAT = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'


class _Server(BaseApplication):
    def __init__(self, factory: Callable[[], Any], options: dict[str, Any]) -> None:
        self._factory = factory
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return self._factory()


def bind_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def gunicorn_options(settings: WebSettings, host: str, port: int, workers: int,
                     threads: int) -> dict[str, Any]:
    options: dict[str, Any] = {
        "bind": [bind_address(host, port)],
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread" if threads > 1 else "sync",
        "proc_name": "liftguard-web",
        "accesslog": "-",
        "errorlog": "-",
        "access_log_format": ACCESS_LOG_FORMAT,
        "timeout": 30,
        "graceful_timeout": 20,
        "limit_request_line": 8190,
        "limit_request_fields": 100,
    }
    if settings.proxy_hops:
        options["forwarded_allow_ips"] = "127.0.0.1,::1"
    return options


def serve(settings: WebSettings, host: str, port: int, workers: int, threads: int) -> None:
    """Run gunicorn in the foreground until SIGTERM/SIGINT."""
    from coach import create_app

    if not is_loopback(host):
        log.warning("web app binds %s, not localhost: keep it behind a TLS reverse proxy "
                    "(docs/web.md)", host)
    if not settings.secure_cookies:
        log.warning("[web] secure_cookies = false: the session cookie also travels over "
                    "plain HTTP")
    if settings.sends_mail and settings.smtp_security == "none" \
            and not is_loopback(settings.smtp_host):
        log.warning("[web] smtp_security = \"none\" towards %s: invitation links (and the SMTP "
                    "password) cross the network unencrypted", settings.smtp_host)
    if not settings.sends_mail:
        log.info("no [web] smtp_host: invitation links are shown to the inviter, and only an "
                 "admin's link can give a password to an existing account")
    log.info("coach web app on http://%s/ (%d workers x %d threads)",
             bind_address(host, port), workers, threads)
    options = gunicorn_options(settings, host, port, workers, threads)
    _Server(lambda: create_app(settings), options).run()
