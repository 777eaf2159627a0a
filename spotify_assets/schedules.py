"""Jobs and schedules: the whole graph for yesterday, and today's raw capture during the day."""

from __future__ import annotations

from datetime import datetime, timedelta

import dagster as dg

from spotify_assets.assets.raw import RAW_RECENTLY_PLAYED
from spotify_assets.partitions import daily_partitions
from spotify_assets.settings import Settings

medallion_job = dg.define_asset_job(
    "medallion_daily",
    selection=dg.AssetSelection.groups("raw", "silver", "gold", "report"),
    partitions_def=daily_partitions,
    description="Raw, silver, gold and the listening report for one day (or a range, as one run), with "
    "their checks.",
)
raw_capture_job = dg.define_asset_job(
    "raw_capture",
    selection=dg.AssetSelection.keys(RAW_RECENTLY_PLAYED),
    partitions_def=daily_partitions,
    description="Capture today's recently-played items into raw before the API forgets them.",
)


def _day_key(moment: datetime, days_back: int) -> str:
    return (moment.date() - timedelta(days=days_back)).isoformat()


def build_schedules(settings: Settings) -> list[dg.ScheduleDefinition]:
    """The daily schedule (yesterday, whole graph; DAILY_CRON) and the capture one (raw; CAPTURE_CRON)."""
    timezone = settings.partitions_timezone

    @dg.schedule(
        name="medallion_daily_schedule",
        cron_schedule=settings.daily_cron,
        job=medallion_job,
        execution_timezone=timezone,
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )
    def medallion_daily_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        """Materialize yesterday's partition through gold, shortly after midnight."""
        day = _day_key(context.scheduled_execution_time, days_back=1)
        return dg.RunRequest(run_key=day, partition_key=day)

    @dg.schedule(
        name="raw_capture_intraday_schedule",
        cron_schedule=settings.capture_cron,
        job=raw_capture_job,
        execution_timezone=timezone,
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )
    def raw_capture_intraday_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        """Merge the plays of today so far into today's raw partition."""
        moment = context.scheduled_execution_time
        return dg.RunRequest(run_key=moment.isoformat(), partition_key=_day_key(moment, days_back=0))

    return [medallion_daily_schedule, raw_capture_intraday_schedule]
