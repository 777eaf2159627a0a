"""Alerts without processes: settings, one message per incident, the text of a message, the channels against
a local SMTP server and a local HTTP receiver, and what the definitions hold with and without channels."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster._core.events import DagsterEvent, DagsterEventType, StepMaterializationData
from dagster._core.instance.utils import RUNLESS_JOB_NAME, RUNLESS_RUN_ID

from spotify_assets.assets.raw import RAW_RECENTLY_PLAYED
from spotify_assets.contracts.alert_settings import AlertSettings
from spotify_assets.contracts.listener_scope import LISTENER_PARTITIONS, LISTENER_TAG
from spotify_assets.contracts.settings import Settings
from spotify_assets.definitions import build_definitions
from spotify_assets.operations.alerts import run_problems
from spotify_assets.operations.alerts.channels import AlertChannels
from spotify_assets.operations.alerts.fixes import fix_for
from spotify_assets.operations.alerts.heartbeat import HeartbeatTarget, heartbeat
from spotify_assets.operations.alerts.incidents import (
    OPENED,
    RECOVERED,
    REMINDER,
    advance,
    dump_state,
    load_state,
)
from spotify_assets.operations.alerts.messages import render
from spotify_assets.operations.alerts.problems import PLAYS_AT_RISK, Problem
from spotify_assets.operations.alerts.sensor import build_alert_sensor
from spotify_assets.operations.alerts.status import collect, status_lines
from spotify_assets.operations.alerts.token_problems import token_problems
from spotify_assets.operations.alerts.watch import look
from spotify_assets.operations.listeners import DUE_SOON, EXPIRED, NO_TOKEN_FILE, OK, Listener
from spotify_assets_tests.alert_receivers import SmtpReceiver
from spotify_assets_tests.fake_spotify import seed_token_file

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
DAY = timedelta(hours=24)
CAPTURE = Problem(
    key="run/raw_capture/alice",
    what="The capture of listener alice fails",
    since=T0,
    risk=PLAYS_AT_RISK,
    fix="`spotify-assets auth --listener alice`",
    listener="alice",
    cause="Spotify's token endpoint refused the request: invalid_grant (Refresh token revoked)",
    over="The capture of listener alice works again",
)
PASSWORD = "smtp-pa55word-S3CRET"
HOOK_PATH = "/hook/T0000/B0000/XXXXsecretXXXX"


def test_alert_settings_are_read_and_a_half_configured_channel_is_named() -> None:
    alerts = Settings.from_mapping(
        {"ALERT_SMTP_HOST": "mail", "ALERT_EMAIL_TO": "a@x, b@x", "ALERT_SMTP_STARTTLS": "false"}
    ).alerts
    assert (alerts.email_to, alerts.smtp_starttls, alerts.smtp_port, alerts.configured) == (
        ("a@x", "b@x"), False, 587, True
    )  # fmt: skip
    assert Settings.from_mapping({}).alerts == AlertSettings()
    assert not AlertSettings().configured
    with pytest.raises(ValueError, match="ALERT_EMAIL_TO"):
        Settings.from_mapping({"ALERT_SMTP_HOST": "mail"})
    with pytest.raises(ValueError, match="ALERT_WEBHOOK_FORMAT must be one of json, slack, discord, ntfy"):
        Settings.from_mapping({"ALERT_WEBHOOK_URL": "http://x", "ALERT_WEBHOOK_FORMAT": "teams"})
    with pytest.raises(ValueError, match="ALERT_STALE_CAPTURE_SECONDS"):
        Settings.from_mapping({"ALERT_STALE_CAPTURE_SECONDS": "0"})


def test_one_incident_is_one_alert_one_daily_reminder_and_one_recovery() -> None:
    state: dict = {}
    sent = []
    # A capture every 15 minutes for two days, all failing: one alert, then one reminder a day.
    for tick in range(2 * 96):
        now = T0 + tick * timedelta(minutes=15)
        notices, state = advance(load_state(dump_state(state)), [CAPTURE], now, DAY)  # cursor round trip
        sent += [(notice.kind, now - T0) for notice in notices]
    assert sent == [(OPENED, timedelta(0)), (REMINDER, DAY)]
    notices, state = advance(state, [], T0 + 2 * DAY, DAY)
    assert [(n.kind, n.what, n.listener, n.since) for n in notices] == [
        (RECOVERED, "The capture of listener alice works again", "alice", T0)
    ]
    assert state == {} and advance(state, [], T0 + 3 * DAY, DAY)[0] == []


def test_an_unreadable_cursor_starts_afresh() -> None:
    assert load_state("not json") == {} and load_state(None) == {} and load_state('{"open": 3}') == {}


def test_a_message_says_what_for_whom_since_when_what_is_at_risk_and_the_fix(monkeypatch) -> None:
    monkeypatch.setenv("ALERT_SMTP_PASSWORD", PASSWORD)
    problem = Problem(**{**CAPTURE.__dict__, "cause": f"login with {PASSWORD} refused"})
    (notice,), _ = advance({}, [problem], T0, DAY)
    message = render(notice, T0)
    assert message.subject == "[spotify-assets] Alert: The capture of listener alice fails"
    assert message.body.splitlines()[:6] == [
        "Alert: The capture of listener alice fails.",
        "Listener: alice",
        "Since: 2026-03-01 08:00 UTC",
        "Cause: login with *** refused",
        f"At risk: {PLAYS_AT_RISK}",
        "Fix: `spotify-assets auth --listener alice`",
    ]
    (recovery,), _ = advance({problem.key: _incident(problem)}, [], T0 + DAY, DAY)
    body = render(recovery, T0 + DAY, ["2026-03-01"]).body
    assert body.splitlines() == [
        "Recovered: The capture of listener alice works again (the incident began 2026-03-01 08:00 UTC, "
        "ended 2026-03-02 08:00 UTC).",
        "Listener: alice",
        "Capture works again. Days flagged possible_gap meanwhile: 2026-03-01.",
    ]


def _incident(problem: Problem):
    return advance({}, [problem], problem.since, DAY)[1][problem.key]


@pytest.mark.parametrize(
    ("message", "listener", "capture", "fix"),
    [
        ("Spotify's token endpoint refused the request: invalid_grant", "alice", True,
         "`spotify-assets auth --listener alice`"),
        ("Spotify's token endpoint refused the request: invalid_grant", "default", True,
         "`spotify-assets auth`"),
        ("no table: run `spotify-assets rebuild gold/dim_track` first", None, False,
         "`spotify-assets rebuild gold/dim_track`"),
        ("OSError: [Errno 28] No space left on device", None, False,
         "free disk space where LAKE_DIR and the PostgreSQL data live, then let the next run catch up"),
    ],
)  # fmt: skip
def test_the_fix_is_taken_from_the_error(message, listener, capture, fix) -> None:
    assert fix_for(message, listener, capture) == fix


def _channels(smtp: SmtpReceiver, fmt: str = "json", **extra) -> AlertChannels:
    return AlertChannels(
        smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_starttls=False, email_from="alerts@example.org",
        email_to=["me@example.org", "you@example.org"], webhook_format=fmt, **extra,
    )  # fmt: skip


def test_an_alert_goes_by_email_and_webhook(smtp_receiver, http_receiver) -> None:
    message = render(advance({}, [CAPTURE], T0, DAY)[0][0], T0)
    assert _channels(smtp_receiver, webhook_url=http_receiver.url + HOOK_PATH).send(
        message, logging.getLogger("test")
    ) == ["email", "webhook"]
    ((subject, body),) = smtp_receiver.received()
    assert (subject, body) == (message.subject, message.body)
    assert smtp_receiver.messages[0]["X-Envelope-To"] == "me@example.org, you@example.org"
    (hook,) = http_receiver.to(HOOK_PATH)
    assert json.loads(hook.body) == {
        "kind": "alert",
        "incident": "run/raw_capture/alice",
        "listener": "alice",
        "subject": message.subject,
        "text": message.body,
    }


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("slack", lambda m, r: json.loads(r.body) == {"text": f"{m.subject}\n\n{m.body}"}),
        ("discord", lambda m, r: json.loads(r.body) == {"content": f"{m.subject}\n\n{m.body}"}),
        ("ntfy", lambda m, r: r.body.decode() == m.body and r.headers["Title"] == m.subject),
    ],
)
def test_the_webhook_speaks_slack_discord_and_ntfy(smtp_receiver, http_receiver, fmt, expected):
    message = render(advance({}, [CAPTURE], T0, DAY)[0][0], T0)
    channels = _channels(smtp_receiver, fmt, webhook_url=http_receiver.url + HOOK_PATH).model_copy(
        update={"smtp_host": None}
    )
    assert channels.send(message, logging.getLogger("test")) == ["webhook"]
    (hook,) = http_receiver.to(HOOK_PATH)
    assert expected(message, hook)


def test_a_failing_channel_is_logged_without_its_secret(smtp_receiver, http_receiver, caplog):
    http_receiver.status = 500
    message = render(advance({}, [CAPTURE], T0, DAY)[0][0], T0)
    channels = _channels(smtp_receiver, webhook_url=http_receiver.url + HOOK_PATH)
    with caplog.at_level(logging.WARNING):
        assert channels.send(message, logging.getLogger("test")) == ["email"]
    assert "not sent by webhook: ValueError: the webhook answered HTTP 500" in caplog.text
    http_receiver.stop()  # nothing listens any more: a connection error, whose text would hold the URL
    with caplog.at_level(logging.WARNING):
        assert channels.send(message, logging.getLogger("test")) == ["email"]
    assert "not sent by webhook: ConnectionError" in caplog.text
    assert "XXXXsecretXXXX" not in caplog.text


def test_without_a_channel_there_is_no_alert_sensor_and_without_a_url_no_heartbeat() -> None:
    plain = build_definitions(Settings.from_mapping({"SPOTIFY_SOURCE": "sample"}))
    assert list(plain.sensors or []) == []
    assert not plain.resolve_job_def("raw_capture").hook_defs
    alerting = build_definitions(
        Settings.from_mapping(
            {
                "SPOTIFY_SOURCE": "sample",
                "ALERT_WEBHOOK_URL": "http://127.0.0.1:9/x",
                "HEARTBEAT_URL": "http://h",
            }
        )
    )
    (sensor,) = alerting.sensors or []
    assert sensor.name == "alerts" and sensor.minimum_interval_seconds == 60
    resources = alerting.resources or {}
    assert "alert_channels" in resources and "heartbeat_target" in resources
    assert resources["alert_channels"].webhook_url == dg.EnvVar(
        "ALERT_WEBHOOK_URL"
    )  # its name, not its value
    assert [hook.name for hook in alerting.resolve_job_def("raw_capture").hook_defs] == ["heartbeat"]
    assert not alerting.resolve_job_def("medallion_daily").hook_defs


@dg.asset(key=["raw", "flaky"])
def flaky(context) -> None:  # noqa: ANN001 (Dagster reads a string annotation as no type)
    """Fails while its run carries the tag `fail`."""
    if context.run.tags.get("fail"):
        raise dg.Failure(description="the lake said: No space left on device")


def test_a_deployment_is_looked_at_from_its_instance(tmp_path) -> None:
    settings = Settings.from_mapping({"SPOTIFY_SOURCE": "sample", "ALERT_STALE_CAPTURE_SECONDS": "3600"})
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        instance.add_dynamic_partitions(LISTENER_PARTITIONS, ["alice"])
        captured = {
            "checked_through/alice": dg.MetadataValue.timestamp(datetime.now(UTC) - timedelta(minutes=20))
        }
        instance.report_runless_asset_event(dg.AssetMaterialization(RAW_RECENTLY_PLAYED, metadata=captured))
        for _ in range(3):
            dg.materialize([flaky], instance=instance, tags={"fail": "1"}, raise_on_error=False)

        later = datetime.now(UTC) + timedelta(hours=2)
        watch = look(instance, settings, [], later)
        failed, stale = sorted(watch.problems, key=lambda problem: problem.key)
        assert (failed.key, failed.what) == (
            "run/__ephemeral_asset_job__",  # an in-process run records no asset selection
            "A run of assets (launched by hand, an import or a rebuild) failed",
        )
        assert failed.cause.startswith("the lake said: No space left on device (3 failed runs, newest ")
        assert failed.fix.startswith("free disk space where LAKE_DIR")
        assert (stale.key, stale.listener) == ("stale/alice", "alice")
        assert stale.what == "No capture of listener alice for 2 h 00 min" or "for 1 h 59 min" in stale.what
        assert stale.fix.startswith("start the schedule raw_capture_intraday_schedule")
        assert watch.captures["alice"].last_capture is not None

        status = collect(instance, settings, later)
        lines = status_lines(status)
        assert status.needs_action and lines[0].endswith("UTC: needs action")
        header = "LISTENER LAST CAPTURE CHECKED THROUGH TOKEN RE-AUTHORISE BY GAP DAYS (30 D)"
        assert lines[2].split() == header.split()
        assert [row.split()[0] for row in lines[3:5]] == ["default", "alice"]
        assert "Runs failed in the last 24 h: 3 (__ephemeral_asset_job__ 3)" in lines
        assert "Newest day in gold: none yet" in lines
        assert any(line.startswith("Daemon: schedules, sensors, run queue NOT ticking") for line in lines)

        dg.materialize([flaky], instance=instance)
        assert [problem.key for problem in look(instance, settings, [], later).problems] == ["stale/alice"]


@dg.asset_check(asset=flaky, name="tidy")
def tidy(context) -> dg.AssetCheckResult:  # noqa: ANN001
    """Fails (a warning) while its run carries the tag `untidy`."""
    untidy = bool(context.run.tags.get("untidy"))
    return dg.AssetCheckResult(
        passed=not untidy,
        severity=dg.AssetCheckSeverity.WARN,
        description="3 rows: run `spotify-assets rebuild raw/flaky`",
    )


def test_a_failed_check_is_a_problem_until_it_passes(tmp_path) -> None:
    settings = Settings.from_mapping({"SPOTIFY_SOURCE": "sample"})
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        dg.materialize([flaky, tidy], instance=instance, tags={"untidy": "1"})
        (problem,) = look(instance, settings, list(tidy.check_keys), datetime.now(UTC)).problems
        assert (problem.key, problem.what, problem.fix) == (
            "check/raw/flaky:tidy",
            "The check tidy of raw/flaky fails (WARN)",
            "`spotify-assets rebuild raw/flaky`",
        )
        dg.materialize([flaky, tidy], instance=instance)
        assert look(instance, settings, list(tidy.check_keys), datetime.now(UTC)).problems == []


def test_a_token_due_is_a_problem_naming_the_date_and_the_command() -> None:
    due = T0 + timedelta(days=10)
    listeners = [
        Listener("bob", Path("bob.json"), DUE_SOON, reauthorization_due=due),
        Listener("carol", Path("carol.json"), OK, reauthorization_due=due + DAY),
        Listener("dan", Path("dan.json"), NO_TOKEN_FILE, registered=False),  # a stray file: not captured
        Listener("me", Path("token.json"), EXPIRED, reauthorization_due=T0, registered=False, default=True),
    ]
    bob, default = token_problems(listeners, T0)
    assert (bob.key, bob.what, bob.fix, bob.since) == (
        "token/bob",
        "The Spotify token of listener bob must be re-authorised by 2026-03-11",
        "`spotify-assets auth --listener bob`",
        due - timedelta(days=14),
    )
    assert (default.key, default.what, default.fix) == (
        "token/default",
        "The Spotify token of the default listener is unusable (expired)",
        "`spotify-assets auth`",
    )


@dg.op(name="raw__recently_played")
def capture_step(context) -> None:  # noqa: ANN001
    """Stands for the capture step: fails while its run carries the tag `fail`."""
    if context.run.tags.get("fail"):
        raise dg.Failure(description="refused")


@dg.job(
    hooks={heartbeat}, resource_defs={"heartbeat_target": HeartbeatTarget(url=dg.EnvVar("HEARTBEAT_URL"))}
)
def capture_job() -> None:
    capture_step()


def test_the_heartbeat_follows_each_successful_capture_and_never_fails_it(monkeypatch, http_receiver):
    monkeypatch.setenv("HEARTBEAT_URL", f"{http_receiver.url}/ping/uuid-S3CRET")
    ok = capture_job.execute_in_process()
    failed = capture_job.execute_in_process(tags={"fail": "1"}, raise_on_error=False)
    assert ok.success and not failed.success
    (ping,) = http_receiver.requests
    assert (ping.method, ping.path, ping.headers["X-Dagster-Run-Id"]) == (
        "GET",
        "/ping/uuid-S3CRET",
        ok.run_id,
    )

    http_receiver.stop()  # the monitor is unreachable: the capture still succeeds
    instance = dg.DagsterInstance.ephemeral()
    unheard = capture_job.execute_in_process(instance=instance)
    assert unheard.success
    logged = " ".join(entry.user_message for entry in instance.all_logs(unheard.run_id))
    assert "heartbeat not delivered: ConnectionError" in logged and "S3CRET" not in logged


def _webhook_sensor(instance: dg.DagsterInstance, http_receiver: Any) -> Callable[[str | None], str | None]:
    """The alert sensor (webhook to `http_receiver`) evaluated once from a cursor: its new cursor."""
    sensor = build_alert_sensor(
        Settings.from_mapping({"SPOTIFY_SOURCE": "sample", "ALERT_WEBHOOK_URL": "set"}), []
    )
    resources = {"alert_channels": AlertChannels(webhook_url=http_receiver.url + HOOK_PATH)}

    def tick(cursor: str | None) -> str | None:
        with dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources) as context:
            sensor(context)
            return context.cursor

    return tick


def test_the_sensor_sends_once_and_tries_again_what_no_channel_took(tmp_path, http_receiver):
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        tick = _webhook_sensor(instance, http_receiver)
        dg.materialize([flaky], instance=instance, tags={"fail": "1"}, raise_on_error=False)
        http_receiver.status = 503
        cursor = tick(None)
        assert load_state(cursor) == {}  # the webhook refused it: not sent, so not open
        http_receiver.status = 200
        cursor = tick(tick(cursor))
        dg.materialize([flaky], instance=instance, raise_on_error=False)
        dg.materialize([flaky], instance=instance, tags={"fail": "1"}, raise_on_error=False)
        dg.materialize([flaky], instance=instance)
        cursor = tick(tick(cursor))
        kinds = [json.loads(request.body)["kind"] for request in http_receiver.to(HOOK_PATH)]
        assert kinds == ["alert", "alert", "recovery"] and load_state(cursor) == {}


def test_a_failure_older_than_the_look_back_stays_open_until_a_run_of_its_kind_succeeds(
    tmp_path, http_receiver, monkeypatch
):
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        tick = _webhook_sensor(instance, http_receiver)
        dg.materialize([flaky], instance=instance, tags={"fail": "1"}, raise_on_error=False)
        cursor = tick(None)
        # A week on, nobody has run it again: the failed run is older than the runs the sensor looks at.
        monkeypatch.setattr(run_problems, "RUNS_LOOKBACK", timedelta(0))
        cursor = tick(tick(cursor))
        assert list(load_state(cursor)) == ["run/__ephemeral_asset_job__"]
        assert [json.loads(request.body)["kind"] for request in http_receiver.to(HOOK_PATH)] == ["alert"]
        later = datetime.now(UTC) + timedelta(days=8)
        settings = Settings.from_mapping({"SPOTIFY_SOURCE": "sample"})
        assert look(instance, settings, [], later).problems == []  # with no incident announced: out of view

        dg.materialize([flaky], instance=instance)
        cursor = tick(cursor)
        kinds = [json.loads(request.body)["kind"] for request in http_receiver.to(HOOK_PATH)]
        assert kinds == ["alert", "recovery"] and load_state(cursor) == {}


def _captured(instance: dg.DagsterInstance, at: datetime) -> None:
    """A capture of alice recorded at `at` (in the past: the instance stamps events with the time given)."""
    metadata = {"checked_through/alice": dg.MetadataValue.timestamp(at - timedelta(minutes=15))}
    event = DagsterEvent(
        DagsterEventType.ASSET_MATERIALIZATION.value,
        job_name=RUNLESS_JOB_NAME,
        event_specific_data=StepMaterializationData(
            dg.AssetMaterialization(RAW_RECENTLY_PLAYED, metadata=metadata)
        ),
    )
    instance.report_dagster_event(event, run_id=RUNLESS_RUN_ID, timestamp=at.timestamp())


@dg.op(name="raw__recently_played")
def capture_alice(context) -> Iterator[dg.AssetMaterialization | dg.Output]:  # noqa: ANN001
    """Stands for alice's capture: refused while its run carries the tag `fail`, else records her capture."""
    if context.run.tags.get("fail"):
        raise dg.Failure(description="Spotify refused the saved authorisation (invalid_grant)")
    checked = dg.MetadataValue.timestamp(datetime.now(UTC) - timedelta(minutes=15))
    yield dg.AssetMaterialization(RAW_RECENTLY_PLAYED, metadata={"checked_through/alice": checked})
    yield dg.Output(None)


