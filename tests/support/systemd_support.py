"""A fake systemd for tests: the receiving end of ``NOTIFY_SOCKET``."""
from __future__ import annotations

import shutil
import socket
import tempfile
import threading
from pathlib import Path


class FakeSystemd:
    """The receiving end of NOTIFY_SOCKET: every datagram, split into KEY=value lines."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="lgsd"))   # AF_UNIX paths are short
        self.path = self.dir / "notify"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.path))
        self.sock.settimeout(0.2)
        self.messages: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._recv, daemon=True)
        self._thread.start()

    def _recv(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            with self._lock:
                self.messages += data.decode().split("\n")

    def lines(self, prefix: str) -> list[str]:
        with self._lock:
            return [m for m in self.messages if m.startswith(prefix)]

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)
