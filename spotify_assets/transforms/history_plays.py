"""Raw export rows -> silver plays (conformed to `tables.PLAYS`), and what is not music, counted.

Extended-history rows carry a track uri (so the track id) and the names of the track, its album and the
album's artist, but no album or artist ids: the track key is the track id, the album and artist keys are
derived from names (`keys.py`), with `master_metadata_album_artist_name` as the one credited artist.
Account-data rows carry names only (minute precision, no ids): every key is derived. Podcast episodes and
audiobook chapters (in the extended Audio files, and the account-data podcast/audiobook files) never become
tracks; rows that name nothing playable are counted as unidentified. Personal fields (`ip_addr`, `username`,
user agents, `offline_timestamp`, ...) stay in raw: only the fields in `export_formats.SCHEMAS` are read.

Duplicates inside one source (the same stop time and the same track; Spotify sometimes logs a play twice,
and account data's minute precision merges quick replays) count once: the longest row is kept.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from spotify_assets.contracts.export_formats import (
    AUDIOBOOK,
    EXTENDED,
    MUSIC,
    PODCAST,
    STORED_KINDS,
    typed_table,
)
from spotify_assets.contracts.table_frames import conform, empty_frame, table_without_nul
from spotify_assets.contracts.tables import PLAYS
from spotify_assets.transforms.keys import derived_key, epoch_millis_array
from spotify_assets.transforms.silver import LOCAL_URI_PREFIX

SOURCE_EXTENDED_HISTORY = "extended_history"
SOURCE_ACCOUNT_DATA = "account_data"
STREAM_THRESHOLD_MS = 30_000  # Spotify counts a play of 30 s or more as a stream
TRACK_URI_PREFIX = "spotify:track:"
_STRINGS = pd.StringDtype()


@dataclass
class HistoryRows:
    """Export rows of any number of days as typed Arrow tables, one per kind, with `extraction_date`."""

    tables: dict[str, pa.Table] = field(default_factory=dict)

    def take_frame(self, kind: str) -> pd.DataFrame:
        """The kind's rows as a frame; the Arrow table is dropped, so its memory can go."""
        table = self.tables.pop(kind, None)
        if table is None or not table.num_rows:
            return pd.DataFrame()
        return table.to_pandas(types_mapper={pa.string(): _STRINGS, pa.int64(): pd.Int64Dtype()}.get)


def read_partitions(payloads: Iterable[tuple[str, Any]]) -> HistoryRows:
    """Typed rows of raw streaming_history partitions (`(day, payload)`; a None payload holds nothing).

    One day's JSON is turned into Arrow at a time, so a long range never holds its rows as Python objects.
    """
    chunks: dict[str, list[pa.Table]] = {kind: [] for kind in STORED_KINDS}
    for day, payload in payloads:
        if payload is None:
            continue
        if not isinstance(payload, dict):
            raise ValueError(f"raw streaming_history partition {day}: expected an object")
        extraction_date = date.fromisoformat(day)
        for kind in STORED_KINDS:
            rows = payload.get(kind) or []
            if not rows:
                continue
            try:
                table = table_without_nul(typed_table(kind, rows))
            except ValueError as error:
                raise ValueError(f"raw streaming_history partition {day}, {kind}: {error}") from error
            dates = pa.array(np.full(len(rows), extraction_date, dtype=object), pa.date32())
            chunks[kind].append(table.append_column("extraction_date", dates))
    return HistoryRows({kind: pa.concat_tables(tables) for kind, tables in chunks.items() if tables})


@dataclass
class HistoryPlays:
    """Silver plays from the exports, and counts of what did not become a play."""

    plays: pd.DataFrame
    counts: dict[str, int]


def _combinations(*columns: pd.Series) -> tuple[np.ndarray, list[tuple[Any, ...]]]:
    """Codes of each row's combination of values, and the distinct combinations (nulls as None).

    Names repeat a lot (a million plays of a few thousand tracks): keys and lists are built once per
    distinct combination and shared, never once per row.
    """
    frame = pd.DataFrame({str(i): column.array for i, column in enumerate(columns)})
    codes = frame.groupby(list(frame.columns), dropna=False, sort=False).ngroup().to_numpy()
    first = frame.drop_duplicates()
    combos = [
        tuple(None if value is pd.NA or value is None else value for value in row)
        for row in first.itertuples(index=False, name=None)
    ]
    return codes, combos


