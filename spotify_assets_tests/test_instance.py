"""The Dagster instance by default: PostgreSQL (schema `dagster`) on the embedded server, with a run queue."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.instance.config import dagster_instance_config

from spotify_assets.assets.pools import WAREHOUSE_POOL
from spotify_assets.contracts.settings import Settings
from spotify_assets.operations.demo import demo_partition_range
from spotify_assets.operations.instance_config import (
    GENERATED_MARKER,
    instance_config,
    remember_dagster_home,
    write_instance_yaml,
)
from spotify_assets_tests.dagster_ui import DagsterDev

pytestmark = pytest.mark.slow  # starts processes or runs the whole graph

DAYS = ("2025-05-01", "2025-05-02", "2025-05-03")


def test_the_default_instance_is_postgres_with_a_queue_and_monitoring(tmp_path):
    settings = Settings.from_mapping({"MAX_CONCURRENT_RUNS": "3", "RUN_MAX_RUNTIME_SECONDS": "600"})
    config = instance_config(settings)
    assert config["storage"]["custom"]["config"] == {"schema": "dagster"}
    assert config["concurrency"]["runs"]["max_concurrent_runs"] == 3
    assert config["concurrency"]["pools"] == {"granularity": "run", "default_limit": 1}
    assert config["run_monitoring"]["enabled"] and config["run_monitoring"]["max_runtime_seconds"] == 600
    assert write_instance_yaml(tmp_path, settings)
    validated, _ = dagster_instance_config(str(tmp_path))  # Dagster's own schema accepts the file
    assert validated["concurrency"]["runs"]["tag_concurrency_limits"][0]["key"] == "dagster/partition"


def test_the_queue_outlasts_a_code_server_restart_and_infrastructure_failures_are_retried(tmp_path):
    variables = {"RUN_MONITORING_INTERVAL_SECONDS": "5", "RUN_QUEUE_INTERVAL_SECONDS": "2"}
    settings = Settings.from_mapping({**variables, "DAGSTER_STORAGE": "sqlite"})
    write_instance_yaml(tmp_path, settings)
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert instance.run_coordinator.dequeue_interval_seconds == 2  # type: ignore[attr-defined]
        queue = instance.get_concurrency_config().run_queue_config
        assert (queue.max_user_code_failure_retries, queue.user_code_failure_retry_delay) == (120, 5)
        assert queue.max_concurrent_runs == settings.max_concurrent_runs  # the limits still apply
        assert instance.run_retries_enabled and instance.run_retries_max_retries == 3
        assert not instance.run_retries_retry_on_asset_or_op_failure
        assert instance.run_monitoring_max_resume_run_attempts == 0


def test_run_workers_are_watched_on_one_host_only():
    assert instance_config(Settings())["run_launcher"]["class"] == "LocalRunLauncher"
    assert "run_launcher" not in instance_config(Settings.from_mapping({"RUN_WORKERS_ON_THIS_HOST": "false"}))
    with pytest.raises(ValueError, match="RUN_WORKERS_ON_THIS_HOST"):
        Settings.from_mapping({"RUN_WORKERS_ON_THIS_HOST": "maybe"})


def test_sqlite_stays_possible_by_choice(tmp_path):
    config = instance_config(Settings.from_mapping({"DAGSTER_STORAGE": "sqlite"}))
    assert "storage" not in config
    with pytest.raises(ValueError, match="DAGSTER_STORAGE"):
        Settings.from_mapping({"DAGSTER_STORAGE": "mysql"})
    with pytest.raises(ValueError, match="MAX_CONCURRENT_RUNS"):
        Settings.from_mapping({"MAX_CONCURRENT_RUNS": "0"})


def test_a_hand_written_dagster_yaml_is_left_alone(tmp_path):
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    assert not write_instance_yaml(tmp_path, Settings())
    assert (tmp_path / "dagster.yaml").read_text() == "telemetry:\n  enabled: false\n"
    (tmp_path / "dagster.yaml").write_text(f"{GENERATED_MARKER}\nold: true\n")
    assert write_instance_yaml(tmp_path, Settings())
    assert "old" not in yaml.safe_load((tmp_path / "dagster.yaml").read_text())


def test_dagster_home_goes_into_dotenv_once(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("SPOTIFY_SOURCE=sample")
    assert remember_dagster_home(env_file, tmp_path / "home")
    assert not remember_dagster_home(env_file, tmp_path / "elsewhere")
    assert env_file.read_text() == f"SPOTIFY_SOURCE=sample\nDAGSTER_HOME={tmp_path / 'home'}\n"


def test_writing_assets_share_the_warehouse_pool():
    from spotify_assets.definitions import defs

    pools = {key.to_user_string(): node.pools for key, node in _asset_nodes(defs).items()}
    writers = ("silver/plays", "gold/fact_recently_played", "gold/dim_artist")
    for key in (*writers, "report/listening"):
        assert pools[key] == {WAREHOUSE_POOL}, key
    assert pools["raw/recently_played"] != {WAREHOUSE_POOL}  # captures never wait behind a long or stuck run


def _asset_nodes(defs: dg.Definitions) -> dict[dg.AssetKey, object]:
    graph = defs.resolve_asset_graph()
    return {key: graph.get(key) for key in graph.get_all_asset_keys()}


def _dagster_runs(clean_warehouse) -> dict[str, str]:
    """Run id -> status of the runs in the session's PostgreSQL (other tests' CLI runs land there too)."""
    with clean_warehouse.connect() as conn:
        row = conn.execute("SELECT to_regclass('dagster.runs') IS NOT NULL").fetchone()
        if not (row and row[0]):
            return {}
        return dict(conn.execute("SELECT run_id, status FROM dagster.runs").fetchall())


def _no_sqlite(home: Path) -> None:
    assert not list(home.rglob("*.db")), list(home.rglob("*.db"))


def test_demo_leaves_its_run_in_postgres(tmp_path, pipeline_env, clean_warehouse):
    before = _dagster_runs(clean_warehouse)
    result = subprocess.run(
        [sys.executable, "-m", "spotify_assets.operations.cli", "demo"],
        cwd=tmp_path, env=pipeline_env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "PostgreSQL, schema 'dagster'" in result.stdout
    home = Path(pipeline_env["DAGSTER_HOME"])
    assert (home / "dagster.yaml").read_text().startswith(GENERATED_MARKER)
    _no_sqlite(home)
    with clean_warehouse.connect() as conn:  # read with SQL: this process's settings name no server
        rows = conn.execute(
            """
            SELECT r.run_id, r.status, s.value, e.value FROM dagster.runs r
            JOIN dagster.run_tags s ON s.run_id = r.run_id AND s.key = 'dagster/asset_partition_range_start'
            JOIN dagster.run_tags e ON e.run_id = r.run_id AND e.key = 'dagster/asset_partition_range_end'
            """
        ).fetchall()
    runs = [tuple(row[1:]) for row in rows if row[0] not in before]
    first, last = demo_partition_range(Settings.from_mapping(pipeline_env))
    assert runs == [("SUCCESS", first, last)]


def test_cli_runs_and_dagster_dev_share_the_instance_at_once(tmp_path, pipeline_env, clean_warehouse):
    written = subprocess.run(
        [sys.executable, "-m", "spotify_assets.operations.cli", "instance"],
        cwd=tmp_path, env=pipeline_env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert written.returncode == 0, written.stderr
    before = _dagster_runs(clean_warehouse)
    server = DagsterDev(cwd=tmp_path, env=pipeline_env, log_path=tmp_path / "dagster_dev.log")
    try:
        server.wait_until_ready()
        ui_run = server.launch_materialization([["raw", "recently_played"], ["silver", "plays"]], DAYS[0])
        cli_runs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "dagster",
                    "asset",
                    "materialize",
                    "-m",
                    "spotify_assets.definitions",
                    "--select",
                    "*",
                    "--partition",
                    day,
                ],
                cwd=tmp_path,
                env=pipeline_env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )  # fmt: skip
            for day in DAYS[1:]
        ]
        outputs = [process.communicate(timeout=600)[0] for process in cli_runs]
        assert server.wait_for_run(ui_run) == "SUCCESS", (tmp_path / "dagster_dev.log").read_text()[-3000:]
    finally:
        server.stop()
    for process, output in zip(cli_runs, outputs, strict=True):
        assert process.returncode == 0, output[-3000:]
        assert "database is locked" not in output
    assert "database is locked" not in (tmp_path / "dagster_dev.log").read_text()
    new = {
        run_id: status for run_id, status in _dagster_runs(clean_warehouse).items() if run_id not in before
    }
    assert sorted(new.values()) == ["SUCCESS"] * 3 and ui_run in new
    _no_sqlite(Path(pipeline_env["DAGSTER_HOME"]))
