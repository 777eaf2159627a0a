"""Silver and gold outputs go to the lake and the warehouse; downstream assets read them from the lake."""

from collections.abc import Mapping
from typing import Any

import dagster as dg
import pandas as pd

from spotify_assets.day_batches import DayBatches, batches_of
from spotify_assets.storage.asset_metadata import record_output_metadata
from spotify_assets.storage.lake import LakeResource
from spotify_assets.storage.lake_io import (
    TableBatchWriter,
    check_output_partitions,
    context_partition_keys,
    read_asset_input,
    table_spec,
)
from spotify_assets.storage.postgres import PostgresResource
from spotify_assets.storage.warehouse_io import write_asset_partitions


class LakehouseIOManager(dg.ConfigurableIOManager):
    """Writes each partition's table to the lake (Parquet/CSV) and then to PostgreSQL; loads from the lake.

    Each lake object is written atomically, then its rows go into the warehouse load, which is one
    transaction for the whole output. A long range (a `DayBatches`) is built and written a month at a
    time, so memory does not grow with the range. If a write or a batch's build fails, the step fails with
    the warehouse unchanged; the lake objects of the batches before the failure hold their new (correct)
    rows, and a re-run rewrites both, so the two never stay apart.

    Metadata: `dagster/row_count` is the warehouse table's count(*) after the write, `rows_written` what the
    run wrote; each partition's event has `dagster/partition_row_count` (the partition's rows: for upserted
    dimensions, the entities seen that day) and a Markdown `preview`; plus `lake_uri`, `warehouse_table`,
    `dagster/table_name` and `dagster/column_schema`.
    """

    # No `from __future__ import annotations` here: Dagster reads ResourceDependency annotations at runtime.
    lake: dg.ResourceDependency[LakeResource]
    postgres: dg.ResourceDependency[PostgresResource]

    def handle_output(self, context: dg.OutputContext, obj: Mapping[str, pd.DataFrame]) -> None:
        spec = table_spec(context.asset_key)
        check_output_partitions(context.asset_key, obj, context_partition_keys(context))
        lake = TableBatchWriter(self.lake, context.asset_key.path, spec)
        # Each batch goes to the lake, then into the warehouse's open transaction: one pass, one batch held.
        warehouse = write_asset_partitions(self.postgres, spec, obj, lake.write(batches_of(obj)))
        metadata = {**lake.metadata(), **warehouse}
        if isinstance(obj, DayBatches):
            metadata.update(obj.metadata())
        record_output_metadata(context, metadata, lake.partition_metadata)

    def load_input(self, context: dg.InputContext) -> Mapping[str, Any]:
        return read_asset_input(self.lake, context.asset_key, context_partition_keys(context))
