"""The production topology of deploy/ as real processes: a gRPC code server, dagster-webserver,
dagster-daemon and PostgreSQL over TCP, with the instance config `spotify-assets instance` writes (as the
image's entrypoint does)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import psutil
import pytest

from spotify_assets.assets.gold import GOLD_STEP
from spotify_assets.assets.resources import build_postgres
from spotify_assets.contracts.settings import Settings
from spotify_assets.operations.topology import LOCATION_NAME, Topology
from spotify_assets_tests.dagster_ui import REPOSITORIES, DagsterDev, free_port
from spotify_assets_tests.helpers import warehouse_tables
from spotify_assets_tests.tcp_postgres import TcpPostgres
from spotify_assets_tests.topology_processes import (
    Deployment,
    Serve,
    deployment_env,
    run_worker_pid,
    wait_for,
)

pytestmark = pytest.mark.slow  # starts processes or runs the whole graph

PROJECT_ROOT = Path(__file__).resolve().parents[1]
WORKSPACE = PROJECT_ROOT / "deploy" / "workspace.yaml"
ALL_ASSETS = [
    ["raw", "recently_played"], ["raw", "streaming_history"], ["silver", "plays"],
    ["gold", "dim_artist"], ["gold", "dim_album"], ["gold", "dim_track"], ["gold", "bridge_track_artist"],
    ["gold", "dim_date"], ["gold", "fact_recently_played"], ["gold", "key_map"], ["report", "listening"],
]  # fmt: skip
DAY = "2025-03-10"
RANGE = ("2025-03-09", "2025-03-11")
KILL_RANGE = ("2025-02-01", "2025-02-28")
CAPTURE_SCHEDULE = "raw_capture_intraday_schedule"
RELOAD_LOCATION = """
mutation Reload($name: String!) { reloadRepositoryLocation(repositoryLocationName: $name) { __typename } }
"""
PASSWORD = "p@ss:w/rd"  # trust authentication accepts any; it checks that the URL quotes it


class Stack:
    """The running deployment, its PostgreSQL and how to read both."""

    def __init__(self, deployment: Deployment, postgres: TcpPostgres, settings: Settings) -> None:
        self.deployment = deployment
        self.postgres = postgres
        self.warehouse = build_postgres(settings).model_copy(update={"password": PASSWORD})
        self.schedule_started_at = 0.0

    def sql(self, query: str, params: tuple = ()) -> list[tuple]:
        with self.warehouse.connect() as conn:
            return conn.execute(query, params).fetchall()

    def event_types(self, run_id: str) -> list[str]:
        rows = self.sql(
            "SELECT dagster_event_type FROM dagster.event_logs WHERE run_id = %s ORDER BY id", (run_id,)
        )
        return [row[0] for row in rows if row[0]]

    def wait_for_runs(self, run_ids: list[str], timeout: float = 300) -> dict[str, dict]:
        """Wait until every run has finished; their GraphQL records."""
        done: dict[str, dict] = {}

        def finished() -> bool:
            for run_id in run_ids:
                if run_id not in done:
                    record = self.deployment.run(run_id)
                    if record["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
                        done[run_id] = record
            return len(done) == len(run_ids)

        wait_for(finished, timeout, interval=1, what=f"runs {run_ids} finished")
        return done

    def tables(self) -> dict[str, pd.DataFrame]:
        return warehouse_tables(self.warehouse)


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    """PostgreSQL on TCP, dagster.yaml written as the image's entrypoint does, and the three processes."""
    root = tmp_path_factory.mktemp("deploy")
    postgres = TcpPostgres(root / "postgres", free_port())
    env = deployment_env(
        root,
        postgres.port,
        PASSWORD,
        CAPTURE_CRON="* * * * *",
        MAX_CONCURRENT_RUNS="2",
        RUN_START_TIMEOUT_SECONDS="60",
        RUN_MONITORING_INTERVAL_SECONDS="5",
        RUN_QUEUE_INTERVAL_SECONDS="1",
    )
    settings = Settings.from_mapping(env)
    topology = Topology(code_port=free_port(), web_port=free_port(), workspace=str(WORKSPACE))
    deployment = Deployment(topology, root, env)
    try:
        deployment.wait_until_ready()
        stack = Stack(deployment, postgres, settings)
        # Turned on first so the schedule ticks while the other tests run; its test comes last.
        assert deployment.start_schedule(CAPTURE_SCHEDULE) == "RUNNING"
        stack.schedule_started_at = time.time()
        yield stack
    finally:
        deployment.stop()
        postgres.stop()


