"""Sign-up, sign-in and sign-out, and the current user (``g.user``).

``g.user`` is a dict with id, email, first_name, last_name and role, or None. The signed
session cookie holds the user id and the account's ``session_epoch``; signing out, a password
change or disabling the account raises the epoch and so ends every session of that user.

Answers never tell whether an email has an account: a wrong password and an unknown email get
the same message (and the same scrypt work), and sign-up answers the same whether or not the
email was already registered.
"""
from __future__ import annotations

import functools
import logging
from typing import Any, Callable
from urllib.parse import unquote, urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from coach import invitations, login_limits
from coach.accounts import (
    USER_COLUMNS,
    AccountError,
    claim_existing,
    create_user,
    users_exist,
    verify_login,
)
from coach.db import execute, get_db, query_one
from coach.forms import LoginForm, SignupForm

log = logging.getLogger(__name__)

bp = Blueprint("auth", __name__)

# pg_advisory_xact_lock key serialising sign-ups ("coachsgn" as a big-endian int64), so two
# first users of an empty database cannot both become admin.
SIGNUP_LOCK_KEY = int.from_bytes(b"coachsgn", "big")

MAX_NEXT_CHARS = 2048
LOGIN_FAILED = "Email or password is incorrect."
SIGNUP_DONE = ("Sign-up received. Sign in with your email and password. If that email already "
               "had an account, the account is unchanged.")


