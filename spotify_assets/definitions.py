"""The one Definitions object: assets, checks, resources, jobs and schedules, assembled from settings."""

from __future__ import annotations

import dagster as dg

from spotify_assets.assets.gold import GOLD_ASSETS
from spotify_assets.assets.history import streaming_history
from spotify_assets.assets.raw import recently_played
from spotify_assets.assets.report import listening
from spotify_assets.assets.silver import plays
from spotify_assets.catalog import with_catalog_metadata
from spotify_assets.checks import ASSET_CHECKS
from spotify_assets.schedules import build_schedules, medallion_job, raw_capture_job
from spotify_assets.settings import Settings, get_settings
from spotify_assets.storage.resources import build_resources


def build_definitions(settings: Settings) -> dg.Definitions:
    """Everything Dagster loads, wired to the storage and source these settings choose."""
    return dg.Definitions(
        assets=with_catalog_metadata(
            [recently_played, streaming_history, plays, *GOLD_ASSETS, listening], settings
        ),
        asset_checks=ASSET_CHECKS,
        resources=build_resources(settings),
        jobs=[medallion_job, raw_capture_job],
        schedules=build_schedules(settings),
        # One process per run: at this data size a process per step costs more than it saves (see README).
        executor=dg.in_process_executor,
    )


defs = build_definitions(get_settings())
