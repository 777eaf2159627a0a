"""The PostgreSQL IO manager: pandas DataFrames of assets keyed `[schema, table]` to and from PostgreSQL."""

# No `from __future__ import annotations`: Dagster reads ResourceDependency annotations at runtime.

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

import dagster as dg
import pandas as pd

from spotify_assets.contracts.tables import TableSpec
from spotify_assets.storage.asset_metadata import column_schema
from spotify_assets.storage.postgres import PostgresResource
from spotify_assets.storage.table_slice import UNPARTITIONED, TableSlice
from spotify_assets.storage.warehouse import count_rows, read_table
from spotify_assets.storage.warehouse_write import write_table


class PostgresIOManager(dg.ConfigurableIOManager):
    """Stores assets keyed `[schema, table]` in PostgreSQL table `schema.table`, one transaction per output.

    The table's columns, primary key and write mode come from its `TableSpec` (`tables.TABLES`, found by the
    asset key: a table of your own is one spec added there, see docs/adding-a-table.md). The table (and
    schema) is created on first write with typed columns, NOT NULLs, the primary key and column comments; a
    newer spec's nullable columns are added in place, and any other difference fails before writing, naming
    the command that rebuilds the table.

    **Outputs.** An asset on daily partitions returns `{partition key: DataFrame}` for its run's partitions:
    one day, a range (single-run backfills), or a `day_batches.DayBatches` built a month at a time. For one
    partition a plain DataFrame is accepted too, and so is an unpartitioned DataFrame for an `upsert` table.
    Each output is one transaction, serialized per table by an advisory lock (two runs of one partition
    cannot double its rows) and loaded with binary COPY: `replace_partition` tables (silver, the fact) lose
    the partitions' rows and get the new ones; `upsert` tables (dimensions, bridge) merge by primary key. If
    anything fails, the transaction rolls back and the previous rows stay.

    **Inputs** read the requested partitions (`replace_partition`) or the whole table (`upsert`), as
    `{partition key: DataFrame}` (`{"": DataFrame}` for a whole table).

    **Metadata:** `dagster/row_count` (the table's rows after the write), `rows_written`,
    `dagster/table_name`, `dagster/column_schema`, `warehouse_table`, and `columns_added` when the write added
    a newer spec's nullable columns to an existing table.

    Example:
        ```python
        import dagster as dg
        import pandas as pd
        from spotify_assets.storage.postgres import PostgresResource
        from spotify_assets.storage.postgres_io import PostgresIOManager

        days = dg.DailyPartitionsDefinition(start_date="2025-01-01")

        @dg.asset(key=["silver", "plays"], partitions_def=days, io_manager_key="warehouse_io_manager")
        def plays(context: dg.AssetExecutionContext) -> dict[str, pd.DataFrame]:
            return {day: build_plays(day) for day in context.partition_keys}  # one frame per day

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

    def handle_output(
        self, context: dg.OutputContext, obj: pd.DataFrame | Mapping[str, pd.DataFrame]
    ) -> None:
        table = TableSlice.of_output(context)
        context.add_output_metadata(self.write(table.spec, _output_frames(table, obj)))

    def write(
        self,
        spec: TableSpec,
        frames: Mapping[str, pd.DataFrame],
        batches: Iterable[Mapping[str, pd.DataFrame]] | None = None,
    ) -> dict[str, Any]:
        """Write `{partition key: frame}` to the spec's table in one transaction; return the output metadata.

        `batches` (default: `day_batches.batches_of(frames)`) is how the frames arrive, for a caller that
        stores each batch elsewhere too (the lakehouse IO manager writes each to the lake first).
        """
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

    def load_input(self, context: dg.InputContext) -> dict[str, pd.DataFrame]:
        table = TableSlice.of_input(context)
        with self.postgres.connect() as conn:
            frame = read_table(conn, table.spec, table.partition_keys)
        if table.partition_keys is None:
            return {UNPARTITIONED: frame}
        assert table.spec.partition_column is not None  # a replace_partition table
        column = frame[table.spec.partition_column]
        return {
            key: frame[column == date.fromisoformat(key)].reset_index(drop=True)
            for key in table.partition_keys
        }


def _output_frames(
    table: TableSlice, obj: pd.DataFrame | Mapping[str, pd.DataFrame]
) -> Mapping[str, pd.DataFrame]:
    """The output as `{partition key: frame}`, checked against the run's partitions."""
    spec, keys = table.spec, table.partition_keys or ()
    if isinstance(obj, pd.DataFrame):
        if len(keys) == 1:
            return {keys[0]: obj}
        if not keys and spec.write_mode == "upsert":
            return {UNPARTITIONED: obj}
        raise TypeError(
            f"{spec.qualified_name}: return {{partition key: DataFrame}} for "
            f"{'a partition range' if keys else 'an unpartitioned replace_partition table'}"
        )
    if keys and set(obj) != set(keys):
        raise ValueError(
            f"{spec.qualified_name}: output partitions {sorted(obj)} differ from the run's {list(keys)}"
        )
    return obj
