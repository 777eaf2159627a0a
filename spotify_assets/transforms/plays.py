"""Plays from every source -> one silver row per real play, with history keys converged to Spotify ids.

Sources, best first: the recently-played API (`recently_played`: ids, millisecond `played_at`), the extended
streaming history (`extended_history`: track ids, second precision) and account data (`account_data`: names
only, minute precision). For one day (partition):

1. **Keys converge** (`converge_keys`). A history row of a track that a better source also played that day
   takes that source's description of the track (ids, names, album, artists; the API's first): an extended
   row by its track id, an account-data row by the key derived from its names (first artist, track name).
   Other derived artist and album keys become the id the API gave the same normalized names that day.
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
from typing import Any

import numpy as np
import pandas as pd

from spotify_assets.tables import KEY_MAP, PLAYS, conform, empty_frame
from spotify_assets.transforms.gold import EXPORT_COLUMNS
from spotify_assets.transforms.history_plays import SOURCE_ACCOUNT_DATA, SOURCE_EXTENDED_HISTORY
from spotify_assets.transforms.keys import derived_keys, epoch_millis_array, is_derived
from spotify_assets.transforms.silver import DESCRIPTION_COLUMNS, SOURCE_RECENTLY_PLAYED

SOURCE_RANK = {SOURCE_RECENTLY_PLAYED: 0, SOURCE_EXTENDED_HISTORY: 1, SOURCE_ACCOUNT_DATA: 2}
STOP_PRECISION_MS = {SOURCE_RECENTLY_PLAYED: 0, SOURCE_EXTENDED_HISTORY: 999, SOURCE_ACCOUNT_DATA: 59_999}
MATCH_TOLERANCE_MS = 30_000
_PAIR_COLUMNS = ["extraction_date", "entity", "derived_key", "spotify_id", "played_at", "rank"]
_ID_PAIR_INPUTS = (
    "extraction_date",
    "played_at",
    "source",
    "track_id",
    "track_name",
    "album_id",
    "album_name",
    "artist_ids",
    "artist_names",
    "album_artist_keys",
    "album_artist_names",
)


def _first(values: Any) -> Any:
    return values[0] if isinstance(values, list | tuple | np.ndarray) and len(values) else None


def _ranks(plays: pd.DataFrame) -> np.ndarray:
    return plays["source"].map(SOURCE_RANK).to_numpy(dtype=np.int64)


def id_pairs(plays: pd.DataFrame) -> pd.DataFrame:
    """(day, entity, derived key, Spotify id) for every entity a play names with an id.

    The derived key is the one the same names give an entity without an id: tracks by (first artist, track
    name), albums by (first album artist, or first artist, album name), artists by name.
    """
    if plays.empty:
        return pd.DataFrame(columns=_PAIR_COLUMNS)
    plays = plays[list(_ID_PAIR_INPUTS)]  # rows are taken below: only the columns used
    rank = _ranks(plays)
    parts = []
    with_track = plays["track_id"].notna().to_numpy()
    if with_track.any():
        rows = plays[with_track]
        firsts = [_first(names) for names in rows["artist_names"]]
        keys = derived_keys("track", firsts, rows["track_name"].astype(object).tolist())
        parts.append(_pairs(rows, "track", keys, rows["track_id"], rank[with_track]))
    with_album = plays["album_id"].notna().to_numpy()
    if with_album.any():
        rows = plays[with_album]
        firsts = [
            _first(album_artists) or _first(artists)
            for album_artists, artists in zip(rows["album_artist_names"], rows["artist_names"], strict=True)
        ]
        keys = derived_keys("album", firsts, rows["album_name"].astype(object).tolist())
        parts.append(_pairs(rows, "album", keys, rows["album_id"], rank[with_album]))
    artist_rows, names, ids = [], [], []
    for position, row in enumerate(
        zip(
            plays["artist_ids"],
            plays["artist_names"],
            plays["album_artist_keys"],
            plays["album_artist_names"],
            strict=True,
        )
    ):
        artist_ids, artist_names, album_keys, album_names = (v if isinstance(v, list) else [] for v in row)
        credits = [*zip(artist_ids, artist_names, strict=False), *zip(album_keys, album_names, strict=False)]
        for artist_id, name in credits:
            if artist_id and not is_derived(artist_id) and name is not None:
                artist_rows.append(position)
                names.append(name)
                ids.append(artist_id)
    if artist_rows:
        rows = plays.iloc[artist_rows]
        parts.append(_pairs(rows, "artist", derived_keys("artist", names), ids, rank[artist_rows]))
    if not parts:
        return pd.DataFrame(columns=_PAIR_COLUMNS)
    return pd.concat(parts, ignore_index=True)


def _pairs(rows: pd.DataFrame, entity: str, keys: list[str], ids: Any, rank: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "extraction_date": rows["extraction_date"].to_numpy(),
            "entity": entity,
            "derived_key": keys,
            "spotify_id": np.asarray(ids, dtype=object),
            "played_at": rows["played_at"].to_numpy(),
            "rank": rank,
        }
    )


def _best_pairs(pairs: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """One pair per `by`: the best source, then the most recent play, then the smallest id."""
    ordered = pairs.sort_values(
        [*by, "rank", "played_at", "spotify_id"], ascending=[*([True] * len(by)), True, False, True]
    )
    return ordered.drop_duplicates(by, keep="first")


def converge_keys(plays: pd.DataFrame) -> pd.DataFrame:
    """History rows keyed to the Spotify ids that better sources of the same day give the same entities."""
    if plays.empty or (plays["source"] == SOURCE_RECENTLY_PLAYED).all():
        return plays
    plays = plays.reset_index(drop=True)
    rank = _ranks(plays)
    pairs = id_pairs(plays)
    if pairs.empty:
        return plays
    day = plays["extraction_date"].to_numpy(dtype=object)
    track_key = plays["track_key"].to_numpy(dtype=object)
    track_id = plays["track_id"].to_numpy(dtype=object, na_value=None)

    # Tracks: a derived key some row of the day explains with an id takes that id.
    names = _best_pairs(pairs[pairs["entity"] == "track"], ["extraction_date", "derived_key"])
    by_name = dict(
        zip(
            zip(names["extraction_date"], names["derived_key"], strict=True), names["spotify_id"], strict=True
        )
    )
    resolved = np.array(
        [
            tid if tid is not None else by_name.get((d, key))
            for d, key, tid in zip(day, track_key, track_id, strict=True)
        ],
        dtype=object,
    )
    # The best row of each (day, track id) describes the track for the day's rows of worse sources.
    has_id = pd.notna(resolved)
    with_own_id = plays["track_id"].notna().to_numpy()
    donors = pd.DataFrame(
        {"day": day, "track_id": track_id, "rank": rank, "played_at": plays["played_at"].to_numpy()}
    )[with_own_id]
    donors = donors.sort_values(["day", "track_id", "rank", "played_at"], ascending=[True, True, True, False])
    donors = donors.drop_duplicates(["day", "track_id"], keep="first")
    donor_of = {
        (d, t): (i, r)
        for i, d, t, r in zip(donors.index, donors["day"], donors["track_id"], donors["rank"], strict=True)
    }
    takers: list[int] = []
    givers: list[int] = []
    for position in np.flatnonzero(has_id & (rank > 0)):
        donor = donor_of.get((day[position], resolved[position]))
        if donor is not None and donor[1] < rank[position]:
            takers.append(int(position))
            givers.append(donor[0])
    out = plays.copy()
    if takers:
        for column in DESCRIPTION_COLUMNS:
            values = out[column].copy()
            values.iloc[takers] = plays[column].iloc[givers].to_numpy()
            out[column] = values
        keys = out["track_key"].copy()
        keys.iloc[takers] = out["track_id"].iloc[takers].to_numpy()
        out["track_key"] = keys
    return _converge_artists_and_albums(out, pairs, rank, set(takers))


def _converge_artists_and_albums(
    plays: pd.DataFrame, pairs: pd.DataFrame, rank: np.ndarray, done: set[int]
) -> pd.DataFrame:
    best = _best_pairs(pairs[pairs["entity"] != "track"], ["extraction_date", "entity", "derived_key"])
    if best.empty:
        return plays
    lookup = {
        (d, entity, key): spotify_id
        for d, entity, key, spotify_id in zip(
            best["extraction_date"], best["entity"], best["derived_key"], best["spotify_id"], strict=True
        )
    }
    days_with_ids = set(best["extraction_date"])
    day = plays["extraction_date"].to_numpy(dtype=object)
    positions = [p for p in np.flatnonzero(rank > 0) if p not in done and day[p] in days_with_ids]
    if not positions:
        return plays
    album_keys = plays["album_key"].to_numpy(dtype=object).copy()
    album_ids = plays["album_id"].to_numpy(dtype=object, na_value=None).copy()
    lists = {
        c: plays[c].to_numpy(dtype=object).copy() for c in ("artist_keys", "artist_ids", "album_artist_keys")
    }
    for p in positions:
        album_id = lookup.get((day[p], "album", album_keys[p]))
        if album_id is not None:
            album_keys[p], album_ids[p] = album_id, album_id
        keys = [lookup.get((day[p], "artist", key)) or key for key in lists["artist_keys"][p]]
        if keys != lists["artist_keys"][p]:
            lists["artist_ids"][p] = [None if is_derived(key) else key for key in keys]
            lists["artist_keys"][p] = keys
        album_artists = [lookup.get((day[p], "artist", key)) or key for key in lists["album_artist_keys"][p]]
        lists["album_artist_keys"][p] = album_artists
    out = plays.assign(album_key=album_keys, album_id=album_ids, **lists)
    return conform(out, PLAYS)


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
    ordered = plays.assign(_rank=_ranks(plays)).sort_values(
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


def build_key_map(plays: pd.DataFrame) -> pd.DataFrame:
    """Every derived key the plays also explain with an id: derived_key -> spotify_id (most recent wins)."""
    pairs = id_pairs(plays)
    if pairs.empty:
        return empty_frame(KEY_MAP)
    span = pairs.groupby("derived_key")["played_at"].agg(first_seen_at="min", last_seen_at="max")
    latest = pairs.sort_values(
        ["derived_key", "played_at", "rank", "spotify_id"], ascending=[True, False, True, True]
    )
    latest = latest.drop_duplicates("derived_key").set_index("derived_key")[["entity", "spotify_id"]]
    out = latest.join(span).rename_axis("derived_key").reset_index().sort_values("derived_key", kind="stable")
    return conform(out, KEY_MAP)
