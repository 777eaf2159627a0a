"""Reconciliation rules, `raw -> silver -> fact`, as pure functions returning a `quality.Outcome`.

Their documented exclusions:

- raw -> silver: every *music* play of a raw recently-played partition is a silver row of the same day with
  the same track uri and played_at (to the millisecond). Not music plays, and so excluded (the rule of
  `transforms.items.play_items`, which silver applies too): items that are not objects, have no valid
  played_at or no track object, and items whose track `type` is not `track` (podcast episodes). When silver
  keeps a data-export row instead of the recently-played row for the same play (deduplication across
  sources), an export row of the same track uri whose played_at is within `EXPORT_MATCH_TOLERANCE` counts as
  the play. Conversely every silver row whose source is `recently_played` must be in raw: silver invents no
  plays. Silver rows from other sources (data exports) are not compared with raw recently-played.
- silver -> fact: exactly the same plays (the same `(listener_id, played_at, track_key)`, of which the fact's
  `play_id` is a hash), no exclusions; compared by the warehouse, which returns counts, not rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from spotify_assets.contracts.text import without_nul
from spotify_assets.quality.rules import SAMPLE_ROWS, Frames, Outcome, sample_table
from spotify_assets.transforms.items import play_items
from spotify_assets.transforms.keys import epoch_millis_array
from spotify_assets.transforms.silver import SOURCE_RECENTLY_PLAYED

if TYPE_CHECKING:
    from spotify_assets.storage.warehouse import KeyComparison

EXPORT_MATCH_TOLERANCE = timedelta(seconds=10)
"""How far an export row's played_at may be from the recently-played item it stands for (exports give the
second the stream stopped; the API's played_at is close to, not exactly, that moment)."""


def _identity(track_uri: Any, track_id: Any, track_name: Any) -> str:
    for value in (track_uri, track_id, track_name):
        if isinstance(value, str) and value:
            return value
    return ""


def raw_play_keys(items: Iterable[Mapping[str, Any]]) -> set[tuple[int, str]]:
    """(played_at in epoch ms, track uri) of the music plays among raw recently-played items."""
    music, _ = play_items(items)
    if not music:
        return set()
    parsed = pd.to_datetime(
        pd.Series([item.get("played_at") for item in music], dtype="string"),
        utc=True,
        format="ISO8601",
    ).astype("datetime64[ms, UTC]")
    millis = epoch_millis_array(parsed).tolist()
    tracks = [item["track"] for item in music]
    # Silver replaced NUL in these before storing them: compare the same text.
    uris = [_identity(*(without_nul(t.get(name)) for name in ("uri", "id", "name"))) for t in tracks]
    return set(zip(millis, uris, strict=True))


SILVER_RAW_COLUMNS = ("played_at", "source", "track_uri", "track_id", "track_name")
"""The silver columns `silver_matches_raw` reads."""


def silver_play_keys(plays: pd.DataFrame) -> pd.DataFrame:
    """Silver rows as (millis, uri, source): the same identity as `raw_play_keys`."""
    if plays.empty:
        return pd.DataFrame({"millis": [], "uri": [], "source": []})
    # `_identity` over whole columns: the first non-empty string of uri, id, name ("" when none is)
    uris = np.full(len(plays), "", dtype=object)
    for name in ("track_name", "track_id", "track_uri"):  # the best last, so it wins
        column = plays[name]
        values = column.to_numpy(dtype=object, na_value=None)
        if isinstance(column.dtype, pd.StringDtype):  # silver's text columns: str or null
            usable = column.fillna("").ne("").to_numpy(dtype=bool)
        else:
            usable = np.fromiter((isinstance(v, str) and v != "" for v in values), bool, len(values))
        uris[usable] = values[usable]
    return pd.DataFrame(
        {"millis": epoch_millis_array(plays["played_at"]), "uri": uris, "source": plays["source"].to_numpy()}
    )


def _matched_by_exports(
    unmatched: set[tuple[int, str]], exports: pd.DataFrame, tolerance: timedelta
) -> set[tuple[int, str]]:
    if not unmatched or exports.empty:
        return set()
    window = tolerance // timedelta(milliseconds=1)
    by_uri = {uri: np.sort(group["millis"].to_numpy()) for uri, group in exports.groupby("uri")}
    matched = set()
    for millis, uri in unmatched:
        times = by_uri.get(uri)
        if times is not None:
            position = np.searchsorted(times, millis - window)
            if position < len(times) and times[position] <= millis + window:
                matched.add((millis, uri))
    return matched


