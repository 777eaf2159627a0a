"""Raw layer: what Spotify returned, untouched, one JSON object per day in the lake."""

from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg

from spotify_assets.partitions import daily_partitions
from spotify_assets.sources.resource import SpotifyResource
from spotify_assets.sources.spotify_client import SpotifyAuthError
from spotify_assets.storage.lake import LakeResource
from spotify_assets.transforms.raw import (
    gap_days,
    gap_reference,
    merge_items,
    newest_played_at,
    next_checked_through,
    split_by_day,
)

RAW_RECENTLY_PLAYED = dg.AssetKey(["raw", "recently_played"])
RAW_FILENAME = "recently_played.json"

CHECKED_THROUGH = "checked_through"
"""Metadata of each capture: every play with an earlier `played_at` is stored in raw or on a flagged day."""

LISTING_LAG = timedelta(minutes=15)
"""How long after its `played_at` a play may first be listed (Spotify stamps some plays with their start and
lists them once they end): an answer of time T vouches only for the plays before T less this."""


def checked_through(instance: dg.DagsterInstance) -> datetime | None:
    """The checked-through time of the latest capture recorded in `instance`, or None before the first."""
    event = instance.get_latest_materialization_event(RAW_RECENTLY_PLAYED)
    materialization = event.asset_materialization if event else None
    entry = materialization.metadata.get(CHECKED_THROUGH) if materialization else None
    if entry is None:
        return None
    if not isinstance(entry.value, int | float):
        raise TypeError(f"{CHECKED_THROUGH} metadata must be a timestamp, not {type(entry.value).__name__}")
    return datetime.fromtimestamp(entry.value, UTC)


@dg.asset(
    key=RAW_RECENTLY_PLAYED,
    group_name="raw",
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    io_manager_key="lake_io_manager",
    kinds={"spotify", "json"},
)
def recently_played(
    context: dg.AssetExecutionContext, spotify: SpotifyResource, lake: LakeResource
) -> dg.Output[dict[str, dict[str, Any]]]:
    """Every recently-played item whose played_at falls on the day, merged with what was captured before."""
    days = context.partition_keys
    windows = [daily_partitions.time_window_for_partition_key(day) for day in days]
    window_start, window_end = windows[0].start, windows[-1].end
    previous = checked_through(context.instance)
    source = spotify.get_source()
    try:
        fetch = source.recently_played_between(window_start, window_end)
    except SpotifyAuthError as error:
        raise dg.Failure(description=str(error), allow_retries=False) from error
    fetched_by_day = split_by_day(fetch.items, spotify.timezone, days)

    payloads: dict[str, dict[str, Any]] = {}
    new_items = 0
    newest_stored: datetime | None = None
    for day in days:
        stored = (lake.read_json_partition(RAW_RECENTLY_PLAYED.path, RAW_FILENAME, day) or {}).get(
            "items", []
        )
        newest_stored = max(filter(None, (newest_stored, newest_played_at(stored))), default=None)
        merged, added = merge_items(stored, fetched_by_day[day])
        payloads[day] = {"items": merged}
        new_items += added

    reference = gap_reference(window_start, newest_stored, previous)
    lost_days = gap_days(reference, fetch.oldest_played_at, fetch.reached_api_limit, days, spotify.timezone)
    if lost_days:
        context.log.warning(
            f"Possible gap in recently-played for {', '.join(lost_days)}: the API's last 50 plays reach back "
            f"only to {fetch.oldest_played_at:%Y-%m-%d %H:%M:%S} UTC, and plays are known to be captured up "
            f"to {reference:%Y-%m-%d %H:%M:%S} UTC; plays in between may be lost."
        )
    for day in days:
        context.add_asset_metadata({"possible_gap": day in lost_days}, partition_key=day)
    return dg.Output(
        payloads,
        metadata={
            "fetched_items": len(fetch.items),
            "new_items": new_items,
            "api_requests": fetch.requests,
            "possible_gap_days": ", ".join(lost_days),
            CHECKED_THROUGH: dg.MetadataValue.timestamp(
                next_checked_through(
                    previous, window_start, window_end, fetch.fetched_at or datetime.now(UTC), LISTING_LAG
                )
            ),
            "source": spotify.resolved_source(),
        },
    )
