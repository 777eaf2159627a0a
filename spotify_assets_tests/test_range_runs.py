"""Range runs on the default PostgreSQL instance: each asset plans its range as one event, and Dagster's
partition status still shows every day right: materialized after a run, failed when a range run fails,
materialized again after a re-run."""

import subprocess
import sys
from datetime import date, timedelta

import dagster as dg
import pytest
from psycopg import sql

from spotify_assets.contracts.settings import get_settings
from spotify_assets.contracts.tables import TABLES
from spotify_assets.definitions import defs as project_defs
from spotify_assets_tests.fixtures_postgres import drop_warehouse_schemas
from spotify_assets_tests.helpers import make_settings, materialize, user_shell_env

pytestmark = pytest.mark.slow  # starts processes or runs the whole graph

FIRST, LAST = date(2024, 3, 1), date(2024, 3, 3)
DAYS = [(FIRST + timedelta(days=n)).isoformat() for n in range((LAST - FIRST).days + 1)]
HISTORY = dg.AssetKey(["raw", "streaming_history"])
RECENT = dg.AssetKey(["raw", "recently_played"])
SILVER = dg.AssetKey(["silver", "plays"])


def materialize_range(
    tmp_path, env: dict[str, str], first: date = FIRST, last: date = LAST
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "spotify_assets.definitions",
               "--select", "*", "--partition-range", f"{first}...{last}"]  # fmt: skip
    return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)


def partitioned_assets() -> dict[dg.AssetKey, dg.PartitionsDefinition]:
    graph = project_defs.resolve_asset_graph()
    return {
        key: graph.get(key).partitions_def  # type: ignore[misc]
        for key in graph.materializable_asset_keys
        if graph.get(key).partitions_def is not None
    }


def statuses(env: dict[str, str], days: list[str] = DAYS) -> dict[dg.AssetKey, dict[str, str | None]]:
    """Dagster's partition status (the UI's) of every day of the range, for each partitioned asset."""
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        found = {}
        for key, partitions_def in partitioned_assets().items():
            by_day = instance.get_status_by_partition(key, days, partitions_def) or {}
            found[key] = {day: (status.value if status else None) for day, status in by_day.items()}
        return found


def latest_run(env: dict[str, str]) -> tuple[dg.DagsterRun, list[dg.EventLogRecord]]:
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        run = instance.get_runs(limit=1)[0]
        planned = instance.get_records_for_run(
            run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED
        ).records
        return run, list(planned)


def table_digests(postgres_resource) -> dict[str, tuple[int, str]]:
    """Every warehouse table's row count and md5 of its rows as PostgreSQL prints them, sorted."""
    query = sql.SQL("SELECT count(*), md5(string_agg(t::text, E'\\n' ORDER BY t::text)) FROM {} t")
    with postgres_resource.connect() as conn:
        return {
            name: tuple(conn.execute(query.format(sql.Identifier(spec.schema, spec.name))).fetchone())  # type: ignore[misc]
            for name, spec in TABLES.items()
        }


def instance_env(tmp_path, warehouse, monkeypatch, request, schema: str, **variables: str) -> dict[str, str]:
    """A user's shell whose generated dagster.yaml puts the instance in `schema`, read by this process too."""
    env = user_shell_env(tmp_path, warehouse, SPOTIFY_SOURCE="sample", DAGSTER_PG_SCHEMA=schema, **variables)
    for name in ("EMBEDDED_PG_DIR", "DAGSTER_PG_SCHEMA"):
        monkeypatch.setenv(name, env[name])
    get_settings.cache_clear()
    request.addfinalizer(get_settings.cache_clear)
    command = [sys.executable, "-m", "spotify_assets.operations.cli", "instance"]
    written = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert written.returncode == 0, written.stderr
    return env


def test_a_30_day_range_as_one_cli_run_equals_the_days_one_by_one_and_shows_every_day_materialized(
    tmp_path, clean_warehouse, monkeypatch, request
):
    first, last = date(2024, 6, 1), date(2024, 6, 30)
    days = [(first + timedelta(days=n)).isoformat() for n in range(30)]
    for n in range(30):
        materialize(make_settings(tmp_path / "by_day", clean_warehouse), first + timedelta(days=n))
    by_day = table_digests(clean_warehouse)
    assert by_day["silver.plays"][0] > 30 * 20

    drop_warehouse_schemas(clean_warehouse)
    env = instance_env(tmp_path, clean_warehouse, monkeypatch, request, "range_30_days")
    one_run = materialize_range(tmp_path, env, first, last)
    assert one_run.returncode == 0, one_run.stderr[-3000:]
    assert table_digests(clean_warehouse) == by_day
    assert statuses(env, days) == {key: dict.fromkeys(days, "MATERIALIZED") for key in partitioned_assets()}


def test_a_failed_range_run_leaves_its_days_failed_and_a_rerun_completes_them(
    tmp_path, clean_warehouse, monkeypatch, request
):
    history = tmp_path / "export"
    history.mkdir()
    # A schema of its own: other tests' runs on the session's server leave no status on these days.
    env = instance_env(
        tmp_path, clean_warehouse, monkeypatch, request, "failed_range", HISTORY_DIR=str(history)
    )

    first = materialize_range(tmp_path, env)
    assert first.returncode == 0, first.stderr[-3000:]
    run, planned = latest_run(env)
    assert run.status == dg.DagsterRunStatus.SUCCESS
    assets = partitioned_assets()
    # One planned event per asset for the whole range, not one per asset per day.
    planned_events = [r.event_log_entry.dagster_event for r in planned]
    assert sorted(e.asset_key for e in planned_events if e) == sorted(assets)
    assert all(e and e.partition is None for e in planned_events)
    materialized = {day: "MATERIALIZED" for day in DAYS}
    assert statuses(env) == {key: materialized for key in assets}

    # A truncated export fails raw/streaming_history, so nothing downstream of it runs.
    (history / "Streaming_History_Audio_2024.json").write_text('[{"ts": "2024-03-02T10:00:00Z", ', "utf-8")
    failed = materialize_range(tmp_path, env)
    assert failed.returncode != 0
    assert "Streaming_History_Audio_2024.json" in failed.stdout + failed.stderr
    run, _ = latest_run(env)
    assert run.status == dg.DagsterRunStatus.FAILURE
    after_failure = statuses(env)
    assert after_failure[RECENT] == materialized  # it ran in the failed run, before the failure
    for key in (HISTORY, SILVER):
        assert after_failure[key] == {day: "FAILED" for day in DAYS}, key

    (history / "Streaming_History_Audio_2024.json").unlink()
    rerun = materialize_range(tmp_path, env)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert statuses(env) == {key: materialized for key in assets}
