"""Warehouse load: one silver frame loaded by our IO manager, pandas `to_sql` (two ways) and psql `\\copy`.

The frame is one day of the project's sample source (`generate_recently_played(day, plays=N)`, flattened to
silver). Every method loads it into the same empty `silver.plays` table (typed columns, primary key, the
partition index), so they store the same rows:

- ours: `WarehouseIOManager.handle_output`, i.e. one transaction that deletes the partition and streams the
  frame as binary COPY encoded column by column with Arrow (then counts the table, as the metadata needs);
- psql `\\copy` of the same rows from a CSV file (written beforehand by `COPY ... TO STDOUT (FORMAT csv)`),
  with the embedded server's own psql: what PostgreSQL itself manages, the floor;
- pandas `to_sql(method=None)` (executemany) and `to_sql(method="multi", chunksize=10000)` (the original
  pipeline's way) through SQLAlchemy and psycopg 3. `multi` binds 370,000 parameters per statement, over the
  protocol's 65,535, so it runs on psycopg's client-side-binding cursor (what psycopg2 always did); it costs
  the same for every 10,000-row chunk, so by default it is timed on the first 100,000 rows and scaled to
  the frame (say `--multi-rows 0` to time it all: about 20 minutes on 2 cores).

Run: `.venv/bin/python benchmarks/bench_1_warehouse_load.py [--rows N] [--repeats R] [--multi-rows M]`.
"""

# ruff: noqa: E402 - PARTITIONS_START_DATE must be set before spotify_assets is imported.

import os

os.environ["PARTITIONS_START_DATE"] = "2022-01-01"

import argparse
import subprocess
from datetime import date
from pathlib import Path

import _common as bench
import dagster as dg
import pandas as pd
import pgserver
import psycopg
import sqlalchemy as sa
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from sqlalchemy.dialects import postgresql

from spotify_assets.sources.sample import generate_recently_played
from spotify_assets.storage.postgres import PostgresResource, embedded_server
from spotify_assets.storage.postgres_io import PostgresIOManager
from spotify_assets.storage.warehouse import count_rows, ensure_table, table_identifier
from spotify_assets.tables import PLAYS
from spotify_assets.transforms.silver import flatten_recently_played

DAY = date(2024, 1, 15)
PARTITION = DAY.isoformat()
MULTI_CHUNK = 10_000
TARGET_MULTI, TARGET_NONE, TARGET_FLOOR = 20.0, 3.0, 1.5
PSQL = Path(pgserver.__file__).parent / "pginstall" / "bin" / "psql"


def silver_frame(rows: int) -> pd.DataFrame:
    """`rows` sample plays of one day as a silver frame (deduplicated: one day in ms holds them all)."""
    return flatten_recently_played(generate_recently_played(DAY, plays=rows), "demo", "UTC")


def truncate(postgres: PostgresResource) -> None:
    with postgres.connect() as conn:
        conn.execute(sql.SQL("TRUNCATE {}").format(table_identifier(PLAYS)))
        conn.execute("CHECKPOINT")  # no method pays for the previous one's dirty pages


def table_rows(postgres: PostgresResource) -> int:
    with postgres.connect() as conn:
        return count_rows(conn, PLAYS)


def table_digest(postgres: PostgresResource) -> str:
    """md5 of the table's rows as PostgreSQL prints them, in key order: equal digests, equal rows."""
    query = sql.SQL("SELECT md5(string_agg(t::text, E'\\n' ORDER BY {})) FROM {} t").format(
        sql.SQL(", ").join(sql.Identifier(name) for name in PLAYS.primary_key), table_identifier(PLAYS)
    )
    with postgres.connect() as conn:
        row = conn.execute(query).fetchone()
    return str(row[0]) if row else ""


def load_with_io_manager(postgres: PostgresResource, frame: pd.DataFrame) -> None:
    context = dg.build_output_context(asset_key=dg.AssetKey(["silver", "plays"]), partition_key=PARTITION)
    PostgresIOManager(postgres=postgres).handle_output(context, {PARTITION: frame})


def export_csv(postgres: PostgresResource, path: Path) -> None:
    columns = sql.SQL(", ").join(sql.Identifier(name) for name in PLAYS.column_names)
    statement = sql.SQL("COPY {} ({}) TO STDOUT (FORMAT csv)").format(table_identifier(PLAYS), columns)
    with postgres.connect() as conn, path.open("wb") as sink, conn.cursor().copy(statement) as copy:
        for block in copy:
            sink.write(block)


def psql_loader(postgres: PostgresResource, csv_path: Path):
    """A function that loads the CSV file with psql's `\\copy` in one transaction, as ours does."""
    info = embedded_server(postgres.embedded_dir).get_postmaster_info()
    host = str(info.socket_dir) if info.socket_dir is not None else info.hostname
    command = [str(PSQL), "-h", host, "-p", str(info.port), "-U", "postgres", "-d", postgres.dbname]
    columns = ", ".join(f'"{name}"' for name in PLAYS.column_names)
    script = (
        f"BEGIN;\nDELETE FROM silver.plays WHERE extraction_date = '{PARTITION}';\n"
        f"\\copy silver.plays ({columns}) FROM '{csv_path}' WITH (FORMAT csv)\nCOMMIT;\n"
    )

    def load() -> None:
        subprocess.run([*command, "-q", "-v", "ON_ERROR_STOP=1"], input=script.encode(), check=True)

    return load


