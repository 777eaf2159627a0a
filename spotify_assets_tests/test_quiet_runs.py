"""The CLI's long runs print a line per asset and a summary; Dagster's event log goes to a file it names."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from spotify_assets.contracts.settings import Settings
from spotify_assets.definitions import defs
from spotify_assets.operations.demo import demo_partition_range
from spotify_assets.operations.quiet_run import without_quiet_warnings
from spotify_assets.storage.lake import LakeResource
from spotify_assets_tests.helpers import asset_keys, event_log_paths, progress_lines, user_shell_env

MAX_DEMO_LINES = 40


def _demo(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "spotify_assets.operations.cli", "demo"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("lines", "kept"),
    [
        (["a.py:1: BetaWarning: beta", "  call()", "Traceback"], ["Traceback"]),
        (["x.py:9: RuntimeDirWarning: XDG", "  return Path()", "  kept"], ["  kept"]),
        (["m.py:2: UserWarning: yours", "  here"], ["m.py:2: UserWarning: yours", "  here"]),
    ],
)
def test_only_dagsters_own_warnings_are_left_out(lines, kept):
    assert without_quiet_warnings(lines) == kept


@pytest.mark.slow
def test_demo_prints_a_line_per_asset_and_logs_dagsters_events(tmp_path, clean_warehouse):
    env = user_shell_env(tmp_path, clean_warehouse, SPOTIFY_SOURCE="sample")
    result = _demo(tmp_path, env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert len(output.splitlines()) <= MAX_DEMO_LINES, output
    assert "Warning" not in output and "DEBUG" not in output, output

    progress = progress_lines(result.stdout)
    assert set(progress) == asset_keys("*")
    days = len(list((tmp_path / "lake" / "silver" / "plays").iterdir()))  # the partitions the run wrote
    assert all(f"{days} partitions" in measured for measured in progress.values())
    with clean_warehouse.connect() as conn:
        (plays,) = conn.execute("SELECT count(*) FROM silver.plays").fetchone()
    assert progress["silver/plays"].startswith(f"{plays:,} rows")

    (log,) = event_log_paths(result.stdout)
    events = log.read_text()
    assert log.parent == Path(env["DAGSTER_HOME"]) / "logs"
    assert "RUN_SUCCESS" in events
    succeeded = {
        line.split('step "')[1].split('"')[0] for line in events.splitlines() if "STEP_SUCCESS" in line
    }
    assert {assets_def.node_def.name for assets_def in defs.assets} <= succeeded  # every asset's step
    assert events.count("ASSET_MATERIALIZATION") == len(progress) * days


@pytest.mark.slow
def test_a_failing_demo_prints_its_error_in_full(tmp_path, clean_warehouse):
    env = user_shell_env(tmp_path, clean_warehouse, SPOTIFY_SOURCE="sample")
    first, _ = demo_partition_range(Settings.from_mapping(env))
    lake = LakeResource(local_dir=env["LAKE_DIR"])
    key = lake.partition_path(["raw", "recently_played"], first, "recently_played.json")
    lake.write_bytes(key, b'{"items": [')  # a capture cut short

    result = _demo(tmp_path, env)

    assert result.returncode != 0
    assert f"{lake.uri(key)} is not valid UTF-8 JSON (partition {first})" in result.stderr
    assert "Stack Trace:" in result.stderr  # in full, not one line
    assert event_log_paths(result.stdout)[0].is_file()


@pytest.mark.slow
def test_a_run_that_cannot_start_prints_why(tmp_path, clean_warehouse):
    env = user_shell_env(tmp_path, clean_warehouse, SPOTIFY_SOURCE="sample")
    # A hand-written dagster.yaml (the CLI leaves those alone) that Dagster cannot load.
    (Path(env["DAGSTER_HOME"]) / "dagster.yaml").write_text("storage:\n  no_such_storage: {}\n")

    result = _demo(tmp_path, env)

    assert result.returncode != 0
    assert "no_such_storage" in result.stderr, result.stderr
    assert "Warning" not in result.stderr
