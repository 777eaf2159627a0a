"""Silver layer: one typed row per play."""

from typing import Any

import dagster as dg
import pandas as pd

from spotify_assets.assets.history import RAW_STREAMING_HISTORY
from spotify_assets.assets.raw import RAW_RECENTLY_PLAYED
from spotify_assets.partitions import daily_partitions
from spotify_assets.sources.resource import SpotifyResource
from spotify_assets.storage.lake_io import OPTIONAL_LAZY_INPUT, JsonPartitions
from spotify_assets.transforms.history_plays import history_plays, read_partitions
from spotify_assets.transforms.plays import combine_days
from spotify_assets.transforms.silver import flatten_recently_played


@dg.asset(
    key=["silver", "plays"],
    group_name="silver",
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    ins={
        "raw_recently_played": dg.AssetIn(key=RAW_RECENTLY_PLAYED),
        # Lazy (one day's JSON at a time) and optional (a day never imported holds no history).
        "raw_streaming_history": dg.AssetIn(key=RAW_STREAMING_HISTORY, metadata={OPTIONAL_LAZY_INPUT: True}),
    },
    kinds={"pandas", "parquet", "postgres"},
)
def plays(
    context: dg.AssetExecutionContext,
    spotify: SpotifyResource,
    raw_recently_played: dict[str, dict[str, Any]],
    raw_streaming_history: JsonPartitions,
) -> dg.Output[dict[str, pd.DataFrame]]:
    """One row per real play (listener + played_at + track) from the API and the data exports, flattened,
    typed and deduplicated from raw."""
    listener_id = spotify.get_source().listener_id()
    recent = {
        day: flatten_recently_played(payload.get("items", []), listener_id, spotify.timezone)
        for day, payload in raw_recently_played.items()
    }
    history = history_plays(read_partitions(raw_streaming_history.items()), listener_id)
    frames, merged = combine_days(recent, history.plays)
    sources = pd.concat([frame["source"] for frame in frames.values()]).value_counts()
    return dg.Output(
        frames,
        metadata={
            "plays_by_source": dg.MetadataValue.json({str(k): int(v) for k, v in sources.items()}),
            "plays_merged_across_sources": merged,
            **{f"history_{name}": count for name, count in history.counts.items()},
        },
    )
