"""What every source of recently-played items provides, whatever it talks to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

RECENTLY_PLAYED_PAGE_LIMIT = 50  # the API never returns more than this per request, nor keeps more plays


@dataclass(frozen=True)
class RecentlyPlayedFetch:
    """Items returned for a time window, exactly as the API's `items` objects.

    `reached_api_limit` is true when the source may have forgotten plays of the window: the API returned a
    full page of `RECENTLY_PLAYED_PAGE_LIMIT` and could not go further back than `oldest_played_at`, the
    oldest play it still remembered (inside the window or not). Raw extraction turns that into a possible gap
    on the days between the last play known to be captured and that one. `fetched_at` is when the source's
    answer was current (the API server's clock where it says so): every play listed by then is in `items`.
    """

    items: list[dict[str, Any]]
    reached_api_limit: bool = False
    requests: int = 1
    oldest_played_at: datetime | None = None
    fetched_at: datetime | None = None


class RecentlyPlayedSource(Protocol):
    """A source of `GET /me/player/recently-played` items."""

    def listener_id(self) -> str:
        """The Spotify user id the plays belong to."""
        ...

    def recently_played_between(self, start: datetime, end: datetime) -> RecentlyPlayedFetch:
        """Items whose `played_at` is in [start, end) (timezone-aware datetimes), as the API returned them."""
        ...
