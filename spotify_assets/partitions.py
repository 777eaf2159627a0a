"""The one daily partitions definition every asset shares."""

from __future__ import annotations

import dagster as dg

from spotify_assets.settings import Settings, get_settings


def build_daily_partitions(settings: Settings) -> dg.DailyPartitionsDefinition:
    """Daily partitions from PARTITIONS_START_DATE, with day boundaries in PARTITIONS_TIMEZONE."""
    return dg.DailyPartitionsDefinition(
        start_date=settings.partitions_start_date.isoformat(),
        timezone=settings.partitions_timezone,
    )


daily_partitions = build_daily_partitions(get_settings())
