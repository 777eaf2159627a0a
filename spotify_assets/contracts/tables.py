"""The registry of the project's tables: every silver and gold table's columns, PostgreSQL types, key and
write mode.

This module is the contract between the transforms (which produce frames of these shapes) and storage (which
creates the tables and loads them). Gold assets, their checks and their catalog metadata are generated from
`TABLES`: adding a gold table is a spec here (added to `GOLD_TABLES`) and its transform, registered in
`transforms.gold.GOLD_BUILDERS`; see docs/adding-a-table.md. `TableSpec` lives in `table_spec.py` and is
re-exported here; the frame helpers (`conform`, `to_arrow`, ...) are `table_frames.py`'s.
"""

from __future__ import annotations

from collections.abc import Sequence

from spotify_assets.contracts.table_spec import (
    BATCH_ROWS,
    PANDAS_DTYPES,
    Column,
    TableSpec,
    WriteMode,
)

__all__ = [
    "BATCH_ROWS",
    "PANDAS_DTYPES",
    "TABLES",
    "Column",
    "TableSpec",
    "WriteMode",
    "gold_tables",
]


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
    references=(
        ("track_key", "gold.dim_track", "track_key"),
        ("artist_key", "gold.dim_artist", "artist_key"),
    ),
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
    references=(
        ("track_key", "gold.dim_track", "track_key"),
        ("album_key", "gold.dim_album", "album_key"),
        ("primary_artist_key", "gold.dim_artist", "artist_key"),
        ("date_key", "gold.dim_date", "date_key"),
    ),
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
"""The registry, by `schema.table`: what storage writes, and what the gold assets and checks are made from."""


def table_of_asset(asset_path: Sequence[str]) -> TableSpec:
    """The table contract of a silver/gold asset keyed `[layer, table]`: `TABLES["<layer>.<table>"]`."""
    name = ".".join(asset_path)
    if name not in TABLES:
        raise KeyError(f"no table spec for asset {name!r}; known tables: {sorted(TABLES)}")
    return TABLES[name]


def gold_tables() -> list[TableSpec]:
    """The registry's gold tables, in order, as `build_definitions` finds them (read at call time)."""
    return [spec for spec in TABLES.values() if spec.schema == "gold"]


LISTENING_COLUMNS = (
    "play_id",
    "listener_id",
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
them): fact rows joined to their track's and primary artist's names, with whose play each is."""
