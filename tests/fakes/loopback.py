"""What every fake server shares: an HTTP server on 127.0.0.1 at a free port, serving from a
daemon thread, started and stopped by ``with`` (or ``start()``/``stop()``)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class LoopbackHandler(BaseHTTPRequestHandler):
    """What a fake's request handler shares: HTTP/1.1, quiet, whole answers."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out at once: no 40 ms ACK stalls

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read ``fake.requests`` instead."""

    def _raw(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


class LoopbackServer:
    """A fake server's lifecycle. Subclasses call ``_listen`` with their handler class, whose
    requests then reach the fake as ``self.fake``."""

    def _listen(self, handler: type[BaseHTTPRequestHandler]) -> None:
        bound = type(handler.__name__, (handler,), {"fake": self})
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), bound)
        self._thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def origin(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._thread.join()
        self._stopped()

    def _stopped(self) -> None:
        """What a fake cleans up once it stops serving."""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
