"""SQL for BI and the listening report: views in schema `bi` over the gold star schema, and the report's rows.

The views are created with `CREATE OR REPLACE VIEW` (idempotent; a later version may only add columns at the
end), in one transaction under an advisory lock so that concurrent runs do not collide. Minutes are
`coalesce(ms_played, duration_ms) / 60000` summed: how long a play lasted when an export says so, else the
track's length (the recently-played API does not report it).
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import psycopg
from psycopg import sql

from spotify_assets.storage.warehouse import advisory_lock_key, ensure_schema, ensure_table
from spotify_assets.tables import DIM_ARTIST, DIM_DATE, DIM_TRACK, FACT_RECENTLY_PLAYED
from spotify_assets.transforms.report import LISTENING_COLUMNS

BI_SCHEMA = "bi"
_LISTENED_MS = "coalesce(f.ms_played, f.duration_ms, 0)"

VIEWS: dict[str, tuple[str, str]] = {
    "daily_listening": (
        "Plays, minutes, distinct tracks and artists per listener and day, with calendar attributes.",
        f"""
        SELECT f.listener_id, f.extraction_date AS date, f.date_key, d.year, d.quarter, d.month,
               d.month_name, d.iso_week, d.day_of_week, d.is_weekend,
               count(*) AS plays,
               round(sum({_LISTENED_MS}) / 60000.0, 1) AS minutes,
               count(DISTINCT f.track_key) AS distinct_tracks,
               count(DISTINCT f.primary_artist_key) AS distinct_artists
        FROM gold.fact_recently_played f
        LEFT JOIN gold.dim_date d ON d.date_key = f.date_key
        GROUP BY f.listener_id, f.extraction_date, f.date_key, d.year, d.quarter, d.month, d.month_name,
                 d.iso_week, d.day_of_week, d.is_weekend
        """,
    ),
    "top_artists_by_month": (
        "Primary artists per listener and month, ranked by plays then minutes (filter rank <= 10).",
        f"""
        SELECT listener_id, month, artist_key, artist, plays, minutes,
               row_number() OVER (PARTITION BY listener_id, month
                                  ORDER BY plays DESC, listened_ms DESC, artist, artist_key) AS rank
        FROM (
            SELECT f.listener_id, date_trunc('month', f.extraction_date)::date AS month,
                   f.primary_artist_key AS artist_key, coalesce(a.name, f.primary_artist_key) AS artist,
                   count(*) AS plays, sum({_LISTENED_MS}) AS listened_ms,
                   round(sum({_LISTENED_MS}) / 60000.0, 1) AS minutes
            FROM gold.fact_recently_played f
            LEFT JOIN gold.dim_artist a ON a.artist_key = f.primary_artist_key
            GROUP BY 1, 2, 3, 4
        ) monthly
        """,
    ),
    "top_tracks_by_month": (
        "Tracks per listener and month, ranked by plays then minutes (filter rank <= 10).",
        f"""
        SELECT listener_id, month, track_key, track, artist, plays, minutes,
               row_number() OVER (PARTITION BY listener_id, month
                                  ORDER BY plays DESC, listened_ms DESC, track, track_key) AS rank
        FROM (
            SELECT f.listener_id, date_trunc('month', f.extraction_date)::date AS month,
                   f.track_key, coalesce(t.name, f.track_key) AS track,
                   coalesce(a.name, t.primary_artist_key) AS artist,
                   count(*) AS plays, sum({_LISTENED_MS}) AS listened_ms,
                   round(sum({_LISTENED_MS}) / 60000.0, 1) AS minutes
            FROM gold.fact_recently_played f
            LEFT JOIN gold.dim_track t ON t.track_key = f.track_key
            LEFT JOIN gold.dim_artist a ON a.artist_key = t.primary_artist_key
            GROUP BY 1, 2, 3, 4, 5
        ) monthly
        """,
    ),
}
"""View name -> (comment, query). The queries name gold tables directly; their schemas never change name."""


def ensure_views(conn: psycopg.Connection) -> list[str]:
    """Create or replace the BI views (and any gold table they read that is still missing); their names."""
    with conn.transaction():
        for spec in (FACT_RECENTLY_PLAYED, DIM_ARTIST, DIM_TRACK, DIM_DATE):
            # The lock the table's writers take (warehouse.write_partitions), so that creation never races.
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (advisory_lock_key(spec.qualified_name),))
            ensure_table(conn, spec)
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (advisory_lock_key("bi views"),))
        ensure_schema(conn, BI_SCHEMA)
        names = []
        for name, (comment, query) in VIEWS.items():
            view = sql.Identifier(BI_SCHEMA, name)
            conn.execute(sql.SQL("CREATE OR REPLACE VIEW {} AS {}").format(view, sql.SQL(query)))
            conn.execute(sql.SQL("COMMENT ON VIEW {} IS {}").format(view, sql.Literal(comment)))
            names.append(f"{BI_SCHEMA}.{name}")
    return names


LISTENING_QUERY = """
SELECT f.play_id, f.extraction_date, f.hour_of_day, f.track_key, t.name AS track_name,
       f.primary_artist_key, a.name AS artist_name, f.duration_ms, f.ms_played
FROM gold.fact_recently_played f
LEFT JOIN gold.dim_track t ON t.track_key = f.track_key
LEFT JOIN gold.dim_artist a ON a.artist_key = f.primary_artist_key
WHERE f.extraction_date BETWEEN %s AND %s
ORDER BY f.played_at, f.play_id
"""


def read_listening(conn: psycopg.Connection, first_day: date, last_day: date) -> pd.DataFrame:
    """Fact rows of [first_day, last_day] with their track's and primary artist's names."""
    rows = conn.execute(LISTENING_QUERY, (first_day, last_day)).fetchall()
    frame = pd.DataFrame(rows, columns=list(LISTENING_COLUMNS))
    for column in ("hour_of_day", "duration_ms", "ms_played"):
        frame[column] = frame[column].astype("Int64")
    for column in ("play_id", "track_key", "track_name", "primary_artist_key", "artist_name"):
        frame[column] = frame[column].astype("string")
    return frame
