"""The one settings object: every environment variable the project reads, typed, with its default.

Values come from the process environment, then from a `.env` file in the working directory (the environment
wins). Nothing else in the package reads `os.environ` for configuration.

`get_settings()` is called at load time only: the CLI, `definitions.py`'s module-level `defs`, and the Dagster
instance's storage (`storage/instance_storage.py`, which Dagster builds from dagster.yaml outside any
Definitions). Everything Dagster runs gets its values from `build_definitions(settings)`. Secrets are the
exception: they never become resource config (which the UI shows), so resources read them at run time with
`read_secret` (or `dg.EnvVar`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path

from dagster._utils.schedules import is_valid_cron_string

from spotify_assets.contracts.alert_settings import ALERT_SECRETS, AlertSettings

DEFAULT_API_BASE_URL = "https://api.spotify.com/v1/"
DEFAULT_ACCOUNTS_BASE_URL = "https://accounts.spotify.com/"
DEFAULT_REDIRECT_URI = "http://127.0.0.1:8888/callback"


def read_dotenv(path: Path) -> dict[str, str]:
    """Parse a `.env` file: `KEY=value` lines, `#` comments, optional quotes and `export `."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for raw_line in path.read_text(encoding="utf-8").splitlines():
        line = raw_line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


@dataclass(frozen=True)
class Settings:
    """Configuration of one deployment; see the table in docs/configuration.md."""

    spotify_client_id: str | None = None
    spotify_client_secret: str | None = field(default=None, repr=False)
    spotify_refresh_token: str | None = field(default=None, repr=False)
    spotify_redirect_uri: str = DEFAULT_REDIRECT_URI
    spotify_api_base_url: str = DEFAULT_API_BASE_URL
    spotify_accounts_base_url: str = DEFAULT_ACCOUNTS_BASE_URL
    spotify_source: str = "auto"
    spotify_token_file: str = "./data/spotify_token.json"
    spotify_token_dir: str = "./data/spotify_tokens"
    s3_bucket_name: str | None = None
    s3_prefix: str = ""
    s3_endpoint_url: str | None = None
    lake_dir: str = "./data/lake"
    lake_format: str = "parquet"
    db_host: str | None = None
    db_port: int = 5432
    db_name: str = "postgres"
    db_user: str = "postgres"
    db_password: str | None = field(default=None, repr=False)
    db_sslmode: str | None = None
    embedded_pg_dir: str = "./data/postgres"
    partitions_start_date: date = date(2025, 1, 1)
    partitions_timezone: str = "UTC"
    listener_id: str | None = None
    history_dir: str | None = None
    capture_cron: str = "*/15 * * * *"
    daily_cron: str = "30 0 * * *"
    dagster_storage: str = "postgres"
    dagster_schema: str = "dagster"
    max_concurrent_runs: int = 2
    run_start_timeout_seconds: int = 180
    run_max_runtime_seconds: int = 21600
    run_monitoring_interval_seconds: int = 30
    run_workers_on_this_host: bool = True
    alerts: AlertSettings = field(default_factory=AlertSettings)

    @property
    def uses_s3(self) -> bool:
        return bool(self.s3_bucket_name)

    @property
    def uses_embedded_postgres(self) -> bool:
        return not self.db_host

    @property
    def resolved_source(self) -> str:
        """`live` or `sample`: what SPOTIFY_SOURCE=auto means for these credentials."""
        if self.spotify_source not in ("auto", "live", "sample"):
            raise ValueError(f"SPOTIFY_SOURCE must be auto, live or sample, not {self.spotify_source!r}")
        if self.spotify_source != "auto":
            return self.spotify_source
        has_credentials = bool(self.spotify_client_id and self.spotify_client_secret)
        return "live" if has_credentials else "sample"

    @classmethod
    def from_mapping(cls, env: Mapping[str, str]) -> Settings:
        """Build settings from a mapping of environment variables (empty strings count as unset)."""

        def get(name: str) -> str | None:
            value = env.get(name)
            return value if value not in (None, "") else None

        def get_or(name: str, default: str) -> str:
            return get(name) or default

        if (lake_format := get_or("LAKE_FORMAT", "parquet")) not in ("parquet", "csv"):
            raise ValueError(f"LAKE_FORMAT must be parquet or csv, not {lake_format!r}")
        start = get("PARTITIONS_START_DATE")
        try:
            start_date = date.fromisoformat(start) if start else cls.partitions_start_date
        except ValueError as error:
            raise ValueError(f"PARTITIONS_START_DATE must be YYYY-MM-DD, not {start!r}") from error
        return cls(
            spotify_client_id=get("SPOTIFY_CLIENT_ID"),
            spotify_client_secret=get("SPOTIFY_CLIENT_SECRET"),
            spotify_refresh_token=get("SPOTIFY_REFRESH_TOKEN"),
            spotify_redirect_uri=get_or("SPOTIFY_REDIRECT_URI", DEFAULT_REDIRECT_URI),
            spotify_api_base_url=get_or("SPOTIFY_API_BASE_URL", DEFAULT_API_BASE_URL),
            spotify_accounts_base_url=get_or("SPOTIFY_ACCOUNTS_BASE_URL", DEFAULT_ACCOUNTS_BASE_URL),
            spotify_source=get_or("SPOTIFY_SOURCE", "auto"),
            spotify_token_file=get_or("SPOTIFY_TOKEN_FILE", "./data/spotify_token.json"),
            spotify_token_dir=get_or("SPOTIFY_TOKEN_DIR", cls.spotify_token_dir),
            s3_bucket_name=get("S3_BUCKET_NAME"),
            s3_prefix=get_or("S3_PREFIX", "").strip("/"),
            s3_endpoint_url=get("S3_ENDPOINT_URL"),
            lake_dir=get_or("LAKE_DIR", "./data/lake"),
            lake_format=lake_format,
            db_host=get("DB_HOST"),
            db_port=_port(get("DB_PORT"), "DB_PORT") if get("DB_HOST") else cls.db_port,
            db_name=get_or("DB_NAME", "postgres"),
            db_user=get_or("DB_USER", "postgres"),
            db_password=get("DB_PASSWORD"),
            db_sslmode=get("DB_SSLMODE"),
            embedded_pg_dir=get_or("EMBEDDED_PG_DIR", "./data/postgres"),
            partitions_start_date=start_date,
            partitions_timezone=get_or("PARTITIONS_TIMEZONE", "UTC"),
            listener_id=get("LISTENER_ID"),
            history_dir=get("HISTORY_DIR"),
            capture_cron=_cron(get_or("CAPTURE_CRON", cls.capture_cron), "CAPTURE_CRON"),
            daily_cron=_cron(get_or("DAILY_CRON", cls.daily_cron), "DAILY_CRON"),
            dagster_storage=_storage_kind(get_or("DAGSTER_STORAGE", cls.dagster_storage), "DAGSTER_STORAGE"),
            dagster_schema=get_or("DAGSTER_PG_SCHEMA", cls.dagster_schema),
            max_concurrent_runs=_count(
                get("MAX_CONCURRENT_RUNS"), cls.max_concurrent_runs, "MAX_CONCURRENT_RUNS"
            ),
            run_start_timeout_seconds=_count(
                get("RUN_START_TIMEOUT_SECONDS"), cls.run_start_timeout_seconds, "RUN_START_TIMEOUT_SECONDS"
            ),
            run_max_runtime_seconds=_count(
                get("RUN_MAX_RUNTIME_SECONDS"), cls.run_max_runtime_seconds, "RUN_MAX_RUNTIME_SECONDS"
            ),
            run_monitoring_interval_seconds=_count(
                get("RUN_MONITORING_INTERVAL_SECONDS"),
                cls.run_monitoring_interval_seconds,
                "RUN_MONITORING_INTERVAL_SECONDS",
            ),
            run_workers_on_this_host=_flag(get("RUN_WORKERS_ON_THIS_HOST"), True, "RUN_WORKERS_ON_THIS_HOST"),
            alerts=AlertSettings.from_getter(get),
        )


