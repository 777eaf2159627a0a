"""Silver layer: one typed row per play."""

from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import dagster as dg

from spotify_assets.assets.batches import built_in_batches
from spotify_assets.assets.history import RAW_STREAMING_HISTORY
from spotify_assets.assets.pools import WAREHOUSE_POOL
from spotify_assets.assets.raw import RAW_RECENTLY_PLAYED
from spotify_assets.contracts.day_batches import DayBatches
from spotify_assets.contracts.listener_scope import DEFAULT_LISTENER
from spotify_assets.sources.resource import SpotifyResource
from spotify_assets.storage.lake_io import BY_LISTENER, OPTIONAL_LAZY_INPUT

if TYPE_CHECKING:
    import pandas as pd


def build_silver_asset(partitions: dg.DailyPartitionsDefinition) -> dg.AssetsDefinition:
    """`silver/plays` on `partitions`: plays are dated in the partitions' time zone."""
    timezone = partitions.timezone

    @dg.asset(
        key=["silver", "plays"],
        group_name="silver",
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        ins={
            # Every listener's objects of each day (a household's listeners are a column, not partitions).
            "raw_recently_played": dg.AssetIn(key=RAW_RECENTLY_PLAYED, metadata={BY_LISTENER: True}),
            # Lazy (one day's JSON at a time) and optional (a day never imported holds no history).
            "raw_streaming_history": dg.AssetIn(
                key=RAW_STREAMING_HISTORY, metadata={OPTIONAL_LAZY_INPUT: True, BY_LISTENER: True}
            ),
        },
        io_manager_key="lakehouse_io_manager",
        pool=WAREHOUSE_POOL,
        kinds={"pandas", "parquet", "postgres"},
    )
    def plays(
        context: dg.AssetExecutionContext,
        spotify: SpotifyResource,
        raw_recently_played: DayBatches,
        raw_streaming_history: DayBatches,
    ) -> DayBatches:
        """One row per real play (listener + played_at + track) of every listener, from the API and the data
        exports, flattened, typed and deduplicated from raw."""
        import pandas as pd  # the step's transforms: see LAZY_IMPORTS

        from spotify_assets.transforms.history_plays import history_plays, read_partitions
        from spotify_assets.transforms.items import play_items
        from spotify_assets.transforms.plays import combine_days
        from spotify_assets.transforms.silver import flatten_recently_played

        listener_ids = ListenerIds(spotify)
        counts = SilverCounts()

        def build_listener(days: list[str], listener: str) -> dict[str, pd.DataFrame]:
            listener_id = listener_ids(listener)
            recent = {}
            for day in days:
                payload = raw_recently_played[day].get(listener) or {}
                items, excluded = play_items(payload.get("items", []))
                counts.excluded.update(excluded)
                recent[day] = flatten_recently_played(items, listener_id, timezone)
            history = history_plays(
                read_partitions((day, raw_streaming_history[day].get(listener)) for day in days),
                listener_id,
            )
            frames, merged = combine_days(recent, history.plays)
            counts.add(frames, merged, history.counts)
            return frames

        def build(days: list[str]) -> dict[str, pd.DataFrame]:
            inputs = (raw_recently_played, raw_streaming_history)
            listeners = sorted({name for raw in inputs for day in days for name in raw[day]})
            by_listener = [build_listener(days, listener) for listener in listeners or [DEFAULT_LISTENER]]
            if len(by_listener) == 1:
                return by_listener[0]
            return {
                day: pd.concat([frames[day] for frames in by_listener], ignore_index=True) for day in days
            }

        # Built a month at a time as the IO manager writes it: a year of exported history never sits in
        # memory. Each input is read a day at a time, and each day's objects a listener at a time.
        return built_in_batches(context.asset_key, context.partition_keys, build, metadata=counts.metadata)

    return plays


class ListenerIds:
    """Each listener's `listener_id`: the default listener's from the source (LISTENER_ID, the Spotify user
    id, or `demo`), asked once and only when they have plays; a registered listener's is their name."""

    def __init__(self, spotify: SpotifyResource) -> None:
        self._spotify = spotify
        self._default: str | None = None

    def __call__(self, listener: str) -> str:
        if listener != DEFAULT_LISTENER:
            return listener
        if self._default is None:
            self._default = self._spotify.get_source().listener_id()
        return self._default


class SilverCounts:
    """What the silver build reports, added up over its batches of days."""

    def __init__(self) -> None:
        self.by_source: Counter[str] = Counter()
        self.merged = 0
        self.history: Counter[str] = Counter()
        self.excluded: Counter[str] = Counter()  # recently-played items that are not plays, by reason

    def add(
        self, frames: Mapping[str, "pd.DataFrame"], merged: int, history_counts: Mapping[str, int]
    ) -> None:
        for frame in frames.values():
            self.by_source.update(frame["source"].value_counts().to_dict())
        self.merged += merged
        self.history.update(history_counts)

    def metadata(self) -> dict[str, Any]:
        return {
            "plays_by_source": dg.MetadataValue.json(
                {str(k): int(v) for k, v in self.by_source.most_common()}
            ),
            "plays_merged_across_sources": self.merged,
            "items_excluded": dg.MetadataValue.json(dict(sorted(self.excluded.items()))),
            **{f"history_{name}": int(count) for name, count in self.history.items()},
        }