ENQUEUED, STARTING, START, SUCCESS = (
    event.value
    for event in (
        dg.DagsterEventType.RUN_ENQUEUED,
        dg.DagsterEventType.RUN_STARTING,
        dg.DagsterEventType.RUN_START,
        dg.DagsterEventType.RUN_SUCCESS,
    )
)


# The runs these tests kill are re-run by hand: no automatic retry (test_restart.py tests those) races it.
NO_AUTOMATIC_RETRY = "dagster/max_retries"


def _range_tags(first: str, last: str) -> dict[str, str]:
    return {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}


def _assert_one_after_another(records: dict[str, dict]) -> None:
    """Every run succeeded, and no two were in progress at once (start and end times of the run records)."""
    assert {record["status"] for record in records.values()} == {"SUCCESS"}
    intervals = sorted((record["startTime"], record["endTime"]) for record in records.values())
    for (_, previous_end), (next_start, _) in zip(intervals, intervals[1:], strict=False):
        assert next_start >= previous_end, intervals


def _assert_same_tables(actual: dict[str, pd.DataFrame], expected: dict[str, pd.DataFrame]) -> None:
    assert actual.keys() == expected.keys()
    for name, frame in expected.items():
        pd.testing.assert_frame_equal(actual[name], frame, obj=name)


@pytest.fixture(scope="module")
def single_day_run(stack) -> tuple[str, dict[str, pd.DataFrame]]:
    """One run of the whole graph for DAY through the webserver; its id and the warehouse after it."""
    run_id = stack.deployment.launch(ALL_ASSETS, {"dagster/partition": DAY})
    assert stack.wait_for_runs([run_id])[run_id]["status"] == "SUCCESS"
    return run_id, stack.tables()


def test_a_submitted_run_is_queued_then_launched_by_the_daemon(stack, single_day_run):
    run_id, _ = single_day_run
    events = stack.event_types(run_id)
    # Enqueued by the webserver, launched (STARTING) by the daemon, run by the worker.
    assert events.index(ENQUEUED) < events.index(STARTING) < events.index(START) < events.index(SUCCESS)
    fact = stack.sql("SELECT count(*) FROM gold.fact_recently_played WHERE extraction_date = %s", (DAY,))
    plays = stack.sql("SELECT count(*) FROM silver.plays WHERE extraction_date = %s", (DAY,))
    assert fact == plays and plays[0][0] > 0
    tables = stack.sql("SELECT table_name FROM information_schema.tables WHERE table_schema = 'dagster'")
    assert {"runs", "event_logs", "jobs", "job_ticks", "concurrency_limits"} <= {row[0] for row in tables}
    assert stack.sql("SELECT count(*) FROM dagster.event_logs WHERE run_id = %s", (run_id,))[0][0] > 20
    assert not list(Path(stack.deployment.env["DAGSTER_HOME"]).rglob("*.db"))  # no SQLite anywhere


def test_runs_of_one_day_and_a_range_over_it_never_overlap(stack, single_day_run):
    _, after_one_run = single_day_run
    same_day = [stack.deployment.launch(ALL_ASSETS, {"dagster/partition": DAY}) for _ in range(3)]
    _assert_one_after_another(stack.wait_for_runs(same_day))
    _assert_same_tables(stack.tables(), after_one_run)

    range_and_day = [
        stack.deployment.launch(ALL_ASSETS, _range_tags(*RANGE)),
        stack.deployment.launch(ALL_ASSETS, {"dagster/partition": DAY}),
    ]
    _assert_one_after_another(stack.wait_for_runs(range_and_day))


