"""Local receivers of what the alerts send: an SMTP server (aiosmtpd) and an HTTP server that records every
request (the webhook and the heartbeat), both on 127.0.0.1."""

from __future__ import annotations

import email
import email.policy
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from spotify_assets_tests.dagster_ui import free_port
from spotify_assets_tests.local_http import LocalHandler, LocalHttpServer


class SmtpReceiver:
    """An SMTP server on 127.0.0.1 keeping every message it accepts and every login (user, password); no TLS
    (ALERT_SMTP_STARTTLS=false), so it offers AUTH in the clear."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.arrivals: list[float] = []  # time.time() when each message arrived
        self.logins: list[tuple[str, str]] = []
        self.port = free_port()
        self._lock = threading.Lock()
        self._controller = Controller(
            self, hostname="127.0.0.1", port=self.port, authenticator=self._login, auth_require_tls=False
        )

    def _login(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        if isinstance(data, LoginPassword):
            with self._lock:
                self.logins.append((data.login.decode(), data.password.decode()))
        return AuthResult(success=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        with self._lock:
            self.messages.append(message)
            self.arrivals.append(time.time())
        return "250 Message accepted for delivery"

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    def arrived(self) -> list[tuple[str, float]]:
        """(subject, when it arrived as a Unix time) of every message so far."""
        with self._lock:
            return [(str(m["Subject"]), at) for m, at in zip(self.messages, self.arrivals, strict=True)]

    def received(self) -> list[tuple[str, str]]:
        """(subject, body) of every message so far."""
        with self._lock:
            return [(str(m["Subject"]), m.get_content().replace("\r\n", "\n")) for m in self.messages]


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class HttpReceiver(LocalHttpServer):
    """An HTTP server on 127.0.0.1 that records every request and answers `status` (200 by default)."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.status = 200
        self._lock = threading.Lock()
        super().__init__(_Handler)

    def record(self, request: Request) -> int:
        with self._lock:
            self.requests.append(request)
            return self.status

    def to(self, path: str) -> list[Request]:
        with self._lock:
            return [request for request in self.requests if request.path == path]


class _Handler(LocalHandler):
    def _answer(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        receiver: HttpReceiver = self.owner
        status = receiver.record(Request(method, self.path, dict(self.headers), body))
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._answer("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._answer("POST")


@pytest.fixture
def smtp_receiver() -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver()
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver()
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()
