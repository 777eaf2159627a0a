"""Raw layer: what Spotify returned, untouched, one JSON object per day in the lake."""

from typing import Any

import dagster as dg

from spotify_assets.partitions import daily_partitions
from spotify_assets.sources.live import SpotifyAuthError
from spotify_assets.sources.resource import SpotifyResource
from spotify_assets.storage.lake import LakeResource
from spotify_assets.transforms.raw import merge_items, possible_gap, split_by_day

RAW_RECENTLY_PLAYED = dg.AssetKey(["raw", "recently_played"])
RAW_FILENAME = "recently_played.json"

# A 429 above the source's wait cap, or an outage that outlived the source's own retries, fails the step at
# once; Dagster tries again 10, 20, 40, 80 minutes later. An authorisation failure is never retried.
SPOTIFY_RETRY_POLICY = dg.RetryPolicy(
    max_retries=4, delay=600, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)


@dg.asset(
    key=RAW_RECENTLY_PLAYED,
    group_name="raw",
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    io_manager_key="lake_io_manager",
    retry_policy=SPOTIFY_RETRY_POLICY,
    kinds={"spotify", "json"},
)
def recently_played(
    context: dg.AssetExecutionContext, spotify: SpotifyResource, lake: LakeResource
) -> dg.Output[dict[str, dict[str, Any]]]:
    """Every recently-played item whose played_at falls on the day, merged with what was captured before."""
    days = context.partition_keys
    windows = [daily_partitions.time_window_for_partition_key(day) for day in days]
    source = spotify.get_source()
    try:
        fetch = source.recently_played_between(windows[0].start, windows[-1].end)
    except SpotifyAuthError as error:
        raise dg.Failure(description=str(error), allow_retries=False) from error
    fetched_by_day = split_by_day(fetch.items, spotify.timezone, days)

    payloads: dict[str, dict[str, Any]] = {}
    new_items = 0
    gap_days: list[str] = []
    for day in days:
        stored = (lake.read_json_partition(RAW_RECENTLY_PLAYED.path, RAW_FILENAME, day) or {}).get(
            "items", []
        )
        merged, added = merge_items(stored, fetched_by_day[day])
        payloads[day] = {"items": merged}
        new_items += added
        if possible_gap(stored, fetched_by_day[day], fetch.reached_api_limit):
            gap_days.append(day)
    if gap_days:
        context.log.warning(
            f"Possible gap in recently-played for {', '.join(gap_days)}: the API returned a full page of "
            "plays that does not reach back to anything stored; plays in between may be lost."
        )
    return dg.Output(
        payloads,
        metadata={
            "fetched_items": len(fetch.items),
            "new_items": new_items,
            "api_requests": fetch.requests,
            "possible_gap": bool(gap_days),
            "possible_gap_days": ", ".join(gap_days),
            "source": spotify.resolved_source(),
        },
    )