def _step_started(stack: Stack, run_id: str, step_key: str) -> bool:
    query = "SELECT 1 FROM dagster.event_logs WHERE run_id = %s AND step_key = %s AND dagster_event_type = %s"
    return bool(stack.sql(query, (run_id, step_key, dg.DagsterEventType.STEP_START.value)))


@pytest.fixture(scope="module")
def clean_range_tables(stack) -> dict[str, pd.DataFrame]:
    """The warehouse after one clean run of KILL_RANGE: what a re-run after a crash must give again."""
    clean = stack.deployment.launch(ALL_ASSETS, _range_tags(*KILL_RANGE))
    assert stack.wait_for_runs([clean])[clean]["status"] == "SUCCESS"
    return stack.tables()


def test_a_killed_run_is_marked_failed_and_a_rerun_repairs(stack, clean_range_tables):
    tags = _range_tags(*KILL_RANGE)
    clean_tables = clean_range_tables

    doomed = stack.deployment.launch(ALL_ASSETS, {**tags, NO_AUTOMATIC_RETRY: "0"})
    wait_for(lambda: _step_started(stack, doomed, GOLD_STEP), 240, interval=0.2, what="gold started")
    pid = run_worker_pid(stack.sql, doomed)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()
    status = stack.wait_for_runs([doomed], timeout=120)[doomed]["status"]
    marked_after = time.monotonic() - killed_at
    print(f"run worker killed: marked {status} after {marked_after:.1f} s")
    assert status == "FAILURE"

    rerun = stack.deployment.launch(ALL_ASSETS, tags)
    assert stack.wait_for_runs([rerun])[rerun]["status"] == "SUCCESS"
    _assert_same_tables(stack.tables(), clean_tables)


def test_a_run_whose_code_server_died_too_is_failed_by_run_monitoring(stack, clean_range_tables):
    tags = _range_tags(*KILL_RANGE)
    clean_tables = clean_range_tables
    doomed = stack.deployment.launch(ALL_ASSETS, {**tags, NO_AUTOMATIC_RETRY: "0"})
    wait_for(lambda: _step_started(stack, doomed, GOLD_STEP), 240, interval=0.2, what="gold started")
    assert run_worker_pid(stack.sql, doomed) is not None
    # The code server and every process it started (the run worker among them): nothing is left to notice.
    stack.deployment.processes["code-server"].kill()
    killed_at = time.monotonic()
    stack.deployment.restart("code-server")
    status = stack.wait_for_runs([doomed], timeout=120)[doomed]["status"]
    print(f"code server and run worker killed: marked {status} after {time.monotonic() - killed_at:.1f} s")
    assert status == "FAILURE"
    events = stack.sql(
        "SELECT event FROM dagster.event_logs WHERE run_id = %s AND event LIKE %s", (doomed, "%is gone%")
    )
    assert events  # failed by run monitoring (the launcher's health check), not by a timeout

    reruns: list[str] = []
    wait_for(lambda: _launched(stack, tags, reruns), 180, interval=2, what="the code server back")
    (rerun,) = reruns
    assert stack.wait_for_runs([rerun])[rerun]["status"] == "SUCCESS"
    _assert_same_tables(stack.tables(), clean_tables)


