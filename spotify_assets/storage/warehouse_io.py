"""The warehouse IO manager: silver/gold assets keyed `[schema, table]` to and from PostgreSQL tables."""

# No `from __future__ import annotations`: Dagster reads ResourceDependency annotations at runtime.

from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any

import dagster as dg
import pandas as pd

from spotify_assets.day_batches import batches_of
from spotify_assets.storage.lake_io import column_schema, table_spec
from spotify_assets.storage.postgres import PostgresResource
from spotify_assets.storage.warehouse import count_rows, read_table, write_table_batches
from spotify_assets.tables import TableSpec

UNPARTITIONED = ""
"""The key of an unpartitioned (upsert-only) output in `{partition key: frame}`."""


def write_asset_partitions(
    resource: PostgresResource,
    spec: TableSpec,
    frames: Mapping[str, pd.DataFrame],
    batches: Iterable[Mapping[str, pd.DataFrame]] | None = None,
) -> dict[str, Any]:
    """Write `{partition key: frame}` to the spec's table in one transaction; return the output metadata.

    `batches` (default: `batches_of(frames)`) is how the frames arrive, for a caller that stores each batch
    elsewhere too. `dagster/row_count` is the table's count(*) after the write; `rows_written` what this
    output wrote; `columns_added` (only when there are any) the nullable columns that a newer spec added to
    the existing table in the same transaction.
    """
    with resource.connect() as conn:
        batches = batches_of(frames) if batches is None else batches
        result = write_table_batches(conn, spec, list(frames), batches)
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


def _output_frames(
    context: dg.OutputContext, spec: TableSpec, obj: pd.DataFrame | Mapping[str, pd.DataFrame]
) -> Mapping[str, pd.DataFrame]:
    """The output as `{partition key: frame}`, checked against the run's partitions."""
    keys = context.asset_partition_keys if context.has_asset_partitions else []
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
            f"{spec.qualified_name}: output partitions {sorted(obj)} differ from the run's {keys}"
        )
    return obj


def _split_partitions(frame: pd.DataFrame, spec: TableSpec, keys: Sequence[str]) -> dict[str, pd.DataFrame]:
    assert spec.partition_column is not None
    column = frame[spec.partition_column]
    return {key: frame[column == date.fromisoformat(key)].reset_index(drop=True) for key in keys}


class WarehouseIOManager(dg.ConfigurableIOManager):
    """Stores silver/gold assets keyed `[schema, table]` in PostgreSQL table `schema.table`.

    The table's columns, key and write mode come from `tables.TABLES["schema.table"]`. An asset returns
    `{partition key: DataFrame}` for its run's partitions (a range in single-run backfills). Each output is
    one transaction: `replace_partition` tables (silver, fact) lose the partitions' rows and get the new
    ones, `upsert` tables (dimensions, bridge) merge by primary key. An unpartitioned upsert asset may
    return a plain DataFrame. Inputs load the requested partitions (`replace_partition`) or the whole table
    (`upsert`), as `{partition key: DataFrame}` (`{"": DataFrame}` for a whole table).

    Output metadata: `dagster/row_count` (the table's rows after the write), `rows_written`,
    `dagster/table_name`, `dagster/column_schema`, `warehouse_table`, and `columns_added` when the write
    added a newer spec's nullable columns to an existing table.

    Example:
        ```python
        defs = dg.Definitions(
            assets=[silver_plays],
            resources={"io_manager": WarehouseIOManager(postgres=PostgresResource())},
        )
        ```
    """

    postgres: dg.ResourceDependency[PostgresResource]

    def handle_output(
        self, context: dg.OutputContext, obj: pd.DataFrame | Mapping[str, pd.DataFrame]
    ) -> None:
        spec = table_spec(context.asset_key)
        frames = _output_frames(context, spec, obj)
        context.add_output_metadata(write_asset_partitions(self.postgres, spec, frames))

    def load_input(self, context: dg.InputContext) -> dict[str, pd.DataFrame]:
        spec = table_spec(context.asset_key)
        partitioned = spec.write_mode == "replace_partition" and context.has_asset_partitions
        keys = context.asset_partition_keys if partitioned else None
        with self.postgres.connect() as conn:
            frame = read_table(conn, spec, keys)
        return {UNPARTITIONED: frame} if keys is None else _split_partitions(frame, spec, keys)
