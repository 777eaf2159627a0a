"""What the Dagster UI's catalog shows about each asset beyond its code: kinds, table schema, freshness.

Applied once, in `definitions.build_definitions`, because part of it depends on the deployment's settings: the
lake's kind (`s3` when the lake is on S3) and its file format (`parquet` or `csv`).
"""

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import dagster as dg

from spotify_assets.assets.resources import build_lake
from spotify_assets.contracts.settings import Settings
from spotify_assets.contracts.tables import FACT_RECENTLY_PLAYED, TABLES
from spotify_assets.storage.asset_metadata import column_schema
from spotify_assets.storage.lake import LakeResource

LAKE_FORMAT_KINDS = frozenset({"parquet", "csv"})

FACT_FRESHNESS_POLICY = dg.FreshnessPolicy.time_window(
    warn_window=timedelta(hours=26), fail_window=timedelta(hours=50)
)
"""The daily schedule refreshes the fact shortly after midnight. Older than 26 hours (the day's run is a
day late: missed or failed; two hours' slack) is a warning; older than 50 hours (two runs missed) fails."""

FRESHNESS_POLICIES = {FACT_RECENTLY_PLAYED.asset_key: FACT_FRESHNESS_POLICY}


def _with_catalog(spec: dg.AssetSpec, settings: Settings, lake: LakeResource) -> dg.AssetSpec:
    table = TABLES.get(".".join(spec.key.path))
    kinds = set(spec.kinds)
    if table is not None:
        kinds = (kinds - LAKE_FORMAT_KINDS) | {settings.lake_format}
    if settings.uses_s3:
        kinds.add("s3")
    spec = spec.replace_attributes(kinds=kinds)
    metadata: dict[str, Any] = {"lake_location": lake.uri("/".join(spec.key.path))}
    if table is not None:
        metadata.update(
            {
                "dagster/column_schema": dg.MetadataValue.table_schema(column_schema(table)),
                "dagster/table_name": table.qualified_name,
                "warehouse_table": table.qualified_name,
            }
        )
    spec = spec.merge_attributes(metadata=metadata)
    policy = FRESHNESS_POLICIES.get(spec.key)
    return dg.apply_freshness_policy(spec, policy) if policy else spec


def with_catalog_metadata(
    assets: Sequence[dg.AssetsDefinition], settings: Settings
) -> list[dg.AssetsDefinition]:
    """The assets with storage kinds, definition-time column schema, table name and lake location
    (shown before anything is materialized), and the fact's freshness policy."""
    lake = build_lake(settings)  # one resource for every asset: building one costs milliseconds
    return list(dg.map_asset_specs(lambda spec: _with_catalog(spec, settings, lake), assets))
