"""Local HTTP JSON API (stdlib ``ThreadingHTTPServer``); routes and errors in docs/daemon.md.

Bound to 127.0.0.1 by default. Bound anywhere else it requires ``Authorization: Bearer
<api_token>`` on every request, and refuses to start without a token. Request bodies are
limited to ``MAX_BODY_BYTES`` and checked by ``api_input`` (depth, numbers, strings) before
anything is done with them; threads and time are bounded by ``api_server``. Every error,
including those ``http.server`` raises itself (bad request line, 414, 431, unknown methods),
is a JSON object ``{"error": "..."}`` naming what was wrong.
"""
from __future__ import annotations

import hmac
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

from edge_agent.daemon.api_input import check_text, decode_json
from edge_agent.daemon.api_server import MAX_THREADS, READ_TIMEOUT_S, BoundedHTTPServer
from edge_agent.daemon.errors import ApiConfigError, ApiError, SessionError
from edge_agent.daemon.sessions import SessionManager
from sync.entered_load import check_bar_load_kg
from sync.netaddr import is_loopback
from sync.roster import ROLES, Roster
from sync.velocity_limit import check_limit_pct

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024
FLUSH_TIMEOUT_S = 2.0
"""Start/end answers wait this long at most for the row to be committed."""
SESSION_FIELDS = {"lift_type": str, "athlete": str, "trainer": str, "bar_load_kg": float,
                  "velocity_loss_limit_pct": float}
NUMBER_FIELDS = ("bar_load_kg", "velocity_loss_limit_pct")
REQUIRED_FIELDS = ("lift_type", "athlete")
QUERY_PARAMETERS = {"status": (), "sessions": ("limit", "status", "athlete"), "session": (),
                    "sensor_data": ("limit", "after"), "athletes": ("role",)}
"""The query parameters each route reads; any other is refused with 400."""


