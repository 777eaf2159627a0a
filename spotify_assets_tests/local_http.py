"""The tests' local HTTP servers (the stand-in Spotify, the alert receivers): a ThreadingHTTPServer on
127.0.0.1, a free port, served from a background thread; its handlers reach the object that owns it."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class LocalHttpServer:
    """Serves `handler` on 127.0.0.1 (a free port) between `start()` and `stop()`; `handler.owner` is self."""

    def __init__(self, handler: type[LocalHandler]) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True  # a hanging answer does not hold back stop()
        self._server.block_on_close = False
        self._server.owner = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05})

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:54321 (no trailing slash)."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class LocalHandler(BaseHTTPRequestHandler):
    """A request handler of a LocalHttpServer; silent."""

    @property
    def owner(self) -> Any:
        """The LocalHttpServer this request came to."""
        return self.server.owner  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Silent."""
