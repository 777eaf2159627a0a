"""Raw layer for Spotify's data exports: the export's own rows, one JSON object per day in the lake."""

from typing import TYPE_CHECKING, Any

import dagster as dg

from spotify_assets.assets.pools import WAREHOUSE_POOL
from spotify_assets.assets.raw import raw_asset
from spotify_assets.contracts.day_batches import DayBatches
from spotify_assets.contracts.export_kinds import STORED_KINDS, VIDEO
from spotify_assets.contracts.listener_scope import (
    DEFAULT_LISTENER,
    LISTENER_PARTITIONS,
    LISTENER_TAG,
    ListenerError,
    ListenerPayloads,
    check_listener_name,
    listener_asset_path,
)
from spotify_assets.sources.history_resource import HistoryResource
from spotify_assets.storage.lake import LakeResource
from spotify_assets.storage.raw_partitions import json_partitions

if TYPE_CHECKING:
    from spotify_assets.sources.history import ExportRead
    from spotify_assets.transforms.history import ImportedRows, PartitionPlan

RAW_STREAMING_HISTORY = dg.AssetKey(["raw", "streaming_history"])


def build_history_asset(partitions: dg.DailyPartitionsDefinition) -> dg.AssetsDefinition:
    """`raw/streaming_history` on `partitions`: export rows go to their day in the partitions' time zone."""
    timezone = partitions.timezone
    first_partition = partitions.start.strftime("%Y-%m-%d")

    @raw_asset(RAW_STREAMING_HISTORY, partitions, pool=WAREHOUSE_POOL)
    def streaming_history(
        context: dg.AssetExecutionContext, history: HistoryResource, lake: LakeResource
    ) -> dg.Output[DayBatches]:
        """Rows of Spotify's data-export files (HISTORY_DIR, and HISTORY_DIR/listener=<name>/ for each
        listener of a household) ending on the day, merged with earlier imports."""
        from spotify_assets.sources.history import HistoryFileError  # the step's export: see LAZY_IMPORTS
        from spotify_assets.transforms.history import import_rows, plan_partitions

        days = context.partition_keys
        tagged = context.run.tags.get(LISTENER_TAG)
        try:
            listeners = (
                [tagged] if tagged else [DEFAULT_LISTENER, *map(check_listener_name, history.listeners())]
            )
            # every file of every listener read and checked before any partition is returned
            exports = {listener: history.read(listener) for listener in listeners}
        except (HistoryFileError, ListenerError) as error:
            raise dg.Failure(description=str(error), allow_retries=False) from error
        registered = set(context.instance.get_dynamic_partitions(LISTENER_PARTITIONS))
        payloads = {day: ListenerPayloads() for day in days}
        summaries = {}
        for listener, export in exports.items():
            if listener != DEFAULT_LISTENER and listener not in registered:
                context.log.warning(
                    f"HISTORY_DIR/listener={listener} is imported as listener {listener}, who is not "
                    f"registered (`spotify-assets auth --listener {listener}` adds them)."
                )
            stored = json_partitions(lake, listener_asset_path(RAW_STREAMING_HISTORY.path, listener), days)
            imported = import_rows(export.files, timezone, days)
            plan = plan_partitions(imported, days, stored)
            for day, payload in plan.payloads.items():
                payloads[day][listener] = payload
            summaries[listener] = summarize(context, export, imported, plan, days)
        metadata = dict(summaries.get(DEFAULT_LISTENER, {}))
        if list(summaries) != [DEFAULT_LISTENER]:
            metadata = {**metadata, "listeners": dg.MetadataValue.json(summaries)}
        metadata["dagster/row_count"] = sum(len(p) for day in payloads.values() for p in day.values())
        return dg.Output(DayBatches.of(payloads), metadata=metadata)

    def summarize(
        context: dg.AssetExecutionContext,
        export: "ExportRead",
        imported: "ImportedRows",
        plan: "PartitionPlan",
        days: list[str],
    ) -> dict[str, Any]:
        """One listener's import as metadata (plain values), with warnings for rows outside the run."""
        import numpy as np  # the step's transforms: see LAZY_IMPORTS

        from spotify_assets.sources.history import describe_files
        from spotify_assets.transforms.history import local_day_keys

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
        return {
            "history_dir": str(export.folder) if export.folder else "(HISTORY_DIR unset)",
            "files": {kind: files[kind] for kind in STORED_KINDS},
            "rows_read": {kind: rows_read[kind] for kind in STORED_KINDS},
            "video_files_skipped": files[VIDEO],
            "video_rows_skipped": rows_read[VIDEO],
            "ignored_files": describe_files(export.ignored) or "(none)",
            "export_first_day": first or "",
            "export_last_day": last or "",
            "rows_outside_run": outside,
            "new_rows": sum(plan.new_rows.values()),
        }

    return streaming_history
