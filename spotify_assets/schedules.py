"""Jobs and schedules: the whole graph for yesterday, and today's raw capture during the day."""

from __future__ import annotations

from datetime import datetime, timedelta

import dagster as dg

from spotify_assets.assets.raw import RAW_RECENTLY_PLAYED
from spotify_assets.partitions import daily_partitions

# Recently-played keeps 50 plays and lists a track only after about 30 s of playback, so 50 plays take at
# least 25 minutes; a run every 15 minutes leaves a wide margin even for someone skipping through tracks.
INTRADAY_CRON = "*/15 * * * *"
DAILY_CRON = "30 0 * * *"

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


def build_schedules(timezone: str) -> list[dg.ScheduleDefinition]:
    """The daily schedule (yesterday, whole graph) and the intraday one (today, raw only)."""

    @dg.schedule(
        name="medallion_daily_schedule",
        cron_schedule=DAILY_CRON,
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
        cron_schedule=INTRADAY_CRON,
        job=raw_capture_job,
        execution_timezone=timezone,
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )
    def raw_capture_intraday_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        """Merge the plays of today so far into today's raw partition."""
        moment = context.scheduled_execution_time
        return dg.RunRequest(run_key=moment.isoformat(), partition_key=_day_key(moment, days_back=0))

    return [medallion_daily_schedule, raw_capture_intraday_schedule]
