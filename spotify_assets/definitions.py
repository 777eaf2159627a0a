"""The one Definitions object: assets, checks, resources, jobs and schedules, assembled from settings."""

from __future__ import annotations

import gc

import dagster as dg

from spotify_assets.assets.catalog import with_catalog_metadata
from spotify_assets.assets.gold import build_gold_assets
from spotify_assets.assets.history import build_history_asset
from spotify_assets.assets.partitions import build_daily_partitions
from spotify_assets.assets.raw import build_raw_asset
from spotify_assets.assets.report import build_report_asset
from spotify_assets.assets.resources import build_resources
from spotify_assets.assets.schedules import build_jobs, build_schedules
from spotify_assets.assets.silver import build_silver_asset
from spotify_assets.contracts.settings import Settings, get_settings
from spotify_assets.operations.alerts.definitions import alert_definitions, capture_job_with_heartbeat
from spotify_assets.operations.run_progress import PROGRESS_LOGGER, progress_logger
from spotify_assets.quality.checks import build_checks


def build_definitions(settings: Settings) -> dg.Definitions:
    """Everything Dagster loads, wired to the storage and source these settings choose.

    The one partitions definition is made here, and every asset, check, job, schedule and resource that
    needs a day boundary or a time zone takes it from that object: two calls with different settings give
    two independent sets of definitions.
    """
    partitions = build_daily_partitions(settings)
    assets = [
        build_raw_asset(partitions),
        build_history_asset(partitions),
        build_silver_asset(partitions),
        *build_gold_assets(partitions),
        build_report_asset(partitions),
    ]
    medallion_job, raw_capture_job = build_jobs(partitions)
    raw_capture_job = capture_job_with_heartbeat(raw_capture_job, settings)
    checks = build_checks(partitions)
    alert_sensors, alert_resources = alert_definitions(settings, checks)
    return dg.Definitions(
        assets=with_catalog_metadata(assets, settings),
        asset_checks=checks,
        resources={**build_resources(settings, partitions), **alert_resources},
        sensors=alert_sensors,
        jobs=[medallion_job, raw_capture_job],
        schedules=build_schedules(settings, partitions, medallion_job, raw_capture_job),
        # One process per run: at this data size a process per step costs more than it saves (docs/design.md).
        executor=dg.in_process_executor,
        # Dagster's console logger, and the CLI's progress lines when a run's config turns them on.
        loggers={**dg.default_loggers(), PROGRESS_LOGGER: progress_logger},
    )


defs = build_definitions(get_settings())

# Everything loaded so far (Dagster, these definitions) lives as long as the process: frozen, the collector's
# full passes no longer scan it each time, which cost a one-day run of the graph about half a second.
gc.freeze()