def login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Anonymous visitors are sent to the login page, and come back afterwards."""
    @functools.wraps(view)
    def wrapped(**kwargs: Any) -> Any:
        if g.user is None:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(**kwargs)
    return wrapped


def role_required(*roles: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """login_required, and 403 for a signed-in user whose role is not in ``roles``."""
    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapped(**kwargs: Any) -> Any:
            if g.user is None:
                return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
            if g.user["role"] not in roles:
                abort(403)
            return view(**kwargs)
        return wrapped
    return decorate


def home_url() -> str:
    """The dashboard when it is installed, else the profile."""
    endpoint = "dashboard.index" if "dashboard.index" in current_app.view_functions \
        else "profile.index"
    return url_for(endpoint)


def safe_next(target: str | None) -> str | None:
    """``target`` when it is a path of this app, else None (the caller goes to the dashboard).

    Parsed with ``urllib.parse`` after percent-decoding, so an encoded variant is judged as
    what a browser would make of it: no scheme or host, an absolute path that does not start
    with two slashes, printable ASCII only: no backslash (browsers read it as a slash) and no
    control character (browsers drop a tab or newline from a URL, so ``/%09/evil.example`` would
    become ``//evil.example``; a newline in a header was a 500).
    """
    if not target or len(target) > MAX_NEXT_CHARS:
        return None
    decoded = target
    for _ in range(3):  # twice-encoded variants too: %252F%252F -> %2F%2F -> //
        decoded = unquote(decoded)
    for text in (target, decoded):
        if "\\" in text or any(not " " <= c <= "~" for c in text):
            return None
        if not text.startswith("/") or text.startswith("//"):
            return None
        parts = urlsplit(text)
        if parts.scheme or parts.netloc or not parts.path.startswith("/"):
            return None
    return target


@bp.before_app_request
def load_logged_in_user() -> None:
    g.user = None
    user_id, epoch = session.get("uid"), session.get("epoch")
    if user_id is None or request.endpoint == "static":
        return
    user = query_one(get_db(), f"""
        SELECT {USER_COLUMNS} FROM users u JOIN credentials c ON c.user_id = u.id
         WHERE u.id = %s AND c.disabled_at IS NULL AND c.session_epoch = %s""",
        (user_id, epoch))
    if user is None:
        session.clear()
    g.user = user


def client_address() -> str:
    return request.remote_addr or "unknown"


def current_limits() -> login_limits.Limits:
    return current_app.config["COACH_SETTINGS"].login_limits()


def wait_message(seconds: int) -> str:
    return (f"Too many failed sign-in attempts from here. Try again in {seconds} seconds "
            f"(the wait grows with each failure).")


@bp.route("/login", methods=("GET", "POST"))
def login() -> Any:
    form = LoginForm()
    if form.validate_on_submit():
        conn = get_db()
        email, address = form.email.data, client_address()
        wait = login_limits.retry_after_s(conn, current_limits(), email, address)
        if wait:
            conn.rollback()
            log.warning("sign-in from %s refused: it must wait %d s after failed attempts",
                        address, wait)
            page = render_template("auth/login.html", form=form, error=wait_message(wait))
            return page, 429, {"Retry-After": str(wait)}
        user = verify_login(conn, email, form.password.data)
        login_limits.record(conn, email, address, succeeded=user is not None)
        conn.commit()
        if user is None:
            log.info("failed login from %s", address)
            return render_template("auth/login.html", form=form, error=LOGIN_FAILED), 401
        session.clear()
        session.permanent = True
        session["uid"], session["epoch"] = user["id"], user["session_epoch"]
        log.info("user %s signed in from %s", user["id"], address)
        return redirect(safe_next(request.args.get("next")) or home_url())
    status = 400 if form.is_submitted() else 200
    return render_template("auth/login.html", form=form, error=None), status


@bp.route("/logout", methods=("POST",))
def logout() -> Any:
    if g.user is not None:
        conn = get_db()
        execute(conn, "UPDATE credentials SET session_epoch = session_epoch + 1 "
                      "WHERE user_id = %s", (g.user["id"],))
        conn.commit()
    session.clear()
    flash("You are signed out.")
    return redirect(url_for("auth.login"))


def _signup_mode(conn: Any, token: str) -> tuple[str, dict[str, Any] | None]:
    """('first', None) for an empty database, ('invitation', inv), ('open', None) or
    ('closed', None)."""
    if not users_exist(conn):
        return "first", None
    invitation = invitations.usable(conn, token) if token else None
    if invitation is not None:
        return "invitation", invitation
    if token:
        return "bad-invitation", None
    if current_app.config["COACH_SETTINGS"].signup == "open":
        return "open", None
    return "closed", None


@bp.route("/signup", methods=("GET", "POST"))
def signup() -> Any:
    form = SignupForm()
    posted = form.invite.data if request.method == "POST" else None
    token = (posted or request.args.get("invite") or "")[:200]
    conn = get_db()
    mode, invitation = _signup_mode(conn, token)
    conn.rollback()
    if request.method == "GET":
        form.invite.data = token
        if invitation is not None:
            form.email.data = invitation["email"]
    if mode in ("closed", "bad-invitation"):
        status = 403 if request.method == "POST" else 200
        return render_template("auth/signup.html", form=None, mode=mode), status
    if not form.validate_on_submit():
        status = 400 if form.is_submitted() else 200
        return render_template("auth/signup.html", form=form, mode=mode,
                               invitation=invitation), status
    return _register(conn, form, token)


def _register(conn: Any, form: SignupForm, token: str) -> Any:
    execute(conn, "SELECT pg_advisory_xact_lock(%s)", (SIGNUP_LOCK_KEY,))
    mode, invitation = _signup_mode(conn, token)  # again, under the lock
    if mode in ("closed", "bad-invitation"):
        conn.rollback()
        return render_template("auth/signup.html", form=None, mode=mode), 403
    role = {"first": "admin", "open": "athlete"}.get(mode) or invitation["role"]
    email = invitation["email"] if invitation else form.email.data
    claimed = None
    try:
        user_id = create_user(conn, email, form.first_name.data, form.last_name.data, role,
                              form.password.data)
        if user_id is None and invitation is not None and invitations.may_claim(invitation):
            claimed = claim_existing(conn, email, form.password.data, role)
    except AccountError as exc:
        conn.rollback()
        return render_template("auth/signup.html", form=form, mode=mode, invitation=invitation,
                               error=str(exc)), 400
    if user_id is not None and invitation is not None:
        invitations.mark_used(conn, invitation, user_id, role)
    elif claimed is not None and not invitations.is_roster_request(invitation):
        invitations.close(conn, invitation, claimed[0])
    conn.commit()
    if user_id is not None:
        log.info("new %s account %s (%s sign-up)", role, user_id, mode)
    elif claimed is not None:
        log.info("existing %s account %s set its first password (%s invitation %s)",
                 claimed[1], claimed[0], invitation["delivery"], invitation["id"])
    if mode == "first":
        flash("You are the first user, so your account is the admin. Sign in.")
    else:
        flash(SIGNUP_DONE)
    return redirect(url_for("auth.login"))
