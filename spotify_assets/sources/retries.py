"""Bounded retries of the live source's requests: which failures are retried, how long to wait, when to stop.

429, 5xx and timeouts are retried a few times within one time budget per source, so that a run never waits
long for Spotify (the next capture tick tries again); a Retry-After longer than a step waits fails at once.
What finally fails becomes a `SpotifyError` whose message names the request and contains no secret.
"""

from __future__ import annotations

import email.utils
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import requests
from spotipy.exceptions import SpotifyException

from spotify_assets.sources.spotify_client import (
    AUTH_COMMAND,
    SpotifyApiError,
    SpotifyAuthError,
    SpotifyError,
    SpotifyRateLimitError,
    redact,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})


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


class HttpFault(Exception):
    """A retryable status from a plain `requests` call (the token endpoint), for `Retrier` to retry."""

    def __init__(self, status: int, retry_after: str | None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.retry_after = retry_after


class Retrier:
    """Runs one source's requests with retries; all of them share one time budget from the first request."""

    def __init__(
        self,
        config: RetryConfig,
        *,
        timeout: float,
        sleep: Callable[[float], None],
        clock: Callable[[], float],
        secrets: Callable[[], list[str | None]],
    ) -> None:
        self._config = config
        self._timeout = timeout  # only named in messages: each request carries it
        self._sleep = sleep
        self._clock = clock
        self._secrets = secrets  # what error messages must not contain
        self._started: float | None = None  # when the first request began; retries stop at the budget

    def run(self, what: str, call: Callable[[], T]) -> T:
        """`call()`, retried on 429, 5xx and timeouts; a `SpotifyError` about `what` when retries end."""
        attempt = 1
        if self._started is None:
            self._started = self._clock()
        while True:
            try:
                return call()
            except (SpotifyException, HttpFault, requests.Timeout, requests.ConnectionError) as error:
                status, retry_after = self._describe(error)
                delay = retry_delay(status, retry_after, attempt, self._config)
                if delay is not None and self._clock() + delay - self._started > self._config.budget:
                    delay = None  # a run never waits long for Spotify: the next capture tick tries again
                if delay is None:
                    raise self._give_up(what, status, retry_after, attempt, error) from error
                log.warning(
                    "Spotify %s: %s; retrying in %.1f s (attempt %d of %d)",
                    what,
                    "timed out" if status is None else f"HTTP {status}",
                    delay,
                    attempt + 1,
                    self._config.attempts,
                )
            self._sleep(delay)
            attempt += 1

    def _describe(self, error: Exception) -> tuple[int | None, float | None]:
        if isinstance(error, SpotifyException):
            return error.http_status, parse_retry_after(error.headers.get("Retry-After"), self._clock())
        if isinstance(error, HttpFault):
            return error.status, parse_retry_after(error.retry_after, self._clock())
        return None, None

    def _give_up(
        self, what: str, status: int | None, retry_after: float | None, attempts: int, error: Exception
    ) -> SpotifyError:
        cap = self._config.max_retry_after
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
        detail = redact(str(getattr(error, "msg", error)), self._secrets()).strip()
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
