"""The web app's settings: built from the `[web]` and `[database]` config sections plus the
secrets, or directly (tests, scripts). Secrets arrive here already resolved; this module never
reads the config file's text for them."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from coach.login_limits import Limits

SIGNUP_MODES = ("invitation", "open")
MIN_SECRET_KEY_CHARS = 32
SMTP_SECURITY = ("starttls", "tls", "none")


class SettingsError(ValueError):
    """A setting the web app cannot run with; the message names it."""


@dataclass(frozen=True)
class WebSettings:
    dsn: str
    secret_key: str
    db_password: str | None = None
    secure_cookies: bool = True
    signup: str = "invitation"
    pool_max: int = 4
    connect_timeout_s: int = 5
    statement_timeout_ms: int = 10_000
    session_hours: int = 12
    login_window_s: int = 3600
    login_free_failures_per_account_address: int = 3
    login_free_failures_per_address: int = 20
    login_max_delay_s: int = 900
    login_max_address_delay_s: int = 60
    invitation_days: int = 7
    page_size: int = 25
    proxy_hops: int = 0
    max_form_bytes: int = 64 * 1024
    public_url: str = ""
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_security: str = "starttls"
    smtp_user: str = ""
    smtp_password: str | None = field(default=None, repr=False)
    smtp_from: str = ""
    smtp_timeout_s: int = 10
    command_mqtt: Any = field(default=None, repr=False)
    """``sync.mqtt_publisher.MqttSettings`` from ``[mqtt]`` when it names a broker: session
    commands are then also published there (docs/session-commands.md); None: stored only (boxes in
    direct mode poll them)."""

    def __post_init__(self) -> None:
        if not self.dsn:
            raise SettingsError("no database given: set [database] dsn")
        if len(self.secret_key or "") < MIN_SECRET_KEY_CHARS:
            raise SettingsError(
                f"web_secret_key must be at least {MIN_SECRET_KEY_CHARS} characters: set "
                "LIFTGUARD_WEB_SECRET_KEY or web_secret_key in the secrets file (e.g. from "
                "`python3 -c 'import secrets; print(secrets.token_urlsafe(48))'`)")
        if self.signup not in SIGNUP_MODES:
            raise SettingsError(f"[web] signup must be one of {', '.join(SIGNUP_MODES)}")
        if self.public_url:
            parts = urlsplit(self.public_url)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
                raise SettingsError("[web] public_url must look like https://coach.example.org")
        if self.smtp_host:
            if not self.public_url:
                raise SettingsError("[web] smtp_host needs public_url: the links in invitation "
                                    "e-mails are built on it, never on a request's Host header")
            if not self.smtp_from:
                raise SettingsError("[web] smtp_host needs smtp_from, the sender address")
            if self.smtp_security not in SMTP_SECURITY:
                raise SettingsError(f"[web] smtp_security must be one of "
                                    f"{', '.join(SMTP_SECURITY)}")
            if self.smtp_user and not self.smtp_password:
                raise SettingsError("[web] smtp_user is set but the smtp_password secret is not: "
                                    "set LIFTGUARD_SMTP_PASSWORD or smtp_password in the secrets "
                                    "file")

    @property
    def sends_mail(self) -> bool:
        return bool(self.smtp_host)

    def login_limits(self) -> Limits:
        return Limits(self.login_window_s, self.login_free_failures_per_account_address,
                      self.login_free_failures_per_address, self.login_max_delay_s,
                      self.login_max_address_delay_s)

    def connect_kwargs(self) -> dict[str, Any]:
        """psycopg2.connect keywords besides the DSN (the password only when the DSN has none)."""
        kwargs: dict[str, Any] = {
            "connect_timeout": self.connect_timeout_s,
            "application_name": "liftguard-web",
            "options": f"-c statement_timeout={self.statement_timeout_ms}",
        }
        if self.db_password:
            kwargs["password"] = self.db_password
        return kwargs


def settings_from_config(cfg: Any, secrets: Any) -> WebSettings:
    """WebSettings from a validated ``liftguard.config.Config`` and resolved ``Secrets``."""
    import psycopg2.extensions

    from sync.mqtt_publisher import MqttSettings

    web = cfg.section("web")
    mqtt = cfg.section("mqtt")
    dsn = cfg.get("database.dsn")
    try:
        has_password = bool(dsn) and "password" in psycopg2.extensions.parse_dsn(dsn)
    except psycopg2.ProgrammingError:
        raise SettingsError("[database] dsn is not a valid libpq connection string") from None
    return WebSettings(
        dsn=dsn,
        secret_key=secrets.get("web_secret_key") or "",
        db_password=None if has_password else secrets.get("database_password"),
        secure_cookies=web["secure_cookies"],
        signup=web["signup"],
        pool_max=web["threads"] + 1,
        session_hours=web["session_hours"],
        login_window_s=web["login_window_s"],
        login_free_failures_per_account_address=web["login_free_failures_per_account_address"],
        login_free_failures_per_address=web["login_free_failures_per_address"],
        login_max_delay_s=web["login_max_delay_s"],
        login_max_address_delay_s=web["login_max_address_delay_s"],
        invitation_days=web["invitation_days"],
        page_size=web["page_size"],
        proxy_hops=web["proxy_hops"],
        public_url=web["public_url"].rstrip("/"),
        smtp_host=web["smtp_host"],
        smtp_port=web["smtp_port"],
        smtp_security=web["smtp_security"],
        smtp_user=web["smtp_user"],
        smtp_password=secrets.get("smtp_password"),
        smtp_from=web["smtp_from"],
        smtp_timeout_s=web["smtp_timeout_s"],
        command_mqtt=MqttSettings.from_section(mqtt, secrets.get("mqtt_password"))
        if mqtt["host"] else None,
    )
