"""The Spotify resource: hands the raw asset a sample or a live source, as SPOTIFY_SOURCE says."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from spotify_assets.settings import get_settings
from spotify_assets.sources.base import RecentlyPlayedSource


class SpotifyResource(dg.ConfigurableResource):
    """Where recently-played items come from.

    `auto` uses the live Web API when SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET are set and the
    deterministic sample otherwise. Credentials and tokens are read from the environment (or `.env`) when the
    live client is built; they are never part of this resource's config, so the UI never shows them.

    Example:
        SpotifyResource(source="sample", listener_id="demo")
    """

    source: str = Field(default="auto", description="auto | live | sample")
    listener_id: str | None = Field(
        default=None, description="Owner of the plays; default: the Spotify user id (live) or `demo` (sample)"
    )
    timezone: str = Field(default="UTC", description="Time zone of the daily partitions' day boundaries")
    sample_plays_per_day: int | None = Field(
        default=None, description="Sample source only: force this many plays a day (benchmarks)"
    )

    def resolved_source(self) -> str:
        """`live` or `sample`."""
        settings = get_settings()
        if self.source == "auto":
            return settings.resolved_source
        if self.source not in ("live", "sample"):
            raise ValueError(f"SpotifyResource.source must be auto, live or sample, not {self.source!r}")
        return self.source

    def get_source(self) -> RecentlyPlayedSource:
        """Build the source for one run (no network call happens here)."""
        if self.resolved_source() == "sample":
            from spotify_assets.sources.sample import SampleRecentlyPlayedSource

            return SampleRecentlyPlayedSource(
                listener_id=self.listener_id or "demo",
                timezone=self.timezone,
                plays_per_day=self.sample_plays_per_day,
            )
        from spotify_assets.sources.live import LiveRecentlyPlayedSource

        settings = get_settings()
        if self.listener_id:
            from dataclasses import replace

            settings = replace(settings, listener_id=self.listener_id)
        return LiveRecentlyPlayedSource(settings)
