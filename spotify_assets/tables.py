"""The data model: every silver and gold table's columns, PostgreSQL types, key and write mode.

This module is the contract between the transforms (which produce frames of these shapes) and storage (which
creates the tables and loads them). `conform` gives any frame exactly a table's columns, order and dtypes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

import pandas as pd
import pyarrow as pa

WriteMode = Literal["replace_partition", "upsert"]

PANDAS_DTYPES: dict[str, str] = {
    "text": "string",
    "bigint": "Int64",
    "integer": "Int64",
    "smallint": "Int64",
    "boolean": "boolean",
    "timestamptz": "datetime64[ms, UTC]",
    "date": "object",  # datetime.date values: Parquet date32, PostgreSQL date
    "text[]": "object",  # lists of str
}

ARROW_TYPES: dict[str, pa.DataType] = {
    "text": pa.string(),
    "bigint": pa.int64(),
    "integer": pa.int32(),
    "smallint": pa.int16(),
    "boolean": pa.bool_(),
    "timestamptz": pa.timestamp("ms", tz="UTC"),
    "date": pa.date32(),
    "text[]": pa.list_(pa.string()),
}


@dataclass(frozen=True)
class Column:
    name: str
    pg_type: str
    description: str
    nullable: bool = True


@dataclass(frozen=True)
class TableSpec:
    """One warehouse/lake table.

    `replace_partition` tables hold `partition_column`; a write replaces exactly the written partitions' rows.
    `upsert` tables merge by primary key: `least_columns` keep the smallest value seen, `greatest_columns` the
    largest, and every other column is taken from the row with the newest `recency_column` (or the incoming
    row when there is none), so the order in which partitions are written does not matter.
    """

    schema: str
    name: str
    description: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    write_mode: WriteMode
    partition_column: str | None = None
    least_columns: tuple[str, ...] = ()
    greatest_columns: tuple[str, ...] = ()
    recency_column: str | None = None
    column_names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "column_names", tuple(c.name for c in self.columns))
        named = {*self.primary_key, *self.least_columns, *self.greatest_columns}
        named |= {name for name in (self.recency_column, self.partition_column) if name}
        unknown = named - set(self.column_names)
        if unknown:
            raise ValueError(f"{self.qualified_name}: unknown columns {sorted(unknown)}")
        # pg types go into DDL as SQL text, so only the known ones are allowed.
        if bad_types := {c.pg_type for c in self.columns} - set(ARROW_TYPES):
            raise ValueError(f"{self.qualified_name}: unsupported column types {sorted(bad_types)}")
        if self.write_mode == "replace_partition" and self.partition_column not in self.column_names:
            raise ValueError(f"{self.qualified_name}: replace_partition needs a partition column")

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.name}"

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


_TARGET_DTYPES = {
    pg_type: pd.api.types.pandas_dtype(dtype) for pg_type, dtype in PANDAS_DTYPES.items() if dtype != "object"
}


def _nulls_are_none(values: pd.Series) -> bool:
    """Whether an object column's missing values are all None already (not NaN, NA or NaT)."""
    array = values.to_numpy(dtype=object)
    missing = pd.isna(array)
    return not missing.any() or all(value is None for value in array[missing])


