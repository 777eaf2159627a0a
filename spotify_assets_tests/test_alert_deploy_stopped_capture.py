"""Knowing when it stops, as processes (the deployment of alert_deployment.py): healthy captures (a heartbeat
each, no alert, `spotify-assets status` exits 0), then the capture schedule stopped, a run killed (one
alert), and no capture since (one alert, and not before the newest capture is older than
ALERT_STALE_CAPTURE_SECONDS). The tests run in order on one deployment; the killed run falls inside the
freshness threshold's wait.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from datetime import UTC, datetime

import pytest

from spotify_assets.contracts.listener_scope import LISTENER_TAG
from spotify_assets_tests.alert_deployment import CAPTURE_SCHEDULE, LISTENER, STALE_SECONDS
from spotify_assets_tests.fake_spotify import RECENTLY_PLAYED, hang
from spotify_assets_tests.topology_processes import run_worker_pid, wait_for

pytestmark = pytest.mark.slow  # starts the deployment's processes

KILLED_RUN = "Alert: A run of raw/recently_played (launched by hand, an import or a rebuild) failed"


def test_healthy_captures_send_one_heartbeat_each_no_alert_and_status_exits_0(alerting, capturing):
    alerting.wait_for_sensor_ticks()
    succeeded = {run["runId"] for run in alerting.captures(capturing, "SUCCESS")}
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
def newest_capture(alerting, capturing) -> float:
    """The capture schedule stopped (its runs finished); when the newest capture stored plays (Unix time)."""
    alerting.stop_schedule()
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
    pid = run_worker_pid(alerting.sql, doomed)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: alerting.deployment.run(doomed)["status"] == "FAILURE", 180, interval=2, what="failed")
    wait_for(lambda: alerting.mails_about(KILLED_RUN), 120, interval=1, what="the alert of the killed run")
    alerting.wait_for_sensor_ticks()
    ((_, body),) = alerting.mails_about(KILLED_RUN)
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
    assert len(alerting.mails()) == 2 and len(alerting.hooks()) == 2  # the killed run's alert and this one
    assert re.fullmatch(r"\[spotify-assets\] Alert: No capture of listener alice for \d+ min", subject)
    assert f"start the schedule {CAPTURE_SCHEDULE}" in body and "last 50 plays" in body
    status = alerting.status()
    assert status.returncode == 1
    assert re.search(
        r"  - No capture of listener alice for \d+ min \(since .*start the schedule", status.stdout
    )


def test_no_secret_in_any_message_log_or_event(alerting, newest_capture):
    assert alerting.secret_leaks() == []
