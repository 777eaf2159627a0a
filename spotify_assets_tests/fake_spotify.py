"""A local Spotify over real HTTP: the accounts and Web API routes the live source and `auth` use.

Routes: POST /api/token (authorization_code and refresh_token grants), GET /authorize (approves at once and
redirects to the redirect_uri with code and state; the user who consents is `user_id`, or the next of
`consenting_users`, who then gets a refresh token of their own), GET /v1/me (the token's user), GET
/v1/me/player/recently-played (limit, after, before, cursors and next; newest first; only the last `retention`
plays exist). Faults are scripted per route as a queue of responses (429 with Retry-After, 500, a hang longer
than the client's timeout). A settable clock (`now`) makes it a Spotify of that moment: a play is listed only
from its listing time on (its played_at, or what `listed_at` says), the last `retention` of the plays listed
by then are remembered, and answers carry that moment as their Date.
Use the `fake_spotify` fixture and `fake_settings(fake, tmp_path)`.
"""

from __future__ import annotations

import base64
import email.utils
import json
import secrets
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from spotify_assets.contracts.settings import Settings, get_settings
from spotify_assets.sources.token_store import StoredToken, write_token_file
from spotify_assets_tests.local_http import LocalHandler, LocalHttpServer

TOKEN = "/api/token"
AUTHORIZE = "/authorize"
ME = "/v1/me"
RECENTLY_PLAYED = "/v1/me/player/recently-played"

CLIENT_ID = "fake-client-id-0123456789"
CLIENT_SECRET = "fake-client-secret-S3CR3T-abcdef"
REFRESH_TOKEN = "fake-refresh-token-R3FR3SH-abcdef"
USER_ID = "fake.listener"


@dataclass(frozen=True)
class FakeResponse:
    """A scripted answer: a status with a JSON body and headers, optionally after `hang` seconds."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    hang: float = 0.0


def rate_limited(retry_after: int) -> FakeResponse:
    """HTTP 429 with a Retry-After header, as Spotify sends it."""
    body = {"error": {"status": 429, "message": "API rate limit exceeded"}}
    return FakeResponse(429, body, {"Retry-After": str(retry_after)})


def server_error(status: int = 500) -> FakeResponse:
    """A 5xx answer."""
    return FakeResponse(status, {"error": {"status": status, "message": "Server error"}})


def hang(seconds: float = 30.0) -> FakeResponse:
    """An answer that comes only after `seconds` (or when the server stops): a client timeout."""
    return FakeResponse(503, {"error": {"status": 503, "message": "too late"}}, hang=seconds)


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    received_at: float = 0.0  # time.monotonic() when it arrived


def played_at_ms(item: dict[str, Any]) -> int:
    """An item's `played_at` as Unix milliseconds."""
    moment = datetime.fromisoformat(item["played_at"].replace("Z", "+00:00"))
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def synthetic_play(played_at: datetime, number: int) -> dict[str, Any]:
    """A minimal play-history item in the API's shape."""
    track_id = f"track{number:018d}"
    artist = {"id": f"artist{number % 7:016d}", "name": f"Artist {number % 7}", "type": "artist"}
    return {
        "played_at": played_at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "context": None,
        "track": {
            "id": track_id,
            "uri": f"spotify:track:{track_id}",
            "name": f"Track {number}",
            "duration_ms": 180000,
            "explicit": False,
            "artists": [artist],
            "album": {"id": f"album{number % 5:017d}", "name": f"Album {number % 5}", "artists": [artist]},
            "type": "track",
        },
    }


