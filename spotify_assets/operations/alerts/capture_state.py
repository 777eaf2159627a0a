"""Each listener's captures as the raw materializations record them: when their plays were last fetched, up
to when they are complete (checked-through), and which days were flagged `possible_gap`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import dagster as dg

from spotify_assets.assets.raw import CHECKED_THROUGH, RAW_RECENTLY_PLAYED
from spotify_assets.contracts.listener_scope import DEFAULT_LISTENER

SCAN_LIMIT = 5000
"""Raw materializations read back at most (newest first): a household's captures of about five days."""


@dataclass
class ListenerCaptures:
    """One listener's newest capture (None before the first) and the possible-gap days recorded since."""

    last_capture: datetime | None = None
    checked_through: datetime | None = None
    gap_days: set[str] = field(default_factory=set)


def _listeners_of(metadata: dict) -> dict[str, float]:
    """listener -> checked-through timestamp, from a raw materialization's metadata."""
    found = {}
    for key, entry in metadata.items():
        if key == CHECKED_THROUGH:
            found[DEFAULT_LISTENER] = entry.value
        elif key.startswith(f"{CHECKED_THROUGH}/"):
            found[key.partition("/")[2]] = entry.value
    return found


def read_captures(
    instance: dg.DagsterInstance, listeners: Iterable[str], since: datetime
) -> dict[str, ListenerCaptures]:
    """`listeners`' newest captures, and their gap days recorded by captures after `since`."""
    captures = {listener: ListenerCaptures() for listener in listeners}
    cursor, seen = None, 0
    while seen < SCAN_LIMIT:
        page = instance.fetch_materializations(RAW_RECENTLY_PLAYED, limit=200, cursor=cursor)
        for record in page.records:
            materialization = record.asset_materialization
            if materialization is None:
                continue
            moment = datetime.fromtimestamp(record.timestamp, UTC)
            gaps = materialization.metadata.get("possible_gap_days")
            days = {day.strip() for day in str(gaps.value).split(",") if day.strip()} if gaps else set()
            for listener, through in _listeners_of(dict(materialization.metadata)).items():
                capture = captures.get(listener)
                if capture is None:
                    continue
                if capture.last_capture is None and isinstance(through, int | float):
                    capture.last_capture = moment
                    capture.checked_through = datetime.fromtimestamp(through, UTC)
                if moment >= since:
                    capture.gap_days |= days
        seen += len(page.records)
        done = all(c.last_capture is not None for c in captures.values())
        oldest = page.records[-1].timestamp if page.records else 0
        if not page.has_more or (done and oldest < since.timestamp()):
            break
        cursor = page.cursor
    return captures
