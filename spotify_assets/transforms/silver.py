"""Raw recently-played items -> silver plays (one typed row per play, conformed to `tables.PLAYS`)."""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa

from spotify_assets.contracts.table_frames import conform, empty_frame
from spotify_assets.contracts.tables import PANDAS_DTYPES, PLAYS
from spotify_assets.contracts.text import without_nul
from spotify_assets.transforms.keys import derived_key, epoch_millis_array

SOURCE_RECENTLY_PLAYED = "recently_played"
LOCAL_URI_PREFIX = "spotify:local:"

DESCRIPTION_COLUMNS = (
    "track_id",
    "track_uri",
    "track_name",
    "duration_ms",
    "explicit",
    "track_number",
    "disc_number",
    "isrc",
    "is_local",
    "album_key",
    "album_id",
    "album_name",
    "album_type",
    "album_release_date",
    "album_release_date_precision",
    "album_total_tracks",
    "album_image_url",
    "artist_keys",
    "artist_ids",
    "artist_names",
    "album_artist_keys",
    "album_artist_names",
)
"""The PLAYS columns that describe the played track (and its album and artists), as an API item gives them."""

# Order of the values `_flatten_item` returns; every other PLAYS column is null for API rows.
_ITEM_COLUMNS = ("played_at", "track_key", *DESCRIPTION_COLUMNS, "context_type", "context_uri")


class _KeyCache:
    """Derived keys of one flatten call, each hashed once."""

    def __init__(self) -> None:
        self._keys: dict[tuple[str | None, ...], str] = {}

    def get(self, kind: str, *names: str | None) -> str:
        lookup = (kind, *names)
        key = self._keys.get(lookup)
        if key is None:
            key = self._keys[lookup] = derived_key(kind, *names)
        return key


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC: millions of new acyclic lists would otherwise trigger full collections."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _largest_image_url(images: list[dict[str, Any]] | None) -> str | None:
    best_url, best_area = None, -1
    for image in images or ():
        area = (image.get("width") or 0) * (image.get("height") or 0)
        if area > best_area:
            best_url, best_area = image.get("url"), area
    return best_url


def _artists(
    artists: list[dict[str, Any]] | None, keys: _KeyCache
) -> tuple[list[str], list[str | None], list[str | None]]:
    artist_keys, artist_ids, artist_names = [], [], []
    for artist in artists or ():
        artist_id, name = without_nul(artist.get("id")), without_nul(artist.get("name"))
        artist_keys.append(artist_id or keys.get("artist", name))
        artist_ids.append(artist_id)
        artist_names.append(name)
    return artist_keys, artist_ids, artist_names


def _flatten_item(index: int, item: dict[str, Any], keys: _KeyCache) -> tuple[Any, ...]:
    if not isinstance(item, dict):
        raise ValueError(f"recently-played item {index}: not an object but {type(item).__name__}")
    played_at = item.get("played_at")
    if not played_at:
        raise ValueError(f"recently-played item {index}: missing 'played_at'")
    track = item.get("track")
    if not track:
        raise ValueError(f"recently-played item {index}: missing 'track'")
    album = track.get("album") or {}
    context = item.get("context") or {}

    artist_keys, artist_ids, artist_names = _artists(track.get("artists"), keys)
    album_artist_keys, _, album_artist_names = _artists(album.get("artists"), keys)
    first_artist = artist_names[0] if artist_names else None
    # Local files credit no album artist; the track's artist stands in, as in the data exports.
    first_album_artist = album_artist_names[0] if album_artist_names else first_artist

    # NUL becomes U+FFFD before keys are derived (PostgreSQL text cannot hold it; see `text.py`).
    track_id, track_name = without_nul(track.get("id")), without_nul(track.get("name"))
    album_id, album_name = without_nul(album.get("id")), without_nul(album.get("name"))
    uri = without_nul(track.get("uri"))
    is_local = track.get("is_local")
    if not isinstance(is_local, bool) and uri:
        is_local = uri.startswith(LOCAL_URI_PREFIX)
    row = (
        played_at,
        track_id or keys.get("track", first_artist, track_name),
        track_id,
        uri,
        track_name,
        track.get("duration_ms"),
        track.get("explicit"),
        track.get("track_number"),
        track.get("disc_number"),
        (track.get("external_ids") or {}).get("isrc"),
        is_local,
        album_id or keys.get("album", first_album_artist, album_name),
        album_id,
        album_name,
        album.get("album_type"),
        album.get("release_date"),
        album.get("release_date_precision"),
        album.get("total_tracks"),
        _largest_image_url(album.get("images")),
        artist_keys,
        artist_ids,
        artist_names,
        album_artist_keys,
        album_artist_names,
        context.get("type"),
        context.get("uri"),
    )
    return tuple(without_nul(value) for value in row)


