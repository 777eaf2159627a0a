"""A household from the command line: one listener captured (or backfilled) by the command the docs give."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from spotify_assets.contracts.listener_scope import LISTENER_PARTITIONS, LISTENER_TAG
from spotify_assets.contracts.settings import get_settings
from spotify_assets.operations.listener_purge import (
    REBUILT_SELECTION,
    listener_objects,
    orphaned_days,
    raw_days,
)
from spotify_assets.storage.lake import LakeResource
from spotify_assets_tests.helpers import (
    asset_keys,
    event_log_paths,
    lake_digest,
    progress_lines,
    warehouse_tables,
)

pytestmark = pytest.mark.slow  # starts processes or runs the whole graph

DAYS = ("2025-06-01", "2025-06-02")


def test_one_listener_backfilled_from_the_command_line(tmp_path, pipeline_env):
    with dg.DagsterInstance.from_config(pipeline_env["DAGSTER_HOME"]) as instance:
        instance.add_dynamic_partitions(LISTENER_PARTITIONS, ["alice", "bob"])
    tags = {
        LISTENER_TAG: "alice",
        "dagster/asset_partition_range_start": DAYS[0],
        "dagster/asset_partition_range_end": DAYS[1],
    }
    # docs/cli.md and docs/household.md: "capture one listener (or backfill them)".
    command = [sys.executable, "-m", "dagster", "job", "execute", "-m", "spotify_assets.definitions",
               "-j", "raw_capture", "--tags", json.dumps(tags)]  # fmt: skip
    result = subprocess.run(
        command, cwd=tmp_path, env=pipeline_env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]

    lake = set(lake_digest(Path(pipeline_env["LAKE_DIR"])))
    assert lake == {
        f"raw/recently_played/listener=alice/extraction_date={day}/recently_played.json" for day in DAYS
    }
    with dg.DagsterInstance.from_config(pipeline_env["DAGSTER_HOME"]) as instance:
        (run,) = instance.get_runs()
        assert run.status == dg.DagsterRunStatus.SUCCESS
        assert run.job_name == "raw_capture"
        assert {key: run.tags.get(key) for key in tags} == tags
        materialized = instance.get_materialized_partitions(dg.AssetKey(["raw", "recently_played"]))
        assert materialized == set(DAYS)


def test_a_removed_listeners_plays_are_deleted_on_request(
    tmp_path, pipeline_env, clean_warehouse, monkeypatch
):
    prepare = [
        sys.executable,
        "-m",
        "spotify_assets.operations.cli",
        "instance",
    ]  # as every make target does first
    assert subprocess.run(prepare, cwd=tmp_path, env=pipeline_env, capture_output=True).returncode == 0
    with user_instance(pipeline_env, monkeypatch) as instance:
        instance.add_dynamic_partitions(LISTENER_PARTITIONS, ["alice"])
        earlier = {run.run_id for run in instance.get_runs()}  # other tests' runs
    materialize = [sys.executable, "-m", "dagster", "asset", "materialize", "-m",
                   "spotify_assets.definitions", "--select", "*",
                   "--partition-range", f"{DAYS[0]}...{DAYS[1]}"]  # fmt: skip
    result = subprocess.run(materialize, cwd=tmp_path, env=pipeline_env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    before = warehouse_tables(clean_warehouse)
    fact = before["gold.fact_recently_played"]
    assert set(fact["listener_id"]) == {"demo", "alice"}

    remove = [
        sys.executable,
        "-m",
        "spotify_assets.operations.cli",
        "listeners",
        "--remove",
        "alice",
        "--delete-plays",
    ]
    refused = subprocess.run(
        remove, cwd=tmp_path, env=pipeline_env, capture_output=True, text=True, input="n\n"
    )
    assert refused.returncode == 1 and "Nothing removed." in refused.stdout
    result = subprocess.run(
        [*remove, "--yes"], cwd=tmp_path, env=pipeline_env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert set(progress_lines(result.stdout)) == asset_keys(REBUILT_SELECTION)  # a line per rebuilt asset
    assert "DEBUG" not in result.stdout + result.stderr
    (log,) = event_log_paths(result.stdout)
    assert "RUN_SUCCESS" in log.read_text()

    after = warehouse_tables(clean_warehouse)
    for name in ("silver.plays", "gold.fact_recently_played"):
        rows = before[name]
        pd.testing.assert_frame_equal(
            after[name].reset_index(drop=True),
            rows[rows["listener_id"] != "alice"].reset_index(drop=True),
            obj=name,
        )
    lake = set(lake_digest(Path(pipeline_env["LAKE_DIR"])))
    assert not [key for key in lake if "listener=alice" in key]
    with user_instance(pipeline_env, monkeypatch) as instance:
        assert instance.get_dynamic_partitions(LISTENER_PARTITIONS) == []
        runs = instance.get_runs()
    ours = [
        (run.status.value, run.tags.get("dagster/asset_partition_range_start"))
        for run in runs
        if run.run_id not in earlier
    ]
    assert ours == [("SUCCESS", DAYS[0])] * 2  # the household run and the rebuild


@contextmanager
def user_instance(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[dg.DagsterInstance]:
    """The instance of `env`'s DAGSTER_HOME, opened in this process with `env`'s embedded PostgreSQL (its
    dagster.yaml names the storage class, which reads the server from the settings as a user's process
    does)."""
    for name in ("EMBEDDED_PG_DIR", "DB_HOST", "DAGSTER_PG_SCHEMA", "DAGSTER_STORAGE"):
        if name in env:
            monkeypatch.setenv(name, env[name])
        else:
            monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    try:
        with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
            yield instance
    finally:
        get_settings.cache_clear()


def test_a_day_only_the_removed_listener_had_is_rebuilt_empty(tmp_path):
    lake = LakeResource(local_dir=str(tmp_path / "lake"))
    items = b'{"items": [{"played_at": "2025-06-01T10:00:00.000Z"}]}'
    path = ["raw", "recently_played"]
    lake.write_bytes(lake.partition_path(path, DAYS[0], "recently_played.json"), items)
    for day in DAYS:
        lake.write_bytes(lake.partition_path([*path, "listener=alice"], day, "recently_played.json"), items)

    keys = listener_objects(lake, "alice")
    assert raw_days(keys) == list(DAYS)
    for key in keys:
        lake.delete(key)
    assert orphaned_days(lake, "alice", raw_days(keys)) == [
        f"raw/recently_played/listener=alice/extraction_date={DAYS[1]}/recently_played.json"
    ]
