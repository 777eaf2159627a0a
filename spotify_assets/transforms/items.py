"""Which raw recently-played items are plays, and why each other item is excluded (never a failure).

Raw keeps every item as Spotify sent it; silver takes the plays (`play_items`) and counts the rest by reason:

- `not_an_object`: the item is not a JSON object;
- `no_played_at`: no `played_at` string, or one that is not an ISO 8601 instant;
- `no_track`: no track object (`"track": null`, as Spotify sends for some unavailable items);
- `episode`: a podcast episode (`track.type == "episode"`);
- `not_a_track`: any other `track.type` that is not `track`.

`quality.silver_matches_raw` applies the same rule, so an excluded item is never a missing play.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

NOT_AN_OBJECT = "not_an_object"
NO_PLAYED_AT = "no_played_at"
NO_TRACK = "no_track"
EPISODE = "episode"
NOT_A_TRACK = "not_a_track"


def exclusion_reason(item: Any) -> str | None:
    """Why `item` is not a play, or None for a play (its `played_at` is checked by `play_items`)."""
    if not isinstance(item, Mapping):
        return NOT_AN_OBJECT
    played_at = item.get("played_at")
    if not isinstance(played_at, str) or not played_at:
        return NO_PLAYED_AT
    track = item.get("track")
    if not isinstance(track, Mapping) or not track:
        return NO_TRACK
    kind = track.get("type", "track")
    if kind == "track":
        return None
    return EPISODE if kind == "episode" else NOT_A_TRACK


def play_items(items: Iterable[Any]) -> tuple[list[dict[str, Any]], Counter[str]]:
    """The items that are plays (in their order), and how many others were excluded, by reason."""
    excluded: Counter[str] = Counter()
    plays = []
    for item in items:
        reason = exclusion_reason(item)
        if reason is None:
            plays.append(item)
        else:
            excluded[reason] += 1
    if plays:
        parsed = pd.to_datetime(
            pd.Series([item["played_at"] for item in plays], dtype="string"),
            utc=True,
            format="ISO8601",
            errors="coerce",
        )
        invalid = parsed.isna().to_numpy()
        if invalid.any():
            excluded[NO_PLAYED_AT] += int(invalid.sum())
            plays = [item for item, bad in zip(plays, invalid.tolist(), strict=True) if not bad]
    return plays, excluded
