"""One place that turns settings into the resources every asset uses: local or cloud, same keys.

It sits beside `definitions.py`, above the layers it wires: where plays come from (`sources`) and where
tables go (`storage`), so that neither has to import the other."""

from __future__ import annotations

from typing import Any

import dagster as dg

from spotify_assets.contracts.settings import Settings
from spotify_assets.sources.history_resource import HistoryResource
from spotify_assets.sources.resource import SpotifyResource
from spotify_assets.storage.lake import LakeResource
from spotify_assets.storage.lake_io import LakeIOManager
from spotify_assets.storage.lakehouse_io import LakehouseIOManager
from spotify_assets.storage.postgres import PostgresResource
from spotify_assets.storage.postgres_io import PostgresIOManager


def build_lake(settings: Settings) -> LakeResource:
    """The lake on S3 when S3_BUCKET_NAME is set, else the local LAKE_DIR folder."""
    return LakeResource(
        local_dir=settings.lake_dir,
        bucket=settings.s3_bucket_name,
        prefix=settings.s3_prefix,
        endpoint_url=settings.s3_endpoint_url,
        file_format=settings.lake_format,
    )


def build_postgres(settings: Settings) -> PostgresResource:
    """External PostgreSQL (e.g. RDS) when DB_HOST is set, else the embedded one under EMBEDDED_PG_DIR."""
    if settings.uses_embedded_postgres:
        return PostgresResource(embedded_dir=settings.embedded_pg_dir)
    return PostgresResource(
        host=settings.db_host,
        port=settings.db_port,
        dbname=settings.db_name,
        user=settings.db_user,
        password=dg.EnvVar("DB_PASSWORD") if settings.db_password else None,
        sslmode=settings.db_sslmode,
    )


def build_resources(settings: Settings, partitions: dg.DailyPartitionsDefinition) -> dict[str, Any]:
    """Resource dict keyed as the assets expect; the keys are the same for every deployment.

    Every asset names its IO manager (`io_manager_key`): raw JSON goes through `lake_io_manager`, silver and
    gold tables through `lakehouse_io_manager` (lake, then warehouse). No bare `io_manager` is bound: an
    asset that forgot its key would fall back to Dagster's default, which a test forbids.

    The sample source's time zone is the partitions definition's (the project's one time zone); secrets are
    `dg.EnvVar`s, read from the environment when a run builds its resources, never config values.
    """
    lake = build_lake(settings)
    postgres = build_postgres(settings)
    return {
        "lake": lake,
        "postgres": postgres,
        "spotify": SpotifyResource.from_settings(settings, timezone=partitions.timezone),
        "history": HistoryResource(folder=settings.history_dir),
        "lake_io_manager": LakeIOManager(lake=lake, postgres=postgres),
        "lakehouse_io_manager": LakehouseIOManager(
            lake_io=LakeIOManager(lake=lake, postgres=postgres),
            postgres_io=PostgresIOManager(postgres=postgres),
        ),
    }
