"""The coach and athlete web app (Flask) over the database the boxes sync into.

Server side only: the box daemon never imports this package, and its dependencies live in the
``web`` extra. Public surface: ``create_app``, ``WebSettings``.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask, g, redirect, url_for
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from coach import db, errors
from coach.settings import WebSettings

__all__ = ["create_app", "WebSettings"]

CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' data:; "
                           "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; "
                           "form-action 'self'; base-uri 'none'")


def create_app(settings: WebSettings, **overrides: Any) -> Flask:
    """The app for ``settings`` (``liftguard web`` and ``liftguard.wsgi`` read them from the
    config file and secrets). ``overrides`` are Flask config keys set last (e.g. ``TESTING=True``).
    """
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        COACH_SETTINGS=settings,
        SESSION_COOKIE_NAME="liftguard_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.session_hours),
        MAX_CONTENT_LENGTH=settings.max_form_bytes,
        MAX_FORM_MEMORY_SIZE=settings.max_form_bytes,
        WTF_CSRF_TIME_LIMIT=settings.session_hours * 3600,
        TEMPLATES_AUTO_RELOAD=False,
    )
    app.config.update(overrides)
    if settings.proxy_hops:
        hops = settings.proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops,  # type: ignore
                                x_host=hops)
    CSRFProtect(app)
    db.init_app(app, db.Database(settings.dsn, settings.connect_kwargs(), settings.pool_max))
    errors.register(app)

    from coach.routes import register_blueprints
    register_blueprints(app)
    if settings.command_mqtt is not None:
        from coach.session_commands import start_publisher
        start_publisher(app, settings.command_mqtt)

    @app.context_processor
    def _template_helpers() -> dict[str, Any]:
        return {"has_endpoint": lambda name: name in app.view_functions,
                "current_user": g.get("user")}

    @app.after_request
    def _security_headers(response: Any) -> Any:
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if g.get("user") is not None and "private" not in response.headers.get(
                "Cache-Control", ""):
            # over send_file's "no-cache" too: an export must not stay in a shared cache
            response.headers["Cache-Control"] = "private, no-store"
        return response

    @app.route("/favicon.ico")
    def favicon() -> Any:
        """Browsers ask for it on pages that name no icon (a CSV or chart opened alone)."""
        return app.send_static_file("favicon.svg")

    @app.route("/")
    def index() -> Any:
        from coach.auth import home_url
        return redirect(home_url() if g.get("user") else url_for("auth.login"))

    return app
