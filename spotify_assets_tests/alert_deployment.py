"""The alert tests' deployment (a pytest plugin, in conftest): the topology of test_deploy.py (code server,
webserver, daemon, PostgreSQL over TCP) capturing one listener from the stand-in Spotify every minute, with a
local SMTP server, a local HTTP receiver for the webhook and the heartbeat, and `spotify-assets status` run as
a subprocess.

Each module that uses the `alerting` fixture gets a deployment of its own, so pytest-xdist (whole modules per
worker) runs the alert scenarios on different workers at once.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from spotify_assets.assets.resources import build_postgres
from spotify_assets.contracts.settings import Settings
from spotify_assets.operations.topology import Topology
from spotify_assets.sources.token_store import StoredToken, write_token_file
from spotify_assets.storage.postgres import PostgresResource
from spotify_assets_tests.alert_receivers import HttpReceiver, SmtpReceiver
from spotify_assets_tests.dagster_ui import free_port
from spotify_assets_tests.fake_spotify import CLIENT_ID, CLIENT_SECRET, FakeSpotify, synthetic_play
from spotify_assets_tests.tcp_postgres import TcpPostgres
from spotify_assets_tests.topology_processes import WORKSPACE, Deployment, deployment_env, wait_for

CAPTURE_SCHEDULE = "raw_capture_intraday_schedule"
LISTENER = "alice"
SPOTIFY_USER = "alice.spotify"
DB_PASSWORD = "db-pa55-Secret"
SMTP_PASSWORD = "smtp-pa55word-S3CRET"
HOOK_PATH = "/hooks/T0001/B0001/webhook-S3CRET"
HEARTBEAT_PATH = "/ping/heartbeat-uuid-S3CRET"
RUN_START_SECONDS = 60
# Above the widest gap between two captures that do not fail: a minute between ticks, plus at most
# RUN_START_SECONDS more for the later run to start (a later start fails it: an alert this test fails on).
STALE_SECONDS = 150
SENSOR_SECONDS = 5
SCHEDULE_STATE = """
query Schedule($selector: ScheduleSelector!) {
  scheduleOrError(scheduleSelector: $selector) { ... on Schedule { scheduleState { id status } } }
}
"""
STOP_SCHEDULE = """
mutation Stop($id: String!) {
  stopRunningSchedule(id: $id) {
    __typename ... on ScheduleStateResult { scheduleState { status } } ... on PythonError { message }
  }
}
"""


@dataclass
class Alerting:
    """The running deployment and everything around it."""

    deployment: Deployment
    fake: FakeSpotify
    smtp: SmtpReceiver
    http: HttpReceiver
    warehouse: PostgresResource
    root: Path
    refresh_token: str

    def sql(self, query: str, params: tuple = ()) -> list[tuple]:
        with self.warehouse.connect() as conn:
            return conn.execute(query, params).fetchall()

    def captures(self, after: float = 0.0, status: str | None = None) -> list[dict]:
        """The capture schedule's runs created after `after` (a Unix time), oldest first."""
        runs = self.deployment.runs_with_tag("dagster/schedule_name", CAPTURE_SCHEDULE)
        chosen = [r for r in runs if r["creationTime"] > after and (status is None or r["status"] == status)]
        return sorted(chosen, key=lambda run: run["creationTime"])

    def mails(self) -> list[tuple[str, str]]:
        return self.smtp.received()

    def hooks(self) -> list[dict]:
        return [json.loads(request.body) for request in self.http.to(HOOK_PATH)]

    def heartbeat_runs(self) -> list[str]:
        return [request.headers["X-Dagster-Run-Id"] for request in self.http.to(HEARTBEAT_PATH)]

    def sensor_ticks(self, after_id: int = 0) -> int:
        """Finished ticks of the alert sensor (the only sensor) with an id above `after_id`."""
        query = (
            "SELECT count(*) FROM dagster.job_ticks WHERE type = 'SENSOR' AND status <> 'STARTED' AND id > %s"
        )
        return self.sql(query, (after_id,))[0][0]

    def recorded_incidents(self) -> dict[str, dict]:
        """The open incidents in the alert sensor's cursor as the instance stores it: what a restarted daemon
        gives the sensor (each tick's own record is written before it)."""
        query = "SELECT instigator_body FROM dagster.instigators WHERE instigator_type = 'SENSOR'"
        ((body,),) = self.sql(query)
        cursor = json.loads(body)["job_specific_data"]["cursor"]
        return json.loads(cursor)["open"] if cursor else {}

    def wait_for_sensor_ticks(self, count: int = 2) -> None:
        """Until the alert sensor has evaluated `count` more times (what it sends, it has sent by then)."""
        newest = self.sql("SELECT coalesce(max(id), 0) FROM dagster.job_ticks")[0][0]
        wait_for(lambda: self.sensor_ticks(newest) >= count, 180, interval=1, what="alert sensor ticks")

    def mails_about(self, subject: str) -> list[tuple[str, str]]:
        return [(s, body) for s, body in self.mails() if subject in s]

    def arrivals_about(self, subject: str) -> list[float]:
        """When each message whose subject holds `subject` arrived (Unix times)."""
        return [arrived for s, arrived in self.smtp.arrived() if subject in s]

    def newest_capture(self) -> float:
        """When a capture last stored the listener's plays (Unix time of its materialization event)."""
        query = (
            "SELECT extract(epoch FROM max(timestamp)) FROM dagster.event_logs "
            "WHERE dagster_event_type = 'ASSET_MATERIALIZATION' AND asset_key = %s"
        )
        return float(self.sql(query, ('["raw", "recently_played"]',))[0][0])

    def status(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "spotify_assets.operations.cli", "status", *args],
            cwd=self.root, env=self.deployment.env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip

    def secret_leaks(self) -> list[tuple[str, str]]:
        """Each secret (its first characters) found in a message, a request, an event, a tick or a file under
        the deployment's folder (but the token files and the database's own), with the text it is in."""
        secrets = [SMTP_PASSWORD, "webhook-S3CRET", "heartbeat-uuid-S3CRET", CLIENT_SECRET, DB_PASSWORD,
                   self.refresh_token, *self.fake.issued_access_tokens]  # fmt: skip
        places = {
            "mails": [subject + body for subject, body in self.mails()],
            "requests": [request.body.decode() for request in self.http.requests],
            "events": [row[0] for row in self.sql("SELECT event FROM dagster.event_logs")],
            "ticks": [row[0] or "" for row in self.sql("SELECT tick_body FROM dagster.job_ticks")],
            "files": [],
        }
        skipped = {self.root / "tokens", self.root / "postgres"}
        for path in self.root.rglob("*"):
            if path.is_file() and not any(folder in path.parents for folder in skipped):
                places["files"].append(path.read_bytes().decode(errors="replace"))
        # The search saw every kind of place (how many of each depends on how long the deployment ran).
        assert [name for name, found in places.items() if not found] == []
        texts = [text for found in places.values() for text in found]
        return [(secret[:6], text[:200]) for text in texts for secret in secrets if secret in text]

    def stop_schedule(self) -> None:
        """Stop the capture schedule (as the UI's toggle does) and wait until its runs have finished."""
        repository = self.deployment.repository()
        selector = {
            "repositoryLocationName": repository["location"]["name"],
            "repositoryName": repository["name"],
            "scheduleName": CAPTURE_SCHEDULE,
        }
        state = self.deployment.graphql(SCHEDULE_STATE, {"selector": selector})["scheduleOrError"]
        result = self.deployment.graphql(STOP_SCHEDULE, {"id": state["scheduleState"]["id"]})
        assert result["stopRunningSchedule"]["scheduleState"]["status"] == "STOPPED", result
        wait_for(lambda: all(r["status"] in ("SUCCESS", "FAILURE") for r in self.captures()), 300, interval=2)