def _parse_played_at(values: Sequence[str]) -> pd.Series:
    parsed = pd.to_datetime(pd.Series(values, dtype="string"), utc=True, format="ISO8601", errors="coerce")
    invalid = parsed.isna().to_numpy()
    if invalid.any():
        index = int(np.flatnonzero(invalid)[0])
        raise ValueError(f"recently-played item {index}: invalid 'played_at' {values[index]!r}")
    return parsed.astype("datetime64[ms, UTC]")


def local_dates(played_at: pd.Series, timezone: str) -> pd.Series:
    """Each instant's calendar date in `timezone` (IANA name), as `datetime.date` objects."""
    ZoneInfo(timezone)  # rejects an unknown name with a clear error
    days = played_at.dt.tz_convert(timezone).dt.tz_localize(None).dt.normalize()
    codes, uniques = pd.factorize(days)
    dates = np.array([day.date() for day in uniques], dtype=object)
    return pd.Series(dates[codes], index=played_at.index, dtype=object)


def _typed(values: Sequence[Any], pg_type: str) -> Any:
    dtype = PANDAS_DTYPES[pg_type]
    if dtype == "object":
        return np.fromiter(values, dtype=object, count=len(values))
    if pg_type == "text":
        return pd.array(pa.array(values, type=pa.large_string()), dtype=dtype)  # twice as fast via Arrow
    return pd.array(values, dtype=dtype)


def _primary_key_order(played_at: pd.Series, track_keys: Sequence[str]) -> np.ndarray:
    """Positions sorted by (played_at, track_key), keeping only the first of each key (one listener)."""
    millis = epoch_millis_array(played_at)
    tracks = pd.factorize(np.fromiter(track_keys, dtype=object, count=len(track_keys)), sort=True)[0]
    order = np.lexsort((tracks, millis))
    millis, tracks = millis[order], tracks[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = (millis[1:] != millis[:-1]) | (tracks[1:] != tracks[:-1])
    return order[first]


def flatten_recently_played(items: list[dict[str, Any]], listener_id: str, timezone: str) -> pd.DataFrame:
    """One PLAYS row per recently-played item: keyed, typed, deduplicated, sorted by played_at and track."""
    if not items:
        return empty_frame(PLAYS)
    ZoneInfo(timezone)
    keys = _KeyCache()
    with _gc_paused():
        rows = [_flatten_item(index, item, keys) for index, item in enumerate(items)]
        played_at = _parse_played_at([row[0] for row in rows])
        # Sorting and deduplicating the row tuples is far cheaper than doing it to the typed frame.
        order = _primary_key_order(played_at, [row[1] for row in rows])
        played_at = played_at.take(order).reset_index(drop=True)
        rows = [rows[i] for i in order.tolist()]
        columns = dict(zip(_ITEM_COLUMNS[1:], list(zip(*rows, strict=True))[1:], strict=True))
        del rows
        frame = pd.DataFrame(
            {name: _typed(values, PLAYS.column(name).pg_type) for name, values in columns.items()}
        )
        frame["played_at"] = played_at
        frame["listener_id"] = listener_id
        frame["source"] = SOURCE_RECENTLY_PLAYED
        frame["extraction_date"] = local_dates(played_at, timezone)
        return conform(frame, PLAYS)
