"""The spotipy client that the live source and `spotify-assets auth` call the Web API with, and their errors.

spotipy makes the API calls, but on a `requests.Session` of ours, whose adapters never retry. spotipy's
`retries`/`status_forcelist` only configure the session it builds itself (where an empty forcelist means its
defaults, 429 included), and urllib3 then sleeps for any Retry-After, even hours. So every 429, 5xx and
timeout reaches `spotify_assets.sources.retries`, and every request carries `timeout`. spotipy logs request
headers at DEBUG: credentials in them are masked. Nothing here prompts: without a usable token the error says
to run `spotify-assets auth`.
"""

from __future__ import annotations

import logging
import re

import requests
import spotipy

from spotify_assets.contracts.settings import Settings
from spotify_assets.sources.errors import (
    AUTH_COMMAND,
    SpotifyApiError,
    SpotifyAuthError,
    SpotifyError,
    SpotifyRateLimitError,
)

__all__ = [
    "AUTH_COMMAND",
    "SpotifyApiError",
    "SpotifyAuthError",
    "SpotifyError",
    "SpotifyRateLimitError",
    "api_prefix",
    "make_client",
    "redact",
]


def redact(text: str, secrets: list[str | None]) -> str:
    """`text` with every non-empty secret replaced by `***` (for error messages)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def api_prefix(settings: Settings) -> str:
    """SPOTIFY_API_BASE_URL with exactly one trailing slash (spotipy's `prefix`)."""
    return settings.spotify_api_base_url.rstrip("/") + "/"


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