@dg.job(name="raw_capture", tags={LISTENER_TAG: "alice"})
def raw_capture() -> None:
    capture_alice()


def test_a_failed_capture_of_a_late_listener_does_not_end_the_late_capture(tmp_path, http_receiver):
    settings = Settings.from_mapping({"SPOTIFY_SOURCE": "sample", "ALERT_WEBHOOK_URL": "set"})
    sensor = build_alert_sensor(settings, [])
    resources = {"alert_channels": AlertChannels(webhook_url=http_receiver.url + HOOK_PATH)}
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        cursor = None

        def tick() -> list[tuple[str, str]]:
            """One evaluation of the sensor: the (kind, incident) of each message it sent."""
            nonlocal cursor
            before = len(http_receiver.to(HOOK_PATH))
            with dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources) as context:
                sensor(context)
                cursor = context.cursor
            return sorted(
                (message["kind"], message["incident"])
                for message in map(json.loads, (r.body for r in http_receiver.to(HOOK_PATH)[before:]))
            )

        instance.add_dynamic_partitions(LISTENER_PARTITIONS, ["alice"])
        _captured(instance, datetime.now(UTC) - timedelta(hours=2))  # then the daemon was down
        assert tick() == [("alert", "stale/alice")]

        # The daemon is back, but alice's token is refused: her plays are still not captured.
        assert not raw_capture.execute_in_process(
            instance=instance, tags={"fail": "1"}, raise_on_error=False
        ).success
        assert tick() == [("alert", "run/raw_capture/alice")]
        assert sorted(load_state(cursor)) == ["run/raw_capture/alice", "stale/alice"]
        late = {p.key: p for p in look(instance, settings, [], datetime.now(UTC)).problems}["stale/alice"]
        assert "`spotify-assets auth --listener alice`" in late.fix  # the late capture's fix is the failure's
        assert tick() == []

        assert raw_capture.execute_in_process(instance=instance).success  # her capture works again
        assert tick() == [("recovery", "run/raw_capture/alice"), ("recovery", "stale/alice")]
        assert load_state(cursor) == {}


