"""Running the whole graph in tests: settings on tmp storage, one run per day or range, results read back."""

import hashlib
import os
import re
from datetime import date, datetime
from pathlib import Path

import dagster as dg
import pandas as pd
from dagster._core.execution.resources_init import get_transitive_required_resource_keys

from spotify_assets.contracts.settings import Settings, get_settings
from spotify_assets.contracts.tables import TABLES
from spotify_assets.definitions import build_definitions
from spotify_assets.storage.warehouse import read_table

LIVE_FIELDS = (
    "spotify_client_id",
    "spotify_client_secret",
    "spotify_api_base_url",
    "spotify_accounts_base_url",
    "spotify_redirect_uri",
    "spotify_token_file",
)
"""What the live source takes from the settings (its resource names the secret as a `dg.EnvVar`, which the
run reads from the environment)."""


def make_settings(tmp_path: Path, postgres_resource, **overrides) -> Settings:
    """Settings on tmp storage; for the live source, the Spotify settings of the environment (as the
    `live_env` fixture sets them, like a user's `.env`)."""
    if overrides.get("spotify_source") == "live":
        environment = get_settings()
        overrides = {**{name: getattr(environment, name) for name in LIVE_FIELDS}, **overrides}
    base = {
        "lake_dir": str(tmp_path / "lake"),
        "embedded_pg_dir": postgres_resource.embedded_dir,
        "spotify_source": "sample",
        "partitions_start_date": date(2015, 1, 1),
    }
    return Settings(**{**base, **overrides})


def make_s3_settings(tmp_path: Path, postgres_resource, s3_lake, **overrides) -> Settings:
    """`make_settings` with the lake on `s3_lake` (moto's S3 over HTTP)."""
    return make_settings(
        tmp_path,
        postgres_resource,
        s3_bucket_name=s3_lake.bucket,
        s3_endpoint_url=s3_lake.endpoint_url,
        s3_prefix=s3_lake.prefix,
        **overrides,
    )


def materialize(
    settings: Settings, first: date, last: date | None = None, instance=None, raise_on_error: bool = True
) -> dg.ExecuteInProcessResult:
    """One run of the whole graph and its asset checks for a day, or for a range of days as one single run."""
    defs = build_definitions(settings)
    tags = (
        {
            "dagster/asset_partition_range_start": first.isoformat(),
            "dagster/asset_partition_range_end": last.isoformat(),
        }
        if last
        else {}
    )
    result = dg.materialize(
        [*defs.assets, *defs.asset_checks],
        resources=defs.resources,
        partition_key=None if last else first.isoformat(),
        tags=tags,
        instance=instance or dg.DagsterInstance.ephemeral(),
        raise_on_error=raise_on_error,
    )
    assert result.success or not raise_on_error
    return result


def schedule_requests(
    defs: dg.Definitions, name: str, instance: dg.DagsterInstance, tick: datetime
) -> list[dg.RunRequest]:
    """The run requests of the schedule `name` at `tick`, evaluated as the daemon does.

    The context is closed before this returns: a persistent instance's schedule context enters an instance of
    its own, and left open it stays Dagster's current defs-state storage until the garbage collector finalizes
    it, when it resets that storage to one of an instance a test has closed since.
    """
    schedule = defs.resolve_schedule_def(name)
    repository = defs.get_repository_def()
    # Only the resources the schedule asks for (the capture schedule: the bound Spotify resource), as the
    # code server builds them for the daemon.
    resources = repository.get_top_level_resources()
    required = get_transitive_required_resource_keys(schedule.required_resource_keys, resources)
    with dg.build_schedule_context(
        instance=instance,
        scheduled_execution_time=tick,
        repository_def=repository,
        resources={key: resource for key, resource in resources.items() if key in required},
    ) as context:
        return list(schedule.evaluate_tick(context).run_requests or [])


def warehouse_tables(postgres_resource) -> dict[str, pd.DataFrame]:
    with postgres_resource.connect() as conn:
        return {name: read_table(conn, spec) for name, spec in TABLES.items()}


def lake_digest(lake_dir: Path) -> dict[str, str]:
    return {
        str(path.relative_to(lake_dir)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(lake_dir.rglob("*"))
        if path.is_file()
    }


def user_shell_env(tmp_path: Path, postgres_resource, **variables: str) -> dict[str, str]:
    """A user's shell for CLI subprocesses: a fresh DAGSTER_HOME, the embedded stack under `tmp_path`, no
    Spotify, database or S3 setting of this process's own, plus `variables`."""
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SPOTIFY_", "DB_", "S3_"))}
    env.update(
        DAGSTER_HOME=str(dagster_home),
        LAKE_DIR=str(tmp_path / "lake"),
        EMBEDDED_PG_DIR=postgres_resource.embedded_dir,
        **variables,
    )
    return env


PROGRESS_LINE = re.compile(r"^\s*(\d+) of (\d+) OK (\S+) \.+ \[(.*) in [\d.]+s\]$")
EVENT_LOG_LINE = "Dagster's event log: "


def progress_lines(output: str) -> dict[str, str]:
    """The CLI's progress lines: asset key -> what it measured (`357 rows, 7 partitions`)."""
    found = {}
    for line in output.splitlines():
        if match := PROGRESS_LINE.match(line):
            found[match.group(3)] = match.group(4)
    return found


def event_log_paths(output: str) -> list[Path]:
    """The Dagster event log files the CLI named."""
    return [
        Path(line.removeprefix(EVENT_LOG_LINE))
        for line in output.splitlines()
        if line.startswith(EVENT_LOG_LINE)
    ]


def asset_keys(selection: str = "*") -> set[str]:
    """The keys of the definitions' assets in `selection`, as the CLI prints them."""
    from spotify_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    keys = dg.AssetSelection.from_string(selection).resolve(graph)
    return {key.to_user_string() for key in keys}


def run_totals(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    """An asset's totals over its run's partitions: an IO manager records them on a range's last partition's
    event as `range/<name>` (an asset's own output metadata keeps its names); a one-partition run on its
    event."""
    events = [e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == asset]
    last = max(events, key=lambda e: e.partition or "")
    values = {key: value.value for key, value in last.materialization.metadata.items()}
    totals = {key.removeprefix("range/"): value for key, value in values.items() if key.startswith("range/")}
    return {**values, **totals}