def _shared(values: list[Any], codes: np.ndarray) -> np.ndarray:
    """`values[code]` for each code, as an object array (rows share the objects)."""
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array[codes] if len(codes) else np.array([], dtype=object)


def _name_keyed(
    frame: pd.DataFrame, track_name: pd.Series, artist: pd.Series, album: pd.Series, track_id: pd.Series
) -> pd.DataFrame:
    """Keys and credit lists of rows that name their track, artist and album (ids only for the track)."""
    codes, combos = _combinations(artist, album, track_name)
    artists = [artist_name for artist_name, _, _ in combos]
    artist_keys = [derived_key("artist", artist_name) for artist_name in artists]
    album_keys = [derived_key("album", artist_name, album_name) for artist_name, album_name, _ in combos]
    track_keys = [derived_key("track", artist_name, name) for artist_name, _, name in combos]
    out = pd.DataFrame(
        {
            "played_at": frame["played_at"],
            "extraction_date": frame["extraction_date"],
            "track_key": track_id.fillna(
                pd.Series(_shared(track_keys, codes), index=frame.index, dtype=_STRINGS)
            ),
            "track_id": track_id.array,
            "track_name": track_name.array,
            "album_key": pd.array(_shared(album_keys, codes), dtype=_STRINGS),
            "album_name": album.array,
            "artist_keys": _shared([[key] for key in artist_keys], codes),
            "artist_ids": _shared([[None]], np.zeros(len(frame), dtype=np.int64)),
            "artist_names": _shared([[name] for name in artists], codes),
        },
        index=frame.index,
    )
    out["album_artist_keys"] = out["artist_keys"]
    out["album_artist_names"] = out["artist_names"]
    return out


def _export_columns(frame: pd.DataFrame, ms_played: pd.Series) -> dict[str, Any]:
    ms = ms_played.astype("Int64")
    columns: dict[str, Any] = {"ms_played": ms, "is_stream": (ms >= STREAM_THRESHOLD_MS).astype("boolean")}
    for name in ("reason_start", "reason_end", "shuffle", "skipped", "platform", "conn_country"):
        if name in frame.columns:
            columns[name] = frame[name]
    return columns


