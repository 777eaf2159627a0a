"""The live source: `GET /me/player/recently-played` from the Spotify Web API, for a process left running.

Choices (see the README's "Live Spotify" section):
- spotipy makes the API calls, but on a `requests.Session` of ours, whose adapters never retry. spotipy's
  `retries`/`status_forcelist` only configure the session it builds itself (where an empty forcelist means its
  defaults, 429 included), and urllib3 then sleeps for any Retry-After, even hours. So every 429, 5xx and
  timeout reaches `retry_delay` below, and every request carries `timeout`.
- The access token is refreshed here, with `requests` against SPOTIFY_ACCOUNTS_BASE_URL + `api/token`, not by
  spotipy's SpotifyOAuth: its token URL is a class constant, it logs request headers and bodies at DEBUG, it
  writes its cache file with the default umask, and it would prompt when the refresh fails. spotipy gets the
  access token as `auth=`; `invalid_grant` becomes a `SpotifyAuthError` that is never retried.
- Nothing here prompts: without a usable token the error says to run `spotify-assets auth`.
"""

from __future__ import annotations

import email.utils
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
import spotipy
from spotipy.exceptions import SpotifyException

from spotify_assets.settings import Settings
from spotify_assets.sources.base import RECENTLY_PLAYED_PAGE_LIMIT, RecentlyPlayedFetch
from spotify_assets.sources.token_store import (
    StoredToken,
    load_token,
    reauthorization_due,
    token_path,
    write_token_file,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

AUTH_COMMAND = "spotify-assets auth"
RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
_EXPIRY_MARGIN_S = 60  # refresh an access token this long before Spotify says it expires
_MAX_PAGES = 40  # per direction; guards against a cursor that never ends
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class SpotifyError(Exception):
    """Base of the live source's errors; their messages never contain secrets."""


class SpotifyAuthError(SpotifyError):
    """No usable authorisation; retrying cannot help, running `spotify-assets auth` can."""

    def __init__(self, message: str, *, error: str | None = None) -> None:
        super().__init__(message)
        self.error = error


class SpotifyRateLimitError(SpotifyError):
    """Spotify asked to wait longer than a step waits (or kept answering 429)."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SpotifyApiError(SpotifyError):
    """A request failed in a way that bounded retries did not fix (5xx, timeouts, unexpected answers)."""


@dataclass(frozen=True)
class RetryConfig:
    """How long and how often one request is retried within a step."""

    max_retry_after: float = 60.0  # a longer Retry-After fails the step; the next capture tick tries again
    attempts: int = 4  # per request, for 429, 5xx and timeouts
    backoff: float = 1.0  # first wait after a 5xx or timeout; doubles with each attempt
    max_backoff: float = 30.0
    budget: float = 45.0  # no retry starts later than this after the source's first request (+1 timeout)


DEFAULT_RETRY = RetryConfig()


def retry_delay(
    status: int | None, retry_after: float | None, attempt: int, config: RetryConfig
) -> float | None:
    """Seconds to wait after failed attempt `attempt` (1-based), or None to give up.

    `status` is the HTTP status, or None for a timeout or connection error.
    """
    if attempt >= config.attempts or (status is not None and status not in RETRIED_STATUSES):
        return None
    backoff = min(config.backoff * 2 ** (attempt - 1), config.max_backoff)
    if status != 429:
        return backoff
    wait = backoff if retry_after is None else retry_after
    return wait if wait <= config.max_retry_after else None


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Retry-After in seconds (it may be a number of seconds or an HTTP date), or None."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - now)


def api_prefix(settings: Settings) -> str:
    """SPOTIFY_API_BASE_URL with exactly one trailing slash (spotipy's `prefix`)."""
    return settings.spotify_api_base_url.rstrip("/") + "/"


def token_url(settings: Settings) -> str:
    """The accounts service's token endpoint under SPOTIFY_ACCOUNTS_BASE_URL."""
    return settings.spotify_accounts_base_url.rstrip("/") + "/api/token"


def make_client(
    settings: Settings, access_token: str, *, timeout: float, session: requests.Session | None = None
) -> spotipy.Spotify:
    """A spotipy client on SPOTIFY_API_BASE_URL that never retries by itself and always times out."""
    _mask_spotipy_logs()
    client = spotipy.Spotify(
        auth=access_token,
        requests_session=session or requests.Session(),  # plain adapters: no retries, 429s come back to us
        requests_timeout=timeout,
        retries=0,
        status_retries=0,
        backoff_factor=0,
    )
    client.prefix = api_prefix(settings)
    return client


class _HttpFault(Exception):
    """A retryable status from the token endpoint (internal: turned into a SpotifyError by the retry loop)."""

    def __init__(self, status: int, retry_after: str | None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.retry_after = retry_after


def request_token(settings: Settings, data: dict[str, str], *, timeout: float) -> dict[str, Any]:
    """One POST to the token endpoint with the app's credentials; the JSON answer holding `access_token`."""
    client_id, client_secret = settings.spotify_client_id, settings.spotify_client_secret
    if not client_id or not client_secret:
        raise SpotifyAuthError(
            "SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET must be set (your app's credentials from "
            "https://developer.spotify.com/dashboard).",
            error="no_client",
        )
    response = requests.post(token_url(settings), data=data, auth=(client_id, client_secret), timeout=timeout)
    if response.status_code in RETRIED_STATUSES:
        raise _HttpFault(response.status_code, response.headers.get("Retry-After"))
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.ok and isinstance(body, dict) and body.get("access_token"):
        return body
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, str):
        description = str(body.get("error_description") or "")[:200]
        message = f"Spotify's token endpoint refused the request: {error}" + (
            f" ({description})" if description else ""
        )
        if error == "invalid_client":
            message += "; check SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET"
        raise SpotifyAuthError(_redact(message, [client_secret, *data.values()]), error=error)
    raise SpotifyApiError(f"Spotify's token endpoint answered HTTP {response.status_code} without a token")


def no_token_message(settings: Settings) -> str:
    """What to do when there is no refresh token at all."""
    return (
        f"No Spotify authorisation found (no token file at {token_path(settings)} and no "
        f"SPOTIFY_REFRESH_TOKEN). Run `{AUTH_COMMAND}` once (`{AUTH_COMMAND} --no-browser` on a server)."
    )


def invalid_grant_message(token: StoredToken) -> str:
    """What to do when Spotify refuses the refresh token, with the consent date when it is known."""
    known = ""
    if token.authorized_at:
        who = f" by Spotify user {token.user_id}" if token.user_id else ""
        due = reauthorization_due(token.authorized_at)
        known = (
            f" It was authorised on {token.authorized_at:%Y-%m-%d}{who}; "
            f"that consent ran until {due:%Y-%m-%d}."
        )
    return (
        "Spotify refused the saved authorisation (invalid_grant): the refresh token expired or was revoked."
        f"{known} Refresh tokens expire six months after consent, refreshing does not extend them, and "
        "removing the app at https://www.spotify.com/account/apps revokes them. "
        f"Run `{AUTH_COMMAND}` to authorise again."
    )


class LiveRecentlyPlayedSource:
    """Recently-played items from the Spotify Web API; never prompts (run `spotify-assets auth` first)."""

    def __init__(
        self,
        settings: Settings,
        *,
        timeout: float = 10.0,
        retry: RetryConfig = DEFAULT_RETRY,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._timeout = timeout
        self._retry = retry
        self._sleep = sleep
        self._clock = clock
        self._token: StoredToken | None = None
        self._client: spotipy.Spotify | None = None
        self._listener_id = settings.listener_id
        self._started: float | None = None  # when the first request began; retries stop at the budget
        self._answered_at: list[datetime] = []  # server time of each API answer (its Date header)

    def listener_id(self) -> str:
        """LISTENER_ID, or the id of the Spotify user who authorised (`GET /me`)."""
        if self._listener_id is None:
            user_id = self._api("GET /me", lambda client: client.me()).get("id")
            if not isinstance(user_id, str) or not user_id:
                raise SpotifyApiError("Spotify's GET /me answered without a user id")
            self._listener_id = user_id
        return self._listener_id

    def recently_played_between(self, start: datetime, end: datetime) -> RecentlyPlayedFetch:
        """Items played in [start, end), newest first: `after` the start, then the cursors until exhausted."""
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("start and end must be timezone-aware")
        start_ms, end_ms = _epoch_ms(start), _epoch_ms(end)
        found: dict[tuple[str, str], dict[str, Any]] = {}
        limit = RECENTLY_PLAYED_PAGE_LIMIT

        def keep(items: list[dict[str, Any]]) -> list[int]:
            times = []
            for item in items:
                played_ms = _played_at_ms_or_none(item)
                if played_ms is None:  # no day to store it on (raw's capture counts it)
                    continue
                times.append(played_ms)
                if start_ms <= played_ms < end_ms:
                    track = item.get("track")
                    if not isinstance(track, dict):
                        track = {}
                    found.setdefault((item["played_at"], str(track.get("uri") or track.get("id"))), item)
            return times

        # Forward in time from just before the start ("after" excludes the cursor itself). The cursors are
        # followed, not the `next` URLs: those name api.spotify.com and would bypass SPOTIFY_API_BASE_URL.
        self._answered_at = []
        cursor, requests_made, first_page_full, oldest = start_ms - 1, 0, False, None
        for _ in range(_MAX_PAGES):
            page = self._recently_played(after=cursor)
            requests_made += 1
            items = page.get("items") or []
            times = keep(items)
            if not times:
                break
            first_page_full = first_page_full or (requests_made == 1 and len(items) >= limit)
            oldest = min(times) if oldest is None else min(oldest, *times)
            next_cursor = _cursor(page, "after") or max(times)
            if len(items) < limit or max(times) >= end_ms or next_cursor <= cursor:
                break
            cursor = next_cursor

        # A full first page that does not reach back to the start: walk back with `before` as far as Spotify
        # still remembers (it keeps the last 50 plays; some answers to `after` are the newest 50).
        while first_page_full and oldest is not None and oldest > start_ms and requests_made < 2 * _MAX_PAGES:
            page = self._recently_played(before=oldest)
            requests_made += 1
            items = page.get("items") or []
            times = keep(items)
            if not times or min(times) >= oldest:
                break
            oldest = min(times)
            if len(items) < limit:
                break

        plays = sorted(found.values(), key=_played_at_ms, reverse=True)
        reached = first_page_full and oldest is not None and oldest > start_ms
        return RecentlyPlayedFetch(
            items=plays,
            reached_api_limit=reached,
            requests=requests_made,
            oldest_played_at=None if oldest is None else _EPOCH + timedelta(milliseconds=oldest),
            fetched_at=min(self._answered_at, default=None),
        )

    def _note_answer_time(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """Response hook: when the server answered, by its own clock (Date), else by ours less the wait."""
        if response.ok and urlsplit(response.url).path.endswith("/me/player/recently-played"):
            self._answered_at.append(answer_time(response))

    def _recently_played(self, *, after: int | None = None, before: int | None = None) -> dict[str, Any]:
        return self._api(
            "GET /me/player/recently-played",
            lambda client: client.current_user_recently_played(
                limit=RECENTLY_PLAYED_PAGE_LIMIT, after=after, before=before
            ),
        )

    def _api(self, what: str, call: Callable[[spotipy.Spotify], Any]) -> dict[str, Any]:
        """One API call with retries; a 401 refreshes the access token once."""
        try:
            result = self._with_retries(what, lambda: call(self._spotify()))
        except SpotifyAuthError as error:
            if error.error != "unauthorized":
                raise
            self._token = replace(self._token, access_token=None, expires_at=None) if self._token else None
            result = self._with_retries(what, lambda: call(self._spotify()))
        if not isinstance(result, dict):
            raise SpotifyApiError(f"Spotify's {what} did not answer with a JSON object")
        return result

    def _spotify(self) -> spotipy.Spotify:
        access_token = self._access_token()
        if self._client is None:
            session = requests.Session()
            session.hooks["response"].append(self._note_answer_time)
            self._client = make_client(self._settings, access_token, timeout=self._timeout, session=session)
        else:
            self._client.set_auth(access_token)
        return self._client

    def _access_token(self) -> str:
        if self._token is None:
            try:
                self._token = load_token(self._settings)
            except ValueError as error:
                raise SpotifyAuthError(str(error), error="bad_token_file") from error
            if self._token is None:
                raise SpotifyAuthError(no_token_message(self._settings), error="no_token")
        token = self._token
        if token.access_token and token.expires_at and token.expires_at - _EXPIRY_MARGIN_S > self._clock():
            return token.access_token
        self._token = self._refresh(token)
        assert self._token.access_token is not None
        return self._token.access_token

    def _refresh(self, token: StoredToken) -> StoredToken:
        assert token.refresh_token is not None
        data = {"grant_type": "refresh_token", "refresh_token": token.refresh_token}
        try:
            body = self._with_retries(
                "token refresh", lambda: request_token(self._settings, data, timeout=self._timeout)
            )
        except SpotifyAuthError as error:
            if error.error == "invalid_grant":
                raise SpotifyAuthError(invalid_grant_message(token), error="invalid_grant") from error
            raise
        refreshed = replace(
            token,
            access_token=body["access_token"],
            expires_at=int(self._clock() + float(body.get("expires_in", 3600))),
            refresh_token=body.get("refresh_token") or token.refresh_token,
            scope=body.get("scope") or token.scope,
        )
        if token.origin == "file":
            write_token_file(token_path(self._settings), refreshed)
        elif refreshed.refresh_token != token.refresh_token:
            log.warning("Spotify issued a new refresh token; SPOTIFY_REFRESH_TOKEN keeps the previous one")
        log.info("Refreshed the Spotify access token")
        return refreshed

    def _with_retries(self, what: str, call: Callable[[], T]) -> T:
        attempt = 1
        if self._started is None:
            self._started = self._clock()
        while True:
            try:
                return call()
            except (SpotifyException, _HttpFault, requests.Timeout, requests.ConnectionError) as error:
                status, retry_after = self._describe(error)
                delay = retry_delay(status, retry_after, attempt, self._retry)
                if delay is not None and self._clock() + delay - self._started > self._retry.budget:
                    delay = None  # a run never waits long for Spotify: the next capture tick tries again
                if delay is None:
                    raise self._give_up(what, status, retry_after, attempt, error) from error
                log.warning(
                    "Spotify %s: %s; retrying in %.1f s (attempt %d of %d)",
                    what,
                    "timed out" if status is None else f"HTTP {status}",
                    delay,
                    attempt + 1,
                    self._retry.attempts,
                )
            self._sleep(delay)
            attempt += 1

    def _describe(self, error: Exception) -> tuple[int | None, float | None]:
        if isinstance(error, SpotifyException):
            return error.http_status, parse_retry_after(error.headers.get("Retry-After"), self._clock())
        if isinstance(error, _HttpFault):
            return error.status, parse_retry_after(error.retry_after, self._clock())
        return None, None

    def _give_up(
        self, what: str, status: int | None, retry_after: float | None, attempts: int, error: Exception
    ) -> SpotifyError:
        cap = self._retry.max_retry_after
        if status == 429:
            if retry_after is not None and retry_after > cap:
                return SpotifyRateLimitError(
                    f"Spotify rate limit on {what}: Retry-After asks to wait {retry_after:.0f} s, more "
                    f"than the {cap:.0f} s a step waits. Failing now; the next capture tries again (raw "
                    "merges, so no play is lost while fewer than 50 are played meanwhile).",
                    retry_after=retry_after,
                )
            return SpotifyRateLimitError(
                f"Spotify rate limit on {what}: still HTTP 429 after {attempts} attempts.",
                retry_after=retry_after,
            )
        if status is None:
            kind = "timed out" if isinstance(error, requests.Timeout) else "could not connect"
            return SpotifyApiError(
                f"Spotify {what} {kind} on each of {attempts} attempts "
                f"(timeout {self._timeout:g} s per request)."
            )
        if status == 401:
            return SpotifyAuthError(
                f"Spotify answered HTTP 401 to {what} with a fresh access token. Run `{AUTH_COMMAND}`.",
                error="unauthorized",
            )
        detail = _redact(str(getattr(error, "msg", error)), self._secrets()).strip()
        hint = ""
        if status == 403:
            hint = (
                " For an app in development mode, the Spotify account must be listed under User "
                "Management in the developer dashboard (at most five users), and the app owner needs "
                "Spotify Premium."
            )
        return SpotifyApiError(
            f"Spotify {what} failed with HTTP {status} after {attempts} attempt(s): {detail}.{hint}"
        )

    def _secrets(self) -> list[str | None]:
        token = self._token
        return [
            self._settings.spotify_client_secret,
            self._settings.spotify_refresh_token,
            token.refresh_token if token else None,
            token.access_token if token else None,
        ]


def _redact(text: str, secrets: list[str | None]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


class _MaskCredentials(logging.Filter):
    """Masks `Bearer ...`/`Basic ...` in spotipy's records: it logs request headers at DEBUG."""

    _pattern = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = self._pattern.sub(r"\1 ***", message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def _mask_spotipy_logs() -> None:
    for name in ("spotipy.client", "spotipy.oauth2"):
        logger = logging.getLogger(name)
        if not any(isinstance(existing, _MaskCredentials) for existing in logger.filters):
            logger.addFilter(_MaskCredentials())


def answer_time(response: requests.Response) -> datetime:
    """When the server produced `response`: its Date header (whole seconds, so never late), else our clock
    less the time the request took."""
    try:
        moment = email.utils.parsedate_to_datetime(response.headers.get("Date", ""))
    except (TypeError, ValueError):
        moment = None
    if moment is not None and moment.tzinfo is not None:
        return moment.astimezone(UTC)
    return datetime.now(UTC) - response.elapsed


def _epoch_ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _played_at_ms(item: dict[str, Any]) -> int:
    return _epoch_ms(datetime.fromisoformat(item["played_at"].replace("Z", "+00:00")))


def _played_at_ms_or_none(item: Any) -> int | None:
    try:
        return _played_at_ms(item)
    except (TypeError, KeyError, AttributeError, ValueError):
        return None


def _cursor(page: dict[str, Any], name: str) -> int | None:
    value = (page.get("cursors") or {}).get(name)
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None