class FakeSpotify(LocalHttpServer):
    """The server's state: app credentials, issued tokens, plays, scripted faults and a request log."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.retention: int | None = 50  # Spotify keeps only the last 50 plays
        self.after_returns = "oldest"  # which plays `after` returns when more than `limit` follow the cursor
        self.now: datetime | None = None  # the simulated clock; None: every play is listed, Date is real
        self.listed_at: dict[str, datetime] = {}  # played_at -> when the play is first listed (default: then)
        self.unavailable: FakeResponse | None = None  # when set, every Web API request gets this answer
        self.refresh_token = REFRESH_TOKEN
        self.invalid_grant = False
        self.user_id = USER_ID
        self.consenting_users: deque[str] = deque()  # who consents at the next /authorize (else user_id)
        self.user_of_token: dict[str, str] = {}  # refresh and access tokens issued to a consenting user
        self.user_items: dict[str, list[dict[str, Any]]] = {}  # plays of other users (default: `items`)
        self.refused_users: set[str] = set()  # users whose refresh tokens get invalid_grant (revoked app)
        self.access_tokens: set[str] = set()  # currently valid
        self.issued_access_tokens: list[str] = []  # ever issued
        self.codes: dict[str, tuple[str, str, str | None]] = {}  # code -> (redirect_uri, scope, user)
        self.requests: list[RecordedRequest] = []
        self._scripts: dict[str, deque[FakeResponse]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._release = threading.Event()
        super().__init__(_Handler)

    def stop(self) -> None:
        """Release hanging answers and stop."""
        self._release.set()
        super().stop()

    def script(self, route: str, *responses: FakeResponse) -> None:
        """Answer the next requests to `route` with `responses`, in order, before serving normally again."""
        with self._lock:
            self._scripts[route].extend(responses)

    def requests_to(self, route: str) -> list[RecordedRequest]:
        """The requests received on `route`."""
        with self._lock:
            return [request for request in self.requests if request.path == route]

    def revoke_access_tokens(self) -> None:
        """Make every issued access token invalid (the API answers 401)."""
        with self._lock:
            self.access_tokens.clear()

    def issue_access_token(self, user: str | None = None) -> str:
        """A new valid access token (of `user`, else of `user_id`)."""
        token = "fake-access-" + secrets.token_urlsafe(16)
        with self._lock:
            self.access_tokens.add(token)
            self.issued_access_tokens.append(token)
            if user is not None:
                self.user_of_token[token] = user
        return token

    def issue_refresh_token(self, user: str) -> str:
        """A refresh token of `user`, as their consent would give (plays: `user_items[user]`)."""
        token = f"fake-refresh-token-{user}-" + secrets.token_urlsafe(8)
        with self._lock:
            self.user_of_token[token] = user
        return token

    def handle(
        self, method: str, path: str, query: dict[str, str], form: dict[str, str], headers: Any
    ) -> Any:
        """Route one request; returns a FakeResponse."""
        path = path.rstrip("/") or "/"
        with self._lock:
            self.requests.append(RecordedRequest(method, path, query, form, time.monotonic()))
            scripted = self._scripts[path].popleft() if self._scripts[path] else None
        if scripted is not None:
            if scripted.hang:
                self._release.wait(scripted.hang)
            return scripted
        if (method, path) == ("POST", TOKEN):
            return self._token(form, headers)
        if (method, path) == ("GET", AUTHORIZE):
            return self._authorize(query)
        if method == "GET" and path in (ME, RECENTLY_PLAYED) and self.unavailable is not None:
            return self.unavailable
        if method == "GET" and path in (ME, RECENTLY_PLAYED):
            bearer = str(headers.get("Authorization") or "").removeprefix("Bearer ")
            if bearer not in self.access_tokens:
                return FakeResponse(401, {"error": {"status": 401, "message": "The access token expired"}})
            if path == ME:
                user = self.user_of_token.get(bearer, self.user_id)
                return FakeResponse(200, {"id": user, "type": "user", "uri": f"spotify:user:{user}"})
            return self._recently_played(query, self.user_of_token.get(bearer))
        return FakeResponse(404, {"error": {"status": 404, "message": "Service not found"}})

    def _token(self, form: dict[str, str], headers: Any) -> FakeResponse:
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        authorization = str(headers.get("Authorization") or "")
        if authorization.startswith("Basic "):
            client_id, _, client_secret = base64.b64decode(authorization[6:]).decode().partition(":")
        if (client_id, client_secret) != (CLIENT_ID, CLIENT_SECRET):
            return FakeResponse(401, {"error": "invalid_client", "error_description": "Invalid client"})
        grant = form.get("grant_type")
        if grant == "refresh_token":
            refresh_token = form.get("refresh_token", "")
            user = self.user_of_token.get(refresh_token)
            refused = self.invalid_grant or user in self.refused_users
            if refused or (refresh_token != self.refresh_token and user is None):
                return FakeResponse(
                    400, {"error": "invalid_grant", "error_description": "Refresh token revoked"}
                )
            body = {"access_token": self.issue_access_token(user), "token_type": "Bearer", "expires_in": 3600}
            return FakeResponse(200, {**body, "scope": "user-read-recently-played"})
        if grant == "authorization_code":
            with self._lock:
                redirect_uri, scope, user = self.codes.pop(form.get("code", ""), (None, "", None))
            if redirect_uri is None or redirect_uri != form.get("redirect_uri"):
                return FakeResponse(
                    400, {"error": "invalid_grant", "error_description": "Invalid authorization code"}
                )
            refresh_token = self.refresh_token
            if user is not None:
                refresh_token = f"fake-refresh-token-{user}-" + secrets.token_urlsafe(8)
                with self._lock:
                    self.user_of_token[refresh_token] = user
            body = {"access_token": self.issue_access_token(user), "token_type": "Bearer", "expires_in": 3600}
            return FakeResponse(200, {**body, "refresh_token": refresh_token, "scope": scope})
        return FakeResponse(400, {"error": "unsupported_grant_type"})

    def _authorize(self, query: dict[str, str]) -> FakeResponse:
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") != CLIENT_ID or query.get("response_type") != "code":
            return FakeResponse(400, {"error": "invalid_client"})
        if urlsplit(redirect_uri).hostname == "localhost":
            return FakeResponse(
                400, {"error": "invalid_request", "error_description": "Insecure redirect URI"}
            )
        code = "fake-code-" + secrets.token_urlsafe(12)
        with self._lock:
            user = self.consenting_users.popleft() if self.consenting_users else None
            self.codes[code] = (redirect_uri, query.get("scope", ""), user)
        location = f"{redirect_uri}?{urlencode({'code': code, 'state': query.get('state', '')})}"
        return FakeResponse(302, None, {"Location": location})

    def listed_items(self, user: str | None = None) -> list[dict[str, Any]]:
        """The plays (of `user` when `user_items` has them) listed at `now` (all of them without a clock)."""
        items = self.user_items.get(user or "", self.items)
        if self.now is None:
            return list(items)
        listed = []
        for item in items:
            played = datetime.fromisoformat(item["played_at"].replace("Z", "+00:00"))
            if self.listed_at.get(item["played_at"], played) <= self.now:
                listed.append(item)
        return listed

    def date_header(self) -> str | None:
        """The Date of answers at the simulated `now`, or None for the real clock."""
        if self.now is None:
            return None
        return email.utils.format_datetime(self.now.astimezone(UTC), usegmt=True)

    def _recently_played(self, query: dict[str, str], user: str | None) -> FakeResponse:
        limit = int(query.get("limit", "20"))
        after, before = query.get("after"), query.get("before")
        if not 1 <= limit <= 50 or (after and before):
            return FakeResponse(400, {"error": {"status": 400, "message": "Invalid limit or cursors"}})
        plays = sorted(self.listed_items(user), key=played_at_ms, reverse=True)[: self.retention]
        base = f"{self.url}{RECENTLY_PLAYED}"
        if after is not None:
            newer = [play for play in plays if played_at_ms(play) > int(after)]
            page = newer[:limit] if self.after_returns == "newest" else newer[-limit:]
            more = bool(page) and played_at_ms(newer[0]) > played_at_ms(page[0])
            next_url = f"{base}?after={played_at_ms(page[0])}&limit={limit}" if more else None
        else:
            older = [play for play in plays if before is None or played_at_ms(play) < int(before)]
            page = older[:limit]
            next_url = f"{base}?before={played_at_ms(page[-1])}&limit={limit}" if len(older) > limit else None
        cursors = (
            {"after": str(played_at_ms(page[0])), "before": str(played_at_ms(page[-1]))} if page else None
        )
        body = {
            "items": page,
            "next": next_url,
            "cursors": cursors,
            "limit": limit,
            "href": f"{base}?{urlencode(query)}",
        }
        return FakeResponse(200, body)


class _Handler(LocalHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._serve("GET", {})

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        self._serve("POST", {key: values[0] for key, values in parse_qs(raw).items()})

    def _serve(self, method: str, form: dict[str, str]) -> None:
        parts = urlsplit(self.path)
        query = {key: values[0] for key, values in parse_qs(parts.query).items()}
        fake: FakeSpotify = self.owner
        response = fake.handle(method, parts.path, query, form, self.headers)
        payload = b"" if response.body is None else json.dumps(response.body).encode()
        try:
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (a scripted hang)

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The Date header: the fake's simulated clock when it has one."""
        fake: FakeSpotify = self.owner
        return fake.date_header() or super().date_time_string(timestamp)


