"""Knowing when it stops, as processes: the deployment of test_deploy.py (code server, webserver, daemon,
PostgreSQL over TCP) capturing one listener from the stand-in Spotify every minute, with a local SMTP server,
a local HTTP receiver for the webhook and the heartbeat, and `spotify-assets status` run as a subprocess.

The tests run in order on one deployment: healthy, the listener's token refused (one alert; the daemon killed
and restarted once it is sent; no second one after three failed captures), restored (one recovery, then the
capture schedule stopped), a run killed (one alert), no capture since (one alert, and not before the newest
capture is older than ALERT_STALE_CAPTURE_SECONDS). The schedule ticks once a minute (cron's finest), so the
test waits for as few ticks as its claims need: five captures, then the threshold.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from spotify_assets.assets.resources import build_postgres
from spotify_assets.contracts.listener_scope import LISTENER_TAG
from spotify_assets.contracts.settings import Settings
from spotify_assets.operations.topology import Topology
from spotify_assets.sources.token_store import StoredToken, write_token_file
from spotify_assets.storage.postgres import PostgresResource
from spotify_assets_tests.alert_receivers import HttpReceiver, SmtpReceiver
from spotify_assets_tests.dagster_ui import free_port
from spotify_assets_tests.fake_spotify import (
    CLIENT_ID,
    CLIENT_SECRET,
    RECENTLY_PLAYED,
    FakeSpotify,
    hang,
    synthetic_play,
)
from spotify_assets_tests.tcp_postgres import TcpPostgres
from spotify_assets_tests.topology_processes import WORKSPACE, Deployment, deployment_env, wait_for

pytestmark = pytest.mark.slow  # starts the deployment's processes

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
FIX = "spotify-assets auth --listener alice"
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
class Refusal:
    """When the listener's token was refused, and when the daemon was restarted in that incident."""

    revoked: float
    restarted: float


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
def healthy(alerting) -> float:
    """The capture schedule started and one of its runs succeeded; when it started."""
    started = time.time()
    assert alerting.deployment.start_schedule(CAPTURE_SCHEDULE) == "RUNNING"
    wait_for(lambda: bool(alerting.captures(started, "SUCCESS")), 300, interval=2, what="a capture")
    return started


def test_healthy_captures_send_one_heartbeat_each_no_alert_and_status_exits_0(alerting, healthy):
    alerting.wait_for_sensor_ticks()
    succeeded = {run["runId"] for run in alerting.captures(healthy, "SUCCESS")}
    beats = alerting.heartbeat_runs()
    assert succeeded <= set(beats) and len(beats) == len(set(beats))  # one each (a later one may be running)
    assert (alerting.mails(), alerting.hooks()) == ([], [])

    status = alerting.status()
    print(status.stdout)
    assert status.returncode == 0, status.stdout + status.stderr
    lines = status.stdout.splitlines()
    assert lines[0].endswith("UTC: healthy: nothing needs action")
    assert re.fullmatch(
        rf"{LISTENER}\s+\d{{4}}-\d\d-\d\d \d\d:\d\d\s+\S+ \S+\s+ok\s+\d{{4}}-\d\d-\d\d\s+0", lines[3]
    )
    assert "Runs failed in the last 24 h: 0" in lines
    assert any(line.startswith("Daemon: schedules, sensors, run queue ticking") for line in lines)
    report = json.loads(alerting.status("--json").stdout)
    assert report["healthy"] is True and report["needs_action"] == []
    assert [row["listener"] for row in report["listeners"]] == [LISTENER]


