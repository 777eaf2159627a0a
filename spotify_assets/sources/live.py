"""The live source: `GET /me/player/recently-played` from the Spotify Web API, for a process left running.

This module pages through the recently-played window (forward with `after`, then back with `before` when a
full page does not reach the start). Beside it (see docs/live-spotify.md): `spotify_client`
builds the spotipy client and defines the errors, `retries` decides what is retried and for how long, and
`access_token` loads and refreshes the access token. Nothing here prompts: without a usable token the error
says to run `spotify-assets auth`.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
import spotipy

from spotify_assets.contracts.settings import Settings
from spotify_assets.sources.access_token import AccessToken
from spotify_assets.sources.base import RECENTLY_PLAYED_PAGE_LIMIT, RecentlyPlayedFetch
from spotify_assets.sources.retries import DEFAULT_RETRY, Retrier, RetryConfig
from spotify_assets.sources.spotify_client import SpotifyApiError, SpotifyAuthError, make_client

_MAX_PAGES = 40  # per direction; guards against a cursor that never ends
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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
        self._token = AccessToken(settings, timeout=timeout, clock=clock)
        self._retrier = Retrier(retry, timeout=timeout, sleep=sleep, clock=clock, secrets=self._token.secrets)
        self._client: spotipy.Spotify | None = None
        self._listener_id = settings.listener_id
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

    def _note_answer_time(self, response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
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
            result = self._retrier.run(what, lambda: call(self._spotify()))
        except SpotifyAuthError as error:
            if error.error != "unauthorized":
                raise
            self._token.discard()
            result = self._retrier.run(what, lambda: call(self._spotify()))
        if not isinstance(result, dict):
            raise SpotifyApiError(f"Spotify's {what} did not answer with a JSON object")
        return result

    def _spotify(self) -> spotipy.Spotify:
        access_token = self._token.get(self._retrier)
        if self._client is None:
            session = requests.Session()
            session.hooks["response"].append(self._note_answer_time)
            self._client = make_client(self._settings, access_token, timeout=self._timeout, session=session)
        else:
            self._client.set_auth(access_token)
        return self._client


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
