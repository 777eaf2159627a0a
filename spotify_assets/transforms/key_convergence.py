"""Keys converge: history rows of a day take the Spotify ids that better sources of that day give the same
entities (step 1 of `transforms.plays`).

A history row of a track that a better source also played that day takes that source's description of the
track (ids, names, album, artists; the API's first): an extended row by its track id, an account-data row by
the key derived from its names (first artist, track name). Other derived artist and album keys become the id
the API gave the same normalized names that day. `id_pairs` lists what the plays tell about which derived key
is which Spotify id; `transforms.plays.build_key_map` keeps those pairs across days.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from spotify_assets.contracts.table_frames import conform
from spotify_assets.contracts.tables import PLAYS
from spotify_assets.transforms.gold_inputs import ID_PAIR_INPUTS
from spotify_assets.transforms.history_plays import SOURCE_ACCOUNT_DATA, SOURCE_EXTENDED_HISTORY
from spotify_assets.transforms.keys import derived_key, is_derived
from spotify_assets.transforms.silver import DESCRIPTION_COLUMNS, SOURCE_RECENTLY_PLAYED

SOURCE_RANK = {SOURCE_RECENTLY_PLAYED: 0, SOURCE_EXTENDED_HISTORY: 1, SOURCE_ACCOUNT_DATA: 2}
"""Sources, best first."""
_PAIR_COLUMNS = ["extraction_date", "entity", "derived_key", "spotify_id", "played_at", "rank"]


def _first(values: Any) -> Any:
    return values[0] if isinstance(values, list | tuple | np.ndarray) and len(values) else None


def source_ranks(plays: pd.DataFrame) -> np.ndarray:
    """Each row's `SOURCE_RANK` (0: the best source)."""
    return plays["source"].map(SOURCE_RANK).to_numpy(dtype=np.int64)


def _distinct_objects(values: pd.Series) -> tuple[np.ndarray, list[Any]]:
    """Codes of each row's object (lists included, by identity) and the distinct objects.

    Silver's list columns share one list object among the rows that hold the same list (a track's artists),
    so work done per distinct object is done a few thousand times for a million rows, not a million times.
    """
    array = values.to_numpy(dtype=object)
    identities = np.fromiter(map(id, array), dtype=np.int64, count=len(array))
    _, first, codes = np.unique(identities, return_index=True, return_inverse=True)
    return codes.reshape(-1), array[first].tolist()


def _object_array(values: list[Any]) -> np.ndarray:
    """`values` as a 1-d object array, whatever they hold (np.array would nest sequences)."""
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