def silver_matches_raw(
    raw: Mapping[str, Iterable[Mapping[str, Any]] | None],
    silver: Frames,
    tolerance: timedelta = EXPORT_MATCH_TOLERANCE,
) -> Outcome:
    """Raw recently-played music plays of each day = that day's silver plays (see the module's exclusions).

    `raw` maps a partition key to its raw items (None when the raw partition does not exist).
    """
    missing_total, extra_total, matched_by_export = 0, 0, 0
    examples = []
    per_day = {}
    for partition_key in sorted(set(raw) | set(silver)):
        items = raw.get(partition_key) or []
        day_rows = silver.get(partition_key, pd.DataFrame())
        if not items and not (len(day_rows) and (day_rows["source"] == SOURCE_RECENTLY_PLAYED).any()):
            # No raw plays and no silver row from the API (an imported day): nothing to compare.
            per_day[partition_key] = {"raw_music_plays": 0, "silver_rows": len(day_rows)}
            continue
        raw_keys = raw_play_keys(items)
        rows = silver_play_keys(day_rows)
        from_api = rows[rows["source"] == SOURCE_RECENTLY_PLAYED]
        api_keys = set(zip(from_api["millis"].tolist(), from_api["uri"].tolist(), strict=True))
        unmatched = raw_keys - api_keys
        by_export = _matched_by_exports(unmatched, rows[rows["source"] != SOURCE_RECENTLY_PLAYED], tolerance)
        missing, extra = unmatched - by_export, api_keys - raw_keys
        missing_total += len(missing)
        extra_total += len(extra)
        matched_by_export += len(by_export)
        per_day[partition_key] = {"raw_music_plays": len(raw_keys), "silver_rows": len(rows)}
        examples += [(partition_key, "in raw, not in silver", *key) for key in sorted(missing)[:SAMPLE_ROWS]]
        examples += [(partition_key, "in silver, not in raw", *key) for key in sorted(extra)[:SAMPLE_ROWS]]
    raw_plays = sum(day["raw_music_plays"] for day in per_day.values())
    silver_rows = sum(day["silver_rows"] for day in per_day.values())
    metadata: dict[str, Any] = {
        "raw_music_plays": raw_plays,
        "silver_rows": silver_rows,
        "missing_from_silver": missing_total,
        "not_in_raw": extra_total,
        "matched_by_export_rows": matched_by_export,
    }
    if not missing_total and not extra_total:
        return Outcome(True, f"{raw_plays} raw plays are all in silver ({silver_rows} rows)", metadata)
    frame = pd.DataFrame(examples, columns=["partition", "problem", "played_at_ms", "track_uri"])
    metadata["examples"] = sample_table(frame, rows=2 * SAMPLE_ROWS)
    return Outcome(
        False,
        f"{missing_total} raw plays missing from silver, "
        f"{extra_total} recently-played silver rows not in raw",
        metadata,
    )


SILVER_FACT_KEY = ("listener_id", "played_at", "track_key")
"""A play's identity in silver and in the fact (the fact's play_id is a hash of it): what the two are
compared on, in the warehouse."""


def fact_matches_silver(plays: KeyComparison) -> Outcome:
    """The fact holds exactly the silver plays: `plays` compares silver's rows (left) with the fact's (right)
    on `SILVER_FACT_KEY`; every silver play is in the fact once, and the fact holds no other row."""
    metadata: dict[str, Any] = {
        "silver_rows": plays.left_rows,
        "fact_rows": plays.right_rows,
        "missing_from_fact": plays.only_left,
        "not_in_silver": plays.only_right,
    }
    if not plays.only_left and not plays.only_right and plays.left_rows == plays.right_rows:
        return Outcome(True, f"silver and fact hold the same {plays.right_rows} plays", metadata)
    return Outcome(
        False,
        f"silver has {plays.left_rows} rows and the fact {plays.right_rows}: "
        f"{plays.only_left} plays missing from the fact, {plays.only_right} fact rows not in silver",
        metadata,
    )
