"""`spotify-assets rebuild <schema>/<table>`: drop a warehouse table and re-materialize it from the lake.

For a table that a newer spec changed in a way that cannot be applied in place. Silver tables are built from
raw objects in the lake and gold tables from silver objects, so a rebuild reads the lake only (no Spotify
call). The partitions are the ones whose objects the lake holds for the table's asset: one single run per
range of consecutive days, so days that were never materialized stay out.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable, Sequence
from datetime import date, timedelta

from spotify_assets.assets.resources import build_lake, build_postgres
from spotify_assets.contracts.settings import Settings
from spotify_assets.contracts.tables import TABLES, TableSpec
from spotify_assets.operations.quiet_run import run_quietly
from spotify_assets.storage.bi import BI_SCHEMA, ensure_views
from spotify_assets.storage.lake import PARTITION_COLUMN, LakeResource
from spotify_assets.storage.warehouse import count_rows, drop_table, table_exists


def table_of(name: str) -> TableSpec:
    """The spec of `schema/table` (an asset key) or `schema.table`."""
    qualified = name.strip("/").replace("/", ".")
    if qualified not in TABLES:
        known = ", ".join(spec.replace(".", "/") for spec in TABLES)
        raise ValueError(f"{name!r} is not a warehouse table; the tables are {known}")
    return TABLES[qualified]


def asset_key(spec: TableSpec) -> str:
    """The table's asset key as Dagster's CLI selects it: `schema/table`."""
    return spec.asset_key.to_user_string()


def lake_partitions(lake: LakeResource, spec: TableSpec) -> list[str]:
    """The partition keys whose object of the table's asset the lake holds, sorted."""
    path = [spec.schema, spec.name]
    keys = set(lake.list_keys("/".join(path) + "/"))
    found = set()
    for key in keys:
        folder = key.split("/")[2] if key.count("/") == 3 else ""
        day = folder.removeprefix(f"{PARTITION_COLUMN}=")
        if day != folder and lake.table_path(path, day) == key:
            found.add(day)
    return sorted(found)


def day_ranges(days: Sequence[str]) -> list[tuple[str, str]]:
    """Sorted days as (first, last) ranges of consecutive days."""
    ranges: list[tuple[str, str]] = []
    for day in days:
        if ranges and date.fromisoformat(ranges[-1][1]) + timedelta(days=1) == date.fromisoformat(day):
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges


def materialize_commands(spec: TableSpec, ranges: Sequence[tuple[str, str]]) -> list[list[str]]:
    """`dagster asset materialize` of the table's asset, one single run per range of days."""
    return [
        [
            "dagster",
            "asset",
            "materialize",
            "-m",
            "spotify_assets.definitions",
            "--select",
            asset_key(spec),
            "--partition-range",
            f"{first}...{last}",
        ]  # fmt: skip
        for first, last in ranges
    ]


def confirm(question: str, ask: Callable[[str], str]) -> bool:
    """Whether the answer to `question` is yes; no terminal to answer on (EOF) is a no."""
    try:
        return ask(question).strip().lower() in ("y", "yes")
    except EOFError:  # no terminal to answer on: the safe answer
        return False


def run_rebuild(
    settings: Settings, name: str, yes: bool = False, dry_run: bool = False, ask: Callable[[str], str] = input
) -> int:
    """Drop the table (asking first, unless `yes`) and rebuild it from the lake; `dry_run` only says how."""
    spec = table_of(name)
    days = lake_partitions(build_lake(settings), spec)
    if not days:
        print(
            f"The lake holds no partitions of {asset_key(spec)}: nothing to rebuild it from.", file=sys.stderr
        )
        return 1
    commands = materialize_commands(spec, day_ranges(days))
    print(f"{spec.qualified_name} is rebuilt from {len(days)} lake partition(s) of {asset_key(spec)}, with:")
    print("\n".join(f"  {shlex.join(command)}" for command in commands))
    if dry_run:
        return 0
    postgres = build_postgres(settings)
    with postgres.connect() as conn:
        rows = count_rows(conn, spec) if table_exists(conn, spec) else 0
        row = conn.execute("SELECT to_regnamespace(%s) IS NOT NULL", (BI_SCHEMA,)).fetchone()
        views = bool(row and row[0])
    if not yes and not confirm(f"Drop {spec.qualified_name} ({rows:,} rows) and rebuild it? [y/N] ", ask):
        print("Nothing dropped.")
        return 1
    with postgres.connect() as conn:
        print(f"Dropped {spec.qualified_name} ({drop_table(conn, spec):,} rows).", flush=True)
    for command in commands:
        code = run_quietly(command, "rebuild")
        if code != 0:
            print(
                f"The run failed (exit {code}); {spec.qualified_name} is incomplete. The lake "
                f"still holds every partition: fix the cause and run `spotify-assets rebuild "
                f"{asset_key(spec)} --yes` again.",
                file=sys.stderr,
            )
            return code
    with postgres.connect() as conn:
        if views:  # dropping the table dropped the BI views that read it
            ensure_views(conn)
        print(f"Rebuilt {spec.qualified_name}: {count_rows(conn, spec):,} rows.")
    return 0