def _combination_codes(*codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes of each row's combination of per-column codes (each 0..n-1), and each combination's first row."""
    combined = codes[0]
    for more in codes[1:]:
        combined = np.unique(combined * (int(more.max()) + 1) + more, return_inverse=True)[1].reshape(-1)
    _, first = np.unique(combined, return_index=True)
    return combined, first


def _derived_by_combination(kind: str, firsts: np.ndarray, names: pd.Series) -> np.ndarray:
    """`derived_key(kind, first, name)` of each row's (first, name), hashed once per distinct pair."""
    first_codes = pd.factorize(firsts, use_na_sentinel=False)[0]
    name_values = names.to_numpy(dtype=object, na_value=None)
    name_codes = pd.factorize(name_values, use_na_sentinel=False)[0]
    combined, first_rows = _combination_codes(first_codes, name_codes)
    keys = [derived_key(kind, firsts[row], name_values[row]) for row in first_rows.tolist()]
    return _object_array(keys)[combined]


def _firsts(lists: pd.Series, fallback: pd.Series | None = None) -> np.ndarray:
    """Each row's first element of its list (`_first`), or, where that is falsy, of its `fallback` list."""
    distinct = [_distinct_objects(column) for column in (lists, fallback) if column is not None]
    combined, first_rows = _combination_codes(*(codes for codes, _ in distinct))
    values = []
    for row in first_rows.tolist():
        value = _first(distinct[0][1][distinct[0][0][row]])
        if fallback is not None:
            value = value or _first(distinct[1][1][distinct[1][0][row]])
        values.append(value)
    return _object_array(values)[combined]


def id_pairs(plays: pd.DataFrame) -> pd.DataFrame:
    """(day, entity, derived key, Spotify id) for every entity a play names with an id.

    The derived key is the one the same names give an entity without an id: tracks by (first artist, track
    name), albums by (first album artist, or first artist, album name), artists by name. Keys and credits
    are worked out once per distinct combination of names and credit lists, then spread over the rows.
    """
    if plays.empty:
        return pd.DataFrame(columns=_PAIR_COLUMNS)
    plays = plays[list(ID_PAIR_INPUTS)]  # rows are taken below: only the columns used
    rank = source_ranks(plays)
    parts = []
    with_track = plays["track_id"].notna().to_numpy()
    if with_track.any():
        rows = plays[with_track]
        keys = _derived_by_combination("track", _firsts(rows["artist_names"]), rows["track_name"])
        parts.append(_pairs(rows, "track", keys, rows["track_id"], rank[with_track]))
    with_album = plays["album_id"].notna().to_numpy()
    if with_album.any():
        rows = plays[with_album]
        firsts = _firsts(rows["album_artist_names"], rows["artist_names"])
        keys = _derived_by_combination("album", firsts, rows["album_name"])
        parts.append(_pairs(rows, "album", keys, rows["album_id"], rank[with_album]))
    artist_part = _artist_pairs(plays, rank)
    if artist_part is not None:
        parts.append(artist_part)
    if not parts:
        return pd.DataFrame(columns=_PAIR_COLUMNS)
    return pd.concat(parts, ignore_index=True)


_CREDIT_LISTS = ("artist_ids", "artist_names", "album_artist_keys", "album_artist_names")


def _credits(artist_ids: Any, artist_names: Any, album_keys: Any, album_names: Any) -> list[tuple[str, str]]:
    """(Spotify id, name) of a play's credits that carry an id: its artists, then its album's artists."""
    lists = [v if isinstance(v, list) else [] for v in (artist_ids, artist_names, album_keys, album_names)]
    credits = [*zip(lists[0], lists[1], strict=False), *zip(lists[2], lists[3], strict=False)]
    return [
        (artist_id, name)
        for artist_id, name in credits
        if artist_id and not is_derived(artist_id) and name is not None
    ]


def _artist_pairs(plays: pd.DataFrame, rank: np.ndarray) -> pd.DataFrame | None:
    """The artist pairs of every play, in row order and credit order within a row."""
    distinct = [_distinct_objects(plays[column]) for column in _CREDIT_LISTS]
    combined, first_rows = _combination_codes(*(codes for codes, _ in distinct))
    per_combination = [
        _credits(*(values[codes[row]] for codes, values in distinct)) for row in first_rows.tolist()
    ]
    counts = np.array([len(credits) for credits in per_combination], dtype=np.int64)
    row_counts = counts[combined]
    total = int(row_counts.sum())
    if not total:
        return None
    flat = [credit for credits in per_combination for credit in credits]
    starts = np.cumsum(counts) - counts
    row_starts = np.repeat(np.cumsum(row_counts) - row_counts, row_counts)
    taken = np.repeat(starts[combined], row_counts) + (np.arange(total) - row_starts)
    artist_rows = np.repeat(np.arange(len(plays)), row_counts)
    ids = _object_array([artist_id for artist_id, _ in flat])[taken]
    names = _object_array([name for _, name in flat])[taken]
    name_codes, name_values = pd.factorize(names, use_na_sentinel=False)
    keys = _object_array([derived_key("artist", name) for name in name_values])[name_codes]
    return _pairs(plays.iloc[artist_rows], "artist", keys, ids, rank[artist_rows])


def _pairs(rows: pd.DataFrame, entity: str, keys: np.ndarray, ids: Any, rank: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "extraction_date": rows["extraction_date"].to_numpy(),
            "entity": entity,
            "derived_key": keys,
            "spotify_id": np.asarray(ids, dtype=object),
            "played_at": rows["played_at"].array,  # kept typed: as numpy it would be Timestamp objects
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
    rank = source_ranks(plays)
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
