"""The coach app served on a free loopback port in a background thread (Werkzeug's threaded
server), for the browser test and scripts that need a real HTTP server."""
from __future__ import annotations

import threading
from typing import Any

from werkzeug.serving import make_server


class ServedApp:
    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        self.server = make_server(host, port, app, threaded=True)
        self.url = f"http://{host}:{self.server.server_port}"
        self._thread = threading.Thread(target=self.server.serve_forever, name="coach-http",
                                        daemon=True)

    def __enter__(self) -> "ServedApp":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self._thread.join(timeout=10)