class LocalApi:
    def __init__(self, sessions: SessionManager, status: Callable[[], dict[str, Any]], *,
                 bind: str = "127.0.0.1", port: int = 8765, token: str | None = None,
                 max_threads: int = MAX_THREADS,
                 roster: Callable[[], Roster] | None = None) -> None:
        """``roster`` loads the users pulled by ``liftguard sync roster`` (GET /athletes)."""
        if not is_loopback(bind) and not token:
            raise ApiConfigError(
                f"[api] bind = {bind!r} is not a loopback address: set the api_token secret "
                f"(env LIFTGUARD_API_TOKEN or the secrets file) or bind to 127.0.0.1")
        self.sessions = sessions
        self.status = status
        self.roster = roster
        self.token = token if not is_loopback(bind) or token else None
        handler = type("Handler", (_Handler,), {"api": self})
        try:
            self.server = BoundedHTTPServer((bind, port), handler, max_threads=max_threads)
        except OSError as exc:
            raise ApiConfigError(f"[api] cannot listen on {bind}:{port}: {exc}") from exc
        self._thread = threading.Thread(target=self.server.serve_forever, name="local-api",
                                        daemon=True)

    @property
    def thread(self) -> threading.Thread:
        return self._thread

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        self._thread.start()
        log.info("local API listening on %s%s", self.url,
                 " (bearer token required)" if self.token else "")

    def load(self) -> dict[str, int]:
        """Requests being served and refused: this API's report for ``/status``."""
        return {"requests_in_progress": self.server.in_progress,
                "refused_busy": self.server.refused_busy,
                "connections_cut_off": self.server.cut_off}

    def close(self) -> None:
        if self._thread.is_alive():  # shutdown() waits for serve_forever, which may never have run
            self.server.shutdown()
        self.server.server_close()

    # ---- routes -------------------------------------------------------------------------

    def route(self, method: str, path: str, query: dict[str, list[str]],
              body: Any) -> tuple[int, Any]:
        parts = [p for p in path.split("/") if p]
        store = self.sessions.store
        if parts == ["status"]:
            self._allow(method, "GET")
            _known(query, "status")
            return 200, self.status()
        if parts == ["sessions"]:
            self._allow(method, "GET", "POST")
            _known(query, "sessions")
            if method == "POST":
                fields = self._session_body(body)
                if not store.writer_alive:
                    raise ApiError(503, "the local store's writer has stopped; no session can "
                                        "be recorded until the daemon restarts")
                try:
                    sid = self.sessions.start(
                        fields["lift_type"], fields["athlete"], fields.get("trainer"),
                        reason="api", bar_load_kg=fields.get("bar_load_kg"),
                        velocity_loss_limit_pct=fields.get("velocity_loss_limit_pct"))
                except SessionError as exc:
                    raise ApiError(exc.status, str(exc)) from None
                store.flush(FLUSH_TIMEOUT_S)
                return 201, self._session(sid)
            status = _one(query, "status", None)
            if status not in (None, "active", "ended"):
                raise ApiError(400, f"status must be 'active' or 'ended', got {status!r}")
            athlete = _one(query, "athlete", None)
            if athlete is not None:
                check_text("query parameter athlete", athlete)
            return 200, {"sessions": store.list_sessions(_int(query, "limit", 50, 1, 1000),
                                                         status, athlete)}
        if parts and parts[0] == "athletes" and len(parts) <= 2:
            self._allow(method, "GET")
            _known(query, "athletes")
            return 200, self._athletes(parts[1] if len(parts) == 2 else None,
                                       _one(query, "role", None))
        if len(parts) >= 2 and parts[0] == "sessions":
            sid = parts[1]
            if len(parts) == 2:
                self._allow(method, "GET")
                _known(query, "session")
                return 200, self._session(sid)
            if parts[2:] == ["end"]:
                self._allow(method, "POST")
                _known(query, "session")
                if body not in (None, {}):
                    raise ApiError(400, "POST /sessions/<id>/end takes no body fields")
                self._session(sid)
                try:
                    self.sessions.end(sid, "api")
                except SessionError as exc:
                    raise ApiError(exc.status, str(exc)) from None
                store.flush(FLUSH_TIMEOUT_S)
                return 200, self._session(sid)
            if parts[2:] == ["sensor_data"]:
                self._allow(method, "GET")
                _known(query, "sensor_data")
                self._session(sid)
                limit = _int(query, "limit", 100, 1, 1000)
                chunks = store.sensor_chunks(sid, limit, _one(query, "after", None))
                return 200, {"session_id": sid, "chunks": chunks,
                             "next_after": chunks[-1]["id"] if len(chunks) == limit else None}
        raise ApiError(404, f"no route {method} {path}")

    def _athletes(self, ref: str | None, role: str | None) -> dict[str, Any]:
        """One user of the roster by e-mail or id, or all of them (optionally of one role)."""
        if role is not None and role not in ROLES:
            raise ApiError(400, f"role must be one of {', '.join(ROLES)}, got {role!r}")
        if self.roster is None:
            raise ApiError(404, "no roster on this box")
        try:
            roster = self.roster()
        except ValueError as exc:
            raise ApiError(503, f"the roster file cannot be read: {exc}") from None
        if ref is None:
            return {"users": [e.as_dict() for e in roster.entries
                              if role is None or e.role == role],
                    "fetched_at": roster.fetched_at}
        entry = roster.resolve(ref, role)
        if entry is None:
            raise ApiError(404, f"no user {ref!r}{f' with role {role}' if role else ''} in the "
                                "roster (pull it with `liftguard sync roster`)")
        return entry.as_dict()

    def _session(self, sid: str) -> dict[str, Any]:
        store = self.sessions.store
        row = store.get_session(sid)
        if row is None:
            if sid == store.active_session_id:  # started, not yet committed (< 1 s)
                return {"id": sid, "status": "active", "committed": False}
            raise ApiError(404, f"no session {sid!r}")
        row["performance_metrics"] = store.session_metrics(sid)
        row["feedback"] = store.session_feedback(sid)
        row["reps"] = store.session_reps(sid)
        return row

    @staticmethod
    def _allow(method: str, *allowed: str) -> None:
        if method not in allowed:
            raise ApiError(405, f"method {method} not allowed here (allowed: {', '.join(allowed)})")

    @staticmethod
    def _session_body(body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, "the body must be a JSON object like "
                                '{"lift_type": "squat", "athlete": "ann@example.org"}')
        unknown = sorted(set(body) - set(SESSION_FIELDS))
        if unknown:
            raise ApiError(400, f"unknown field(s) {', '.join(unknown)} "
                                f"(known: {', '.join(SESSION_FIELDS)})")
        for name in REQUIRED_FIELDS:
            if name not in body:
                raise ApiError(400, f"missing field {name!r}")
        for name in NUMBER_FIELDS:
            _session_number(body, name)
        for name, value in body.items():
            if name in NUMBER_FIELDS:
                continue
            if not (value is None and name == "trainer") and not isinstance(value, str):
                raise ApiError(400, f"field {name!r} must be a string")
            if isinstance(value, str) and not value.strip() and name != "trainer":
                raise ApiError(400, f"field {name!r} must not be empty")
            if isinstance(value, str):
                check_text(f"field {name!r}", value)
        return body


