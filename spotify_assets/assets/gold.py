"""Gold layer: the star schema built from each day's silver plays."""

from collections.abc import Callable
from datetime import date

import dagster as dg
import pandas as pd

from spotify_assets.day_batches import PartitionMap, per_day
from spotify_assets.pools import WAREHOUSE_POOL
from spotify_assets.transforms import gold
from spotify_assets.transforms.plays import build_key_map

SILVER_PLAYS = dg.AssetKey(["silver", "plays"])
Frames = PartitionMap
"""`{partition key: DataFrame}`; for a long range a `DayBatches` read and built a month at a time."""


def build_gold_assets(partitions: dg.DailyPartitionsDefinition) -> list[dg.AssetsDefinition]:
    """The gold tables on `partitions`; the fact's hours and dates are in the partitions' time zone."""
    timezone = partitions.timezone

    def gold_asset(name: str, *, reads_plays: bool = True) -> Callable:
        return dg.asset(
            key=["gold", name],
            group_name="gold",
            partitions_def=partitions,
            backfill_policy=dg.BackfillPolicy.single_run(),
            ins={"plays": dg.AssetIn(key=SILVER_PLAYS)} if reads_plays else None,
            deps=None if reads_plays else [SILVER_PLAYS],
            io_manager_key="lakehouse_io_manager",
            pool=WAREHOUSE_POOL,
            kinds={"pandas", "parquet", "postgres"},
        )

    def _per_day(plays: Frames, build: Callable[[pd.DataFrame], pd.DataFrame]) -> Frames:
        return per_day(plays, build)

    @gold_asset("dim_artist")
    def dim_artist(plays: Frames) -> Frames:
        """Every artist a played track or its album names (upserted by artist_key)."""
        return _per_day(plays, gold.build_dim_artist)

    @gold_asset("dim_album")
    def dim_album(plays: Frames) -> Frames:
        """Every album of a played track (upserted by album_key)."""
        return _per_day(plays, gold.build_dim_album)

    @gold_asset("dim_track")
    def dim_track(plays: Frames) -> Frames:
        """Every played track (upserted by track_key)."""
        return _per_day(plays, gold.build_dim_track)

    @gold_asset("bridge_track_artist")
    def bridge_track_artist(plays: Frames) -> Frames:
        """Which artists each track credits, in order."""
        return _per_day(plays, gold.build_bridge_track_artist)

    @gold_asset("dim_date", reads_plays=False)
    def dim_date(context: dg.AssetExecutionContext) -> Frames:
        """Calendar attributes of each day."""
        return {day: gold.build_dim_date([date.fromisoformat(day)]) for day in context.partition_keys}

    @gold_asset("fact_recently_played")
    def fact_recently_played(plays: Frames) -> Frames:
        """One row per play, keyed to the dimensions."""
        return _per_day(plays, lambda frame: gold.build_fact(frame, timezone))

    @gold_asset("key_map")
    def key_map(plays: Frames) -> Frames:
        """Keys derived from names, mapped to the Spotify id that plays with ids gave the same names."""
        return _per_day(plays, build_key_map)

    return [dim_artist, dim_album, dim_track, bridge_track_artist, dim_date, fact_recently_played, key_map]
