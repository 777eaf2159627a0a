"""The report's numbers computed on their own (SQL on the warehouse), and listening frames to compute them."""

from __future__ import annotations

from datetime import date

import pandas as pd

LISTENED = "coalesce(f.ms_played, f.duration_ms, 0)"


def top_ten(conn, column: str, dimension: str, dimension_key: str, window: str, params: dict) -> list[tuple]:
    """(name, plays, minutes) of the 10 most played values of the fact's `column`, keys resolved through
    gold.key_map (a name-derived key counts as the Spotify id of the same names), named from `dimension`."""
    return conn.execute(
        f"""
        SELECT coalesce(min(d.name), min(named.name), k.key), count(*), round(sum({LISTENED}) / 60000.0, 1)
        FROM gold.fact_recently_played f
        LEFT JOIN gold.key_map m ON m.derived_key = f.{column}
        CROSS JOIN LATERAL (SELECT coalesce(m.spotify_id, f.{column}) AS key) k
        LEFT JOIN gold.{dimension} d ON d.{dimension_key} = m.spotify_id
        LEFT JOIN gold.{dimension} named ON named.{dimension_key} = f.{column}
        WHERE {window}
        GROUP BY k.key
        ORDER BY count(*) DESC, sum({LISTENED}) DESC, 1, k.key
        LIMIT 10
        """,
        params,
    ).fetchall()


def sql_numbers(conn, first: date, last: date, listener: str | None = None) -> dict[str, object]:
    """The report's numbers for the days [first, last] (of one listener's plays if given), computed by SQL on
    the warehouse."""
    window = "f.extraction_date BETWEEN %(first)s AND %(last)s"
    if listener is not None:
        window += " AND f.listener_id = %(listener)s"
    params = {"first": first, "last": last, "listener": listener}
    plays, minutes = conn.execute(
        f"SELECT count(*), round(coalesce(sum({LISTENED}), 0) / 60000.0, 1) "
        f"FROM gold.fact_recently_played f WHERE {window}",
        params,
    ).fetchone()
    artists = top_ten(conn, "primary_artist_key", "dim_artist", "artist_key", window, params)
    tracks = top_ten(conn, "track_key", "dim_track", "track_key", window, params)
    hours = dict(
        conn.execute(
            f"SELECT hour_of_day, count(*) FROM gold.fact_recently_played f WHERE {window} GROUP BY 1",
            params,
        ).fetchall()
    )
    (days,) = conn.execute(  # the average day is one with plays
        "SELECT greatest(count(DISTINCT f.extraction_date), 1) "
        f"FROM gold.fact_recently_played f WHERE {window}",
        params,
    ).fetchone()
    return {
        "plays": plays,
        "minutes": float(minutes),
        "top_artists": [(name, n, float(m)) for name, n, m in artists],
        "top_tracks": [(name, n, float(m)) for name, n, m in tracks],
        "plays_by_hour": [round(hours.get(hour, 0) / days, 2) for hour in range(24)],
    }


def listening_frame(rows: list[tuple]) -> pd.DataFrame:
    columns = ["play_id", "extraction_date", "hour_of_day", "track_key", "track_name"]
    columns += ["primary_artist_key", "artist_name", "duration_ms", "ms_played"]
    frame = pd.DataFrame(rows, columns=columns)
    for column in ("hour_of_day", "duration_ms", "ms_played"):
        frame[column] = frame[column].astype("Int64")
    return frame
