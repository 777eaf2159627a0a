"""The PostgreSQL IO manager: pandas DataFrames of assets keyed `[schema, table]` to and from PostgreSQL."""

# No `from __future__ import annotations`: Dagster reads ResourceDependency annotations at runtime.

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import dagster as dg

from spotify_assets.contracts.day_batches import DayBatches
from spotify_assets.contracts.tables import TableSpec, table_of_asset
from spotify_assets.storage.asset_metadata import column_schema
from spotify_assets.storage.lake_io import check_output_partitions
from spotify_assets.storage.postgres import PostgresResource

if TYPE_CHECKING:
    import pandas as pd


UNPARTITIONED = ""
"""The key of an unpartitioned (upsert-only) output in `{partition key: frame}`."""


@dataclass(frozen=True)
class TableSlice:
    """A table and the partitions one output writes or one input reads (None: the whole table)."""

    spec: TableSpec
    partition_keys: tuple[str, ...] | None

    @classmethod
    def of_output(cls, context: dg.OutputContext) -> "TableSlice":
        """The output's table and its run's partitions (one day or a range), None when unpartitioned."""
        keys = tuple(context.asset_partition_keys) if context.has_asset_partitions else None
        return cls(table_of_asset(context.asset_key.path), keys)

    @classmethod
    def of_input(cls, context: dg.InputContext) -> "TableSlice":
        """The input's table and the partitions it reads; an upsert table (not stored by partition) whole."""
        spec = table_of_asset(context.asset_key.path)
        partitioned = spec.write_mode == "replace_partition" and context.has_asset_partitions
        return cls(spec, tuple(context.asset_partition_keys) if partitioned else None)


class PostgresIOManager(dg.ConfigurableIOManager):
    """Stores assets keyed `[schema, table]` in PostgreSQL table `schema.table`, one transaction per output.

    The table's columns, primary key and write mode come from its `TableSpec` (`tables.TABLES`, found by the
    asset key: a table of your own is one spec added there, see docs/adding-a-table.md). The table (and
    schema) is created on first write with typed columns, NOT NULLs, the primary key and column comments; a
    newer spec's nullable columns are added in place, and any other difference fails before writing, naming
    the command that rebuilds the table.

    **Outputs.** An asset on daily partitions returns a `day_batches.DayBatches` of `{partition key:
    DataFrame}` for its run's partitions, one day or a range (single-run backfills): `DayBatches.of(frames)`
    for frames in memory, or one built a month at a time. An unpartitioned `upsert` table's asset returns a
    DataFrame.
    Each output is one transaction, serialized per table by an advisory lock (two runs of one partition
    cannot double its rows) and loaded with binary COPY: `replace_partition` tables (silver, the fact) lose
    the partitions' rows and get the new ones; `upsert` tables (dimensions, bridge) merge by primary key. If
    anything fails, the transaction rolls back and the previous rows stay.

    **Inputs** read the requested partitions (`replace_partition`) or the whole table (`upsert`), as a
    `DayBatches` of `{partition key: DataFrame}` (`{"": DataFrame}` for a whole table).

    **Metadata:** `dagster/row_count` (the table's rows after the write), `rows_written`,
    `dagster/table_name`, `dagster/column_schema`, `warehouse_table`, and `columns_added` when the write added
    a newer spec's nullable columns to an existing table.

    Example:
        ```python
        import dagster as dg
        import pandas as pd
        from spotify_assets.contracts.day_batches import DayBatches
        from spotify_assets.storage.postgres import PostgresResource
        from spotify_assets.storage.postgres_io import PostgresIOManager

        days = dg.DailyPartitionsDefinition(start_date="2025-01-01")

        @dg.asset(key=["silver", "plays"], partitions_def=days, io_manager_key="warehouse_io_manager")
        def plays(context: dg.AssetExecutionContext) -> DayBatches:
            return DayBatches.of({day: build_plays(day) for day in context.partition_keys})  # a frame a day

        defs = dg.Definitions(
            assets=[plays],
            resources={
                "warehouse_io_manager": PostgresIOManager(
                    postgres=PostgresResource(host=dg.EnvVar("DB_HOST"), password=dg.EnvVar("DB_PASSWORD"))
                )
            },
        )
        ```
    """

    postgres: dg.ResourceDependency[PostgresResource]

    def handle_output(self, context: dg.OutputContext, obj: "DayBatches | pd.DataFrame") -> None:
        table = TableSlice.of_output(context)
        frames = _output_frames(context.asset_key, table, obj)
        context.add_output_metadata(self.write(table.spec, frames, frames.batches()))

    def write(
        self,
        spec: TableSpec,
        frames: Mapping[str, "pd.DataFrame"],
        batches: Iterable[Mapping[str, "pd.DataFrame"]] | None = None,
    ) -> dict[str, Any]:
        """Write `{partition key: frame}` to the spec's table in one transaction; return the output metadata.

        `batches` (default: `frames` at once; `DayBatches.batches()` for a long range) is how the frames
        arrive, for a caller that stores each batch elsewhere too (the lakehouse IO manager writes each to the
        lake first).
        """
        from spotify_assets.storage.warehouse import count_rows  # tables: see LAZY_IMPORTS
        from spotify_assets.storage.warehouse_write import write_table

        with self.postgres.connect() as conn:
            result = write_table(conn, spec, frames, batches)
            table_rows = count_rows(conn, spec)
        metadata: dict[str, Any] = {
            "dagster/row_count": table_rows,
            "rows_written": result.rows,
            "dagster/table_name": spec.qualified_name,
            "dagster/column_schema": dg.MetadataValue.table_schema(column_schema(spec)),
            "warehouse_table": spec.qualified_name,
        }
        if result.columns_added:
            added = ", ".join(result.columns_added)
            dg.get_dagster_logger().info(f"Added nullable columns to {spec.qualified_name} in place: {added}")
            metadata["columns_added"] = added
        return metadata

    def load_input(self, context: dg.InputContext) -> DayBatches:
        from spotify_assets.storage.warehouse import read_table  # tables: see LAZY_IMPORTS

        table = TableSlice.of_input(context)
        with self.postgres.connect() as conn:
            frame = read_table(conn, table.spec, table.partition_keys)
        if table.partition_keys is None:
            return DayBatches.of({UNPARTITIONED: frame})
        assert table.spec.partition_column is not None  # a replace_partition table
        column = frame[table.spec.partition_column]
        return DayBatches.of(
            {
                key: frame[column == date.fromisoformat(key)].reset_index(drop=True)
                for key in table.partition_keys
            }
        )


def _output_frames(asset_key: dg.AssetKey, table: TableSlice, obj: "DayBatches | pd.DataFrame") -> DayBatches:
    """The output as a `DayBatches`, checked against the run's partitions."""
    import pandas as pd  # tables: see LAZY_IMPORTS

    if table.partition_keys is not None:
        check_output_partitions(asset_key, obj, table.partition_keys)
        assert isinstance(obj, DayBatches)
        return obj
    if isinstance(obj, pd.DataFrame) and table.spec.write_mode == "upsert":
        return DayBatches.of({UNPARTITIONED: obj})
    raise TypeError(
        f"{table.spec.qualified_name}: an unpartitioned output is a DataFrame of an upsert table, "
        f"not {type(obj).__name__}"
    )
