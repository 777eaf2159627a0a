"""Range runs on the default PostgreSQL instance: each asset plans its range as one event, and Dagster's
partition status still shows every day right: materialized after a run, failed when a range run fails,
materialized again after a re-run."""

import subprocess
import sys
from datetime import date, timedelta

import dagster as dg
import pytest

from spotify_assets.definitions import defs as project_defs
from spotify_assets.settings import get_settings
from spotify_assets_tests.helpers import user_shell_env

pytestmark = pytest.mark.slow  # starts processes or runs the whole graph

FIRST, LAST = date(2024, 3, 1), date(2024, 3, 3)
DAYS = [(FIRST + timedelta(days=n)).isoformat() for n in range((LAST - FIRST).days + 1)]
HISTORY = dg.AssetKey(["raw", "streaming_history"])
RECENT = dg.AssetKey(["raw", "recently_played"])
SILVER = dg.AssetKey(["silver", "plays"])


def materialize_range(tmp_path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "spotify_assets.definitions",
               "--select", "*", "--partition-range", f"{FIRST}...{LAST}"]  # fmt: skip
    return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)


def partitioned_assets() -> dict[dg.AssetKey, dg.PartitionsDefinition]:
    graph = project_defs.resolve_asset_graph()
    return {
        key: graph.get(key).partitions_def  # type: ignore[misc]
        for key in graph.materializable_asset_keys
        if graph.get(key).partitions_def is not None
    }


def statuses(env: dict[str, str]) -> dict[dg.AssetKey, dict[str, str | None]]:
    """Dagster's partition status (the UI's) of every day of the range, for each partitioned asset."""
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        found = {}
        for key, partitions_def in partitioned_assets().items():
            by_day = instance.get_status_by_partition(key, DAYS, partitions_def) or {}
            found[key] = {day: (status.value if status else None) for day, status in by_day.items()}
        return found


def latest_run(env: dict[str, str]) -> tuple[dg.DagsterRun, list[dg.EventLogRecord]]:
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        run = instance.get_runs(limit=1)[0]
        planned = instance.get_records_for_run(
            run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED
        ).records
        return run, list(planned)


def test_a_failed_range_run_leaves_its_days_failed_and_a_rerun_completes_them(
    tmp_path, clean_warehouse, monkeypatch, request
):
    history = tmp_path / "export"
    history.mkdir()
    # A schema of its own: other tests' runs on the session's server leave no status on these days.
    env = user_shell_env(
        tmp_path,
        clean_warehouse,
        SPOTIFY_SOURCE="sample",
        HISTORY_DIR=str(history),
        DAGSTER_PG_SCHEMA="ranges",
    )
    for name in ("EMBEDDED_PG_DIR", "DAGSTER_PG_SCHEMA"):  # this process reads the instance too
        monkeypatch.setenv(name, env[name])
    get_settings.cache_clear()
    request.addfinalizer(get_settings.cache_clear)
    written = subprocess.run(
        [sys.executable, "-m", "spotify_assets.cli", "instance"], cwd=tmp_path, env=env, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert written.returncode == 0, written.stderr

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
