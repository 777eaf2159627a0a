"""Silver and gold outputs go to the lake and the warehouse; downstream assets read them from the lake."""

import dagster as dg
import pandas as pd

from spotify_assets.storage.asset_metadata import record_output_metadata
from spotify_assets.storage.lake import LakeResource
from spotify_assets.storage.lake_io import (
    check_output_partitions,
    context_partition_keys,
    partition_metadata,
    read_asset_input,
    write_asset_output,
)
from spotify_assets.storage.postgres import PostgresResource
from spotify_assets.storage.warehouse_io import write_asset_partitions
from spotify_assets.tables import TABLES


class LakehouseIOManager(dg.ConfigurableIOManager):
    """Writes each partition's table to the lake (Parquet/CSV) and then to PostgreSQL; loads from the lake.

    The lake object is written atomically first; the warehouse load is one transaction. If the warehouse
    write fails, the step fails and a re-run rewrites both, so the two never stay apart.

    Metadata: `dagster/row_count` is the warehouse table's count(*) after the write, `rows_written` what the
    run wrote; each partition's event has `dagster/partition_row_count` (the partition's rows: for upserted
    dimensions, the entities seen that day) and a Markdown `preview`; plus `lake_uri`, `warehouse_table`,
    `dagster/table_name` and `dagster/column_schema`.
    """

    # No `from __future__ import annotations` here: Dagster reads ResourceDependency annotations at runtime.
    lake: dg.ResourceDependency[LakeResource]
    postgres: dg.ResourceDependency[PostgresResource]

    def handle_output(self, context: dg.OutputContext, obj: dict[str, pd.DataFrame]) -> None:
        spec = TABLES[".".join(context.asset_key.path)]
        check_output_partitions(context.asset_key, obj, context_partition_keys(context))
        metadata = write_asset_output(self.lake, context.asset_key, obj)
        metadata.update(write_asset_partitions(self.postgres, spec, obj))
        record_output_metadata(context, metadata, partition_metadata(context.asset_key, obj))

    def load_input(self, context: dg.InputContext) -> dict[str, pd.DataFrame]:
        return read_asset_input(self.lake, context.asset_key, context.asset_partition_keys)