def _plays(now: datetime) -> list[dict]:
    """Twenty plays of the listener over the last three hours (fewer than the API's 50: no gap)."""
    return [synthetic_play(now - timedelta(minutes=9 * number + 5), number) for number in range(20)]


@pytest.fixture(scope="module")
def alerting(tmp_path_factory) -> Iterator[Alerting]:
    """The deployment and its surroundings, started for the module that uses it and stopped after it."""
    root = tmp_path_factory.mktemp("alerting")
    postgres = TcpPostgres(root / "postgres", free_port())
    fake, smtp, http = FakeSpotify(), SmtpReceiver(), HttpReceiver()
    for server in (fake, smtp, http):
        server.start()
    deployment = None
    try:
        refresh_token = fake.issue_refresh_token(SPOTIFY_USER)
        fake.user_items[SPOTIFY_USER] = _plays(datetime.now(UTC))
        token = StoredToken(
            refresh_token=refresh_token,
            authorized_at=datetime.now(UTC).replace(microsecond=0),
            user_id=SPOTIFY_USER,
            scope="user-read-recently-played",
        )
        write_token_file(root / "tokens" / f"{LISTENER}.json", token)
        env = deployment_env(root, postgres.port, DB_PASSWORD)
        env.update(
            SPOTIFY_SOURCE="live",
            SPOTIFY_CLIENT_ID=CLIENT_ID,
            SPOTIFY_CLIENT_SECRET=CLIENT_SECRET,
            SPOTIFY_API_BASE_URL=f"{fake.url}/v1/",
            SPOTIFY_ACCOUNTS_BASE_URL=f"{fake.url}/",
            SPOTIFY_TOKEN_DIR=str(root / "tokens"),
            SPOTIFY_TOKEN_FILE=str(root / "tokens" / "no-default-listener.json"),
            CAPTURE_CRON="* * * * *",
            RUN_START_TIMEOUT_SECONDS=str(RUN_START_SECONDS),
            RUN_MONITORING_INTERVAL_SECONDS="5",
            RUN_QUEUE_INTERVAL_SECONDS="1",
            ALERT_SMTP_HOST="127.0.0.1",
            ALERT_SMTP_PORT=str(smtp.port),
            ALERT_SMTP_STARTTLS="false",
            ALERT_SMTP_USER="alerts",
            ALERT_SMTP_PASSWORD=SMTP_PASSWORD,
            ALERT_EMAIL_TO="me@example.org",
            ALERT_WEBHOOK_URL=f"{http.url}{HOOK_PATH}",
            HEARTBEAT_URL=f"{http.url}{HEARTBEAT_PATH}",
            ALERT_INTERVAL_SECONDS=str(SENSOR_SECONDS),
            ALERT_STALE_CAPTURE_SECONDS=str(STALE_SECONDS),
        )
        registered = subprocess.run(
            [sys.executable, "-c", "import dagster as dg; dg.DagsterInstance.get().add_dynamic_partitions("
             f"'listener', [{LISTENER!r}])"],
            cwd=root, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert registered.returncode == 0, registered.stderr
        topology = Topology(code_port=free_port(), web_port=free_port(), workspace=str(WORKSPACE))
        deployment = Deployment(topology, root, env)
        deployment.wait_until_ready()
        warehouse = build_postgres(Settings.from_mapping(env)).model_copy(update={"password": DB_PASSWORD})
        yield Alerting(deployment, fake, smtp, http, warehouse, root, refresh_token)
    finally:
        if deployment is not None:
            deployment.stop()
        for server in (http, smtp, fake):
            server.stop()
        postgres.stop()


@pytest.fixture(scope="module")
def capturing(alerting) -> float:
    """The capture schedule started and one of its runs succeeded; when it started."""
    started = time.time()
    assert alerting.deployment.start_schedule(CAPTURE_SCHEDULE) == "RUNNING"
    wait_for(lambda: bool(alerting.captures(started, "SUCCESS")), 300, interval=2, what="a capture")
    return started
