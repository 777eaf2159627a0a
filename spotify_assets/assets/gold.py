"""Gold layer: the star schema, one asset per gold table of the registry (`tables.TABLES`).

Nothing here names a table: each spec says its asset key, its description and its builder (the pure transform
that turns a day's silver plays, or the partition days, into its rows), and `build_gold_asset` makes the thin
asset that calls it for each day of the run.
"""

from datetime import date
from typing import Any

import dagster as dg
import pandas as pd

from spotify_assets.assets.pools import WAREHOUSE_POOL
from spotify_assets.contracts.day_batches import PartitionMap, per_day
from spotify_assets.contracts.tables import PLAYS, TableSpec, gold_tables

SILVER_PLAYS = PLAYS.asset_key
Frames = PartitionMap
"""`{partition key: DataFrame}`; for a long range a `DayBatches` read and built a month at a time."""


def build_gold_asset(spec: TableSpec, partitions: dg.DailyPartitionsDefinition) -> dg.AssetsDefinition:
    """The asset of one gold table on `partitions`: its spec's builder applied to each day (a builder that
    takes the time zone gets the partitions' one)."""
    build = spec.resolve_builder()
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
    if spec.build_from == "days":

        @dg.asset(deps=[SILVER_PLAYS], **common)
        def from_days(context: dg.AssetExecutionContext) -> Frames:
            return {day: build([date.fromisoformat(day)]) for day in context.partition_keys}

        return from_days

    timezone = partitions.timezone

    def build_day(plays: pd.DataFrame) -> pd.DataFrame:
        return build(plays, timezone) if spec.build_from == "plays_in_timezone" else build(plays)

    @dg.asset(ins={"plays": dg.AssetIn(key=SILVER_PLAYS)}, **common)
    def from_plays(plays: Frames) -> Frames:
        return per_day(plays, build_day)

    return from_plays


def build_gold_assets(partitions: dg.DailyPartitionsDefinition) -> list[dg.AssetsDefinition]:
    """Every gold table's asset, in registry order."""
    return [build_gold_asset(spec, partitions) for spec in gold_tables()]