def engine(postgres: PostgresResource, client_side_binding: bool) -> sa.Engine:
    """A SQLAlchemy engine on psycopg 3 for the embedded server."""
    args: dict = conninfo_to_dict(postgres.conninfo())
    if client_side_binding:
        args["cursor_factory"] = psycopg.ClientCursor
    return sa.create_engine("postgresql+psycopg://", connect_args=args)


def to_sql_loader(postgres: PostgresResource, frame: pd.DataFrame, method: str | None):
    chunksize = MULTI_CHUNK if method == "multi" else None
    # text[] columns as arrays (pandas would call them text); every other type is pandas' own choice.
    arrays = {c.name: postgresql.ARRAY(sa.Text) for c in PLAYS.columns if c.pg_type == "text[]"}
    target = engine(postgres, client_side_binding=method == "multi")

    def load() -> None:
        frame.to_sql(
            PLAYS.name,
            target,
            schema=PLAYS.schema,
            if_exists="append",
            index=False,
            method=method,
            chunksize=chunksize,
            dtype=arrays,
        )

    return load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the frame (default 1,000,000)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of ours and of \\copy (best is kept)")
    parser.add_argument(
        "--multi-rows",
        type=int,
        default=100_000,
        help="rows timed for to_sql multi, scaled to --rows (0: all rows)",
    )
    args = parser.parse_args()

    print(f"Building {args.rows:,} silver rows from the sample source ({PARTITION}) ...", flush=True)
    frame = silver_frame(args.rows)
    rows = len(frame)
    multi_rows = rows if not args.multi_rows or args.multi_rows >= rows else args.multi_rows
    with bench.temporary_stack("load") as stack:
        postgres = stack.postgres
        with postgres.connect() as conn:
            ensure_table(conn, PLAYS)
        csv_path = stack.root / "plays.csv"
        times: dict[str, list[float]] = {}
        digests: dict[str, str] = {}

        def measure(name: str, load, repeats: int, expected_rows: int) -> None:
            print(f"  {name} ...", flush=True)
            times[name] = bench.best_of(repeats, load, before=lambda: truncate(postgres))
            found = table_rows(postgres)
            if found != expected_rows:
                raise RuntimeError(f"{name} left {found:,} rows, expected {expected_rows:,}")
            if expected_rows == rows:
                digests[name] = table_digest(postgres)

        measure("ours", lambda: load_with_io_manager(postgres, frame), args.repeats, rows)
        export_csv(postgres, csv_path)
        measure("copy", psql_loader(postgres, csv_path), args.repeats, rows)
        measure("to_sql_none", to_sql_loader(postgres, frame, None), 1, rows)
        measure("to_sql_multi", to_sql_loader(postgres, frame.iloc[:multi_rows], "multi"), 1, multi_rows)
        csv_mb = csv_path.stat().st_size / 1e6

    if len(set(digests.values())) != 1:
        raise RuntimeError(f"the methods stored different rows: {digests}")
    best = {name: min(values) for name, values in times.items()}
    best["to_sql_multi"] *= rows / multi_rows  # the same cost per 10,000-row chunk
    ours = best["ours"]
    print()
    print(f"silver.plays, {rows:,} rows x {len(PLAYS.columns)} columns ({csv_mb:,.0f} MB as CSV), same rows")
    print(f"stored by every method (md5 of the table equal); {bench.machine_note()}")
    print()
    multi_note = "" if multi_rows == rows else f", timed on {multi_rows:,} rows and scaled"
    table = [
        ("ours: WarehouseIOManager (binary COPY)", times["ours"], ours, "1.00x", ""),
        ("psql \\copy from CSV (the floor)", times["copy"], best["copy"], None, f"<= {TARGET_FLOOR}x"),
        ("pandas to_sql(method=None)", times["to_sql_none"], best["to_sql_none"], None, f">= {TARGET_NONE}x"),
        (
            f'pandas to_sql(method="multi", chunksize=10000){multi_note}',
            times["to_sql_multi"],
            best["to_sql_multi"],
            None,
            f">= {TARGET_MULTI}x",
        ),
    ]
    rows_out = []
    for label, runs, value, ratio, target in table:
        ratio = ratio or (f"{ours / value:.2f}x" if "floor" in label else f"{value / ours:.1f}x")
        runs_text = ", ".join(f"{t:.2f}" for t in runs)
        rows_out.append((label, runs_text, bench.seconds(value), ratio, target))
    bench.print_table(["method", "runs (s)", "best", "ours vs it", "target"], rows_out)
    print()
    print("(ours vs it: how many times faster ours is; for the floor, ours' time over \\copy's)")
    vs_multi, vs_none, vs_floor = best["to_sql_multi"] / ours, best["to_sql_none"] / ours, ours / best["copy"]
    print(bench.result_line("warehouse_load_vs_to_sql_multi", vs_multi, f">= {TARGET_MULTI}x"))
    print(bench.result_line("warehouse_load_vs_to_sql_none", vs_none, f">= {TARGET_NONE}x"))
    print(bench.result_line("warehouse_load_vs_copy_floor", vs_floor, f"<= {TARGET_FLOOR}x"))


if __name__ == "__main__":
    main()
