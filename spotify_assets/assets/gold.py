"""Gold layer: the star schema, one asset per gold table of the registry (`tables.TABLES`), built in one step.

Nothing here names a table: each spec says its asset key and description, `transforms.gold.GOLD_BUILDERS`
gives its builder (the pure transform that turns a day's silver plays, or the day, into its rows), and
`gold_output` makes each table's output: its builder applied to each day of the run, a batch of days in one
call (`gold_batches.build_days`), from only the silver columns it reads (`gold_inputs.SILVER_COLUMNS`).

The tables are the outputs of one multi-asset, each still its own asset (its key, description, partitions,
checks) and materializable alone (the asset can be subset): a step per table would cost a run Dagster's start
and end of six steps more, and the tables are written one after another all the same (one warehouse pool).
They are written in registry order, each dimension before the bridge and the fact that reference it; a table
whose build fails fails the step, so it and the tables after it keep their previous rows until a re-run.
"""

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import dagster as dg

from spotify_assets.assets.batches import built_in_batches
from spotify_assets.assets.pools import WAREHOUSE_POOL
from spotify_assets.contracts.day_batches import DayBatches
from spotify_assets.contracts.tables import PLAYS, TableSpec, gold_tables
from spotify_assets.transforms.gold_inputs import build_from, silver_columns

if TYPE_CHECKING:
    from spotify_assets.transforms.gold import GoldBuilder

SILVER_PLAYS = PLAYS.asset_key
GOLD_STEP = "gold"
"""The name of the one step (op) that builds the gold tables."""


def builder_of(spec: TableSpec) -> "GoldBuilder":
    """The gold table's entry of `GOLD_BUILDERS`; a KeyError saying where to add a missing one."""
    from spotify_assets.transforms.gold import GOLD_BUILDERS  # the step's transforms: see LAZY_IMPORTS

    if spec.qualified_name not in GOLD_BUILDERS:
        raise KeyError(f"{spec.qualified_name} has no builder: add it to transforms.gold.GOLD_BUILDERS")
    return GOLD_BUILDERS[spec.qualified_name]


def output_name(spec: TableSpec) -> str:
    """The gold table's output name in the gold step."""
    return spec.name


def gold_output(spec: TableSpec, plays: DayBatches, days: Sequence[str], timezone: str) -> DayBatches:
    """One gold table's rows for `days`: its builder applied to each day, a batch of days in one call, from
    only the silver columns it reads (a builder that takes the time zone gets `timezone`)."""
    from spotify_assets.assets.gold_batches import build_batch, build_days  # pandas: see LAZY_IMPORTS

    takes = build_from(spec)
    builder = builder_of(spec)
    if takes == "days":
        return built_in_batches(spec.asset_key, days, lambda batch: build_days(builder, takes, None, batch))
    columns = silver_columns(spec)
    read = plays if columns is None else plays.select(columns)
    return built_in_batches(
        spec.asset_key, days, lambda batch: build_batch(builder, takes, read, batch, timezone)
    )


SHARED_SILVER_BYTES = 256 * 2**20
"""Silver's batches kept for the gold tables after the first that reads them, up to this much (about what
their frames take: a month of a heavy listener's 2,700 plays a day is about 31 MB, so 8 of a year's 12)."""


def shared_silver(plays: DayBatches, specs: Sequence[TableSpec]) -> DayBatches:
    """Silver's days as the gold tables `specs` read them one after another: the columns any of them reads,
    each batch kept for the next table while the batches kept fit in `SHARED_SILVER_BYTES` (each table then
    takes its own columns from them). One table alone reads its own columns, as it is."""
    readers = [spec for spec in specs if build_from(spec) != "days"]
    if len(readers) < 2:
        return plays
    wanted = [silver_columns(spec) for spec in readers]
    union = None if None in wanted else sorted({name for names in wanted if names for name in names})
    source = plays if union is None else plays.select(union)
    return source.kept(SHARED_SILVER_BYTES, _batch_bytes)


def _batch_bytes(batch: Mapping[str, Any]) -> int:
    """A `DayFrames` batch's `memory_bytes`; any other batch is never kept (more than the budget)."""
    memory_bytes = getattr(batch, "memory_bytes", None)
    return memory_bytes() if memory_bytes is not None else SHARED_SILVER_BYTES + 1


def build_gold_assets(partitions: dg.DailyPartitionsDefinition) -> list[dg.AssetsDefinition]:
    """Every gold table's asset on `partitions`, in registry order, as the outputs of one step."""
    tables = gold_tables()
    timezone = partitions.timezone
    outs = {
        output_name(spec): dg.AssetOut(
            key=spec.asset_key,
            description=spec.description,
            io_manager_key="lakehouse_io_manager",
            is_required=False,  # a run of some of the tables yields only theirs
            kinds={"pandas", "parquet", "postgres"},
        )
        for spec in tables
    }

    @dg.multi_asset(
        name=GOLD_STEP,
        outs=outs,
        ins={"plays": dg.AssetIn(key=SILVER_PLAYS)},
        group_name="gold",
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=WAREHOUSE_POOL,
        can_subset=True,
    )
    def gold(context: dg.AssetExecutionContext, plays: DayBatches) -> Iterator[dg.Output[DayBatches]]:
        """The star schema's tables selected for the run, each day's rows from that day's silver plays."""
        days = context.partition_keys
        selected = [spec for spec in tables if spec.asset_key in context.selected_asset_keys]
        shared = shared_silver(plays, selected)
        for spec in selected:
            yield dg.Output(gold_output(spec, shared, days, timezone), output_name=output_name(spec))

    return [gold]
