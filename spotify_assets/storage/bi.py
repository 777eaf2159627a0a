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

from spotify_assets.contracts.tables import (
    DIM_ARTIST,
    DIM_DATE,
    DIM_TRACK,
    FACT_RECENTLY_PLAYED,
    KEY_MAP,
    LISTENING_COLUMNS,
)
from spotify_assets.storage.postgres import advisory_lock_key
from spotify_assets.storage.warehouse import ensure_schema, ensure_table

BI_SCHEMA = "bi"
_LISTENED_MS = "coalesce(f.ms_played, f.duration_ms, 0)"

VIEWS: dict[str, tuple[str, str]] = {
    "plays": (
        "Every play (gold.fact_recently_played) with its track, album and primary artist keys resolved "
        "through gold.key_map: a key derived from names becomes the Spotify id plays with ids gave the same "
        "names, so exported and API plays of one track count together. With names and listened_ms.",
        f"""
        SELECT f.play_id, f.listener_id, f.played_at, f.extraction_date, f.date_key, f.hour_of_day,
               coalesce(mt.spotify_id, f.track_key) AS track_key,
               coalesce(t.name, t_named.name, f.track_key) AS track,
               coalesce(ma.spotify_id, f.primary_artist_key) AS artist_key,
               coalesce(a.name, a_named.name, f.primary_artist_key) AS artist,
               coalesce(mb.spotify_id, f.album_key) AS album_key,
               f.duration_ms, f.ms_played, {_LISTENED_MS} AS listened_ms, f.source
        FROM gold.fact_recently_played f
        LEFT JOIN gold.key_map mt ON mt.derived_key = f.track_key
        LEFT JOIN gold.key_map ma ON ma.derived_key = f.primary_artist_key
        LEFT JOIN gold.key_map mb ON mb.derived_key = f.album_key
        LEFT JOIN gold.dim_track t ON t.track_key = mt.spotify_id
        LEFT JOIN gold.dim_track t_named ON t_named.track_key = f.track_key
        LEFT JOIN gold.dim_artist a ON a.artist_key = ma.spotify_id
        LEFT JOIN gold.dim_artist a_named ON a_named.artist_key = f.primary_artist_key
        """,
    ),
    "daily_listening": (
        "Plays, minutes, distinct tracks and artists per listener and day, with calendar attributes.",
        """
        SELECT p.listener_id, p.extraction_date AS date, p.date_key, d.year, d.quarter, d.month,
               d.month_name, d.iso_week, d.day_of_week, d.is_weekend,
               count(*) AS plays,
               round(sum(p.listened_ms) / 60000.0, 1) AS minutes,
               count(DISTINCT p.track_key) AS distinct_tracks,
               count(DISTINCT p.artist_key) AS distinct_artists
        FROM bi.plays p
        LEFT JOIN gold.dim_date d ON d.date_key = p.date_key
        GROUP BY p.listener_id, p.extraction_date, p.date_key, d.year, d.quarter, d.month, d.month_name,
                 d.iso_week, d.day_of_week, d.is_weekend
        """,
    ),
    "top_artists_by_month": (
        "Primary artists per listener and month, ranked by plays then minutes (filter rank <= 10).",
        """
        SELECT listener_id, month, artist_key, artist, plays, minutes,
               row_number() OVER (PARTITION BY listener_id, month
                                  ORDER BY plays DESC, listened_ms DESC, artist, artist_key) AS rank
        FROM (
            SELECT p.listener_id, date_trunc('month', p.extraction_date)::date AS month,
                   p.artist_key, min(p.artist) AS artist,
                   count(*) AS plays, sum(p.listened_ms) AS listened_ms,
                   round(sum(p.listened_ms) / 60000.0, 1) AS minutes
            FROM bi.plays p
            GROUP BY 1, 2, 3
        ) monthly
        """,
    ),
    "top_tracks_by_month": (
        "Tracks per listener and month, ranked by plays then minutes (filter rank <= 10).",
        """
        SELECT listener_id, month, track_key, track, artist, plays, minutes,
               row_number() OVER (PARTITION BY listener_id, month
                                  ORDER BY plays DESC, listened_ms DESC, track, track_key) AS rank
        FROM (
            SELECT p.listener_id, date_trunc('month', p.extraction_date)::date AS month,
                   p.track_key, min(p.track) AS track, min(p.artist) AS artist,
                   count(*) AS plays, sum(p.listened_ms) AS listened_ms,
                   round(sum(p.listened_ms) / 60000.0, 1) AS minutes
            FROM bi.plays p
            GROUP BY 1, 2, 3
        ) monthly
        """,
    ),
    "listeners": (
        "One row per listener: first and last play, plays, minutes, distinct tracks and artists, days with "
        "plays. Every listener's plays are visible to whoever can read schema bi.",
        """
        SELECT p.listener_id, min(p.played_at) AS first_played_at, max(p.played_at) AS last_played_at,
               count(*) AS plays,
               round(sum(p.listened_ms) / 60000.0, 1) AS minutes,
               count(DISTINCT p.track_key) AS distinct_tracks,
               count(DISTINCT p.artist_key) AS distinct_artists,
               count(DISTINCT p.extraction_date) AS days_with_plays
        FROM bi.plays p
        GROUP BY p.listener_id
        """,
    ),
    "household_artists": (
        "Primary artists per listener over all time, to compare listeners: plays and minutes, the artist's "
        "rank among the listener's artists (listener_rank, by plays then minutes), how many listeners "
        "played it and their plays together, this listener's share of those, and the listener's rank among "
        "the artist's listeners (artist_listener_rank 1: played it most).",
        """
        SELECT listener_id, artist_key,
               min(artist) OVER (PARTITION BY artist_key) AS artist,
               plays, minutes,
               row_number() OVER (PARTITION BY listener_id
                                  ORDER BY plays DESC, listened_ms DESC, artist, artist_key) AS listener_rank,
               count(*) OVER (PARTITION BY artist_key) AS listeners,
               sum(plays) OVER (PARTITION BY artist_key) AS household_plays,
               round(plays::numeric / sum(plays) OVER (PARTITION BY artist_key), 3) AS share_of_plays,
               row_number() OVER (PARTITION BY artist_key
                                  ORDER BY plays DESC, listened_ms DESC, listener_id) AS artist_listener_rank
        FROM (
            SELECT p.listener_id, p.artist_key, min(p.artist) AS artist,
                   count(*) AS plays, sum(p.listened_ms) AS listened_ms,
                   round(sum(p.listened_ms) / 60000.0, 1) AS minutes
            FROM bi.plays p
            GROUP BY 1, 2
        ) per_listener
        """,
    ),
}
"""View name -> (comment, query), created in this order (`plays` first: the others read it)."""


