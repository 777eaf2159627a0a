"""The alert sensor: the daemon evaluates it every ALERT_INTERVAL_SECONDS, finds the open problems and sends
what `incidents.advance` says is due; its cursor (stored in the Dagster instance) holds the open incidents."""

# No `from __future__ import annotations`: Dagster reads the sensor's resource annotation at runtime.

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import dagster as dg

from spotify_assets.contracts.settings import Settings
from spotify_assets.operations.alerts.capture_state import read_captures
from spotify_assets.operations.alerts.channels import AlertChannels
from spotify_assets.operations.alerts.check_problems import watched_check_keys
from spotify_assets.operations.alerts.incidents import RECOVERED, Notice, advance, dump_state, load_state
from spotify_assets.operations.alerts.messages import Message, render
from spotify_assets.operations.alerts.problems import CAPTURE_JOB
from spotify_assets.operations.alerts.watch import look

ALERT_SENSOR = "alerts"


def _flagged_days(instance: dg.DagsterInstance, notice: Notice) -> list[str] | None:
    """For the recovery of a listener's capture: the possible-gap days their captures recorded since the
    incident began; None for other recoveries."""
    capture_kinds = (f"run/{CAPTURE_JOB}", "stale/")
    if notice.kind != RECOVERED or not notice.key.startswith(capture_kinds) or notice.listener is None:
        return None
    captures = read_captures(instance, [notice.listener], notice.since)
    return sorted(captures[notice.listener].gap_days)


def build_alert_sensor(settings: Settings, checks: Sequence[dg.AssetChecksDefinition]) -> dg.SensorDefinition:
    """The alert sensor (running by default) of these settings, watching `checks`."""
    check_keys = watched_check_keys(checks)
    reminder = timedelta(hours=settings.alerts.reminder_hours)

    @dg.sensor(
        name=ALERT_SENSOR,
        minimum_interval_seconds=settings.alerts.interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Sends one alert per incident (failed runs and checks, late captures, tokens due), a "
        "daily reminder while it lasts and one recovery message, by email and/or webhook.",
    )
    def alerts(context: dg.SensorEvaluationContext, alert_channels: AlertChannels) -> dg.SkipReason:
        now = datetime.now(UTC)
        state = load_state(context.cursor)
        watch = look(context.instance, settings, check_keys, now, still_open=state.keys())
        notices, after = advance(state, watch.problems, now, reminder)
        unsent = []
        for notice in notices:
            message: Message = render(notice, now, _flagged_days(context.instance, notice))
            channels = alert_channels.send(message, context.log)
            context.log.info(f"{message.kind} {message.key}: sent by {', '.join(channels) or 'no channel'}")
            if not channels:
                unsent.append(notice)
        for notice in unsent:  # no channel took it: as if it was never due, so the next tick tries again
            if notice.key in state:
                after[notice.key] = state[notice.key]
            else:
                after.pop(notice.key, None)
        context.update_cursor(dump_state(after))
        return dg.SkipReason(
            f"{len(watch.problems)} open problem(s); {len(notices) - len(unsent)} message(s) sent"
        )

    return alerts
