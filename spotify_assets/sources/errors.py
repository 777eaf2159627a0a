"""The live source's errors, apart from the client: the assets catch them without importing spotipy."""

from __future__ import annotations

AUTH_COMMAND = "spotify-assets auth"


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
