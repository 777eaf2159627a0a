"""Warehouse test data: frames of every table with edge-case values, silver plays, artists, row comparison."""

from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from spotify_assets.contracts.table_frames import conform
from spotify_assets.contracts.tables import DIM_ARTIST, PLAYS, Column, TableSpec

DAY = "2025-03-14"
NEXT_DAY = "2025-03-15"
TEXTS = ["plain", "", 'comma, "quote" \\backslash', "new\nline\r\ttab", "ünïcødé 🎵 中文", "NULL", None]
ARRAYS = [
    [],
    None,
    ["a"],
    ["", "NULL", None, 'x"y\\z', "{,}", " lead ", "new\nline", "🎵 b"],
    ['comma, "quote"', "\\"],
]
TIMESTAMPS = ["2025-03-14T00:00:00.000Z", "2025-03-14T23:59:59.999Z", "1970-01-01T00:00:00.001Z", None]
NUMBERS = {"bigint": [0, -1, 2**62, None], "integer": [0, -(2**31), 2**31 - 1, None]}
NUMBERS["smallint"] = [0, -(2**15), 2**15 - 1, None]


def tricky_value(column: Column, row: int, spec: TableSpec, day: str) -> Any:
    """Row `row`'s value of a column: edge cases of its type, unique in key columns, null where allowed."""
    if column.name == spec.partition_column:
        return date.fromisoformat(day)
    values: list[Any] = {
        "text": TEXTS,
        "text[]": ARRAYS,
        "timestamptz": TIMESTAMPS,
        "boolean": [True, False, None],
        "date": [date(2025, 3, 14), date(1999, 12, 31), None],
        **NUMBERS,
    }[column.pg_type]
    value = values[row % len(values)]
    if column.name in spec.primary_key:
        if column.pg_type == "text":
            return f"{value or ''}{day}/{row}"
        if column.pg_type == "timestamptz":
            return pd.Timestamp(f"{day}T12:00:00Z") + pd.Timedelta(milliseconds=row)
        if column.pg_type in NUMBERS:
            return row
    if value is None and not column.nullable:
        return values[0]
    return value


def tricky_frame(spec: TableSpec, rows: int = 14, day: str = DAY) -> pd.DataFrame:
    """A frame of the spec with nulls, empty strings, quotes, newlines, unicode and ms timestamps."""
    data = {c.name: [tricky_value(c, row, spec, day) for row in range(rows)] for c in spec.columns}
    return conform(pd.DataFrame(data), spec)


def sort_by_key(frame: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    """Rows in Python's order of the primary key (the server's collation may differ)."""
    return frame.sort_values(list(spec.primary_key), kind="stable").reset_index(drop=True)


def assert_same_rows(actual: pd.DataFrame, expected: pd.DataFrame, spec: TableSpec) -> None:
    pd.testing.assert_frame_equal(sort_by_key(actual, spec), sort_by_key(conform(expected, spec), spec))


def plays(day: str, rows: int, track_name: str, start_ms: int = 0) -> pd.DataFrame:
    """Silver plays of one day, one per second from `start_ms`."""
    played_at = pd.Timestamp(day, tz="UTC") + pd.to_timedelta(start_ms + np.arange(rows) * 1000, unit="ms")
    frame = pd.DataFrame(
        {
            "listener_id": "demo",
            "played_at": played_at,
            "extraction_date": date.fromisoformat(day),
            "source": "recently_played",
            "track_key": [f"t{i}" for i in range(rows)],
            "track_name": track_name,
            "album_key": "a1",
            "artist_names": [["Artist", track_name]] * rows,
        }
    )
    return conform(frame, PLAYS)


def artists(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    """dim_artist rows from (artist_key, name, first_played_at, last_played_at)."""
    frame = pd.DataFrame(rows, columns=["artist_key", "name", "first_played_at", "last_played_at"])
    for column in ("first_played_at", "last_played_at"):
        frame[column] = pd.to_datetime(frame[column], format="ISO8601", utc=True)
    return conform(frame.assign(artist_id=frame["artist_key"]), DIM_ARTIST)
