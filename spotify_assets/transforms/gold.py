"""Silver plays -> the gold star schema: dimensions, the track-artist bridge, dim_date and the fact; and
`GOLD_BUILDERS`, the builder of each gold table of the registry (`contracts.tables`) that its asset calls.

Every builder takes a frame conformed to `tables.PLAYS` (any number of days, any row order) and returns a
frame conformed to its table with unique primary keys, sorted by that key (the fact keeps the plays' order).
Descriptive attributes come from the most recent play naming the entity; ties on played_at are broken by
listener and track key, so the result never depends on row order.

A range run builds a batch of days at once: `build_days` gives each day the rows the builder gives that
day's plays alone, from one call over the batch (`by_day=True`: the builders group by day as well as by key,
and return the day of each row in a last column `DAY`), instead of a call per day whose fixed cost in pandas
was most of a small day's.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa

from spotify_assets.contracts.export_kinds import EXPORT_COLUMNS
from spotify_assets.contracts.table_frames import DayFrames, conform, empty_frame
from spotify_assets.contracts.tables import (
    BRIDGE_TRACK_ARTIST,
    DIM_ALBUM,
    DIM_ARTIST,
    DIM_DATE,
    DIM_TRACK,
    FACT_RECENTLY_PLAYED,
    KEY_MAP,
    TableSpec,
)
from spotify_assets.transforms.gold_inputs import ALBUM_ATTRIBUTES, TRACK_ATTRIBUTES
from spotify_assets.transforms.keys import DERIVED_PREFIX, epoch_millis_array, play_ids
from spotify_assets.transforms.plays import DAY, build_key_map

PLAYS_DAY = "extraction_date"

MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def _lists(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """A list column as an object array with nulls as empty lists, and each entry's length."""
    array = values.to_numpy(dtype=object)
    try:
        counts = np.fromiter(map(len, array), dtype=np.int64, count=len(array))
    except TypeError:  # some entries are null
        array = np.fromiter(
            (v if isinstance(v, list | tuple | np.ndarray) else [] for v in array),
            dtype=object,
            count=len(array),
        )
        counts = np.fromiter(map(len, array), dtype=np.int64, count=len(array))
    return array, counts


def _first_items(values: pd.Series) -> list[str | None]:
    array, counts = _lists(values)
    return [v[0] if n else None for v, n in zip(array, counts.tolist(), strict=True)]


def _strings(values: list) -> pd.api.extensions.ExtensionArray:
    return pd.array(pa.array(values, type=pa.large_string()), dtype="string")


def _recency_order(plays: pd.DataFrame) -> np.ndarray:
    """Row positions of the plays oldest first; ties on played_at broken by listener, then track key."""
    listeners = pd.factorize(plays["listener_id"], sort=True)[0]
    tracks = pd.factorize(plays["track_key"], sort=True)[0]
    return np.lexsort((tracks, listeners, epoch_millis_array(plays["played_at"])))


def _latest(plays: pd.DataFrame, key: str, columns: Sequence[str], by_day: bool = False) -> pd.DataFrame:
    """`columns` of the most recent play of each `key` (of each day and key, `by_day`), indexed by it."""
    order = _recency_order(plays)
    keys = [PLAYS_DAY, key] if by_day else key
    newest = ~plays[keys].take(order).duplicated(keep="last").to_numpy()
    # Only the columns used: taking all of silver's columns was most of a small day's cost.
    return plays[[*([PLAYS_DAY] if by_day else []), key, *columns]].iloc[order[newest]].set_index(keys)


def _play_span(plays: pd.DataFrame, key: str, by_day: bool = False) -> pd.DataFrame:
    keys = [PLAYS_DAY, key] if by_day else key
    grouped = plays[[*([PLAYS_DAY] if by_day else []), key, "played_at"]].groupby(keys, sort=False)
    return grouped["played_at"].agg(first_played_at="min", last_played_at="max")