def _port(value: str | None, name: str) -> int:
    """A TCP port number (default 5432), or a ValueError naming the variable."""
    if value is None:
        return Settings.db_port
    try:
        port = int(value)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise ValueError(f"{name} must be a port number from 1 to 65535, not {value!r}")
    return port


def _cron(value: str, name: str) -> str:
    """A cron string Dagster accepts, or a ValueError naming the variable."""
    if not is_valid_cron_string(value):
        raise ValueError(f"{name} must be a cron expression such as '*/15 * * * *', not {value!r}")
    return value


def _storage_kind(value: str, name: str) -> str:
    """`postgres` or `sqlite`: where the Dagster instance keeps runs, events and schedules."""
    if value not in ("postgres", "sqlite"):
        raise ValueError(f"{name} must be postgres or sqlite, not {value!r}")
    return value


def _count(value: str | None, default: int, name: str) -> int:
    """A positive whole number from the environment, or the default when unset."""
    if value is None:
        return default
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{name} must be a whole number of at least 1, not {value!r}")
    return int(value)


def _flag(value: str | None, default: bool, name: str) -> bool:
    """`true` or `false` (also 1/0, yes/no), or the default when unset."""
    if value is None:
        return default
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise ValueError(f"{name} must be true or false, not {value!r}")


SECRET_VARIABLES = frozenset(
    {"SPOTIFY_CLIENT_SECRET", "SPOTIFY_REFRESH_TOKEN", "DB_PASSWORD", *ALERT_SECRETS}
)


def read_secret(name: str) -> str | None:
    """One secret, read when a run needs it (the environment over `.env`): never a resource config value."""
    if name not in SECRET_VARIABLES:
        raise ValueError(f"{name} is not a secret setting; pass it through build_definitions(settings)")
    return {**read_dotenv(Path(".env")), **os.environ}.get(name) or None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings of this process: the environment over `.env` in the working directory."""
    return Settings.from_mapping({**read_dotenv(Path(".env")), **os.environ})