def ensure_views(conn: psycopg.Connection) -> list[str]:
    """Create or replace the BI views (and any gold table they read that is still missing); their names."""
    with conn.transaction():
        for spec in (FACT_RECENTLY_PLAYED, DIM_ARTIST, DIM_TRACK, DIM_DATE, KEY_MAP):
            # The lock the table's writers take (warehouse_write.write_table), so that creation never races.
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
SELECT p.play_id, p.listener_id, p.extraction_date, p.hour_of_day, p.track_key, p.track AS track_name,
       p.artist_key AS primary_artist_key, p.artist AS artist_name, p.duration_ms, p.ms_played
FROM bi.plays p
WHERE p.extraction_date BETWEEN %s AND %s
ORDER BY p.played_at, p.play_id
"""


def read_listening(conn: psycopg.Connection, first_day: date, last_day: date) -> pd.DataFrame:
    """Plays of [first_day, last_day] from `bi.plays` (keys resolved through gold.key_map), with names.

    Needs the views: call `ensure_views` first."""
    rows = conn.execute(LISTENING_QUERY, (first_day, last_day)).fetchall()
    frame = pd.DataFrame(rows, columns=list(LISTENING_COLUMNS))
    for column in ("hour_of_day", "duration_ms", "ms_played"):
        frame[column] = frame[column].astype("Int64")
    for column in ("play_id", "listener_id", "track_key", "track_name", "primary_artist_key", "artist_name"):
        frame[column] = frame[column].astype("string")
    return frame
