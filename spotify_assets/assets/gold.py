"""Gold layer: the star schema, one asset per gold table of the registry (`tables.TABLES`).

Nothing here names a table: each spec says its asset key and description, `transforms.gold.GOLD_BUILDERS`
gives its builder (the pure transform that turns a day's silver plays, or the day, into its rows), and
`build_gold_asset` makes the thin asset that builds each day of the run, a batch of days in one call
(`gold_batches.build_days`), from only the silver columns its builder reads (`gold_inputs.SILVER_COLUMNS`).
"""

from typing import TYPE_CHECKING, Any

import dagster as dg

from spotify_assets.assets.batches import built_in_batches
from spotify_assets.assets.pools import WAREHOUSE_POOL
from spotify_assets.contracts.day_batches import DayBatches
from spotify_assets.contracts.tables import PLAYS, TableSpec, gold_tables
from spotify_assets.storage.lake_io import COLUMNS
from spotify_assets.transforms.gold_inputs import build_from, silver_columns

if TYPE_CHECKING:
    from spotify_assets.transforms.gold import GoldBuilder

SILVER_PLAYS = PLAYS.asset_key


def builder_of(spec: TableSpec) -> "GoldBuilder":
    """The gold table's entry of `GOLD_BUILDERS`; a KeyError saying where to add a missing one."""
    from spotify_assets.transforms.gold import GOLD_BUILDERS  # the step's transforms: see LAZY_IMPORTS

    if spec.qualified_name not in GOLD_BUILDERS:
        raise KeyError(f"{spec.qualified_name} has no builder: add it to transforms.gold.GOLD_BUILDERS")
    return GOLD_BUILDERS[spec.qualified_name]


def build_gold_asset(spec: TableSpec, partitions: dg.DailyPartitionsDefinition) -> dg.AssetsDefinition:
    """The asset of one gold table on `partitions`: its builder applied to each day, a batch of days in one
    call (a builder that takes the time zone gets the partitions' one)."""
    takes = build_from(spec)
    timezone = partitions.timezone
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
    if takes == "days":

        @dg.asset(deps=[SILVER_PLAYS], **common)
        def from_days(context: dg.AssetExecutionContext) -> DayBatches:
            from spotify_assets.assets.gold_batches import build_days  # pandas: see LAZY_IMPORTS

            builder = builder_of(spec)
            return built_in_batches(
                spec.asset_key, context.partition_keys, lambda days: build_days(builder, takes, None, days)
            )

        return from_days

    columns = silver_columns(spec)
    metadata = {} if columns is None else {COLUMNS: list(columns)}  # only what the builder reads

    @dg.asset(ins={"plays": dg.AssetIn(key=SILVER_PLAYS, metadata=metadata)}, **common)
    def from_plays(plays: DayBatches) -> DayBatches:
        from spotify_assets.assets.gold_batches import build_batch  # pandas: see LAZY_IMPORTS

        builder = builder_of(spec)
        return built_in_batches(
            spec.asset_key, list(plays), lambda days: build_batch(builder, takes, plays, days, timezone)
        )

    return from_plays


def build_gold_assets(partitions: dg.DailyPartitionsDefinition) -> list[dg.AssetsDefinition]:
    """Every gold table's asset, in registry order."""
    return [build_gold_asset(spec, partitions) for spec in gold_tables()]
