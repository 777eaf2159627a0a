"""Jobs and schedules: the whole graph for the days just ended, and the raw capture during the day."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from spotify_assets.assets.raw import RAW_RECENTLY_PLAYED, checked_through
from spotify_assets.contracts.listener_scope import (
    DEFAULT_LISTENER,
    LISTENER_PARTITIONS,
    LISTENER_TAG,
    listeners_of_run,
)
from spotify_assets.contracts.settings import Settings
from spotify_assets.sources.resource import SpotifyResource

FACT_ASSET_KEY = dg.AssetKey(["gold", "fact_recently_played"])
MAX_RANGE_DAYS = 7
"""The longest range a scheduled run covers: after a week-long outage, older days are run by hand."""


def build_jobs(partitions: dg.DailyPartitionsDefinition) -> tuple[dg.UnresolvedAssetJobDefinition, ...]:
    """The daily job (the whole graph) and the capture job (raw recently-played), on `partitions`."""
    medallion_job = dg.define_asset_job(
        "medallion_daily",
        selection=dg.AssetSelection.groups("raw", "silver", "gold", "report"),
        partitions_def=partitions,
        description="Raw, silver, gold and the listening report for one day (or a range, as one run), with "
        "their checks.",
    )
    raw_capture_job = dg.define_asset_job(
        "raw_capture",
        selection=dg.AssetSelection.keys(RAW_RECENTLY_PLAYED),
        partitions_def=partitions,
        description="Capture the recently-played items of today (and of the days since the last capture) "
        "into raw before the API forgets them.",
    )
    return medallion_job, raw_capture_job


def run_request(
    first: date, last: date, run_key: str, tags: Mapping[str, str] | None = None, *, as_range: bool = False
) -> dg.RunRequest:
    """A run of one partition, or of a range of partitions as one run (single-run backfill tags; also one day
    with `as_range`: such a run carries no dagster/partition tag, so the run queue's one-run-a-day limit
    leaves it alone)."""
    if first == last and not as_range:
        return dg.RunRequest(run_key=run_key, partition_key=last.isoformat(), tags=dict(tags or {}))
    return dg.RunRequest(
        run_key=run_key,
        tags={
            **(tags or {}),
            "dagster/asset_partition_range_start": first.isoformat(),
            "dagster/asset_partition_range_end": last.isoformat(),
        },
    )


def capture_requests(
    instance: dg.DagsterInstance,
    moment: datetime,
    partitions: dg.DailyPartitionsDefinition,
    default_has_token: bool,
) -> list[dg.RunRequest]:
    """One capture run per listener of the household (each tagged with its listener, so that one listener's
    bad token fails only their runs), each over its own range; a single listener's run has no tag.

    A listener's run is a range run even for today alone: the run queue then keeps two runs of one listener
    apart (its limit on the listener tag) but not two listeners' runs of one day, so a listener whose run
    waits out a rate limit (or is left started) does not hold back the others' captures. Their raw objects
    differ, and each day's merge holds its own lock."""
    registered = list(instance.get_dynamic_partitions(LISTENER_PARTITIONS))
    listeners = listeners_of_run({}, registered, default_has_token)
    if listeners == [DEFAULT_LISTENER]:
        first, last = capture_range(instance, moment, partitions)
        return [run_request(first, last, run_key=moment.isoformat())]
    requests = []
    for listener in listeners:
        first, last = capture_range(instance, moment, partitions, listener)
        run_key = f"{moment.isoformat()}/{listener}"
        requests.append(run_request(first, last, run_key, {LISTENER_TAG: listener}, as_range=True))
    return requests


def _bounded(first: date, last: date, first_partition: date) -> date:
    """`first`, but no earlier than MAX_RANGE_DAYS before `last` nor the first partition."""
    return min(max(first, last - timedelta(days=MAX_RANGE_DAYS - 1), first_partition), last)


def capture_range(
    instance: dg.DagsterInstance,
    moment: datetime,
    partitions: dg.DailyPartitionsDefinition,
    listener: str = DEFAULT_LISTENER,
) -> tuple[date, date]:
    """Today's partition, and every earlier day back to the one `listener`'s latest capture vouched for
    (yesterday until a first capture has run): so the plays of a day's last minutes, or of an outage, are
    captured on their own day."""
    zone = ZoneInfo(partitions.timezone)
    today = moment.astimezone(zone).date()
    start = checked_through(instance, listener)
    first = today - timedelta(days=1) if start is None else start.astimezone(zone).date()
    return _bounded(first, today, partitions.start.date()), today


def daily_range(
    instance: dg.DagsterInstance, moment: datetime, partitions: dg.DailyPartitionsDefinition
) -> tuple[date, date]:
    """Yesterday, and the days before it whose gold is not built yet (an outage failed their daily run)."""
    yesterday = moment.astimezone(ZoneInfo(partitions.timezone)).date() - timedelta(days=1)
    built = instance.get_materialized_partitions(FACT_ASSET_KEY)
    first = yesterday
    for back in range(1, MAX_RANGE_DAYS):
        day = yesterday - timedelta(days=back)
        if day.isoformat() not in built:
            first = day
    return _bounded(first, yesterday, partitions.start.date()), yesterday


def build_schedules(
    settings: Settings,
    partitions: dg.DailyPartitionsDefinition,
    medallion_job: dg.UnresolvedAssetJobDefinition,
    raw_capture_job: dg.UnresolvedAssetJobDefinition,
) -> list[dg.ScheduleDefinition]:
    """The daily schedule (whole graph; DAILY_CRON) and the capture one (raw; CAPTURE_CRON), ticking in the
    partitions' time zone (settings give only the crons). The capture schedule asks the bound `spotify`
    resource, the runs' own, whether the default listener has a token."""
    timezone = partitions.timezone

    @dg.schedule(
        name="medallion_daily_schedule",
        cron_schedule=settings.daily_cron,
        job=medallion_job,
        execution_timezone=timezone,
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )
    def medallion_daily_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        """Materialize yesterday (and any recent day whose gold is missing) through gold, as one run."""
        first, last = daily_range(context.instance, context.scheduled_execution_time, partitions)
        return run_request(first, last, run_key=last.isoformat())

    @dg.schedule(
        name="raw_capture_intraday_schedule",
        cron_schedule=settings.capture_cron,
        job=raw_capture_job,
        execution_timezone=timezone,
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )
    def raw_capture_intraday_schedule(
        context: dg.ScheduleEvaluationContext, spotify: SpotifyResource
    ) -> list[dg.RunRequest]:
        """Merge the plays since each listener's last capture into their days' raw partitions (today, and
        yesterday around midnight): one run per listener (the default one when `spotify` has its token)."""
        moment = context.scheduled_execution_time
        return capture_requests(context.instance, moment, partitions, spotify.default_has_token())

    return [medallion_daily_schedule, raw_capture_intraday_schedule]
