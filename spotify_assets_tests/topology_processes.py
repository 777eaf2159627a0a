"""The production topology (code server, webserver, daemon) as real processes, driven through GraphQL."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from spotify_assets.operations.topology import Topology, local_command
from spotify_assets_tests.dagster_ui import LAUNCH_RUN, DagsterDev, free_port, stop_process_group

WORKSPACE = Path(__file__).resolve().parents[1] / "deploy" / "workspace.yaml"

RUN_TIMES = """
query RunTimes($runId: ID!) {
  runOrError(runId: $runId) {
    __typename ... on Run { status creationTime startTime endTime tags { key value } }
  }
}
"""
START_SCHEDULE = """
mutation StartSchedule($selector: ScheduleSelector!) {
  startSchedule(scheduleSelector: $selector) {
    __typename ... on ScheduleStateResult { scheduleState { status } } ... on PythonError { message }
  }
}
"""
RUNS_WITH_TAG = """
query Runs($key: String!, $value: String!) {
  runsOrError(filter: {tags: [{key: $key, value: $value}]}) {
    ... on Runs { results { runId status creationTime tags { key value } } }
  }
}
"""


class Process:
    """One process of the topology in its own process group (so TERM or KILL reaches its children too)."""

    def __init__(self, name: str, command: list[str], cwd: Path, env: Mapping[str, str]) -> None:
        self.name = name
        self._log = (cwd / f"{name}.log").open("ab")
        self.process = subprocess.Popen(
            local_command(command), cwd=cwd, env=dict(env), stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def kill(self) -> None:
        """kill -9 the whole process group, as a crash would."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        """TERM the process group, then KILL what is left."""
        stop_process_group(self.process)
        self._log.close()


class Deployment(DagsterDev):
    """Code server, webserver and daemon as separate processes, as deploy/ runs them; GraphQL as in the UI."""

    def __init__(self, topology: Topology, cwd: Path, env: Mapping[str, str]) -> None:  # noqa: D107
        self.topology = topology
        self.cwd = cwd
        self.env = {**env, **topology.env()}
        self.port = topology.web_port
        self.url = f"http://127.0.0.1:{topology.web_port}"
        self.processes = {
            name: Process(name, command, cwd, self.env) for name, command in topology.commands().items()
        }
        self.process = self.processes["webserver"].process

    def restart(self, name: str) -> None:
        self.processes[name] = Process(name, self.topology.commands()[name], self.cwd, self.env)

    def stop(self) -> None:
        for name in ("daemon", "webserver", "code-server"):
            self.processes[name].stop()

    def wait_until_ready(self, timeout: float = 180.0) -> None:
        """Until the webserver answers and has loaded the code location from the code server."""
        super().wait_until_ready(timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.repository():
                    return
            except (OSError, RuntimeError, IndexError, KeyError, TypeError):
                pass
            time.sleep(1)
        raise TimeoutError("the code location did not load")

    def repository(self) -> dict[str, Any]:
        from spotify_assets_tests.dagster_ui import REPOSITORIES

        return self.graphql(REPOSITORIES)["repositoriesOrError"]["nodes"][0]

    def launch(self, assets: list[list[str]], tags: Mapping[str, str]) -> str:
        """Launch a run of these assets with these tags (a partition, or a range), as the UI does."""
        repository = self.repository()
        params = {
            "mode": "default",
            "selector": {
                "repositoryLocationName": repository["location"]["name"],
                "repositoryName": repository["name"],
                "pipelineName": "__ASSET_JOB",
                "assetSelection": [{"path": path} for path in assets],
                "assetCheckSelection": [],
            },
            "executionMetadata": {"tags": [{"key": key, "value": value} for key, value in tags.items()]},
        }
        result = self.graphql(LAUNCH_RUN, {"executionParams": params})["launchPipelineExecution"]
        if result["__typename"] != "LaunchRunSuccess":
            raise RuntimeError(f"launch failed: {result}")
        return result["run"]["runId"]

    def run(self, run_id: str) -> dict[str, Any]:
        return self.graphql(RUN_TIMES, {"runId": run_id})["runOrError"]

    def start_schedule(self, name: str) -> str:
        repository = self.repository()
        selector = {
            "repositoryLocationName": repository["location"]["name"],
            "repositoryName": repository["name"],
            "scheduleName": name,
        }
        result = self.graphql(START_SCHEDULE, {"selector": selector})["startSchedule"]
        if result["__typename"] != "ScheduleStateResult":
            raise RuntimeError(f"cannot start {name}: {result}")
        return result["scheduleState"]["status"]

    def runs_with_tag(self, key: str, value: str) -> list[dict[str, Any]]:
        return self.graphql(RUNS_WITH_TAG, {"key": key, "value": value})["runsOrError"]["results"]


class Serve(DagsterDev):
    """`spotify-assets serve` (as `make serve` runs it) in a folder holding deploy/workspace.yaml."""

    def __init__(  # noqa: D107
        self, cwd: Path, env: Mapping[str, str], port: int = 0, code_port: int = 0, log: str = "serve.log"
    ) -> None:
        (cwd / "deploy").mkdir(exist_ok=True)
        shutil.copy(WORKSPACE, cwd / "deploy" / "workspace.yaml")
        self.port = port or free_port()
        self.code_port = code_port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = cwd / log
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "spotify_assets.operations.cli", "serve", "--port", str(self.port),
             "--code-port", str(self.code_port)],
            cwd=cwd, env=dict(env), stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def kill(self) -> None:
        """kill -9 serve's whole process group (code server, its run workers, webserver, daemon)."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self._log.close()


def deployment_env(root: Path, db_port: int, db_password: str, **settings: str) -> dict[str, str]:
    """The environment of a deployment under `root`: this process's, without its Spotify, database and S3
    settings, plus PostgreSQL on 127.0.0.1:`db_port`, the sample source and `settings`; its dagster.yaml
    written as the image's entrypoint does (`spotify-assets instance`)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SPOTIFY_", "DB_", "S3_"))}
    env.update(
        DAGSTER_HOME=str(root / "dagster_home"),
        DB_HOST="127.0.0.1",
        DB_PORT=str(db_port),
        DB_USER="postgres",
        DB_PASSWORD=db_password,
        DB_NAME="postgres",
        LAKE_DIR=str(root / "lake"),
        SPOTIFY_SOURCE="sample",
        **settings,
    )
    written = subprocess.run(
        [sys.executable, "-m", "spotify_assets.operations.cli", "instance"],
        cwd=root, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert written.returncode == 0, written.stderr
    return env


def wait_for(predicate, timeout: float, interval: float = 0.5, what: str = "condition") -> float:
    """Poll until predicate() is true; the seconds it took."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(interval)
    raise TimeoutError(f"{what} not reached within {timeout} s")


def run_worker_pid(sql: Callable[[str, tuple], list[tuple]], run_id: str) -> int | None:
    """The pid of a run's worker process, from the launcher's event in the instance ("Started process for run
    (pid: N)"), or None while there is none; `sql` queries the instance's database."""
    rows = sql("SELECT event FROM dagster.event_logs WHERE run_id = %s AND event LIKE %s", (run_id, "%pid%"))
    for (event,) in rows:
        if found := re.search(r"Started process for run \(pid: (\d+)\)", event):
            return int(found.group(1))
    return None