def conform(frame: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    """Return `frame` with exactly the spec's columns, in order, cast to their dtypes (missing ones null)."""
    missing = [name for name in spec.column_names if name not in frame.columns]
    if missing:
        frame = frame.assign(**{name: pd.NA for name in missing})
    # No .copy(): pandas' copy-on-write keeps `frame` unchanged, and a column already of its dtype is not cast
    # again (a million-row frame would otherwise be copied whole on every call, and the many small frames of
    # a long range would pay pandas' per-column overhead many times over).
    out = frame if list(frame.columns) == list(spec.column_names) else frame.loc[:, list(spec.column_names)]
    cast: dict[str, pd.Series] = {}
    for column in spec.columns:
        values = out[column.name]
        target = _TARGET_DTYPES.get(column.pg_type)
        if target is None:  # object: datetime.date values or lists, nulls as None
            if values.dtype == object and _nulls_are_none(values):
                continue
            values = values.astype("object")
            cast[column.name] = values.where(values.notna(), None)
        elif values.dtype == target:
            continue
        elif column.pg_type == "timestamptz":
            cast[column.name] = pd.to_datetime(values, utc=True, format="ISO8601").astype(target)
        else:
            cast[column.name] = values.astype(target)
    if cast:
        out = out.assign(**cast)
    index = out.index
    if isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1:
        return out if out is not frame else out.copy(deep=False)
    return out.reset_index(drop=True)


def arrow_schema(spec: TableSpec) -> pa.Schema:
    """The Arrow (and so Parquet) schema of a table: typed even when a column is all null."""
    return pa.schema([pa.field(c.name, ARROW_TYPES[c.pg_type], nullable=c.nullable) for c in spec.columns])


def to_arrow(frame: pd.DataFrame, spec: TableSpec) -> pa.Table:
    """A conformed frame as an Arrow table with the spec's schema."""
    return pa.Table.from_pandas(conform(frame, spec), schema=arrow_schema(spec), preserve_index=False)


BATCH_ROWS = 65_536
"""Partitions are converted between pandas and Arrow in groups of about this many rows: a conversion costs
milliseconds whatever its size, so a year of small daily partitions takes a few conversions, not 365, while
a range of big partitions never holds more than one group twice (as pandas and as Arrow)."""


def batches(sizes: Mapping[str, int], rows: int = BATCH_ROWS) -> Iterator[list[str]]:
    """Consecutive groups of keys whose sizes add up to about `rows` (at least one key each)."""
    group: list[str] = []
    total = 0
    for key, size in sizes.items():
        group.append(key)
        total += size
        if total >= rows:
            yield group
            group, total = [], 0
    if group:
        yield group


def to_arrow_partitions(
    frames: Mapping[str, pd.DataFrame], spec: TableSpec
) -> Iterator[tuple[str, pa.Table]]:
    """`(key, to_arrow(frame, spec))` for each frame, in order, converted in `batches` (then sliced)."""
    for group in batches({key: len(frame) for key, frame in frames.items()}):
        filled = [frames[key] for key in group if len(frames[key])]
        if len(filled) < 2:
            yield from ((key, to_arrow(frames[key], spec)) for key in group)
            continue
        table = to_arrow(pd.concat(filled, ignore_index=True), spec)
        start = 0
        for key in group:
            yield key, table.slice(start, len(frames[key]))
            start += len(frames[key])


def empty_frame(spec: TableSpec) -> pd.DataFrame:
    """A frame with the spec's columns and dtypes and no rows."""
    return conform(pd.DataFrame({name: [] for name in spec.column_names}), spec)


def _col(name: str, pg_type: str, description: str, nullable: bool = True) -> Column:
    return Column(name, pg_type, description, nullable)


_FIRST_LAST = (
    _col("first_played_at", "timestamptz", "Earliest play seen of this entity", False),
    _col("last_played_at", "timestamptz", "Latest play seen of this entity", False),
)

PLAYS = TableSpec(
    schema="silver",
    name="plays",
    description="One row per play: listener + played_at + track, flattened and typed from raw.",
    columns=(
        _col("listener_id", "text", "Whose play this is (Spotify user id, or LISTENER_ID)", False),
        _col("played_at", "timestamptz", "When the play ended (UTC, millisecond precision)", False),
        _col(
            "extraction_date",
            "date",
            "The daily partition: played_at's day in the partitions' time zone",
            False,
        ),
        _col("source", "text", "recently_played | extended_history | account_data", False),
        _col("track_key", "text", "Track id, or a key derived from names for tracks without one", False),
        _col("track_id", "text", "Spotify track id (null for local files and account-data rows)"),
        _col("track_uri", "text", "Spotify track uri (spotify:local:... for local files)"),
        _col("track_name", "text", "Track title"),
        _col("duration_ms", "bigint", "Track length in milliseconds"),
        _col("explicit", "boolean", "Explicit lyrics"),
        _col("track_number", "integer", "Position on its disc"),
        _col("disc_number", "integer", "Disc of the album"),
        _col("isrc", "text", "International Standard Recording Code"),
        _col("is_local", "boolean", "A local file, not from Spotify's catalogue"),
        _col("album_key", "text", "Album id, or a key derived from names", False),
        _col("album_id", "text", "Spotify album id"),
        _col("album_name", "text", "Album title"),
        _col("album_type", "text", "album | single | compilation"),
        _col("album_release_date", "text", "Release date as Spotify gives it (YYYY, YYYY-MM or YYYY-MM-DD)"),
        _col("album_release_date_precision", "text", "year | month | day"),
        _col("album_total_tracks", "integer", "Tracks on the album"),
        _col("album_image_url", "text", "Largest cover image"),
        _col("artist_keys", "text[]", "Track artists' keys, in credit order"),
        _col("artist_ids", "text[]", "Track artists' Spotify ids, in credit order (nulls for local files)"),
        _col("artist_names", "text[]", "Track artists' names, in credit order"),
        _col("album_artist_keys", "text[]", "Album artists' keys, in credit order"),
        _col("album_artist_names", "text[]", "Album artists' names, in credit order"),
        _col("context_type", "text", "What the play came from: album, playlist, artist, show (null: none)"),
        _col("context_uri", "text", "Uri of that context"),
        _col("ms_played", "bigint", "How long it played (exports only; null from the API)"),
        _col("is_stream", "boolean", "ms_played >= 30 s, Spotify's stream threshold (null when unknown)"),
        _col("reason_start", "text", "Why playback started (exports)"),
        _col("reason_end", "text", "Why playback ended (exports)"),
        _col("shuffle", "boolean", "Shuffle was on (exports)"),
        _col("skipped", "boolean", "The track was skipped (exports)"),
        _col("platform", "text", "Device platform (exports)"),
        _col("conn_country", "text", "Country of the connection (exports)"),
    ),
    primary_key=("listener_id", "played_at", "track_key"),
    write_mode="replace_partition",
    partition_column="extraction_date",
)

DIM_ARTIST = TableSpec(
    schema="gold",
    name="dim_artist",
    description="Every artist a played track or its album names.",
    columns=(
        _col("artist_key", "text", "Artist id, or a key derived from the normalized name", False),
        _col("artist_id", "text", "Spotify artist id (null for local files and account data)"),
        _col("name", "text", "Artist name (from the most recent play)"),
        *_FIRST_LAST,
    ),
    primary_key=("artist_key",),
    write_mode="upsert",
    least_columns=("first_played_at",),
    greatest_columns=("last_played_at",),
    recency_column="last_played_at",
)

DIM_ALBUM = TableSpec(
    schema="gold",
    name="dim_album",
    description="Every album of a played track.",
    columns=(
        _col("album_key", "text", "Album id, or a key derived from normalized names", False),
        _col("album_id", "text", "Spotify album id"),
        _col("name", "text", "Album title"),
        _col("album_type", "text", "album | single | compilation"),
        _col("release_date", "text", "Release date as Spotify gives it"),
        _col("release_year", "integer", "Year of release"),
        _col("total_tracks", "integer", "Tracks on the album"),
        _col("image_url", "text", "Largest cover image"),
        _col("primary_artist_key", "text", "First credited album artist"),
        *_FIRST_LAST,
    ),
    primary_key=("album_key",),
    write_mode="upsert",
    least_columns=("first_played_at",),
    greatest_columns=("last_played_at",),
    recency_column="last_played_at",
)

DIM_TRACK = TableSpec(
    schema="gold",
    name="dim_track",
    description="Every played track.",
    columns=(
        _col("track_key", "text", "Track id, or a key derived from normalized names", False),
        _col("track_id", "text", "Spotify track id"),
        _col("name", "text", "Track title"),
        _col("duration_ms", "bigint", "Track length in milliseconds"),
        _col("explicit", "boolean", "Explicit lyrics"),
        _col("isrc", "text", "International Standard Recording Code"),
        _col("is_local", "boolean", "A local file"),
        _col("album_key", "text", "The track's album"),
        _col("primary_artist_key", "text", "First credited track artist"),
        *_FIRST_LAST,
    ),
    primary_key=("track_key",),
    write_mode="upsert",
    least_columns=("first_played_at",),
    greatest_columns=("last_played_at",),
    recency_column="last_played_at",
)

BRIDGE_TRACK_ARTIST = TableSpec(
    schema="gold",
    name="bridge_track_artist",
    description="Which artists a track credits, in order (many-to-many).",
    columns=(
        _col("track_key", "text", "The track", False),
        _col("artist_key", "text", "A credited artist", False),
        _col("position", "integer", "Credit order, 0 = primary artist", False),
    ),
    primary_key=("track_key", "artist_key"),
    write_mode="upsert",
)

DIM_DATE = TableSpec(
    schema="gold",
    name="dim_date",
    description="Calendar attributes of each partition day.",
    columns=(
        _col("date_key", "integer", "YYYYMMDD", False),
        _col("date", "date", "The day", False),
        _col("year", "integer", "Calendar year", False),
        _col("quarter", "integer", "1-4", False),
        _col("month", "integer", "1-12", False),
        _col("month_name", "text", "January..December", False),
        _col("iso_week", "integer", "ISO-8601 week number", False),
        _col("day_of_week", "integer", "ISO day of week, 1 = Monday", False),
        _col("is_weekend", "boolean", "Saturday or Sunday", False),
    ),
    primary_key=("date_key",),
    write_mode="upsert",
)

FACT_RECENTLY_PLAYED = TableSpec(
    schema="gold",
    name="fact_recently_played",
    description="One row per play, keyed to the dimensions.",
    columns=(
        _col("play_id", "text", "Hash of listener, played_at and track_key", False),
        _col("listener_id", "text", "Whose play", False),
        _col("played_at", "timestamptz", "When the play ended (UTC)", False),
        _col("extraction_date", "date", "The daily partition", False),
        _col("date_key", "integer", "dim_date key (played_at's day in the partitions' time zone)", False),
        _col("hour_of_day", "integer", "0-23 in the partitions' time zone", False),
        _col("track_key", "text", "dim_track key", False),
        _col("album_key", "text", "dim_album key", False),
        _col("primary_artist_key", "text", "dim_artist key of the first credited track artist", False),
        _col("context_type", "text", "album, playlist, artist, show, or null"),
        _col("context_uri", "text", "Uri of the context"),
        _col("duration_ms", "bigint", "Track length"),
        _col("ms_played", "bigint", "How long it played (exports only)"),
        _col("is_stream", "boolean", "ms_played >= 30 s (null when unknown)"),
        _col("reason_start", "text", "Why playback started (exports)"),
        _col("reason_end", "text", "Why playback ended (exports)"),
        _col("shuffle", "boolean", "Shuffle was on (exports)"),
        _col("skipped", "boolean", "Skipped (exports)"),
        _col("platform", "text", "Device platform (exports)"),
        _col("conn_country", "text", "Country of the connection (exports)"),
        _col("source", "text", "recently_played | extended_history | account_data", False),
    ),
    primary_key=("play_id",),
    write_mode="replace_partition",
    partition_column="extraction_date",
)

KEY_MAP = TableSpec(
    schema="gold",
    name="key_map",
    description="Keys derived from names (history rows without ids) and the Spotify id that plays with ids "
    "gave the same normalized names: join on derived_key to converge name-keyed rows to Spotify entities.",
    columns=(
        _col("derived_key", "text", "A key derived from normalized names (starts with ~)", False),
        _col("entity", "text", "artist | album | track", False),
        _col("spotify_id", "text", "The Spotify id last seen with these names", False),
        _col("first_seen_at", "timestamptz", "Earliest play with an id that gave these names", False),
        _col("last_seen_at", "timestamptz", "Latest such play (its id wins)", False),
    ),
    primary_key=("derived_key",),
    write_mode="upsert",
    least_columns=("first_seen_at",),
    greatest_columns=("last_seen_at",),
    recency_column="last_seen_at",
)

GOLD_TABLES: tuple[TableSpec, ...] = (
    DIM_ARTIST,
    DIM_ALBUM,
    DIM_TRACK,
    BRIDGE_TRACK_ARTIST,
    DIM_DATE,
    FACT_RECENTLY_PLAYED,
    KEY_MAP,
)
TABLES: dict[str, TableSpec] = {spec.qualified_name: spec for spec in (PLAYS, *GOLD_TABLES)}

LISTENING_COLUMNS = (
    "play_id",
    "extraction_date",
    "hour_of_day",
    "track_key",
    "track_name",
    "primary_artist_key",
    "artist_name",
    "duration_ms",
    "ms_played",
)
"""The rows the listening report reads (`storage.bi.read_listening` gives them, `transforms.report` sums
them): fact rows joined to their track's and primary artist's names."""
