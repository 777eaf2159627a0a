"""Gold layer: the star schema, one asset per gold table of the registry (`tables.TABLES`).

Nothing here names a table: each spec says its asset key and description, `transforms.gold.GOLD_BUILDERS`
gives its builder (the pure transform that turns a day's silver plays, or the day, into its rows), and
`build_gold_asset` makes the thin asset that builds each day of the run, a batch of days in one call.
"""

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import dagster as dg
import pandas as pd

from spotify_assets.assets.batches import built_in_batches
from spotify_assets.assets.pools import WAREHOUSE_POOL
from spotify_assets.contracts.day_batches import DayBatches
from spotify_assets.contracts.day_frames import whole_frame
from spotify_assets.contracts.tables import PLAYS, TableSpec, gold_tables
from spotify_assets.transforms.gold import DAY, GOLD_BUILDERS, PLAYS_DAY, GoldBuilder, split_by_day

SILVER_PLAYS = PLAYS.asset_key


def builder_of(spec: TableSpec) -> GoldBuilder:
    """The gold table's entry of `GOLD_BUILDERS`; a KeyError saying where to add a missing one."""
    if spec.qualified_name not in GOLD_BUILDERS:
        raise KeyError(f"{spec.qualified_name} has no builder: add it to transforms.gold.GOLD_BUILDERS")
    return GOLD_BUILDERS[spec.qualified_name]


def build_gold_asset(spec: TableSpec, partitions: dg.DailyPartitionsDefinition) -> dg.AssetsDefinition:
    """The asset of one gold table on `partitions`: its builder applied to each day, a batch of days in one
    call (`transforms.gold.build_days`; a builder that takes the time zone gets the partitions' one)."""
    builder = builder_of(spec)
    common: dict[str, Any] = {
        "key": spec.asset_key,
        "description": spec.description,
        "group_name": "gold",
        "partitions_def": partitions,
        "backfill_policy": dg.BackfillPolicy.single_run(),
        "io_manager_key": "lakehouse_io_manager",
        "pool": WAREHOUSE_POOL,
        "kinds": {"pandas", "parquet", "postgres"},
    }
    if builder.build_from == "days":

        @dg.asset(deps=[SILVER_PLAYS], **common)
        def from_days(context: dg.AssetExecutionContext) -> DayBatches:
            return built_in_batches(
                spec.asset_key, context.partition_keys, lambda days: build_days(builder, None, days)
            )

        return from_days

    timezone = partitions.timezone

    def build_batch(plays: DayBatches, days: list[str]) -> Mapping[str, pd.DataFrame]:
        return build_days(builder, whole_frame(plays.batch(days)), days, timezone)

    @dg.asset(ins={"plays": dg.AssetIn(key=SILVER_PLAYS)}, **common)
    def from_plays(plays: DayBatches) -> DayBatches:
        return built_in_batches(spec.asset_key, list(plays), lambda days: build_batch(plays, days))

    return from_plays


def build_days(
    builder: GoldBuilder, plays: pd.DataFrame | None, days: Sequence[str], timezone: str = "UTC"
) -> Mapping[str, pd.DataFrame]:
    """The builder's rows for each of `days` (ISO dates), as if built from that day alone: `plays` holds the
    silver plays of all of them (None for a builder of days). One call over all the days when the builder
    can (`by_day`), else one call per day. (Here, not in `transforms`, so that an error names the builder
    that raised.)"""
    if builder.build_from == "days":
        dates = [date.fromisoformat(day) for day in days]
        if not builder.by_day:
            return {day: builder.build([on]) for day, on in zip(days, dates, strict=True)}
        return split_by_day(builder.build(dates, by_day=True), days)
    assert plays is not None
    extra = (timezone,) if builder.build_from == "plays_in_timezone" else ()
    if builder.by_day:
        return split_by_day(builder.build(plays, *extra, by_day=True), days)
    each_day = split_by_day(plays.assign(**{DAY: plays[PLAYS_DAY].to_numpy(dtype=object)}), days)
    return {day: builder.build(each_day[day], *extra) for day in days}


def build_gold_assets(partitions: dg.DailyPartitionsDefinition) -> list[dg.AssetsDefinition]:
    """Every gold table's asset, in registry order."""
    return [build_gold_asset(spec, partitions) for spec in gold_tables()]
