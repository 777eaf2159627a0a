"""Restarts lose no run: `serve` killed with -9 and started again, and a code server killed and back, as
processes over TCP PostgreSQL. Every day submitted ends with exactly one successful run."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from spotify_assets.assets.resources import build_postgres
from spotify_assets.contracts.settings import Settings
from spotify_assets.operations.topology import Topology
from spotify_assets_tests.dagster_ui import REPOSITORIES, DagsterDev, free_port
from spotify_assets_tests.tcp_postgres import TcpPostgres
from spotify_assets_tests.topology_processes import WORKSPACE, Deployment, Serve, deployment_env, wait_for

RAW = [["raw", "recently_played"]]
IN_PROGRESS = ("QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING")
# What the run queue writes when it gives a run up (an unreachable code server, out of retries or not).
QUEUE_FAILURES = ("dropping it from the queue", "failed to reach the user code server after")
RUNS_OF_DAY = """
SELECT r.run_id, r.status FROM dagster.runs r JOIN dagster.run_tags t ON t.run_id = r.run_id
WHERE t.key = 'dagster/partition' AND t.value = %s
"""


@dataclass
class Home:
    """One DAGSTER_HOME and database that every start of the processes shares, and how to read them."""

    root: Path
    env: dict[str, str]
    settings: Settings

    def sql(self, query: str, params: tuple = ()) -> list[tuple]:
        warehouse = build_postgres(self.settings).model_copy(update={"password": self.env["DB_PASSWORD"]})
        with warehouse.connect() as conn:
            return conn.execute(query, params).fetchall()

    def statuses(self, days: list[str]) -> dict[str, dict[str, str]]:
        """Each day's runs: run id -> status."""
        return {day: dict(self.sql(RUNS_OF_DAY, (day,))) for day in days}

    def count_events(self, run_id: str, event_type: str) -> int:
        query = "SELECT count(*) FROM dagster.event_logs WHERE run_id = %s AND dagster_event_type = %s"
        return self.sql(query, (run_id, event_type))[0][0]

    def retry_of(self, run_id: str) -> str | None:
        query = "SELECT value FROM dagster.run_tags WHERE run_id = %s AND key = 'dagster/auto_retry_run_id'"
        rows = self.sql(query, (run_id,))
        return rows[0][0] if rows else None


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Iterator[Home]:
    """PostgreSQL on TCP and the settings `serve` and the topology run with (short monitoring and queue
    intervals)."""
    root = tmp_path_factory.mktemp("restart")
    postgres = TcpPostgres(root / "postgres", free_port())
    env = deployment_env(
        root,
        postgres.port,
        "any",  # trust authentication
        MAX_CONCURRENT_RUNS="2",
        RUN_START_TIMEOUT_SECONDS="40",
        RUN_MONITORING_INTERVAL_SECONDS="5",
        RUN_QUEUE_INTERVAL_SECONDS="1",
    )
    try:
        yield Home(root, env, Settings.from_mapping(env))
    finally:
        postgres.stop()


def _loaded(server: DagsterDev) -> bool:
    try:
        return bool(server.graphql(REPOSITORIES)["repositoriesOrError"]["nodes"])
    except (OSError, RuntimeError, KeyError, TypeError):
        return False


def _wait_until_some_in_flight_and_some_queued(home: Home, days: list[str]) -> None:
    def ready() -> bool:
        statuses = {status for runs in home.statuses(days).values() for status in runs.values()}
        return "QUEUED" in statuses and bool({"STARTING", "STARTED"} & statuses)

    wait_for(ready, 120, interval=0.2, what="runs launched while others wait in the queue")


def _settled(home: Home, days: list[str]) -> bool:
    """Nothing in progress, and every failed run has its automatic retry."""
    runs = {run_id: status for day in home.statuses(days).values() for run_id, status in day.items()}
    if any(status in IN_PROGRESS for status in runs.values()):
        return False
    return all(home.retry_of(run_id) for run_id, status in runs.items() if status == "FAILURE")


