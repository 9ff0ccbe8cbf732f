"""The local API's HTTP server: ``http.server`` with bounded threads and time limits.

* At most ``max_threads`` requests are served at once; a connection beyond that gets an
  immediate ``503`` JSON answer instead of a thread.
* Every read from a client waits at most ``READ_TIMEOUT_S`` (the handler's socket timeout),
  and a connection lives at most ``CONNECTION_DEADLINE_S`` in all: a client that sends half
  a request, or drips a byte every few seconds, is cut off and its thread freed.
"""
from __future__ import annotations

import json
import logging
import socket
import threading
import time
from http.server import ThreadingHTTPServer
from typing import Any

log = logging.getLogger(__name__)

MAX_THREADS = 8
READ_TIMEOUT_S = 10.0
CONNECTION_DEADLINE_S = 30.0


def json_response(status: int, reason: str, payload: Any, *, close: bool = True,
                  extra_headers: dict[str, str] | None = None) -> bytes:
    """A whole HTTP/1.1 response with a JSON body (for answers written outside a handler)."""
    body = json.dumps(payload).encode()
    head = [f"HTTP/1.1 {status} {reason}", "Content-Type: application/json",
            f"Content-Length: {len(body)}"]
    head += [f"{k}: {v}" for k, v in (extra_headers or {}).items()]
    if close:
        head.append("Connection: close")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


class BoundedHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type, *,
                 max_threads: int = MAX_THREADS,
                 connection_deadline_s: float = CONNECTION_DEADLINE_S) -> None:
        self.max_threads = max_threads
        self.connection_deadline_s = connection_deadline_s
        self._slots = threading.BoundedSemaphore(max_threads)
        self._deadlines: dict[socket.socket, float] = {}
        self._deadlines_lock = threading.Lock()
        self.refused_busy = 0
        self.cut_off = 0
        super().__init__(address, handler)

    @property
    def in_progress(self) -> int:
        """Connections being served now (each holds one of the ``max_threads`` slots)."""
        with self._deadlines_lock:
            return len(self._deadlines)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.refused_busy += 1
            if self.refused_busy == 1 or self.refused_busy % 100 == 0:
                log.warning("local API busy: %d requests in progress; answered 503 (%d so far)",
                            self.max_threads, self.refused_busy)
            try:
                request.settimeout(1.0)
                request.sendall(json_response(503, "Service Unavailable", {
                    "error": f"the API is serving {self.max_threads} requests already; try "
                             f"again shortly"}, extra_headers={"Retry-After": "1"}))
            except OSError:
                pass
            self.shutdown_request(request)
            return
        with self._deadlines_lock:
            self._deadlines[request] = time.monotonic() + self.connection_deadline_s
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._release(request)
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._release(request)

    def _release(self, request: Any) -> None:
        with self._deadlines_lock:
            known = self._deadlines.pop(request, None) is not None
        if known:
            self._slots.release()

    def service_actions(self) -> None:
        """Called by ``serve_forever`` about twice a second: cut off overdue connections."""
        super().service_actions()
        now = time.monotonic()
        with self._deadlines_lock:
            overdue = [s for s, deadline in self._deadlines.items() if deadline <= now]
            for s in overdue:
                self._deadlines[s] = float("inf")   # cut once; the thread releases its slot
        for s in overdue:
            self.cut_off += 1
            log.warning("local API: a client connection was open for over %.0f s; closed it",
                        self.connection_deadline_s)
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
