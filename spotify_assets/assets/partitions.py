"""The one daily partitions definition every asset shares, built once per `build_definitions(settings)`.

Its time zone is the project's only one: assets, checks, schedules and resources take it from here (the
definition's `timezone`), never from the settings again."""

from __future__ import annotations

import dagster as dg

from spotify_assets.contracts.settings import Settings


def build_daily_partitions(settings: Settings) -> dg.DailyPartitionsDefinition:
    """Daily partitions from PARTITIONS_START_DATE, with day boundaries in PARTITIONS_TIMEZONE.

    `end_offset=1` makes today a partition too, so the intraday schedule can capture today's plays before
    the API's 50-play window forgets them.
    """
    return dg.DailyPartitionsDefinition(
        start_date=settings.partitions_start_date.isoformat(),
        timezone=settings.partitions_timezone,
        end_offset=1,
    )
