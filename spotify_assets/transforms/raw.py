"""Pure functions on raw recently-played items: split by day, merge with what is stored, spot gaps."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from spotify_assets.contracts.raw_merge import newest_first, play_identity

Item = dict[str, Any]


def played_at(item: Item) -> datetime:
    """The item's `played_at` as an aware datetime."""
    try:
        return datetime.fromisoformat(item["played_at"].replace("Z", "+00:00"))
    except (KeyError, AttributeError, ValueError) as error:
        raise ValueError(
            f"recently-played item without a valid played_at: {item.get('played_at')!r}"
        ) from error


def local_day(item: Item, timezone: str) -> str:
    """The partition key (YYYY-MM-DD) of the day the item was played on, in `timezone`."""
    return played_at(item).astimezone(ZoneInfo(timezone)).date().isoformat()


def split_by_day(items: Iterable[Item], timezone: str, days: Iterable[str]) -> dict[str, list[Item]]:
    """Items grouped by local day, for the given days only (items on other days, and items without a valid
    played_at, which belong to no day, are left out)."""
    grouped: dict[str, list[Item]] = {day: [] for day in days}
    for item in items:
        try:
            day = local_day(item, timezone)
        except (ValueError, AttributeError, TypeError):
            continue
        if day in grouped:
            grouped[day].append(item)
    return grouped


def merge_items(stored: Iterable[Any], fetched: Iterable[Any]) -> tuple[list[Any], int]:
    """Union of stored and fetched items by play identity (`raw_merge.play_identity`); stored objects are
    kept as they were, items it cannot read too (once each, by their JSON text), never an exception.

    Returns the merged items newest first and how many fetched items were new.
    """
    merged = {play_identity(item): item for item in stored}
    before = len(merged)
    for item in fetched:
        merged.setdefault(play_identity(item), item)
    return newest_first(merged.values()), len(merged) - before


def newest_played_at(items: Iterable[Item]) -> datetime | None:
    """The latest valid `played_at` among `items`, or None when there is none."""
    moments = []
    for item in items:
        try:
            moments.append(played_at(item))
        except (ValueError, AttributeError, TypeError):
            continue
    return max(moments, default=None)


def gap_reference(
    window_start: datetime, newest_stored: datetime | None, checked_through: datetime | None
) -> datetime:
    """The moment up to which plays are known to be captured (or already flagged), for a capture whose
    window starts at `window_start`: the newest stored play or the last capture's checked-through time,
    whichever is later, and never before the window's start."""
    return max(moment for moment in (window_start, newest_stored, checked_through) if moment is not None)


def gap_days(
    reference: datetime,
    oldest_remembered: datetime | None,
    reached_api_limit: bool,
    days: Iterable[str],
    timezone: str,
) -> list[str]:
    """The days among `days` on which plays may have been lost: those that overlap the interval between
    `reference` and the oldest play the API still remembered, when the API's memory ran out before reaching
    back to `reference` (a full page of 50 whose oldest play is newer than it)."""
    if not reached_api_limit or oldest_remembered is None or oldest_remembered <= reference:
        return []
    zone = ZoneInfo(timezone)
    first = reference.astimezone(zone).date()
    last = oldest_remembered.astimezone(zone).date()
    return [day for day in days if first.isoformat() <= day <= last.isoformat()]


def next_checked_through(
    previous: datetime | None,
    window_start: datetime,
    window_end: datetime,
    answered_at: datetime,
    listing_lag: timedelta,
) -> datetime:
    """A capture's checked-through time: its answer's time less the listing lag (or its window's end, if
    earlier), when its window reached back to the previous capture's; else the previous one, unchanged (the
    time in between was not checked). Never earlier than the previous one."""
    through = min(answered_at - listing_lag, window_end)
    if previous is None:
        return through
    if window_start > previous:
        return previous
    return max(previous, through)
