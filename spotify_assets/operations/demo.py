"""`spotify-assets demo` and `summary`: the whole graph over the last days, then rows and top artists."""

from __future__ import annotations

import sys
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from psycopg import sql

from spotify_assets.assets.resources import build_postgres
from spotify_assets.contracts.settings import Settings
from spotify_assets.contracts.tables import GOLD_TABLES, PLAYS
from spotify_assets.operations.instance_config import prepare_instance
from spotify_assets.operations.quiet_run import run_quietly
from spotify_assets.storage.bi import ensure_views

DEMO_DAYS = 7


def demo_partition_range(
    settings: Settings, days: int = DEMO_DAYS, today: date | None = None
) -> tuple[str, str]:
    """The last `days` complete days in the partitions' time zone, as (first, last) partition keys."""
    today = today or datetime.now(ZoneInfo(settings.partitions_timezone)).date()
    last = today - timedelta(days=1)
    first = max(last - timedelta(days=days - 1), settings.partitions_start_date)
    return first.isoformat(), last.isoformat()


def summary_lines(settings: Settings) -> list[str]:
    """Rows per gold table and the top 5 artists (as the report and BI views count them: `bi.plays`)."""
    lines = ["Rows in the warehouse:"]
    with build_postgres(settings).connect() as conn:
        for spec in (PLAYS, *GOLD_TABLES):
            table = sql.Identifier(spec.schema, spec.name)
            row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()
            if row is None:
                raise RuntimeError(f"count(*) of {spec.qualified_name} returned no row")
            count = row[0]
            lines.append(f"  {spec.qualified_name:<28} {count:>9,}")
        ensure_views(conn)
        top = conn.execute(
            """
            SELECT artist, count(*) AS plays, round(sum(listened_ms) / 60000.0) AS minutes
            FROM bi.plays GROUP BY artist_key, artist
            ORDER BY plays DESC, sum(listened_ms) DESC, artist, artist_key LIMIT 5
            """
        ).fetchall()
    lines.append("Top 5 artists:")
    lines += [
        f"  {i}. {name} ({plays} plays, {minutes:.0f} min)" for i, (name, plays, minutes) in enumerate(top, 1)
    ]
    return lines


def run_demo(settings: Settings) -> int:
    """Materialize the whole graph for the last 7 days as one run, then print the summary."""
    first, last = demo_partition_range(settings)
    print("\n".join(prepare_instance(settings)))
    command = [
        "dagster", "asset", "materialize",
        "-m", "spotify_assets.definitions", "--select", "*", "--partition-range", f"{first}...{last}",
    ]  # fmt: skip
    print(f"Materializing {first}...{last} ({settings.resolved_source} source): {' '.join(command)}")
    code = run_quietly(command, "demo")
    if code != 0:
        print(f"The run failed (exit {code}); the error is above.", file=sys.stderr)
        return code
    print("\n".join(summary_lines(settings)))
    return 0