@pytest.fixture(scope="module")
def refused(alerting, healthy) -> Refusal:
    """The listener's token refused by Spotify (the app's access revoked); once its alert is sent, the daemon
    killed (-9) and started again, and then two more captures failed."""
    revoked = time.time()
    alerting.fake.refused_users.add(SPOTIFY_USER)
    alerting.fake.revoke_access_tokens()
    about = "Alert: The capture of listener alice fails"
    wait_for(lambda: alerting.mails_about(about), 300, interval=1, what="the alert of the refused token")
    alerting.deployment.processes["daemon"].kill()
    alerting.deployment.restart("daemon")
    restarted = time.time()
    wait_for(
        lambda: len(alerting.captures(restarted, "FAILURE")) >= 2, 420, interval=2, what="two failures after"
    )
    alerting.wait_for_sensor_ticks(3)
    return Refusal(revoked, restarted)


def test_a_refused_token_sends_one_alert_naming_the_listener_and_the_fix(alerting, refused):
    failed = alerting.captures(refused.revoked, "FAILURE")
    assert len(failed) >= 3
    ((subject, body),) = alerting.mails()
    print(f"Subject: {subject}\n\n{body}")
    assert subject == "[spotify-assets] Alert: The capture of listener alice fails"
    assert f"Listener: {LISTENER}" in body and f"Fix: `{FIX}`" in body
    assert "invalid_grant" in body and "last 50 plays" in body and "Since: " in body
    (hook,) = alerting.hooks()
    assert (hook["kind"], hook["listener"], hook["incident"]) == ("alert", LISTENER, "run/raw_capture/alice")
    assert alerting.smtp.logins and set(alerting.smtp.logins) == {("alerts", SMTP_PASSWORD)}
    assert not {run["runId"] for run in failed} & set(alerting.heartbeat_runs())  # no heartbeat for a failure

    status = alerting.status()
    print(status.stdout)
    assert status.returncode == 1
    assert "Needs action:" in status.stdout
    assert (
        "  - The capture of listener alice fails (since " in status.stdout
        and f"Fix: `{FIX}`" in status.stdout
    )
    counts = re.search(r"Runs failed in the last 24 h: (\d+) \(raw_capture (\d+)\)", status.stdout)
    assert counts and int(counts.group(1)) >= 3 and int(counts.group(2)) >= 3, status.stdout


def test_a_daemon_restarted_mid_incident_sends_no_second_alert(alerting, refused):
    ((_, alerted),) = alerting.smtp.arrived()
    assert alerted < refused.restarted  # the incident was announced before the restart
    assert len(alerting.captures(refused.restarted, "FAILURE")) >= 2  # and failed on after it
    assert len(alerting.mails()) == 1 and len(alerting.hooks()) == 1


@pytest.fixture(scope="module")
def restored(alerting, refused) -> float:
    """The token accepted again until a capture succeeded; the capture schedule stopped right after, so the
    freshness threshold runs from that capture while the next tests go on."""
    restored = time.time()
    alerting.fake.refused_users.discard(SPOTIFY_USER)
    wait_for(lambda: bool(alerting.captures(restored, "SUCCESS")), 300, interval=2, what="a capture again")
    alerting.stop_schedule()
    wait_for(lambda: len(alerting.mails()) >= 2, 120, interval=1, what="the recovery message")
    alerting.wait_for_sensor_ticks()
    return restored


def test_the_restored_token_sends_one_recovery_and_heartbeats_again(alerting, restored):
    mails = alerting.mails()
    assert len(mails) == 2 and len(alerting.hooks()) == 2
    subject, body = mails[1]
    print(f"Subject: {subject}\n\n{body}")
    assert subject == "[spotify-assets] Recovered: The capture of listener alice works again"
    assert f"Listener: {LISTENER}" in body and "Days flagged possible_gap meanwhile: none." in body
    assert alerting.hooks()[1]["kind"] == "recovery"
    (first_success, *_) = alerting.captures(restored, "SUCCESS")
    beats = alerting.heartbeat_runs()
    assert first_success["runId"] in beats
    succeeded = {run["runId"] for run in alerting.captures(status="SUCCESS")}
    assert set(beats) == succeeded and len(beats) == len(succeeded)  # one per success, none for a failure
    status = alerting.status()
    assert status.returncode == 0, status.stdout


