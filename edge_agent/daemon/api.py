"""Local HTTP JSON API (stdlib ``ThreadingHTTPServer``); routes and errors in docs/daemon.md.

Bound to 127.0.0.1 by default. Bound anywhere else it requires ``Authorization: Bearer
<api_token>`` on every request, and refuses to start without a token. Request bodies are
limited to ``MAX_BODY_BYTES``; every error is a JSON object ``{"error": "..."}`` with a 4xx
status naming what was wrong.
"""
from __future__ import annotations

import hmac
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

from edge_agent.daemon.sessions import SessionError, SessionManager
from edge_agent.netaddr import is_loopback
from sync.roster import ROLES, Roster

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024
FLUSH_TIMEOUT_S = 2.0
"""Start/end answers wait this long at most for the row to be committed."""
SESSION_FIELDS = {"lift_type": str, "athlete": str, "trainer": str}
REQUIRED_FIELDS = ("lift_type", "athlete")


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class ApiConfigError(Exception):
    """The API cannot be started as configured (e.g. a public bind without a token)."""


class LocalApi:
    def __init__(self, sessions: SessionManager, status: Callable[[], dict[str, Any]], *,
                 bind: str = "127.0.0.1", port: int = 8765, token: str | None = None,
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
            self.server = ThreadingHTTPServer((bind, port), handler)
        except OSError as exc:
            raise ApiConfigError(f"[api] cannot listen on {bind}:{port}: {exc}") from exc
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, name="local-api",
                                        daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        self._thread.start()
        log.info("local API listening on %s%s", self.url,
                 " (bearer token required)" if self.token else "")

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
            return 200, self.status()
        if parts == ["sessions"]:
            self._allow(method, "GET", "POST")
            if method == "POST":
                fields = self._session_body(body)
                try:
                    sid = self.sessions.start(fields["lift_type"], fields["athlete"],
                                              fields.get("trainer"), reason="api")
                except SessionError as exc:
                    raise ApiError(exc.status, str(exc)) from None
                store.flush(FLUSH_TIMEOUT_S)
                return 201, self._session(sid)
            status = _one(query, "status", None)
            if status not in (None, "active", "ended"):
                raise ApiError(400, f"status must be 'active' or 'ended', got {status!r}")
            return 200, {"sessions": store.list_sessions(_int(query, "limit", 50, 1, 1000),
                                                         status)}
        if parts and parts[0] == "athletes" and len(parts) <= 2:
            self._allow(method, "GET")
            return 200, self._athletes(parts[1] if len(parts) == 2 else None,
                                       _one(query, "role", None))
        if len(parts) >= 2 and parts[0] == "sessions":
            sid = parts[1]
            if len(parts) == 2:
                self._allow(method, "GET")
                return 200, self._session(sid)
            if parts[2:] == ["end"]:
                self._allow(method, "POST")
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
        for name, value in body.items():
            if not (value is None and name == "trainer") and not isinstance(value, str):
                raise ApiError(400, f"field {name!r} must be a string")
            if isinstance(value, str) and not value.strip() and name != "trainer":
                raise ApiError(400, f"field {name!r} must not be empty")
        return body


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


class _Handler(BaseHTTPRequestHandler):
    api: LocalApi
    server_version = "liftguard"
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def _handle(self, method: str) -> None:
        try:
            self._authorise()
            body = self._body()
            url = urlsplit(self.path)
            status, payload = self.api.route(method, url.path, parse_qs(url.query), body)
        except ApiError as exc:
            status, payload = exc.status, {"error": str(exc)}
        except Exception as exc:  # noqa: BLE001 - answer, log, keep serving
            log.exception("local API: %s %s failed", method, self.path)
            status, payload = 500, {"error": f"internal error: {type(exc).__name__}"}
        self._send(status, payload)

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
            raise ApiError(400, f"bad Content-Length {length_header!r}") from None
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            raise ApiError(413, f"body of {length} bytes is over the {MAX_BODY_BYTES}-byte limit")
        raw = self.rfile.read(length) if length > 0 else b""
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ApiError(400, f"body is not valid JSON: {exc}") from None

    def _send(self, status: int, payload: Any) -> None:
        data = json.dumps(payload, default=str, allow_nan=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status == 401:
            self.send_header("WWW-Authenticate", 'Bearer realm="liftguard"')
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("local API: %s %s", self.address_string(), format % args)