def _finish(frame: pd.DataFrame, key: str, spec: TableSpec, by_day: bool = False) -> pd.DataFrame:
    if not by_day:
        return conform(frame.rename_axis(key).reset_index().sort_values(key, kind="stable"), spec)
    frame = frame.rename_axis([DAY, key]).reset_index().sort_values([DAY, key], kind="stable")
    return _with_days(conform(frame, spec), frame[DAY])


def _with_days(rows: pd.DataFrame, days: pd.Series | np.ndarray) -> pd.DataFrame:
    """`rows` (conformed) with the day of each row as the last column, `DAY`."""
    return rows.assign(**{DAY: np.asarray(days, dtype=object)})


def _empty(spec: TableSpec, by_day: bool) -> pd.DataFrame:
    return _with_days(empty_frame(spec), []) if by_day else empty_frame(spec)


class _Credits(NamedTuple):
    """Artist credits of plays, flattened: one entry per credited artist."""

    keys: np.ndarray
    names: np.ndarray
    positions: np.ndarray  # 0-based credit order within the play
    rows: np.ndarray  # row of the play in the exploded frame


def _explode_credits(plays: pd.DataFrame, keys_column: str, names_column: str) -> _Credits:
    (keys, counts), (names, _) = _lists(plays[keys_column]), _lists(plays[names_column])
    total = int(counts.sum())
    rows = np.repeat(np.arange(len(keys)), counts)
    return _Credits(
        keys=np.fromiter(itertools.chain.from_iterable(keys), dtype=object, count=total),
        names=np.fromiter(itertools.chain.from_iterable(names), dtype=object, count=total),
        positions=np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts),
        rows=rows,
    )