def _worker_pid(alerting: Alerting, run_id: str) -> int | None:
    rows = alerting.sql(
        "SELECT event FROM dagster.event_logs WHERE run_id = %s AND event LIKE %s", (run_id, "%pid%")
    )
    for (event,) in rows:
        if found := re.search(r"Started process for run \(pid: (\d+)\)", event):
            return int(found.group(1))
    return None


@pytest.fixture(scope="module")
def newest_capture(alerting, restored) -> float:
    """When the newest capture stored plays (Unix time); the capture schedule is stopped since."""
    return alerting.newest_capture()


def test_a_killed_run_sends_one_alert(alerting, newest_capture):
    asked = len(alerting.fake.requests_to(RECENTLY_PLAYED))
    alerting.fake.script(RECENTLY_PLAYED, hang(600))
    today = datetime.now(UTC).date().isoformat()
    tags = {"dagster/partition": today, LISTENER_TAG: LISTENER, "dagster/max_retries": "0"}
    doomed = alerting.deployment.launch([["raw", "recently_played"]], tags)
    wait_for(
        lambda: len(alerting.fake.requests_to(RECENTLY_PLAYED)) > asked, 300, interval=1, what="a request"
    )
    pid = _worker_pid(alerting, doomed)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: alerting.deployment.run(doomed)["status"] == "FAILURE", 180, interval=2, what="failed")
    about = "Alert: A run of raw/recently_played (launched by hand, an import or a rebuild) failed"
    wait_for(lambda: alerting.mails_about(about), 120, interval=1, what="the alert of the killed run")
    alerting.wait_for_sensor_ticks()
    ((_, body),) = alerting.mails_about(about)
    assert f"Listener: {LISTENER}" in body and "Fix: open the run in the Dagster UI" in body
    assert doomed not in alerting.heartbeat_runs()


def test_capture_stopped_longer_than_the_threshold_sends_one_freshness_alert(alerting, newest_capture):
    late = newest_capture + STALE_SECONDS
    about = "Alert: No capture of listener alice"
    wait_for(
        lambda: alerting.mails_about(about), late - time.time() + 180, interval=2, what="freshness alert"
    )
    (arrived,) = alerting.arrivals_about(about)
    assert arrived > late, arrived - newest_capture  # not before the newest capture was older than that
    assert alerting.newest_capture() == newest_capture  # and no capture since
    alerting.wait_for_sensor_ticks(3)
    ((subject, body),) = alerting.mails_about(about)
    assert len(alerting.mails()) == 4 and len(alerting.hooks()) == 4
    assert re.fullmatch(r"\[spotify-assets\] Alert: No capture of listener alice for \d+ min", subject)
    assert f"start the schedule {CAPTURE_SCHEDULE}" in body and "last 50 plays" in body
    status = alerting.status()
    assert status.returncode == 1
    assert re.search(
        r"  - No capture of listener alice for \d+ min \(since .*start the schedule", status.stdout
    )


def test_no_secret_in_any_message_log_or_event(alerting, newest_capture):
    secrets = [SMTP_PASSWORD, "webhook-S3CRET", "heartbeat-uuid-S3CRET", CLIENT_SECRET, DB_PASSWORD,
               alerting.refresh_token, *alerting.fake.issued_access_tokens]  # fmt: skip
    texts = [subject + body for subject, body in alerting.mails()]
    texts += [request.body.decode() for request in alerting.http.requests]
    texts += [row[0] for row in alerting.sql("SELECT event FROM dagster.event_logs")]
    texts += [row[0] or "" for row in alerting.sql("SELECT tick_body FROM dagster.job_ticks")]
    skipped = {alerting.root / "tokens", alerting.root / "postgres"}
    for path in alerting.root.rglob("*"):
        if path.is_file() and not any(folder in path.parents for folder in skipped):
            texts.append(path.read_bytes().decode(errors="replace"))
    assert len(texts) > 100
    leaks = [(secret[:6], text[:200]) for text in texts for secret in secrets if secret in text]
    assert leaks == []
