"""A household from the command line: one listener captured (or backfilled) by the command README gives."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import dagster as dg

from spotify_assets.listener_scope import LISTENER_PARTITIONS, LISTENER_TAG
from spotify_assets_tests.helpers import lake_digest
from spotify_assets_tests.test_entrypoints import pipeline_env  # noqa: F401 (fixture)

DAYS = ("2025-06-01", "2025-06-02")


def test_one_listener_backfilled_from_the_command_line(tmp_path, pipeline_env):  # noqa: F811
    with dg.DagsterInstance.from_config(pipeline_env["DAGSTER_HOME"]) as instance:
        instance.add_dynamic_partitions(LISTENER_PARTITIONS, ["alice", "bob"])
    tags = {
        LISTENER_TAG: "alice",
        "dagster/asset_partition_range_start": DAYS[0],
        "dagster/asset_partition_range_end": DAYS[1],
    }
    # README, The command line: "capture one listener (or backfill them)".
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
