"""A webhook receiver for tests: a real HTTP server on a loopback port, which can be down, up, or up and
holding every request unanswered."""

from __future__ import annotations

import contextlib
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from adapters.webhooks import EVENT_ID_HEADER, SIGNATURE_HEADER
from devtools.services import free_ports


class Receiver:
    """An HTTP endpoint on a fixed loopback port: down (nothing listens) until :meth:`up`; while
    ``hold`` is set, every request is kept unanswered until it is cleared (or 30 s)."""

    def __init__(self) -> None:
        (self.port,) = free_ports(1)
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.got: list[tuple[str, bytes, str]] = []
        self.in_flight = 0
        self.hold = threading.Event()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def up(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    receiver.got.append((self.headers[EVENT_ID_HEADER], body, self.headers[SIGNATURE_HEADER]))
                    receiver.in_flight += 1
                try:
                    deadline = time.monotonic() + 30
                    while receiver.hold.is_set() and time.monotonic() < deadline:
                        time.sleep(0.05)
                    with contextlib.suppress(OSError):  # the worker may be dead by now
                        self.send_response(204)
                        self.end_headers()
                finally:
                    with receiver._lock:
                        receiver.in_flight -= 1

            def log_message(self, *_: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
