"""The one settings object: every environment variable the project reads, typed, with its default.

`get_settings()` reads them once per process: the project's `.env` (python-dotenv) goes into the environment
(the environment wins), and `Settings.from_mapping(os.environ)` validates them. Relative paths are resolved
against the project folder, not the working directory (docs/configuration.md, "The project folder").
Nothing else in the package reads `os.environ` for configuration.

`get_settings()` is called at load time only: the CLI, `definitions.py`'s module-level `defs`, and the Dagster
instance's storage (`storage/instance_storage.py`, which Dagster builds from dagster.yaml outside any
Definitions). Everything Dagster runs gets its values from `build_definitions(settings)`; secrets reach
resources as `dg.EnvVar`, never as config values.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

from dagster._utils.schedules import is_valid_cron_string
from dotenv import find_dotenv, load_dotenv
from pydantic import (
    AfterValidator,
    AliasGenerator,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from spotify_assets.contracts.alert_settings import WEBHOOK_FORMATS, AlertSettings

DEFAULT_API_BASE_URL = "https://api.spotify.com/v1/"
DEFAULT_ACCOUNTS_BASE_URL = "https://accounts.spotify.com/"
DEFAULT_REDIRECT_URI = "http://127.0.0.1:8888/callback"
DEFAULT_TOKEN_FILE = "./data/spotify_token.json"
DEFAULT_TOKEN_DIR = "./data/spotify_tokens"
PROJECT_DIR_VARIABLE = "SPOTIFY_ASSETS_PROJECT_DIR"


class Must:
    """What a setting must be, for its error message: `<VARIABLE> must be <what>, not '<value>'`."""

    def __init__(self, what: str) -> None:
        self.what = what


def _cron(value: str) -> str:
    if not is_valid_cron_string(value):
        raise ValueError("not a cron expression")
    return value


def _in_project(value: str | None, info: ValidationInfo) -> str | None:
    """A relative path made absolute against the project folder (when the settings have one)."""
    project = info.data.get("project_dir")
    if value is None or project is None or Path(value).expanduser().is_absolute():
        return value
    return os.path.normpath(project / value)


Port = Annotated[int, Field(ge=1, le=65535), Must("a port number from 1 to 65535")]
Count = Annotated[int, Field(ge=1), Must("a whole number of at least 1")]
Cron = Annotated[str, AfterValidator(_cron), Must("a cron expression such as '*/15 * * * *'")]
Flag = Annotated[bool, Must("true or false")]
Day = Annotated[date, Must("YYYY-MM-DD")]


def _addresses(value: object) -> object:
    """`a@x, b@x` as ("a@x", "b@x")."""
    if isinstance(value, str):
        return tuple(address.strip() for address in value.split(",") if address.strip())
    return value


Addresses = Annotated[
    tuple[str, ...], BeforeValidator(_addresses), Must("email addresses separated by commas")
]
WebhookFormat = Annotated[
    Literal["json", "slack", "discord", "ntfy"], Must(f"one of {', '.join(WEBHOOK_FORMATS)}")
]
ProjectPath = Annotated[str, AfterValidator(_in_project)]
OptionalProjectPath = Annotated[str | None, AfterValidator(_in_project)]


class Settings(BaseSettings):
    """Configuration of one deployment; see the table in docs/configuration.md.

    Each field's environment variable is its name in capitals, but for the two named otherwise.
    `Settings(...)` holds exactly what it is given (and the defaults); `Settings.from_mapping(variables)` and
    `get_settings()` read variables."""

    model_config = SettingsConfigDict(
        alias_generator=AliasGenerator(validation_alias=str.upper),
        frozen=True,
        validate_by_name=True,
        validate_by_alias=True,
        validate_default=True,
        extra="ignore",
    )

    project_dir: Path | None = Field(default=None, validation_alias=PROJECT_DIR_VARIABLE)
    spotify_client_id: str | None = None
    spotify_client_secret: SecretStr | None = None
    spotify_refresh_token: SecretStr | None = None
    spotify_redirect_uri: str = DEFAULT_REDIRECT_URI
    spotify_api_base_url: str = DEFAULT_API_BASE_URL
    spotify_accounts_base_url: str = DEFAULT_ACCOUNTS_BASE_URL
    spotify_source: Literal["auto", "live", "sample"] = "auto"
    spotify_token_file: ProjectPath = DEFAULT_TOKEN_FILE
    spotify_token_dir: ProjectPath = DEFAULT_TOKEN_DIR
    s3_bucket_name: str | None = None
    s3_prefix: Annotated[str, AfterValidator(lambda prefix: prefix.strip("/"))] = ""
    s3_endpoint_url: str | None = None
    lake_dir: ProjectPath = "./data/lake"
    lake_format: Literal["parquet", "csv"] = "parquet"
    db_host: str | None = None
    db_port: Port = 5432
    db_name: str = "postgres"
    db_user: str = "postgres"
    db_password: SecretStr | None = None
    db_sslmode: str | None = None
    embedded_pg_dir: ProjectPath = "./data/postgres"
    partitions_start_date: Day = date(2025, 1, 1)
    partitions_timezone: str = "UTC"
    listener_id: str | None = None
    history_dir: OptionalProjectPath = None
    capture_cron: Cron = "*/15 * * * *"
    daily_cron: Cron = "30 0 * * *"
    dagster_storage: Literal["postgres", "sqlite"] = "postgres"
    dagster_schema: str = Field(default="dagster", validation_alias="DAGSTER_PG_SCHEMA")
    max_concurrent_runs: Count = 2
    run_start_timeout_seconds: Count = 180
    run_max_runtime_seconds: Count = 21600
    run_monitoring_interval_seconds: Count = 30
    run_queue_interval_seconds: Count = 5
    run_workers_on_this_host: Flag = True
    alert_smtp_host: str | None = None
    alert_smtp_port: Port = 587
    alert_smtp_starttls: Flag = True
    alert_smtp_user: str | None = None
    alert_smtp_password: SecretStr | None = None
    alert_email_from: str | None = None
    alert_email_to: Addresses = ()
    alert_webhook_url: SecretStr | None = None
    alert_webhook_format: WebhookFormat = "json"
    alert_stale_capture_seconds: Count = 3600
    alert_reminder_hours: Count = 24
    alert_interval_seconds: Count = 60
    heartbeat_url: SecretStr | None = None

    @model_validator(mode="after")
    def _email_needs_server_and_recipients(self) -> Settings:
        if self.alert_smtp_host and not self.alert_email_to:
            raise ValueError("ALERT_SMTP_HOST is set but ALERT_EMAIL_TO is not: give the recipients (a,b)")
        if self.alert_email_to and not self.alert_smtp_host:
            raise ValueError("ALERT_EMAIL_TO is set but ALERT_SMTP_HOST is not: give the SMTP server")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only the values given: the environment is read by `from_mapping`, so that tests can give one."""
        return (init_settings,)

    @classmethod
    def variables(cls) -> tuple[str, ...]:
        """Every environment variable the settings read, in the order of the fields."""
        return tuple(str(field.validation_alias) for field in cls.model_fields.values())

    @classmethod
    def secret_variables(cls) -> tuple[str, ...]:
        """The variables of the secret settings (`SecretStr` fields)."""
        return tuple(
            str(field.validation_alias)
            for field in cls.model_fields.values()
            if SecretStr in (field.annotation, *get_args(field.annotation))
        )

    @property
    def alerts(self) -> AlertSettings:
        """The alert channels, thresholds and heartbeat, without their secrets (only whether they are set)."""
        return AlertSettings(
            smtp_host=self.alert_smtp_host,
            smtp_port=self.alert_smtp_port,
            smtp_starttls=self.alert_smtp_starttls,
            smtp_user=self.alert_smtp_user,
            has_smtp_password=self.alert_smtp_password is not None,
            email_from=self.alert_email_from or self.alert_smtp_user or AlertSettings.email_from,
            email_to=self.alert_email_to,
            has_webhook=self.alert_webhook_url is not None,
            webhook_format=self.alert_webhook_format,
            stale_capture_seconds=self.alert_stale_capture_seconds,
            reminder_hours=self.alert_reminder_hours,
            interval_seconds=self.alert_interval_seconds,
            has_heartbeat=self.heartbeat_url is not None,
        )

    @property
    def uses_s3(self) -> bool:
        return bool(self.s3_bucket_name)

    @property
    def uses_embedded_postgres(self) -> bool:
        return not self.db_host

    @property
    def resolved_source(self) -> str:
        """`live` or `sample`: what SPOTIFY_SOURCE=auto means for these credentials."""
        if self.spotify_source != "auto":
            return self.spotify_source
        has_credentials = bool(self.spotify_client_id and self.spotify_client_secret)
        return "live" if has_credentials else "sample"

    @classmethod
    def from_mapping(cls, variables: Mapping[str, str]) -> Settings:
        """Settings from a mapping of environment variables (empty strings count as unset); a bad value raises
        a ValueError naming each variable, what it must be and the value found. `DB_PORT` is read only with
        `DB_HOST` (the embedded server listens on a socket)."""
        ignored = set() if variables.get("DB_HOST") else {"DB_PORT"}
        values = {
            name: variables[name]
            for name in cls.variables()
            if variables.get(name) not in (None, "") and name not in ignored
        }
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            raise ValueError("; ".join(_explain(cls, problem) for problem in error.errors())) from None


