"""The three ways users drive the pipeline: the CLI, the UI's Materialize button, and the demo command."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from datetime import date

import dagster as dg
import psycopg
import pytest

from spotify_assets.contracts.settings import Settings
from spotify_assets.contracts.tables import FACT_RECENTLY_PLAYED, PLAYS
from spotify_assets.operations.demo import demo_partition_range
from spotify_assets.storage.warehouse import count_rows
from spotify_assets_tests.dagster_ui import DagsterDev

pytestmark = pytest.mark.slow  # starts processes or runs the whole graph

DAY = "2025-06-01"


def test_cli_materialize_is_recorded_in_the_instance(tmp_path, pipeline_env, clean_warehouse):
    command = [sys.executable, "-m", "dagster", "asset", "materialize",
               "-m", "spotify_assets.definitions", "--select", "*", "--partition", DAY]  # fmt: skip
    result = subprocess.run(
        command, cwd=tmp_path, env=pipeline_env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    with dg.DagsterInstance.from_config(pipeline_env["DAGSTER_HOME"]) as instance:
        runs = instance.get_runs()
        assert len(runs) == 1
        assert runs[0].status == dg.DagsterRunStatus.SUCCESS
        assert runs[0].tags["dagster/partition"] == DAY
        fact_key = dg.AssetKey(["gold", "fact_recently_played"])
        assert instance.get_latest_materialization_event(fact_key) is not None
    with clean_warehouse.connect() as conn:
        assert count_rows(conn, FACT_RECENTLY_PLAYED, [DAY]) == count_rows(conn, PLAYS, [DAY]) > 0
        fact_rows = count_rows(conn, FACT_RECENTLY_PLAYED)
    assert (tmp_path / "lake" / "silver" / "plays" / f"extraction_date={DAY}" / "plays.parquet").is_file()

    summary = subprocess.run(
        [sys.executable, "-m", "spotify_assets.operations.cli", "summary"],
        cwd=tmp_path, env=pipeline_env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert summary.returncode == 0, summary.stderr
    fact_line = next(line for line in summary.stdout.splitlines() if "gold.fact_recently_played" in line)
    assert fact_line.split()[-1].replace(",", "") == str(fact_rows)
    assert "Top 5 artists:" in summary.stdout
    first = summary.stdout.split("Top 5 artists:")[1].splitlines()[1]
    with clean_warehouse.connect() as conn:  # plays of the most played artist, keys resolved by gold.key_map
        (most,) = conn.execute(
            """
            SELECT count(*) FROM gold.fact_recently_played f
            LEFT JOIN gold.key_map m ON m.derived_key = f.primary_artist_key
            GROUP BY coalesce(m.spotify_id, f.primary_artist_key) ORDER BY 1 DESC LIMIT 1
            """
        ).fetchone()
    assert f"({most} plays," in first


def test_ui_materialize_button_through_dagster_dev(tmp_path, pipeline_env, clean_warehouse):
    server = DagsterDev(cwd=tmp_path, env=pipeline_env, log_path=tmp_path / "dagster_dev.log")
    try:
        server.wait_until_ready()
        run_id = server.launch_materialization(
            [["raw", "recently_played"], ["silver", "plays"], ["gold", "fact_recently_played"]], DAY
        )
        status = server.wait_for_run(run_id)
        assert status == "SUCCESS", (tmp_path / "dagster_dev.log").read_text()[-3000:]
    finally:
        server.stop()
    assert server.process.returncode is not None
    with clean_warehouse.connect() as conn:
        assert count_rows(conn, FACT_RECENTLY_PLAYED, [DAY]) == count_rows(conn, PLAYS, [DAY]) > 0


@pytest.mark.parametrize(
    ("today", "start", "expected"),
    [
        (date(2026, 11, 28), date(2025, 1, 1), ("2026-11-21", "2026-11-27")),
        (date(2025, 1, 4), date(2025, 1, 1), ("2025-01-01", "2025-01-03")),
    ],
)
def test_demo_range_is_the_last_complete_days(today, start, expected):
    settings = Settings(partitions_start_date=start)
    assert demo_partition_range(settings, today=today) == expected


def test_stop_postgres_stops_the_embedded_server(tmp_path):
    from spotify_assets.storage.postgres import PostgresResource

    data_dir = tmp_path / "pg"
    with PostgresResource(embedded_dir=str(data_dir)).connect() as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert (data_dir / "postmaster.pid").exists()  # the server outlives the connection, by design
    env = {**os.environ, "EMBEDDED_PG_DIR": str(data_dir)}
    env.pop("DB_HOST", None)
    result = subprocess.run(
        [sys.executable, "-m", "spotify_assets.operations.cli", "stop-postgres"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert not (data_dir / "postmaster.pid").exists()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_bi_port_serves_the_embedded_warehouse_over_tcp(tmp_path, pipeline_env, clean_warehouse):
    with clean_warehouse.connect() as conn:
        conn.execute("CREATE SCHEMA gold")
        conn.execute("CREATE TABLE gold.probe AS SELECT g AS n FROM generate_series(1, 3) AS g")
    port = _free_port()
    tcp = {"host": "127.0.0.1", "port": port, "dbname": "postgres", "user": "postgres", "connect_timeout": 10}
    bridge = subprocess.Popen(
        [sys.executable, "-m", "spotify_assets.operations.cli", "bi-port", "--port", str(port)],
        cwd=tmp_path, env=pipeline_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        ready = bridge.stdout.readline()
        assert f"host 127.0.0.1, port {port}, database postgres, user postgres" in ready, bridge.stderr.read()
        with psycopg.connect(**tcp) as first, psycopg.connect(**tcp, password="anything") as second:
            assert first.execute("SELECT sum(n) FROM gold.probe").fetchone() == (6,)
            assert second.execute("SELECT count(*) FROM gold.probe").fetchone() == (3,)
            with pytest.raises(psycopg.errors.UndefinedTable):
                first.execute("SELECT * FROM gold.missing")
        bridge.send_signal(signal.SIGINT)
        assert bridge.wait(timeout=20) == 0
    finally:
        if bridge.poll() is None:  # a failure above: no bridge left running after the test
            bridge.kill()
            bridge.wait()
        bridge.stdout.close()
        bridge.stderr.close()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(**tcp)


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a shell starts a background job


@pytest.mark.parametrize(
    ("signum", "started"),
    [(signal.SIGINT, _ignore_sigint), (signal.SIGTERM, None)],
    ids=["ctrl-c-in-a-background-job", "sigterm"],
)
def test_bi_port_closes_its_port_on_ctrl_c_and_on_a_service_manager_s_stop(
    tmp_path, pipeline_env, clean_warehouse, signum, started
):
    port = _free_port()
    bridge = subprocess.Popen(
        [sys.executable, "-m", "spotify_assets.operations.cli", "bi-port", "--port", str(port)],
        cwd=tmp_path, env=pipeline_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=started,
    )  # fmt: skip
    try:
        assert f"port {port}" in bridge.stdout.readline(), bridge.stderr.read()
        bridge.send_signal(signum)
        assert bridge.wait(timeout=60) == 0
    finally:
        if bridge.poll() is None:
            bridge.kill()
            bridge.wait()
        bridge.stdout.close()
        bridge.stderr.close()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(host="127.0.0.1", port=port, dbname="postgres", user="postgres", connect_timeout=10)
