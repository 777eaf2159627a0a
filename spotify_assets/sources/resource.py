"""The Spotify resource: hands the raw asset a sample or a live source, as SPOTIFY_SOURCE says."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field, SecretStr

from spotify_assets.contracts.listener_scope import DEFAULT_LISTENER
from spotify_assets.contracts.settings import (
    DEFAULT_ACCOUNTS_BASE_URL,
    DEFAULT_API_BASE_URL,
    DEFAULT_REDIRECT_URI,
    DEFAULT_TOKEN_DIR,
    DEFAULT_TOKEN_FILE,
    Settings,
)
from spotify_assets.sources.base import RecentlyPlayedSource


class SpotifyResource(dg.ConfigurableResource):
    """Where recently-played items come from.

    `auto` uses the live Web API when a client id is configured and SPOTIFY_CLIENT_SECRET is set, and the
    deterministic sample otherwise. `build_definitions(settings)` sets the config; the client secret and the
    refresh token are `dg.EnvVar`s, resolved from the run's environment when the resource is built, so their
    values are never part of the config the UI shows.

    Example:
        SpotifyResource(source="sample", listener_id="demo")
        SpotifyResource(source="live", client_id="...", client_secret=dg.EnvVar("SPOTIFY_CLIENT_SECRET"))
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
    client_secret: str | None = Field(default=None, description="dg.EnvVar('SPOTIFY_CLIENT_SECRET')")
    refresh_token: str | None = Field(
        default=None, description="dg.EnvVar('SPOTIFY_REFRESH_TOKEN'); else the token file"
    )
    api_base_url: str = Field(default=DEFAULT_API_BASE_URL, description="SPOTIFY_API_BASE_URL")
    accounts_base_url: str = Field(default=DEFAULT_ACCOUNTS_BASE_URL, description="SPOTIFY_ACCOUNTS_BASE_URL")
    redirect_uri: str = Field(default=DEFAULT_REDIRECT_URI, description="SPOTIFY_REDIRECT_URI")
    token_file: str = Field(default=DEFAULT_TOKEN_FILE, description="SPOTIFY_TOKEN_FILE (written by `auth`)")
    token_dir: str = Field(
        default=DEFAULT_TOKEN_DIR,
        description="SPOTIFY_TOKEN_DIR: one token file per registered listener (`auth --listener NAME`)",
    )

    @classmethod
    def from_settings(cls, settings: Settings, timezone: str) -> SpotifyResource:
        """The resource for these settings, with the partitions' time zone; the secrets that are set go in as
        `dg.EnvVar` (their names, never their values)."""
        return cls(
            source=settings.spotify_source,
            listener_id=settings.listener_id,
            timezone=timezone,
            client_id=settings.spotify_client_id,
            client_secret=_env_var("SPOTIFY_CLIENT_SECRET", settings.spotify_client_secret),
            refresh_token=_env_var("SPOTIFY_REFRESH_TOKEN", settings.spotify_refresh_token),
            api_base_url=settings.spotify_api_base_url,
            accounts_base_url=settings.spotify_accounts_base_url,
            redirect_uri=settings.spotify_redirect_uri,
            token_file=settings.spotify_token_file,
            token_dir=settings.spotify_token_dir,
        )

    def resolved_source(self) -> str:
        """`live` or `sample`."""
        if self.source == "auto":
            return "live" if self.client_id and self.client_secret else "sample"
        if self.source not in ("live", "sample"):
            raise ValueError(f"SpotifyResource.source must be auto, live or sample, not {self.source!r}")
        return self.source

    def live_settings(self, listener: str = DEFAULT_LISTENER) -> Settings:
        """What the live client and the token store read for `listener`: this config and its secrets. A
        registered listener's token is their file in `token_dir` alone: SPOTIFY_REFRESH_TOKEN is the
        default listener's, never another's."""
        default = listener == DEFAULT_LISTENER
        return Settings(
            spotify_client_id=self.client_id,
            spotify_client_secret=_secret(self.client_secret),
            spotify_refresh_token=_secret(self.refresh_token) if default else None,
            spotify_redirect_uri=self.redirect_uri,
            spotify_api_base_url=self.api_base_url,
            spotify_accounts_base_url=self.accounts_base_url,
            spotify_source="live",
            spotify_token_file=self.token_file if default else str(Path(self.token_dir) / f"{listener}.json"),
            spotify_token_dir=self.token_dir,
            listener_id=self.listener_id if default else listener,
        )

    def default_has_token(self) -> bool:
        """Whether the default listener can be captured: the sample, or a single-listener token is set."""
        if self.resolved_source() == "sample":
            return True
        return bool(self.refresh_token) or Path(self.token_file).expanduser().exists()

    def get_source(self, listener: str = DEFAULT_LISTENER) -> RecentlyPlayedSource:
        """Build `listener`'s source for one run (no network call happens here).

        The sample gives each registered listener plays of their own (seeded by their name too), under
        their name as listener id."""
        if self.resolved_source() == "sample":
            from spotify_assets.sources.sample import SampleRecentlyPlayedSource  # see LAZY_IMPORTS

            default = listener == DEFAULT_LISTENER
            return SampleRecentlyPlayedSource(
                listener_id=(self.listener_id or "demo") if default else listener,
                timezone=self.timezone,
                plays_per_day=self.sample_plays_per_day,
                seed=None if default else listener,
            )
        from spotify_assets.sources.live import LiveRecentlyPlayedSource  # see LAZY_IMPORTS

        return LiveRecentlyPlayedSource(self.live_settings(listener))


def _secret(value: str | None) -> SecretStr | None:
    return SecretStr(value) if value else None


def _env_var(name: str, value: object) -> dg.EnvVar | None:
    """`dg.EnvVar(name)` for a secret that is set: the resource's config names it, the run reads its value."""
    return dg.EnvVar(name) if value else None
