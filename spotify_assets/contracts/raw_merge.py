"""How a raw partition written by one run is united with what another run stored meanwhile.

The raw assets merge what they fetched with what the partition held when they read it; the lake IO manager
merges once more, under a lock, with what the partition holds when it writes (`storage.raw_lock`), so two
runs of one day never drop each other's items. The merges are idempotent: what is already stored is kept
as it was, and a payload that already holds everything stored is written as it is.

- `recently_played`: union by play identity (`played_at` + track uri, as `transforms.raw.merge_items`),
  stored objects kept, newest first.
- `streaming_history`: per kind, a multiset union of rows (a row kept as often as the most either side holds
  it), ordered by stop time, then row text (as `transforms.history` orders a partition).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from spotify_assets.contracts import json_codec
from spotify_assets.contracts.export_kinds import STOP_TIME_FIELD, STORED_KINDS, row_json


def played_instant(item: Any) -> datetime | None:
    """The item's `played_at` as an aware datetime (a time without offset read as UTC, as silver reads it),
    or None when the item has none that can be read."""
    value = item.get("played_at") if isinstance(item, dict) else None
    if not isinstance(value, str):
        return None
    try:
        instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


def play_identity(item: Any) -> tuple[str, str]:
    """What makes two recently-played items the same play: played_at and the track's uri (or id, or name).

    An item this cannot read (not an object, no readable played_at, a track that is neither an object nor
    null) takes no part in the play key: it is identified by its whole JSON text, so it is kept once, as it
    is, beside the plays (silver excludes it with its reason, `transforms.items`).
    """
    track = item.get("track") if isinstance(item, dict) else None
    if played_instant(item) is None or not (track is None or isinstance(track, dict)):
        return "", json.dumps(item, sort_keys=True)
    track = track or {}
    return item["played_at"], track.get("uri") or track.get("id") or track.get("name") or ""


def newest_first(items: Iterable[Any]) -> list[Any]:
    """Items in the API's order (newest first), ties broken by their identity; unreadable items last."""
    oldest = datetime.min.replace(tzinfo=UTC)
    return sorted(
        items, key=lambda item: (played_instant(item) or oldest, play_identity(item)[1]), reverse=True
    )


def merge_recently_played(stored: Any, written: Any) -> Any:
    """`written` ({"items": [...]}) with every stored item it lacks added back; stored objects win."""
    stored_items = (stored or {}).get("items") or []
    if not stored_items:
        return written
    items = list(written.get("items") or [])
    known = {play_identity(item) for item in items}
    missing = [item for item in stored_items if play_identity(item) not in known]
    if not missing:
        return written
    stored_by_identity = {play_identity(item): item for item in stored_items}
    merged = [stored_by_identity.get(play_identity(item), item) for item in items] + missing
    return {**written, "items": newest_first(merged)}


def merge_streaming_history(stored: Any, written: Any) -> Any:
    """`written` (a payload or a `JsonDocument`) with every stored row it lacks added back, per kind."""
    if not stored or not any(stored.get(kind) for kind in STORED_KINDS):
        return written
    from spotify_assets.contracts.export_formats import stop_millis  # pandas: see test_layers.LAZY_IMPORTS

    payload = json_codec.loads(written.to_json_bytes()) if hasattr(written, "to_json_bytes") else written
    merged: dict[str, list[Any]] = {}
    changed = False
    for kind in STORED_KINDS:
        new_rows, old_rows = payload.get(kind) or [], stored.get(kind) or []
        new_texts, old_texts = [row_json(row) for row in new_rows], [row_json(row) for row in old_rows]
        lacking = Counter(old_texts) - Counter(new_texts)
        if not lacking:
            merged[kind] = new_rows
            continue
        changed = True
        rows = {text: row for text, row in zip([*new_texts, *old_texts], [*new_rows, *old_rows], strict=True)}
        texts = list((Counter(new_texts) | Counter(old_texts)).elements())
        field = STOP_TIME_FIELD[kind]
        millis = dict(
            zip(texts, stop_millis(kind, [rows[t].get(field) for t in texts]).tolist(), strict=True)
        )
        merged[kind] = [rows[text] for text in sorted(texts, key=lambda text: (millis[text], text))]
    return merged if changed else written


RAW_MERGES: dict[str, Callable[[Any, Any], Any]] = {
    "recently_played": merge_recently_played,
    "streaming_history": merge_streaming_history,
}
"""Raw asset name -> how its partition's payload is united with what is stored."""