def test_a_failing_capture_that_makes_a_listener_late_is_one_incident(tmp_path) -> None:
    settings = Settings.from_mapping({"SPOTIFY_SOURCE": "sample"})
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        instance.add_dynamic_partitions(LISTENER_PARTITIONS, ["alice"])
        _captured(instance, datetime.now(UTC) - timedelta(minutes=20))
        raw_capture.execute_in_process(instance=instance, tags={"fail": "1"}, raise_on_error=False)
        later = datetime.now(UTC) + timedelta(hours=2)  # failing before she was late: the failure says it all
        assert [p.key for p in look(instance, settings, [], later).problems] == ["run/raw_capture/alice"]


def test_a_capture_launched_before_the_listener_was_late_is_one_incident_however_long_it_took(
    tmp_path,
) -> None:
    """A failed capture launched before she became late, and ended after (a slow run on a busy machine),
    is the one incident: no second alert that she is late."""
    settings = Settings.from_mapping({"SPOTIFY_SOURCE": "sample"})
    threshold = timedelta(seconds=settings.alerts.stale_capture_seconds)
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        instance.add_dynamic_partitions(LISTENER_PARTITIONS, ["alice"])
        result = raw_capture.execute_in_process(instance=instance, tags={"fail": "1"}, raise_on_error=False)
        [record] = instance.get_run_records(dg.RunsFilter(run_ids=[result.run_id]))
        launched = record.create_timestamp.astimezone(UTC)
        ended = datetime.fromtimestamp(record.end_time, UTC) if record.end_time else launched
        ended = max(ended, launched + timedelta(milliseconds=2))
        _captured(instance, launched + (ended - launched) / 2 - threshold)  # late between launch and end
        later = datetime.now(UTC) + timedelta(hours=2)
        assert [p.key for p in look(instance, settings, [], later).problems] == ["run/raw_capture/alice"]


def test_status_from_the_command_line_names_a_token_due_and_exits_1(tmp_path) -> None:
    """`spotify-assets status --json` as a user runs it: a token to re-authorise within two weeks is an action
    needed, with the date and the command, and the exit code says so."""
    token = tmp_path / "token.json"
    seed_token_file(
        Settings(spotify_token_file=str(token)), authorized_at=datetime.now(UTC) - timedelta(days=175)
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SPOTIFY_", "DB_", "S3_", "DAGSTER_", "ALERT"))
    }
    env |= {
        "DAGSTER_HOME": str(tmp_path / "home"),
        "DAGSTER_STORAGE": "sqlite",
        "SPOTIFY_SOURCE": "live",
        "SPOTIFY_TOKEN_FILE": str(token),
        "SPOTIFY_ASSETS_PROJECT_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "-m", "spotify_assets.operations.cli", "status", "--json"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert not report["healthy"]
    [due] = [item for item in report["needs_action"] if item["incident"] == "token/default"]
    assert "must be re-authorised by" in due["what"] and due["fix"] == "`spotify-assets auth`"
