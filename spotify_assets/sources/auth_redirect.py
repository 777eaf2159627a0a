"""Receiving Spotify's redirect after consent: the code it carries, checked against `state`, and the one-shot
loopback listener that takes it from the browser (`spotify-assets auth` without `--no-browser`).
"""

from __future__ import annotations

import html
import secrets
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from spotify_assets.sources.spotify_client import AUTH_COMMAND, SpotifyAuthError


def parse_callback(query: str, expected_state: str) -> str:
    """The authorisation code from a redirect's query string, after checking its `state`."""
    params = {key: values[0] for key, values in parse_qs(query).items()}
    if error := params.get("error"):
        reason = "access was declined" if error == "access_denied" else error
        raise SpotifyAuthError(f"Spotify did not authorise the app: {reason}.", error=error)
    if not secrets.compare_digest(params.get("state", ""), expected_state):
        raise SpotifyAuthError(
            f"The redirect's state does not match this run of `{AUTH_COMMAND}` (a stale or forged redirect); "
            "start again.",
            error="state_mismatch",
        )
    if not params.get("code"):
        raise SpotifyAuthError("The redirect carries no authorisation code.", error="no_code")
    return params["code"]


class _CallbackServer(HTTPServer):
    listener: CallbackListener


class _IPv6CallbackServer(_CallbackServer):
    address_family = socket.AF_INET6


class _CallbackHandler(BaseHTTPRequestHandler):
    server: _CallbackServer

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.server.listener.handle(self)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Silent: request lines carry the authorisation code."""


class CallbackListener:
    """A one-shot HTTP listener on a loopback address that takes the redirect's code, checking `state`."""

    def __init__(self, host: str, port: int, path: str, state: str) -> None:
        server_class = _IPv6CallbackServer if ":" in host else _CallbackServer
        self._server = server_class((host, port), _CallbackHandler)
        self._server.listener = self
        self._path = path or "/"
        self._state = state
        self._done = threading.Event()
        self._code: str | None = None
        self._error: SpotifyAuthError | None = None
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        """The port actually listened on (useful when 0 was asked for)."""
        return int(self._server.server_address[1])

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        """Answer one request: the first one on the callback path ends the flow, anything else is a 404."""
        parts = urlsplit(request.path)
        if parts.path != self._path or self._done.is_set():
            request.send_error(404)
            return
        try:
            self._code = parse_callback(parts.query, self._state)
            status, message = 200, "Spotify authorisation received. You can close this tab."
        except SpotifyAuthError as error:
            self._error = error
            status, message = 400, str(error)
        body = f"<!doctype html><title>spotify-assets</title><p>{html.escape(message)}</p>".encode()
        request.send_response(status)
        request.send_header("Content-Type", "text/html; charset=utf-8")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)
        self._done.set()

    def wait(self, timeout: float) -> str:
        """The authorisation code once the redirect arrived; SpotifyAuthError on timeout or bad redirect."""
        if not self._done.wait(timeout):
            raise SpotifyAuthError(f"No redirect arrived within {timeout:.0f} s.", error="timeout")
        if self._error is not None:
            raise self._error
        assert self._code is not None
        return self._code

    def close(self) -> None:
        """Stop listening."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> CallbackListener:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