def _assert_one_success_per_day(home: Home, days: list[str], at_kill: dict[str, dict[str, str]]) -> None:
    """Exactly one successful run per day; queued runs ran once; killed runs failed and were retried."""
    final = home.statuses(days)
    for day in days:
        assert list(final[day].values()).count("SUCCESS") == 1, (day, final[day])
        for run_id, status in at_kill[day].items():
            if status == "QUEUED":
                assert final[day][run_id] == "SUCCESS", (day, run_id)
                assert home.count_events(run_id, "PIPELINE_START") == 1, (day, run_id)
            elif status in ("STARTING", "STARTED") and final[day][run_id] != "SUCCESS":
                # Killed with its worker: failed, and its automatic retry succeeded. (A launch still on its
                # way to the code server went back into the queue and ran once, as a queued run does.)
                assert final[day][run_id] == "FAILURE", (day, run_id)
                assert final[day][home.retry_of(run_id)] == "SUCCESS", (day, run_id)
            else:
                assert home.count_events(run_id, "PIPELINE_START") <= 1, (day, run_id)
    for message in QUEUE_FAILURES:
        assert not home.sql("SELECT 1 FROM dagster.event_logs WHERE event LIKE %s", (f"%{message}%",))


def _start_serve(home: Home, log: str, port: int = 0, code_port: int = 0) -> Serve:
    server = Serve(home.root, home.env, port, code_port, log)
    server.wait_until_ready(timeout=240)
    wait_for(lambda: _loaded(server), 240, interval=1, what="code location loaded")
    return server


@dataclass
class Restarted:
    """The days submitted, each day's runs as the restart found them, and the two starts' output."""

    days: list[str]
    at_kill: dict[str, dict[str, str]]
    logs: list[str]


@pytest.fixture(scope="module")
def serve_restarted(home) -> Iterator[Restarted]:
    """Runs queued and launched, `kill -9` of serve's process group, `serve` again on the same instance."""
    days = [f"2025-06-0{day}" for day in range(1, 6)]
    server = _start_serve(home, "serve-1.log")
    try:
        for day in days:
            server.launch_materialization(RAW, day)
        _wait_until_some_in_flight_and_some_queued(home, days)
        processes = psutil.Process(server.process.pid).children(recursive=True)
        server.kill()
        # SIGKILL is delivered, not awaited: on a busy machine a child may take a moment to be gone.
        wait_for(lambda: not _alive(processes), 30, interval=0.2, what="every process of serve gone")
        at_kill = home.statuses(days)  # nothing runs: what the restart finds
        server = _start_serve(home, "serve-2.log", server.port, server.code_port)
        wait_for(lambda: _settled(home, days), 240, interval=2, what="every day's runs settled")
        logs = [(home.root / log).read_text() for log in ("serve-1.log", "serve-2.log")]
        yield Restarted(days, at_kill, logs)
    finally:
        server.stop()


def _alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    """The processes that still run (a killed one left a zombie is gone)."""
    alive = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
        except psutil.NoSuchProcess:
            pass
    return alive


@pytest.mark.slow
def test_after_serve_is_killed_and_started_again_queued_runs_run_once_and_none_fails_in_the_queue(
    home, serve_restarted
):
    final = home.statuses(serve_restarted.days)
    queued = [(day, run_id) for day, runs in serve_restarted.at_kill.items() for run_id, s in runs.items()
              if s == "QUEUED"]  # fmt: skip
    assert queued
    for day, run_id in queued:
        assert final[day][run_id] == "SUCCESS", (day, run_id)
        assert home.count_events(run_id, "PIPELINE_START") == 1, (day, run_id)
    for message in QUEUE_FAILURES:
        assert not home.sql("SELECT 1 FROM dagster.event_logs WHERE event LIKE %s", (f"%{message}%",))
    for text in serve_restarted.logs:
        assert "Traceback" not in text and "UNAVAILABLE" not in text, text[-3000:]


@pytest.mark.slow
def test_after_serve_is_killed_and_started_again_every_day_has_one_successful_run(home, serve_restarted):
    _assert_one_success_per_day(home, serve_restarted.days, serve_restarted.at_kill)


@pytest.mark.slow
def test_a_code_server_killed_and_back_loses_no_run(home):
    days = [f"2025-06-1{day}" for day in range(1, 6)]
    topology = Topology(code_port=free_port(), web_port=free_port(), workspace=str(WORKSPACE))
    deployment = Deployment(topology, home.root, home.env)
    try:
        deployment.wait_until_ready(timeout=240)
        for day in days:
            deployment.launch(RAW, {"dagster/partition": day})
        _wait_until_some_in_flight_and_some_queued(home, days)
        deployment.processes["code-server"].kill()
        at_kill = home.statuses(days)
        deployment.restart("code-server")
        wait_for(lambda: _settled(home, days), 180, interval=2, what="every day's runs settled")
        _assert_one_success_per_day(home, days, at_kill)
    finally:
        deployment.stop()
