"""Raw layer for Spotify's data exports: the export's own rows, one JSON object per day in the lake."""

import dagster as dg
import numpy as np

from spotify_assets.assets.raw import raw_asset
from spotify_assets.export_formats import STORED_KINDS, VIDEO
from spotify_assets.pools import WAREHOUSE_POOL
from spotify_assets.sources.history import HistoryFileError, HistoryResource, describe_files
from spotify_assets.storage.lake import LakeResource
from spotify_assets.storage.lake_io import JsonPartitions
from spotify_assets.transforms.history import HistoryPartition, import_rows, local_day_keys, plan_partitions

RAW_STREAMING_HISTORY = dg.AssetKey(["raw", "streaming_history"])


def build_history_asset(partitions: dg.DailyPartitionsDefinition) -> dg.AssetsDefinition:
    """`raw/streaming_history` on `partitions`: export rows go to their day in the partitions' time zone."""
    timezone = partitions.timezone
    first_partition = partitions.start.strftime("%Y-%m-%d")

    @raw_asset(RAW_STREAMING_HISTORY, partitions, pool=WAREHOUSE_POOL)
    def streaming_history(
        context: dg.AssetExecutionContext, history: HistoryResource, lake: LakeResource
    ) -> dg.Output[dict[str, HistoryPartition]]:
        """Rows of Spotify's data-export files (HISTORY_DIR) ending on the day, merged with earlier
        imports."""
        days = context.partition_keys
        try:
            export = history.read()  # every file read and checked before any partition is returned
        except HistoryFileError as error:
            raise dg.Failure(description=str(error), allow_retries=False) from error
        imported = import_rows(export.files, timezone, days)
        stored = JsonPartitions(lake, RAW_STREAMING_HISTORY.path, days)
        plan = plan_partitions(imported, days, stored)

        outside = int((imported.day[imported.position] < 0).sum())
        stop_ms = imported.stop_ms[imported.position]
        first, last = (
            local_day_keys(np.array([stop_ms.min(), stop_ms.max()]), timezone)
            if len(stop_ms)
            else (None, None)
        )
        if first is not None and first < first_partition:
            context.log.warning(
                f"The export starts on {first}, before the first partition "
                f"({first_partition}): set PARTITIONS_START_DATE={first} to import those days."
            )
        if outside:
            context.log.info(
                f"{outside} export rows fall outside {days[0]}...{days[-1]}; "
                f"the export covers {first}...{last}."
            )
        rows_read = export.rows_by_kind()
        files = export.files_by_kind()
        return dg.Output(
            plan.payloads,
            metadata={
                "history_dir": str(export.folder) if export.folder else "(HISTORY_DIR unset)",
                "files": dg.MetadataValue.json({kind: files[kind] for kind in STORED_KINDS}),
                "rows_read": dg.MetadataValue.json({kind: rows_read[kind] for kind in STORED_KINDS}),
                "video_files_skipped": files[VIDEO],
                "video_rows_skipped": rows_read[VIDEO],
                "ignored_files": describe_files(export.ignored) or "(none)",
                "export_first_day": first or "",
                "export_last_day": last or "",
                "rows_outside_run": outside,
                "new_rows": sum(plan.new_rows.values()),
                "dagster/row_count": sum(len(payload) for payload in plan.payloads.values()),
            },
        )

    return streaming_history