def fake_settings(fake: FakeSpotify, tmp_path: Path, **overrides: Any) -> Settings:
    """Settings whose API and accounts base URLs point at `fake`, with a token file under `tmp_path`."""
    values: dict[str, Any] = {
        "spotify_client_id": CLIENT_ID,
        "spotify_client_secret": CLIENT_SECRET,
        "spotify_api_base_url": f"{fake.url}/v1/",
        "spotify_accounts_base_url": f"{fake.url}/",
        "spotify_source": "live",
        "spotify_token_file": str(tmp_path / "data" / "spotify_token.json"),
    }
    return Settings(**{**values, **overrides})


def seed_token_file(
    settings: Settings, *, authorized_at: datetime | None = None, **fields: Any
) -> StoredToken:
    """Write a token file as `spotify-assets auth` would, holding the fake's refresh token."""
    token = StoredToken(
        refresh_token=REFRESH_TOKEN,
        authorized_at=authorized_at or datetime.now(UTC).replace(microsecond=0),
        user_id=USER_ID,
        scope="user-read-recently-played",
        **fields,
    )
    write_token_file(Path(settings.spotify_token_file), token)
    return token


@pytest.fixture
def fake_spotify() -> Iterator[FakeSpotify]:
    """A running FakeSpotify on 127.0.0.1 (a free port), stopped after the test."""
    fake = FakeSpotify()
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def live_env(
    monkeypatch: pytest.MonkeyPatch, fake_spotify: FakeSpotify, tmp_path: Path
) -> Iterator[Settings]:
    """The environment a user's `.env` would give for the live source: credentials, a stored token and base
    URLs pointing at `fake_spotify`; the settings cache is cleared around the test."""
    settings = fake_settings(fake_spotify, tmp_path)
    seed_token_file(settings)
    for name, value in {
        "SPOTIFY_CLIENT_ID": settings.spotify_client_id,
        "SPOTIFY_CLIENT_SECRET": CLIENT_SECRET,
        "SPOTIFY_API_BASE_URL": settings.spotify_api_base_url,
        "SPOTIFY_ACCOUNTS_BASE_URL": settings.spotify_accounts_base_url,
        "SPOTIFY_TOKEN_FILE": settings.spotify_token_file,
        "SPOTIFY_SOURCE": "live",
    }.items():
        monkeypatch.setenv(name, str(value))
    get_settings.cache_clear()
    yield settings
    get_settings.cache_clear()
