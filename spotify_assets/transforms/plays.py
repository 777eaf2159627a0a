"""Plays from every source -> one silver row per real play, with history keys converged to Spotify ids.

Sources, best first: the recently-played API (`recently_played`: ids, millisecond `played_at`), the extended
streaming history (`extended_history`: track ids, second precision) and account data (`account_data`: names
only, minute precision). For one day (partition):

1. **Keys converge** (`transforms.key_convergence`): a history row takes the Spotify ids that a better
   source of the same day gives the same track, album or artists.
2. **One row per real play** (`one_row_per_play`). Each row stands for a stop time somewhere in
   `[played_at, played_at + precision]` (0 ms for the API, 999 ms for extended history, 59,999 ms for
   account data). Rows of the same track from two sources whose intervals lie within `MATCH_TOLERANCE_MS`
   (30 s) are one play: extended and account-data rows pair first (the extended row stays), then the API's
   rows pair with what is left (the API row stays: its ids and `played_at`). Pairs are one-to-one, closest
   first. The row that stays fills its empty `ms_played`, `reason_*`, `shuffle`, `skipped`, `platform`,
   `conn_country` and `is_stream` from its partner.

Across days, `build_key_map` records every derived key that a play with ids also explains, so BI can join
rows keyed by names to the Spotify entity (`gold.key_map`). Plays are never matched across midnight: the two
sources of a play that ends within 30 s of midnight may fall on two days and then stay two rows.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from spotify_assets.contracts.export_kinds import EXPORT_COLUMNS
from spotify_assets.contracts.table_frames import conform, empty_frame
from spotify_assets.contracts.tables import KEY_MAP, PLAYS
from spotify_assets.transforms.history_plays import SOURCE_ACCOUNT_DATA, SOURCE_EXTENDED_HISTORY
from spotify_assets.transforms.key_convergence import converge_keys, id_pairs, source_ranks
from spotify_assets.transforms.keys import epoch_millis_array
from spotify_assets.transforms.silver import SOURCE_RECENTLY_PLAYED

STOP_PRECISION_MS = {SOURCE_RECENTLY_PLAYED: 0, SOURCE_EXTENDED_HISTORY: 999, SOURCE_ACCOUNT_DATA: 59_999}
MATCH_TOLERANCE_MS = 30_000


def _absorb(
    plays: pd.DataFrame, keep: set[str], absorb: set[str], tolerance_ms: int
) -> tuple[pd.DataFrame, int]:
    """Pair rows of `keep` sources with rows of `absorb` sources (same day and track, within tolerance)."""
    source = plays["source"].to_numpy(dtype=object)
    left = np.flatnonzero(np.isin(source, list(keep)))
    right = np.flatnonzero(np.isin(source, list(absorb)))
    if not len(left) or not len(right):
        return plays, 0
    start = epoch_millis_array(plays["played_at"])
    end = start + plays["source"].map(STOP_PRECISION_MS).to_numpy(dtype=np.int64)
    columns = {
        "day": plays["extraction_date"].to_numpy(dtype=object),
        "track": plays["track_key"].to_numpy(dtype=object),
    }
    sides = [
        pd.DataFrame({"row": rows, **{k: v[rows] for k, v in columns.items()}}) for rows in (left, right)
    ]
    candidates = sides[0].merge(sides[1], on=["day", "track"], suffixes=("_keep", "_drop"))
    if candidates.empty:
        return plays, 0
    kept, dropped = candidates["row_keep"].to_numpy(), candidates["row_drop"].to_numpy()
    gap = np.maximum.reduce(
        [np.zeros(len(kept), dtype=np.int64), start[kept] - end[dropped], start[dropped] - end[kept]]
    )
    close = gap <= tolerance_ms
    kept, dropped, gap = kept[close], dropped[close], gap[close]
    pairs: list[tuple[int, int]] = []
    used_keep: set[int] = set()
    used_drop: set[int] = set()
    for index in np.lexsort((dropped, kept, start[dropped], start[kept], gap)).tolist():
        k, d = int(kept[index]), int(dropped[index])
        if k not in used_keep and d not in used_drop:
            used_keep.add(k)
            used_drop.add(d)
            pairs.append((k, d))
    if not pairs:
        return plays, 0
    takers, givers = (list(side) for side in zip(*pairs, strict=True))
    out = plays.copy()
    for column in EXPORT_COLUMNS:
        values = out[column].copy()
        current = values.iloc[takers].reset_index(drop=True)
        values.iloc[takers] = current.fillna(plays[column].iloc[givers].reset_index(drop=True)).to_numpy()
        out[column] = values
    out = out.drop(index=out.index[givers])
    return out.reset_index(drop=True), len(pairs)


def one_row_per_play(plays: pd.DataFrame, tolerance_ms: int = MATCH_TOLERANCE_MS) -> tuple[pd.DataFrame, int]:
    """Plays of any sources and days, keys converged and each real play once; returns (plays, rows merged).

    Rows must already be unique per (source, played_at, track_key). The result is conformed to PLAYS and
    sorted by played_at and track_key.
    """
    if plays.empty:
        return empty_frame(PLAYS), 0
    if plays["source"].nunique() == 1:  # nothing to converge to, nothing to pair with
        return conform(plays.sort_values(["played_at", "track_key"], kind="stable"), PLAYS), 0
    plays = converge_keys(plays.reset_index(drop=True))
    plays, merged_history = _absorb(plays, {SOURCE_EXTENDED_HISTORY}, {SOURCE_ACCOUNT_DATA}, tolerance_ms)
    plays, merged_api = _absorb(
        plays, {SOURCE_RECENTLY_PLAYED}, {SOURCE_EXTENDED_HISTORY, SOURCE_ACCOUNT_DATA}, tolerance_ms
    )
    ordered = plays.assign(_rank=source_ranks(plays)).sort_values(
        ["listener_id", "played_at", "track_key", "_rank"], kind="stable"
    )
    # A pair that one-to-one matching left apart but that shares the primary key is still one play.
    unique = ordered[~ordered.duplicated(["listener_id", "played_at", "track_key"])].drop(columns="_rank")
    merged = merged_history + merged_api + len(ordered) - len(unique)
    return conform(unique.sort_values(["played_at", "track_key"], kind="stable"), PLAYS), merged


def combine_days(
    recent: Mapping[str, pd.DataFrame], history: pd.DataFrame, tolerance_ms: int = MATCH_TOLERANCE_MS
) -> tuple[dict[str, pd.DataFrame], int]:
    """Each day's silver plays: its recently-played rows and its history rows, one row per real play.

    `recent` maps every day of the run to its recently-played rows; `history` holds history rows of any of
    those days. Days without history rows keep their recently-played frame as it is.
    """
    if history.empty:
        return dict(recent), 0
    history_days = set(history["extraction_date"])
    unknown = history_days - {pd.Timestamp(day).date() for day in recent}
    if unknown:
        raise ValueError(f"history rows for days outside the run: {sorted(unknown)[:5]}")
    parts = [
        frame for day, frame in recent.items() if pd.Timestamp(day).date() in history_days and len(frame)
    ]
    if not parts and history["source"].nunique() == 1 and history["played_at"].is_monotonic_increasing:
        combined, merged = history.reset_index(drop=True), 0  # one source: already one row per play
    else:
        combined, merged = one_row_per_play(pd.concat([*parts, history], ignore_index=True), tolerance_ms)
    # Sorted by played_at, so each day's rows are contiguous: a day is a slice (no copy, no re-conform).
    codes, days = pd.factorize(combined["extraction_date"].to_numpy(dtype=object))
    if (np.diff(codes) < 0).any():
        raise AssertionError("plays are not ordered by day")
    starts = np.searchsorted(codes, np.arange(len(days) + 1))
    slices = {day: (starts[code], starts[code + 1]) for code, day in enumerate(days)}
    out = {}
    for day, frame in recent.items():
        bounds = slices.get(pd.Timestamp(day).date())
        out[day] = frame if bounds is None else combined.iloc[bounds[0] : bounds[1]].reset_index(drop=True)
    return out, merged


DAY = "_day"
"""The last column of a gold builder's rows with `by_day=True`: each row's day (see `transforms.gold`)."""


def build_key_map(plays: pd.DataFrame, by_day: bool = False) -> pd.DataFrame:
    """Every derived key the plays also explain with an id: derived_key -> spotify_id (most recent wins).

    `by_day`: each day's pairs apart, the day of each row in a last column `DAY`.
    """
    pairs = id_pairs(plays)
    if pairs.empty:
        out = empty_frame(KEY_MAP)
        return out.assign(**{DAY: np.array([], dtype=object)}) if by_day else out
    keys = ["extraction_date", "derived_key"] if by_day else ["derived_key"]
    span = pairs.groupby(keys)["played_at"].agg(first_seen_at="min", last_seen_at="max")
    latest = pairs.sort_values(
        [*keys, "played_at", "rank", "spotify_id"], ascending=[*(True for _ in keys), False, True, True]
    )
    latest = latest.drop_duplicates(keys).set_index(keys)[["entity", "spotify_id"]]
    out = latest.join(span).reset_index().sort_values(keys, kind="stable")
    rows = conform(out, KEY_MAP)
    return rows.assign(**{DAY: out["extraction_date"].to_numpy(dtype=object)}) if by_day else rows
