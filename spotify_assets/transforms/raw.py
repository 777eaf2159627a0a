"""Pure functions on raw recently-played items: split by day, merge with what is stored, spot gaps."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

Item = dict[str, Any]


def played_at(item: Item) -> datetime:
    """The item's `played_at` as an aware datetime."""
    try:
        return datetime.fromisoformat(item["played_at"].replace("Z", "+00:00"))
    except (KeyError, AttributeError, ValueError) as error:
        raise ValueError(
            f"recently-played item without a valid played_at: {item.get('played_at')!r}"
        ) from error


def play_identity(item: Item) -> tuple[str, str]:
    """What makes two items the same play: played_at and the track's uri (local files have no id)."""
    track = item.get("track") or {}
    return item["played_at"], track.get("uri") or track.get("id") or track.get("name") or ""


def local_day(item: Item, timezone: str) -> str:
    """The partition key (YYYY-MM-DD) of the day the item was played on, in `timezone`."""
    return played_at(item).astimezone(ZoneInfo(timezone)).date().isoformat()


def split_by_day(items: Iterable[Item], timezone: str, days: Iterable[str]) -> dict[str, list[Item]]:
    """Items grouped by local day, for the given days only (items on other days are left out)."""
    grouped: dict[str, list[Item]] = {day: [] for day in days}
    for item in items:
        day = local_day(item, timezone)
        if day in grouped:
            grouped[day].append(item)
    return grouped


def sort_newest_first(items: Iterable[Item]) -> list[Item]:
    """Items in the API's order (newest first), ties broken by track so the order is deterministic."""
    return sorted(items, key=lambda item: (played_at(item), play_identity(item)[1]), reverse=True)


def merge_items(stored: Iterable[Item], fetched: Iterable[Item]) -> tuple[list[Item], int]:
    """Union of stored and fetched items by play identity; stored objects are kept as they were.

    Returns the merged items newest first and how many fetched items were new.
    """
    merged = {play_identity(item): item for item in stored}
    before = len(merged)
    for item in fetched:
        merged.setdefault(play_identity(item), item)
    return sort_newest_first(merged.values()), len(merged) - before


def possible_gap(stored: list[Item], fetched: list[Item], reached_api_limit: bool) -> bool:
    """True when the API returned a full window that does not reach back to anything already stored."""
    if not reached_api_limit or not fetched:
        return False
    if not stored:
        return True
    oldest_fetched = min(played_at(item) for item in fetched)
    newest_stored = max(played_at(item) for item in stored)
    return oldest_fetched > newest_stored
