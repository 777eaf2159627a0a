"""A refused token, as processes (the deployment of alert_deployment.py): healthy, then the listener's token
refused (one alert; the daemon killed and restarted once it is sent; no second one after three failed
captures), then restored (one recovery, heartbeats again). The tests run in order on one deployment; the
schedule ticks once a minute (cron's finest), so the module waits for as few ticks as its claims need: five
captures.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import pytest

from spotify_assets_tests.alert_deployment import LISTENER, SMTP_PASSWORD, SPOTIFY_USER
from spotify_assets_tests.topology_processes import wait_for

pytestmark = pytest.mark.slow  # starts the deployment's processes

FIX = "spotify-assets auth --listener alice"


@dataclass
class Refusal:
    """When the listener's token was refused, and when the daemon was restarted in that incident."""

    revoked: float
    restarted: float


@pytest.fixture(scope="module")
def refused(alerting, capturing) -> Refusal:
    """The listener's token refused by Spotify (the app's access revoked); once its alert is sent, the daemon
    killed (-9) and started again, and then two more captures failed."""
    revoked = time.time()
    alerting.fake.refused_users.add(SPOTIFY_USER)
    alerting.fake.revoke_access_tokens()
    about = "Alert: The capture of listener alice fails"
    wait_for(lambda: alerting.mails_about(about), 300, interval=1, what="the alert of the refused token")
    # Killed once the incident is recorded as sent: a kill in the instant between the message leaving and
    # the daemon storing the sensor's cursor would have it sent again (at least once, docs/alerts.md).
    incident = "run/raw_capture/alice"
    wait_for(lambda: "sent" in alerting.recorded_incidents().get(incident, {}), 60, what="the alert recorded")
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
    """The token accepted again until a capture succeeded; the capture schedule stopped right after, so no
    capture is still running when the heartbeats are counted."""
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


def test_no_secret_in_any_message_log_or_event(alerting, restored):
    assert alerting.secret_leaks() == []
