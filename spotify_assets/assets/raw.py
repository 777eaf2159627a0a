"""Raw layer: what Spotify returned, untouched, one JSON object per day in the lake."""

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg

from spotify_assets.contracts.day_batches import DayBatches
from spotify_assets.contracts.listener_scope import (
    DEFAULT_LISTENER,
    LISTENER_PARTITIONS,
    ListenerPayloads,
    listener_asset_path,
    listeners_of_run,
)
from spotify_assets.sources.base import RecentlyPlayedSource
from spotify_assets.sources.errors import SpotifyAuthError, SpotifyError
from spotify_assets.sources.resource import SpotifyResource
from spotify_assets.storage.lake import LakeResource
from spotify_assets.storage.step_metadata import add_partition_metadata
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
"""Metadata of each capture: every play with an earlier `played_at` is stored in raw or on a flagged day (the
default listener's; a registered listener's is `checked_through/<name>`)."""
LISTENERS_FAILED = "listeners_failed"
"""Metadata of a household capture: listener -> why their capture failed (the others' plays were stored)."""
CHECKED_THROUGH_LOOKBACK = 5000
"""Raw materializations searched back (newest first, a page of 100 at a time) for a listener's latest
checked-through time: five listeners' captures every 15 minutes make ~1,000 a day, so a listener whose token
failed for days still resumes from their own last capture."""

LISTING_LAG = timedelta(minutes=15)
"""How long after its `played_at` a play may first be listed (Spotify stamps some plays with their start and
lists them once they end): an answer of time T vouches only for the plays before T less this."""


def checked_through_key(listener: str) -> str:
    """The metadata entry holding `listener`'s checked-through time."""
    return CHECKED_THROUGH if listener == DEFAULT_LISTENER else f"{CHECKED_THROUGH}/{listener}"


def checked_through(instance: dg.DagsterInstance, listener: str = DEFAULT_LISTENER) -> datetime | None:
    """The checked-through time of `listener`'s latest capture recorded in `instance`, or None before the
    first (or when none of the last CHECKED_THROUGH_LOOKBACK captures is theirs)."""
    key = checked_through_key(listener)
    cursor, seen = None, 0
    while seen < CHECKED_THROUGH_LOOKBACK:
        page = instance.fetch_materializations(RAW_RECENTLY_PLAYED, limit=100, cursor=cursor)
        for record in page.records:
            materialization = record.asset_materialization
            entry = materialization.metadata.get(key) if materialization else None
            if entry is None:
                continue
            if not isinstance(entry.value, int | float):
                raise TypeError(f"{key} metadata must be a timestamp, not {type(entry.value).__name__}")
            return datetime.fromtimestamp(entry.value, UTC)
        seen += len(page.records)
        if not page.has_more:
            break
        cursor = page.cursor
    return None


def raw_asset(key: dg.AssetKey, partitions: dg.DailyPartitionsDefinition, **extra: Any) -> Any:
    """The decorator of a raw asset: Spotify's JSON, stored by the lake IO manager, one object a day."""
    return dg.asset(
        key=key,
        group_name="raw",
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        io_manager_key="lake_io_manager",
        kinds={"spotify", "json"},
        **extra,
    )


@dataclass
class ListenerCapture:
    """One listener's capture in a run: each day's merged items and what the capture found."""

    payloads: dict[str, dict[str, Any]]
    fetched: int
    new_items: int
    requests: int
    lost_days: list[str]
    checked_through: datetime
    excluded: dict[str, Counter[str]]
    """Day -> the items of the merged object that are no plays, by reason (stored or new alike)."""


