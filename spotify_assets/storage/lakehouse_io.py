"""Silver and gold outputs go to the lake and the warehouse; downstream assets read them from the lake."""

import dagster as dg

from spotify_assets.contracts.day_batches import DayBatches
from spotify_assets.contracts.tables import table_of_asset
from spotify_assets.storage.asset_metadata import record_output_metadata
from spotify_assets.storage.lake_io import LakeIOManager, check_output_partitions, context_partition_keys
from spotify_assets.storage.postgres_io import PostgresIOManager


class LakehouseIOManager(dg.ConfigurableIOManager):
    """The composition of a `LakeIOManager` and a `PostgresIOManager`: each partition's table goes to the lake
    (Parquet/CSV), then into the warehouse; inputs load from the lake.

    Each batch is written by the lake IO manager (each object atomically) and then flows into the PostgreSQL
    IO manager's load, which is one transaction for the whole output: one pass, one batch held. The output, a
    `DayBatches`, is built and written a month at a time, so memory does not grow with the range. If a write
    or a batch's build fails, the step fails with the warehouse unchanged (a transform's error as the step's
    own `TransformError`, see `assets.batches`); the lake objects of the batches before the failure hold
    their new (correct) rows, and a re-run rewrites both, so the two never stay apart.

    Metadata: the two managers' own. `dagster/row_count` is the warehouse table's count(*) after the write,
    `rows_written` what the run wrote; each partition's event has `dagster/partition_row_count` (the
    partition's rows: for upserted dimensions, the entities seen that day), a Markdown `preview` (in a longer
    range, of its last 31 partitions) and its `lake_uri`; plus `lake_object_count`, `warehouse_table`,
    `dagster/table_name` and `dagster/column_schema`.
    In a range run, the run's totals are on the last partition's event only, as `range/<name>`
    (`asset_metadata.record_output_metadata`).

    Example:
        ```python
        lake, postgres = LakeResource(local_dir="./data/lake"), PostgresResource()
        resources = {
            "lake_io_manager": LakeIOManager(lake=lake, postgres=postgres),  # raw JSON
            "io_manager": LakehouseIOManager(
                lake_io=LakeIOManager(lake=lake, postgres=postgres),
                postgres_io=PostgresIOManager(postgres=postgres),
            ),
        }
        ```
    """

    lake_io: LakeIOManager
    postgres_io: PostgresIOManager

    def handle_output(self, context: dg.OutputContext, obj: DayBatches) -> None:
        check_output_partitions(context.asset_key, obj, context_partition_keys(context))
        lake = self.lake_io.table_writer(context.asset_key, list(obj))
        # Each batch goes to the lake, then into the warehouse's open transaction.
        spec = table_of_asset(context.asset_key.path)
        warehouse = self.postgres_io.write(spec, obj, lake.write(obj.batches()))
        metadata = {**lake.metadata(), **warehouse, **obj.metadata()}
        # The warehouse's count(*) after the write is the table's state, not a total over the range.
        record_output_metadata(context, metadata, lake.partition_metadata, table_wide=("dagster/row_count",))

    def load_input(self, context: dg.InputContext) -> DayBatches:
        return self.lake_io.load_input(context)
