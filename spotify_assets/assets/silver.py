"""Silver layer: one typed row per play."""

from typing import Any

import dagster as dg
import pandas as pd

from spotify_assets.assets.raw import RAW_RECENTLY_PLAYED
from spotify_assets.partitions import daily_partitions
from spotify_assets.sources.resource import SpotifyResource
from spotify_assets.transforms.silver import flatten_recently_played


@dg.asset(
    key=["silver", "plays"],
    group_name="silver",
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    ins={"raw_recently_played": dg.AssetIn(key=RAW_RECENTLY_PLAYED)},
    kinds={"pandas", "parquet", "postgres"},
)
def plays(
    context: dg.AssetExecutionContext,
    spotify: SpotifyResource,
    raw_recently_played: dict[str, dict[str, Any]],
) -> dict[str, pd.DataFrame]:
    """One row per play (listener + played_at + track), flattened, typed and deduplicated from raw."""
    listener_id = spotify.get_source().listener_id()
    return {
        day: flatten_recently_played(payload.get("items", []), listener_id, spotify.timezone)
        for day, payload in raw_recently_played.items()
    }