def capture_listener(
    context: dg.AssetExecutionContext,
    source: RecentlyPlayedSource,
    lake: LakeResource,
    listener: str,
    partitions: dg.DailyPartitionsDefinition,
) -> ListenerCapture:
    """Fetch `listener`'s plays of the run's days and merge them with what their raw objects hold."""
    from spotify_assets.transforms.items import play_items  # the step's transforms: see LAZY_IMPORTS

    days = context.partition_keys
    windows = [partitions.time_window_for_partition_key(day) for day in days]
    window_start, window_end = windows[0].start, windows[-1].end
    previous = checked_through(context.instance, listener)
    fetch = source.recently_played_between(window_start, window_end)
    fetched_by_day = split_by_day(fetch.items, partitions.timezone, days)
    path = listener_asset_path(RAW_RECENTLY_PLAYED.path, listener)
    payloads: dict[str, dict[str, Any]] = {}
    new_items = 0
    newest_stored: datetime | None = None
    excluded: dict[str, Counter[str]] = {}
    for day in days:
        stored = (lake.read_json_partition(path, RAW_FILENAME, day) or {}).get("items", [])
        newest_stored = max(filter(None, (newest_stored, newest_played_at(stored))), default=None)
        merged, added = merge_items(stored, fetched_by_day[day])
        payloads[day] = {"items": merged}
        new_items += added
        excluded[day] = play_items(merged)[1]

    reference = gap_reference(window_start, newest_stored, previous)
    lost_days = gap_days(
        reference, fetch.oldest_played_at, fetch.reached_api_limit, days, partitions.timezone
    )
    if lost_days:
        whose = "" if listener == DEFAULT_LISTENER else f" of listener {listener}"
        context.log.warning(
            f"Possible gap in recently-played{whose} for {', '.join(lost_days)}: the API's last 50 plays "
            f"reach back only to {fetch.oldest_played_at:%Y-%m-%d %H:%M:%S} UTC, and plays are known to "
            f"be captured up to {reference:%Y-%m-%d %H:%M:%S} UTC; plays in between may be lost."
        )
    through = next_checked_through(
        previous, window_start, window_end, fetch.fetched_at or datetime.now(UTC), LISTING_LAG
    )
    return ListenerCapture(
        payloads, len(fetch.items), new_items, fetch.requests, lost_days, through, excluded
    )


def build_raw_asset(partitions: dg.DailyPartitionsDefinition) -> dg.AssetsDefinition:
    """`raw/recently_played` on `partitions`: its days are cut in their time zone."""

    @raw_asset(RAW_RECENTLY_PLAYED, partitions)
    def recently_played(
        context: dg.AssetExecutionContext, spotify: SpotifyResource, lake: LakeResource
    ) -> dg.Output[DayBatches]:
        """Every recently-played item whose played_at falls on the day, merged with what was captured
        before, for each listener of the run."""
        days = context.partition_keys
        try:
            listeners = listeners_of_run(
                context.run.tags,
                list(context.instance.get_dynamic_partitions(LISTENER_PARTITIONS)),
                spotify.default_has_token(),
            )
        except ValueError as error:
            raise dg.Failure(description=str(error), allow_retries=False) from error
        captures: dict[str, ListenerCapture] = {}
        failures: dict[str, SpotifyError] = {}
        for listener in listeners:
            try:
                captures[listener] = capture_listener(
                    context, spotify.get_source(listener), lake, listener, partitions
                )
            except SpotifyError as error:
                failures[listener] = error
                if len(listeners) > 1:
                    context.log.error(f"Capture of listener {listener} failed: {error}")
        if failures and not captures:  # nobody captured: the run fails (a household's others go on)
            first = next(iter(failures.values()))
            if isinstance(first, SpotifyAuthError):
                raise dg.Failure(description=str(first), allow_retries=False) from first
            raise first

        lost_days = sorted({day for capture in captures.values() for day in capture.lost_days})
        per_day = {}
        for day in days:
            excluded = sum((capture.excluded[day] for capture in captures.values()), Counter[str]())
            per_day[day] = {
                "possible_gap": day in lost_days,
                "items_excluded": dg.MetadataValue.json(dict(sorted(excluded.items()))),
            }
        add_partition_metadata(context, per_day)
        metadata: dict[str, Any] = {
            "fetched_items": sum(capture.fetched for capture in captures.values()),
            "new_items": sum(capture.new_items for capture in captures.values()),
            "api_requests": sum(capture.requests for capture in captures.values()),
            "possible_gap_days": ", ".join(lost_days),
            **{
                checked_through_key(listener): dg.MetadataValue.timestamp(capture.checked_through)
                for listener, capture in captures.items()
            },
            "source": spotify.resolved_source(),
        }
        if listeners != [DEFAULT_LISTENER]:
            metadata["listeners"] = ", ".join(captures)
            metadata[LISTENERS_FAILED] = dg.MetadataValue.json(
                {listener: str(error) for listener, error in failures.items()}
            )
        payloads = {
            day: ListenerPayloads({listener: capture.payloads[day] for listener, capture in captures.items()})
            for day in days
        }
        return dg.Output(DayBatches.of(payloads), metadata=metadata)

    return recently_played