def _explain(settings: type[Settings], problem: Any) -> str:
    """One validation problem as `<VARIABLE> must be <what>, not '<value>'`; a rule between settings (a model
    validator's ValueError) as its own text."""
    if not problem["loc"] and isinstance(error := problem.get("ctx", {}).get("error"), ValueError):
        return str(error)
    variable = str(problem["loc"][0]) if problem["loc"] else "settings"
    fields = {str(field.validation_alias): field for field in settings.model_fields.values()}
    field = fields.get(variable)
    musts = [item.what for item in field.metadata if isinstance(item, Must)] if field else []
    choices = get_args(field.annotation) if field and get_origin(field.annotation) is Literal else ()
    if musts:
        what = musts[0]
    elif choices:
        what = ", ".join(choices[:-1]) + f" or {choices[-1]}"
    else:
        what = f"valid ({problem['msg']})"
    return f"{variable} must be {what}, not {problem['input']!r}"


def secret_value(secret: SecretStr | None) -> str | None:
    """The text of a secret setting, for the one call that sends it (never print or store it)."""
    return secret.get_secret_value() if secret is not None else None


def project_folder() -> Path:
    """SPOTIFY_ASSETS_PROJECT_DIR; else the folder of the nearest `.env` from the working directory upward;
    else the working directory."""
    if configured := os.environ.get(PROJECT_DIR_VARIABLE):
        return Path(configured).expanduser().resolve()
    found = find_dotenv(usecwd=True)
    return Path(found).parent.resolve() if found else Path.cwd()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings of this process: the environment over the project's `.env`, paths in the project folder.

    A project found by its `.env` is passed on in SPOTIFY_ASSETS_PROJECT_DIR, so that the processes this one
    starts (code server, run workers, `dagster` commands) use the same folder whatever their working
    directory."""
    folder = project_folder()
    if (folder / ".env").is_file():
        load_dotenv(folder / ".env", override=False, interpolate=False)
        os.environ.setdefault(PROJECT_DIR_VARIABLE, str(folder))
    return Settings.from_mapping({**os.environ, PROJECT_DIR_VARIABLE: str(folder)})