def build_dim_artist(plays: pd.DataFrame, by_day: bool = False) -> pd.DataFrame:
    """Every artist a track or its album credits; the name from the most recent play naming it."""
    if plays.empty:
        return _empty(DIM_ARTIST, by_day)
    rank = np.empty(len(plays), dtype=np.int64)
    rank[_recency_order(plays)] = np.arange(len(plays))
    album = _explode_credits(plays, "album_artist_keys", "album_artist_names")
    track = _explode_credits(plays, "artist_keys", "artist_names")
    keys, names, positions, rows = (np.concatenate(parts) for parts in zip(album, track, strict=True))
    codes, unique_keys = pd.factorize(keys)
    if not len(unique_keys):
        return _empty(DIM_ARTIST, by_day)
    # Recency of a credit: its play's rank, then album before track credits, then credit position.
    part = np.repeat([0, 1], [len(album.keys), len(track.keys)])
    recency = (rank[rows] * 2 + part) * (int(positions.max()) + 1) + positions
    credits = pd.DataFrame({"recency": recency, "played_at": plays["played_at"].array.take(rows)})
    valid = codes >= 0
    groups, days = codes[valid], None
    if by_day:  # one group per (day, artist): the day's code times the artists, plus the artist's code
        day_codes, day_values = pd.factorize(plays[PLAYS_DAY].to_numpy(dtype=object)[rows[valid]])
        groups, pairs = pd.factorize(day_codes * len(unique_keys) + groups)
        unique_keys, days = unique_keys[pairs % len(unique_keys)], day_values[pairs // len(unique_keys)]
    credits = credits[valid].groupby(groups)
    span = credits["played_at"].agg(["min", "max"])
    newest = credits["recency"].idxmax().to_numpy()
    used = span.index.to_numpy()
    artist_keys = pd.Index(_strings(list(unique_keys[used])))
    out = pd.DataFrame(
        {
            "artist_id": artist_keys.to_series().mask(artist_keys.str.startswith(DERIVED_PREFIX)).to_numpy(),
            "name": _strings(names[newest].tolist()),
            "first_played_at": span["min"].to_numpy(),
            "last_played_at": span["max"].to_numpy(),
        },
        index=artist_keys if days is None else pd.MultiIndex.from_arrays([days[used], artist_keys]),
    )
    return _finish(out, "artist_key", DIM_ARTIST, by_day)


def build_dim_album(plays: pd.DataFrame, by_day: bool = False) -> pd.DataFrame:
    """Every album of a played track; attributes from its most recent play."""
    if plays.empty:
        return _empty(DIM_ALBUM, by_day)
    latest = _latest(plays, "album_key", ALBUM_ATTRIBUTES, by_day)
    album_artists = _first_items(latest["album_artist_keys"])
    # An album crediting no artist (local files) is keyed by its track's first artist: point at that one.
    track_artists = _first_items(latest["artist_keys"])
    release_date = latest["album_release_date"].astype("string")
    out = pd.DataFrame(
        {
            "album_id": latest["album_id"],
            "name": latest["album_name"],
            "album_type": latest["album_type"],
            "release_date": release_date,
            "release_year": pd.to_numeric(release_date.str[:4], errors="coerce"),
            "total_tracks": latest["album_total_tracks"],
            "image_url": latest["album_image_url"],
            "primary_artist_key": [
                album or track for album, track in zip(album_artists, track_artists, strict=True)
            ],
        },
        index=latest.index,
    )
    out = out.join(_play_span(plays, "album_key", by_day))
    return _finish(out, "album_key", DIM_ALBUM, by_day)


def build_dim_track(plays: pd.DataFrame, by_day: bool = False) -> pd.DataFrame:
    """Every played track; attributes from its most recent play."""
    if plays.empty:
        return _empty(DIM_TRACK, by_day)
    latest = _latest(plays, "track_key", TRACK_ATTRIBUTES, by_day)
    out = pd.DataFrame(
        {
            "track_id": latest["track_id"],
            "name": latest["track_name"],
            "duration_ms": latest["duration_ms"],
            "explicit": latest["explicit"],
            "isrc": latest["isrc"],
            "is_local": latest["is_local"],
            "album_key": latest["album_key"],
            "primary_artist_key": _first_items(latest["artist_keys"]),
        },
        index=latest.index,
    )
    out = out.join(_play_span(plays, "track_key", by_day))
    return _finish(out, "track_key", DIM_TRACK, by_day)


def build_bridge_track_artist(plays: pd.DataFrame, by_day: bool = False) -> pd.DataFrame:
    """(track, artist, 0-based credit position) from each track's most recent play; first credit wins."""
    if plays.empty:
        return _empty(BRIDGE_TRACK_ARTIST, by_day)
    latest = _latest(plays, "track_key", ("artist_keys", "artist_names"), by_day)
    credits = _explode_credits(latest, "artist_keys", "artist_names")
    index = latest.index
    out = pd.DataFrame(
        {
            **({DAY: index.get_level_values(PLAYS_DAY).to_numpy()[credits.rows]} if by_day else {}),
            "track_key": index.get_level_values("track_key").to_numpy()[credits.rows],
            "artist_key": credits.keys,
            "position": credits.positions,
        }
    )
    day = [DAY] if by_day else []
    out = out.dropna().drop_duplicates(subset=[*day, "track_key", "artist_key"], keep="first")
    out = out.sort_values([*day, "track_key", "position"], kind="stable")
    rows = conform(out, BRIDGE_TRACK_ARTIST)
    return _with_days(rows, out[DAY]) if by_day else rows


def build_dim_date(days: Iterable[date], by_day: bool = False) -> pd.DataFrame:
    """Calendar attributes of each distinct day (`by_day`: each row's day in a last column `DAY`)."""
    unique = sorted({date(day.year, day.month, day.day) for day in days})
    if not unique:
        return _empty(DIM_DATE, by_day)
    iso = [day.isocalendar() for day in unique]
    out = pd.DataFrame(
        {
            "date_key": [day.year * 10000 + day.month * 100 + day.day for day in unique],
            "date": unique,
            "year": [day.year for day in unique],
            "quarter": [(day.month - 1) // 3 + 1 for day in unique],
            "month": [day.month for day in unique],
            "month_name": [MONTH_NAMES[day.month - 1] for day in unique],
            "iso_week": [week.week for week in iso],
            "day_of_week": [week.weekday for week in iso],
            "is_weekend": [week.weekday >= 6 for week in iso],
        }
    )
    return _with_days(conform(out, DIM_DATE), unique) if by_day else conform(out, DIM_DATE)


def build_fact(plays: pd.DataFrame, timezone: str, by_day: bool = False) -> pd.DataFrame:
    """One row per play, keyed to the dimensions; date_key and hour_of_day in `timezone`."""
    if plays.empty:
        return _empty(FACT_RECENTLY_PLAYED, by_day)
    local = plays["played_at"].dt.tz_convert(timezone)
    out = pd.DataFrame(
        {
            "play_id": play_ids(plays["listener_id"], plays["played_at"], plays["track_key"]),
            "listener_id": plays["listener_id"],
            "played_at": plays["played_at"],
            "extraction_date": plays["extraction_date"],
            "date_key": local.dt.year * 10000 + local.dt.month * 100 + local.dt.day,
            "hour_of_day": local.dt.hour,
            "track_key": plays["track_key"],
            "album_key": plays["album_key"],
            "primary_artist_key": pd.array(_first_items(plays["artist_keys"]), dtype="string"),
            "context_type": plays["context_type"],
            "context_uri": plays["context_uri"],
            "duration_ms": plays["duration_ms"],
            **{column: plays[column] for column in EXPORT_COLUMNS},
            "source": plays["source"],
        },
        index=plays.index,
    )
    # A play's id names its played_at, so a duplicate is always of the same day: the batch's are the days'.
    rows = conform(out.drop_duplicates(subset="play_id", keep="first"), FACT_RECENTLY_PLAYED)
    return _with_days(rows, rows[PLAYS_DAY]) if by_day else rows


@dataclass(frozen=True)
class GoldBuilder:
    """How a gold table's rows are made: its pure transform, called for each day as the table's entry of
    `gold_inputs.GOLD_INPUTS` says (the day's silver plays when it has none).

    `by_day`: the transform also takes `by_day=True` and then builds many days' plays (or days) in one call,
    each day's rows as that day's alone would give, with each row's day in a last column `DAY`.
    """

    build: Callable[..., pd.DataFrame]
    by_day: bool = False


def split_by_day(rows: pd.DataFrame, days: Sequence[str]) -> DayFrames:
    """`rows` (with their day in the last column `DAY`) as each of `days`' (ISO dates) rows, without that
    column: one frame in day order, a day's frame sliced when looked up (a day with no rows: none)."""
    as_days = pd.to_datetime(pd.Series(rows[DAY].to_numpy(), dtype=object)).to_numpy("datetime64[D]")
    if len(as_days) and (np.diff(as_days.astype(np.int64)) < 0).any():
        order = np.argsort(as_days, kind="stable")
        rows, as_days = rows.iloc[order], as_days[order]
    rows = rows.drop(columns=DAY).reset_index(drop=True)
    return DayFrames.split(rows, np.datetime_as_string(as_days, unit="D"), days)


GOLD_BUILDERS: dict[str, GoldBuilder] = {
    DIM_ARTIST.qualified_name: GoldBuilder(build_dim_artist, by_day=True),
    DIM_ALBUM.qualified_name: GoldBuilder(build_dim_album, by_day=True),
    DIM_TRACK.qualified_name: GoldBuilder(build_dim_track, by_day=True),
    BRIDGE_TRACK_ARTIST.qualified_name: GoldBuilder(build_bridge_track_artist, by_day=True),
    DIM_DATE.qualified_name: GoldBuilder(build_dim_date, by_day=True),
    FACT_RECENTLY_PLAYED.qualified_name: GoldBuilder(build_fact, by_day=True),
    KEY_MAP.qualified_name: GoldBuilder(build_key_map, by_day=True),
}
"""Each gold table's builder, by `schema.table`: a gold spec in `tables.GOLD_TABLES` needs its entry here."""