def test_queued_runs_launch_once_after_the_daemon_is_killed_and_restarted(stack):
    days = ["2025-04-01", "2025-04-02", "2025-04-03"]
    runs = [stack.deployment.launch(ALL_ASSETS, {"dagster/partition": day}) for day in days]
    # Launched: the daemon's part is done (killed while a launch is STARTING, the run would be failed by run
    # monitoring's start timeout, as Dagster documents; that is not what this test is about).
    wait_for(lambda: stack.deployment.run(runs[0])["status"] in ("STARTED", "SUCCESS"), 120)
    stack.deployment.processes["daemon"].kill()
    time.sleep(5)
    # One run at a time holds the warehouse pool: with the daemon dead, the last cannot have left the queue.
    assert stack.deployment.run(runs[-1])["status"] == "QUEUED"
    stack.deployment.restart("daemon")
    records = stack.wait_for_runs(runs)
    _assert_one_after_another(records)
    for run_id in runs:
        events = stack.event_types(run_id)
        assert [events.count(kind) for kind in (ENQUEUED, STARTING, START, SUCCESS)] == [1, 1, 1, 1]


def test_the_capture_schedule_ticks_and_its_run_succeeds(stack):
    def succeeded() -> list[dict]:
        runs = stack.deployment.runs_with_tag("dagster/schedule_name", CAPTURE_SCHEDULE)
        return [run for run in runs if run["status"] == "SUCCESS"]

    # The schedule ticks every minute from the stack's start; other tests' runs share the queue meanwhile.
    wait_for(lambda: bool(succeeded()), max(180 - (time.time() - stack.schedule_started_at), 60), interval=2)
    run = succeeded()[-1]
    tags = {tag["key"]: tag["value"] for tag in run["tags"]}
    latency = run["creationTime"] % 60  # after the minute CAPTURE_CRON ticks on
    # A capture takes the days since the latest capture's checked-through time (yesterday on a first one; up
    # to a week when the latest raw materialization was of an old day, as the other tests' runs here are).
    today = datetime.fromtimestamp(run["creationTime"], UTC).date()
    last = tags.get("dagster/partition") or tags["dagster/asset_partition_range_end"]
    first = tags.get("dagster/partition") or tags["dagster/asset_partition_range_start"]
    print(f"capture tick: run created {latency:.1f} s after its cron time ({first}...{last})")
    assert last == today.isoformat()
    assert (today - timedelta(days=6)).isoformat() <= first <= last


def test_serve_runs_the_trio_on_one_host_and_stops_cleanly(tmp_path, pipeline_env, clean_warehouse):
    server = Serve(tmp_path, {**pipeline_env, "RUN_QUEUE_INTERVAL_SECONDS": "1"})
    try:
        server.wait_until_ready()
        wait_for(lambda: _location_loaded(server), 180, interval=1, what="code location loaded")
        children = psutil.Process(server.process.pid).children(recursive=True)
        assert len(children) >= 3  # code server (and its gRPC child), webserver, daemon
        run_id = server.launch_materialization([["raw", "recently_played"]], DAY)
        assert server.wait_for_run(run_id) == "SUCCESS", (tmp_path / "serve.log").read_text()[-3000:]
        server.process.send_signal(signal.SIGTERM)  # what systemd sends the main process
        assert server.process.wait(timeout=90) == 0
        assert not [child for child in children if child.is_running() and child.status() != "zombie"]
    finally:
        server.stop()
    assert "dagster.yaml (PostgreSQL" in (tmp_path / "serve.log").read_text()


def _launched(stack: Stack, tags: dict[str, str], run_ids: list[str]) -> bool:
    """Launch a run once the webserver reaches the code server again (after its restart)."""
    stack.deployment.graphql(RELOAD_LOCATION, {"name": LOCATION_NAME})
    try:
        run_ids.append(stack.deployment.launch(ALL_ASSETS, tags))
    except IndexError:  # no repository: the location is reloading
        return False
    except RuntimeError as error:  # the new code server is still loading the definitions
        if "Unreachable" not in str(error) and "UNAVAILABLE" not in str(error):
            raise
        return False
    return True


def _location_loaded(server: DagsterDev) -> bool:
    try:
        return bool(server.graphql(REPOSITORIES)["repositoriesOrError"]["nodes"])
    except (OSError, RuntimeError, KeyError, TypeError):
        return False