def _classify_extended(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    episode = (frame["spotify_episode_uri"].notna() | frame["episode_name"].notna()).to_numpy()
    audiobook = (
        ~episode
        & (
            frame["audiobook_uri"].notna()
            | frame["audiobook_chapter_uri"].notna()
            | frame["audiobook_title"].notna()
        ).to_numpy()
    )
    music = (
        ~episode
        & ~audiobook
        & (frame["spotify_track_uri"].notna() | frame["master_metadata_track_name"].notna()).to_numpy()
    )
    return {
        "music": music,
        "episode": episode,
        "audiobook": audiobook,
        "unknown": ~(music | episode | audiobook),
    }


def flatten_extended(frame: pd.DataFrame, listener_id: str) -> pd.DataFrame:
    """PLAYS rows of extended-history music rows (other rows must be filtered out before)."""
    if frame.empty:
        return empty_frame(PLAYS)
    frame = frame.assign(
        played_at=pd.to_datetime(frame["ts"], utc=True, format="ISO8601").astype("datetime64[ms, UTC]")
    )
    uri = frame["spotify_track_uri"]
    is_track = uri.str.startswith(TRACK_URI_PREFIX).fillna(False).astype(bool)
    track_id = uri.str.slice(len(TRACK_URI_PREFIX)).where(is_track)
    out = _name_keyed(
        frame,
        track_name=frame["master_metadata_track_name"],
        artist=frame["master_metadata_album_artist_name"],
        album=frame["master_metadata_album_album_name"],
        track_id=track_id,
    )
    out = out.assign(
        listener_id=listener_id,
        source=SOURCE_EXTENDED_HISTORY,
        track_uri=uri.array,
        is_local=uri.str.startswith(LOCAL_URI_PREFIX).astype("boolean"),
        **_export_columns(frame, frame["ms_played"]),
    )
    return conform(out, PLAYS)


def flatten_account_music(frame: pd.DataFrame, listener_id: str) -> pd.DataFrame:
    """PLAYS rows of account-data music rows: every key derived from names, no album (its name is null)."""
    if frame.empty:
        return empty_frame(PLAYS)
    frame = frame.assign(
        played_at=pd.to_datetime(frame["endTime"], utc=True, format="%Y-%m-%d %H:%M").astype(
            "datetime64[ms, UTC]"
        )
    )
    nothing = pd.Series(pd.NA, index=frame.index, dtype=_STRINGS)
    out = _name_keyed(
        frame, track_name=frame["trackName"], artist=frame["artistName"], album=nothing, track_id=nothing
    )
    out = out.assign(
        listener_id=listener_id, source=SOURCE_ACCOUNT_DATA, **_export_columns(frame, frame["msPlayed"])
    )
    return conform(out, PLAYS)


def first_of_each_play(plays: pd.DataFrame) -> np.ndarray:
    """Positions of one row per (source, played_at, track_key) -- the longest; ties: the first in raw
    order -- ordered by played_at, track_key and source."""
    if plays.empty:
        return np.array([], dtype=np.int64)
    source = pd.factorize(plays["source"], sort=True)[0]
    track = pd.factorize(plays["track_key"], sort=True)[0]
    millis = epoch_millis_array(plays["played_at"])
    longest_first = -plays["ms_played"].fillna(-1).to_numpy(dtype=np.int64)
    order = np.lexsort((np.arange(len(plays)), longest_first, track, millis, source))
    first = np.ones(len(order), dtype=bool)
    first[1:] = (
        (source[order][1:] != source[order][:-1])
        | (millis[order][1:] != millis[order][:-1])
        | (track[order][1:] != track[order][:-1])
    )
    kept = order[first]
    return kept[np.lexsort((source[kept], track[kept], millis[kept]))]


def history_plays(rows: HistoryRows, listener_id: str) -> HistoryPlays:
    """Silver plays of export rows (any days), deduplicated inside each source, sorted by played_at, track.

    Consumes `rows` (its tables are dropped as they are converted). Counts: `music_rows` (rows that became
    plays before deduplication), `repeated_rows` (dropped as the same stop time and track within a source),
    `podcast_rows`, `audiobook_rows`, `unidentified_rows`.
    """
    counts = dict.fromkeys(
        ("music_rows", "repeated_rows", "podcast_rows", "audiobook_rows", "unidentified_rows"), 0
    )
    counts["podcast_rows"] += rows.tables[PODCAST].num_rows if PODCAST in rows.tables else 0
    counts["audiobook_rows"] += rows.tables[AUDIOBOOK].num_rows if AUDIOBOOK in rows.tables else 0
    frames = []
    extended = rows.take_frame(EXTENDED)
    if not extended.empty:
        kinds = _classify_extended(extended)
        counts["podcast_rows"] += int(kinds["episode"].sum())
        counts["audiobook_rows"] += int(kinds["audiobook"].sum())
        counts["unidentified_rows"] += int(kinds["unknown"].sum())
        music_rows = extended if kinds["music"].all() else extended[kinds["music"]]
        del extended
        frames.append(flatten_extended(music_rows, listener_id))
        del music_rows
    music = rows.take_frame(MUSIC)
    if not music.empty:
        frames.append(flatten_account_music(music, listener_id))
    del music
    frames = [frame for frame in frames if not frame.empty]
    if not frames:
        return HistoryPlays(empty_frame(PLAYS), counts)
    plays = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    del frames
    counts["music_rows"] = len(plays)
    kept = first_of_each_play(plays)
    counts["repeated_rows"] = len(plays) - len(kept)
    return HistoryPlays(plays.take(kept).reset_index(drop=True), counts)
