"""The Spotify resource: hands the raw asset a sample or a live source, as SPOTIFY_SOURCE says."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from spotify_assets.settings import (
    DEFAULT_ACCOUNTS_BASE_URL,
    DEFAULT_API_BASE_URL,
    DEFAULT_REDIRECT_URI,
    Settings,
    read_secret,
)
from spotify_assets.sources.base import RecentlyPlayedSource

DEFAULT_TOKEN_FILE = Settings.spotify_token_file


class SpotifyResource(dg.ConfigurableResource):
    """Where recently-played items come from.

    `auto` uses the live Web API when a client id is configured and SPOTIFY_CLIENT_SECRET is set, and the
    deterministic sample otherwise. Everything but the secrets is config, set by
    `build_definitions(settings)`; the client secret and the refresh token are read from the environment (or
    `.env`) when the live client is built, so they are never part of this resource's config and the UI never
    shows them.

    Example:
        SpotifyResource(source="sample", listener_id="demo")
    """

    source: str = Field(default="auto", description="auto | live | sample")
    listener_id: str | None = Field(
        default=None, description="Owner of the plays; default: the Spotify user id (live) or `demo` (sample)"
    )
    timezone: str = Field(
        default="UTC", description="Sample source only: time zone of its days (the partitions' time zone)"
    )
    sample_plays_per_day: int | None = Field(
        default=None, description="Sample source only: force this many plays a day (benchmarks)"
    )
    client_id: str | None = Field(default=None, description="SPOTIFY_CLIENT_ID (not a secret)")
    api_base_url: str = Field(default=DEFAULT_API_BASE_URL, description="SPOTIFY_API_BASE_URL")
    accounts_base_url: str = Field(default=DEFAULT_ACCOUNTS_BASE_URL, description="SPOTIFY_ACCOUNTS_BASE_URL")
    redirect_uri: str = Field(default=DEFAULT_REDIRECT_URI, description="SPOTIFY_REDIRECT_URI")
    token_file: str = Field(default=DEFAULT_TOKEN_FILE, description="SPOTIFY_TOKEN_FILE (written by `auth`)")

    @classmethod
    def from_settings(cls, settings: Settings, timezone: str) -> SpotifyResource:
        """The resource for these settings (never their secrets), with the partitions' time zone."""
        return cls(
            source=settings.spotify_source,
            listener_id=settings.listener_id,
            timezone=timezone,
            client_id=settings.spotify_client_id,
            api_base_url=settings.spotify_api_base_url,
            accounts_base_url=settings.spotify_accounts_base_url,
            redirect_uri=settings.spotify_redirect_uri,
            token_file=settings.spotify_token_file,
        )

    def resolved_source(self) -> str:
        """`live` or `sample`."""
        if self.source == "auto":
            return "live" if self.client_id and read_secret("SPOTIFY_CLIENT_SECRET") else "sample"
        if self.source not in ("live", "sample"):
            raise ValueError(f"SpotifyResource.source must be auto, live or sample, not {self.source!r}")
        return self.source

    def live_settings(self) -> Settings:
        """What the live client and the token store read: this config, and the secrets read now."""
        return Settings(
            spotify_client_id=self.client_id,
            spotify_client_secret=read_secret("SPOTIFY_CLIENT_SECRET"),
            spotify_refresh_token=read_secret("SPOTIFY_REFRESH_TOKEN"),
            spotify_redirect_uri=self.redirect_uri,
            spotify_api_base_url=self.api_base_url,
            spotify_accounts_base_url=self.accounts_base_url,
            spotify_source="live",
            spotify_token_file=self.token_file,
            listener_id=self.listener_id,
        )

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

        return LiveRecentlyPlayedSource(self.live_settings())