def _session_number(body: dict[str, Any], name: str) -> None:
    """``bar_load_kg`` (entered load, 0 < kg <= 500) and ``velocity_loss_limit_pct`` (1..90):
    absent or null, else checked; ``ApiError(400)`` naming the field."""
    value = body.get(name)
    if value is None:
        return
    if name == "velocity_loss_limit_pct":
        try:
            check_limit_pct(value, f"field {name!r}")
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
        return
    try:
        check_bar_load_kg(value, f"field {name!r}")
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None


def _known(query: dict[str, list[str]], route: str) -> None:
    unknown = sorted(set(query) - set(QUERY_PARAMETERS[route]))
    if unknown:
        known = ", ".join(QUERY_PARAMETERS[route]) or "none"
        raise ApiError(400, f"unknown query parameter(s) {', '.join(map(repr, unknown))} "
                            f"(this route takes: {known})")


def _one(query: dict[str, list[str]], name: str, default: Any) -> Any:
    values = query.get(name)
    return values[-1] if values else default


def _int(query: dict[str, list[str]], name: str, default: int, lo: int, hi: int) -> int:
    raw = _one(query, name, None)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"query parameter {name}={raw!r} is not an integer") from None
    if not lo <= value <= hi:
        raise ApiError(400, f"query parameter {name}={value} is out of range {lo}..{hi}")
    return value


class _ClientGone(Exception):
    """The client stopped sending (read timeout) or closed the connection: no answer."""


class _Handler(BaseHTTPRequestHandler):
    api: LocalApi
    server_version = "liftguard"
    protocol_version = "HTTP/1.1"
    timeout = READ_TIMEOUT_S

    def do_GET(self) -> None:
        self._handle("GET")

    def do_HEAD(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_OPTIONS(self) -> None:
        self._handle("OPTIONS")

    def _handle(self, method: str) -> None:
        try:
            self._authorise()
            body = self._body()
            url = urlsplit(self.path)
            status, payload = self.api.route(method, url.path, parse_qs(url.query), body)
        except _ClientGone:
            self.close_connection = True
            return
        except ApiError as exc:
            status, payload = exc.status, {"error": str(exc)}
        except Exception as exc:  # answer, log, keep serving
            log.exception("local API: %s %s failed", method, self.path)
            status, payload = 500, {"error": f"internal error: {type(exc).__name__}"}
        self._send(status, payload)

    def send_error(self, code: int, message: str | None = None,
                   explain: str | None = None) -> None:
        """``http.server``'s own errors (bad request line, 414, 431, 501, ...) as JSON."""
        short = self.responses.get(code, ("error",))[0]
        text = message or short
        log.debug("local API: %s answered %d: %s", self.address_string(), code, text)
        self.close_connection = True
        if self.request_version == "HTTP/0.9":  # not parsed yet: answer with a status line
            self.request_version = "HTTP/1.1"
        self._send(code, {"error": text if not explain or explain == text
                          else f"{text}: {explain}"})

    def _authorise(self) -> None:
        token = self.api.token
        if token is None:
            return
        given = self.headers.get("Authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(),
                                                                 token.encode()):
            raise ApiError(401, "missing or wrong bearer token (Authorization: Bearer <token>)")

    def _body(self) -> Any:
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            return None
        try:
            length = int(length_header)
        except ValueError:
            length = -1
        if length < 0 or len(length_header) > 12:
            self.close_connection = True
            raise ApiError(400, f"bad Content-Length {length_header[:40]!r}")
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            raise ApiError(413, f"body of {length} bytes is over the {MAX_BODY_BYTES}-byte limit")
        try:
            raw = self.rfile.read(length) if length > 0 else b""
        except (TimeoutError, OSError):
            raise _ClientGone() from None
        if len(raw) < length:
            raise _ClientGone()
        if not raw.strip():
            return None
        return decode_json(raw)

    def _send(self, status: int, payload: Any) -> None:
        try:
            data = json.dumps(payload, default=str, allow_nan=False).encode()
        except (ValueError, TypeError, RecursionError) as exc:   # e.g. a NaN in a stored row
            log.error("local API: answer to %s %s is not JSON-serialisable (%s)", self.command,
                      self.path, exc)
            status, data = 500, b'{"error": "internal error: answer not serialisable"}'
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if status == 401:
                self.send_header("WWW-Authenticate", 'Bearer realm="liftguard"')
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD" and status >= 200 and status not in (204, 304):
                self.wfile.write(data)
        except OSError:  # the client went away (or was cut off) before the answer
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("local API: %s %s", self.address_string(), format % args)
