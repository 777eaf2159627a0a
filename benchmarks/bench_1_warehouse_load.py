"""Warehouse load: one silver frame written by production's IO manager vs ADBC, pgpq, psql and pandas.

The frame is one day of the project's sample source (`generate_recently_played(day, plays=N)`, flattened to
silver). Every method loads it into the same `silver.plays` table (typed columns, primary key, the partition
index; created by an untimed warm-up run of ours and emptied before each timed run), and after each method the
table's md5 (`string_agg(t::text ORDER BY primary key)`) and row count must equal ours', or the script exits
non-zero. Ours, ADBC, pgpq and `\\copy` run in rounds, each once per round, so that load from elsewhere on the
machine hits them alike; the best of `--repeats` rounds is kept (to_sql: one run).

- ours: the production path. The IO manager is not named here: it is the resource that
  `build_definitions(settings)` binds to the `silver/plays` asset (the asset's `io_manager_key`, looked up on
  its AssetsDefinition, and that key's resource), so the benchmark follows any change of class or key. It
  is driven as Dagster drives it for one partition: `dg.materialize` of a stand-in asset with the same key,
  partitions and io_manager_key that returns `DayBatches.of({partition: frame})`, with the definitions'
  resources, on an ephemeral instance, lake in the benchmark's temporary folder, warehouse in its embedded
  PostgreSQL. Today that IO manager writes the lake's Parquet object and then the warehouse in one
  transaction (advisory lock, DELETE of the partition, binary COPY encoded by pgpq and sent by psycopg,
  count(*) for the metadata).
  Two figures: the whole run (Dagster's own overhead included: run and step events, the output's metadata)
  and the IO manager's share, the seconds inside its `handle_output` (found on the resource's own class, at
  run time). The share is the reference for the ratios: it is what the other methods do, plus the lake
  object (whose Parquet encoding, `pyarrow.parquet.write_table`, is also printed).
- ADBC: `adbc_driver_postgresql.dbapi` with `cursor.adbc_ingest(mode="append")` (Arrow-native binary COPY);
- pgpq: `ArrowToPostgresBinaryEncoder` batches sent with psycopg's `cursor.copy(... FORMAT binary)`, through
  psycopg's queued writer, in the production COPY's chunks (`warehouse_write.CHUNK_ROWS`): since ours
  encodes with pgpq too, this is ours' warehouse COPY without our IO manager, and ours' share minus it is our
  IO manager's own cost (the lake object with its own `to_arrow`, the advisory lock, the table check,
  count(*), the metadata);
  Both start from the frame, so like ours they pay `to_arrow(frame, PLAYS)` (also printed alone), and both
  delete the partition and load in one transaction. Both load every PLAYS column type as it is (text,
  text[] = list<string>, timestamptz = timestamp[ms, UTC], date, integer, bigint, boolean): no cast needed.
  pgpq names the timestamp column "timestamp" in its schema, but binary COPY's timestamp and timestamptz
  values are the same microseconds since 2000-01-01 UTC, and the md5 check shows the stored rows equal.
- psql `\\copy` of the same rows from a CSV file (written beforehand by `COPY ... TO STDOUT (FORMAT csv)`),
  with the embedded server's own psql: what PostgreSQL itself manages, the floor;
- pandas `to_sql(method=None)` (executemany) and `to_sql(method="multi", chunksize=10000)` (the original
  pipeline's way) through SQLAlchemy and psycopg 3. `multi` binds 370,000 parameters per statement, over the
  protocol's 65,535, so it runs on psycopg's client-side-binding cursor (what psycopg2 always did); it costs
  the same for every 10,000-row chunk, so by default it is timed on the first 100,000 rows and scaled to
  the frame (say `--multi-rows 0` to time it all: about 20 minutes on 2 cores).

No encoder is timed alone any more. Until issue 13 ours encoded binary COPY by hand (Arrow and numpy, ~135
lines, `encode_binary_rows`), and this script also timed that encoder against pgpq's on the same Arrow table
in 65,536-row chunks, no database: on 1,000,000 rows ours 2.81 s, pgpq 2.11 s (two earlier runs: 3.05 vs
2.20 s, 3.78 vs 3.15 s), 1.2x-1.4x in pgpq's favour, with the same table md5 after both loads. The bar for
keeping the hand-written encoder was "clearly faster" (1.3x), so production switched to pgpq and the
hand-written encoder was deleted; that comparison is in git history (before commit 718306d).

Run: `.venv/bin/python benchmarks/bench_1_warehouse_load.py [--rows N] [--repeats R] [--multi-rows M]`.
"""

# ruff: noqa: E402 - PARTITIONS_START_DATE must be set before spotify_assets is imported.

import os

os.environ["PARTITIONS_START_DATE"] = "2022-01-01"

import argparse
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import _common as bench
import adbc_driver_postgresql.dbapi as adbc
import dagster as dg
import pandas as pd
import pgpq
import pgserver
import psycopg
import pyarrow.parquet as pq
import sqlalchemy as sa
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.copy import QueuedLibpqWriter
from sqlalchemy.dialects import postgresql

from spotify_assets.contracts.day_batches import DayBatches
from spotify_assets.contracts.settings import Settings
from spotify_assets.contracts.table_frames import to_arrow
from spotify_assets.contracts.tables import PLAYS
from spotify_assets.definitions import build_definitions
from spotify_assets.sources.sample import generate_recently_played
from spotify_assets.storage.postgres import PostgresResource, embedded_server
from spotify_assets.storage.warehouse_write import CHUNK_ROWS
from spotify_assets.transforms.silver import flatten_recently_played

DAY = date(2024, 1, 15)
PARTITION = DAY.isoformat()
ASSET_KEY = dg.AssetKey([PLAYS.schema, PLAYS.name])
MULTI_CHUNK = 10_000
TARGET_MULTI, TARGET_NONE, TARGET_FLOOR = 20.0, 3.0, 1.5
PSQL = Path(pgserver.__file__).parent / "pginstall" / "bin" / "psql"
TABLE = sql.SQL("{}.{}").format(sql.Identifier(PLAYS.schema), sql.Identifier(PLAYS.name))
DELETE_PARTITION = sql.SQL("DELETE FROM {} WHERE {} = {}").format(
    TABLE, sql.Identifier(str(PLAYS.partition_column)), sql.Literal(PARTITION)
)


def silver_frame(rows: int) -> pd.DataFrame:
    """`rows` sample plays of one day as a silver frame (deduplicated: one day in ms holds them all)."""
    return flatten_recently_played(generate_recently_played(DAY, plays=rows), "demo", "UTC")


def truncate(postgres: PostgresResource) -> None:
    with postgres.connect() as conn:
        conn.execute(sql.SQL("TRUNCATE {}").format(TABLE))
        conn.execute("CHECKPOINT")  # no method pays for the previous one's dirty pages


def table_rows(postgres: PostgresResource) -> int:
    with postgres.connect() as conn:
        row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(TABLE)).fetchone()
    return int(row[0]) if row else 0


def table_digest(postgres: PostgresResource) -> str:
    """md5 of the table's rows as PostgreSQL prints them, in key order: equal digests, equal rows."""
    query = sql.SQL("SELECT md5(string_agg(t::text, E'\\n' ORDER BY {})) FROM {} t").format(
        sql.SQL(", ").join(sql.Identifier(name) for name in PLAYS.primary_key), TABLE
    )
    with postgres.connect() as conn:
        row = conn.execute(query).fetchone()
    return str(row[0]) if row else ""


# --- ours: the IO manager production binds to silver/plays, driven by Dagster ---------------------------


@contextmanager
def timed_calls(owner: Any, name: str, spent: list[float]) -> Iterator[None]:
    """While open, every call of `owner.name` (a class's method or a module's function) adds its seconds."""
    own = owner.__dict__.get(name)  # None when a class inherits the method
    original = getattr(owner, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent.append(time.perf_counter() - started)

    setattr(owner, name, timed)
    try:
        yield
    finally:
        if own is None:
            delattr(owner, name)
        else:
            setattr(owner, name, own)


class ProductionLoad:
    """One partition of `frame` written by the IO manager the definitions bind to silver/plays, in a run.

    `shares` collects, per timed run, the seconds inside the IO manager's `handle_output` and inside
    Parquet encoding (`pyarrow.parquet.write_table`, 0 if the lake writes no Parquet).
    """

    def __init__(self, settings: Settings, frame: pd.DataFrame) -> None:
        defs = build_definitions(settings)
        production = next(
            a for a in defs.assets if isinstance(a, dg.AssetsDefinition) and ASSET_KEY in a.keys
        )
        self.io_manager_key = production.get_io_manager_key_for_asset_key(ASSET_KEY)
        self.resources = dict(defs.resources)
        self.io_manager_class = type(self.resources[self.io_manager_key])
        self.lake_dir = Path(settings.lake_dir)
        self.frame = frame
        self.shares: list[tuple[float, float]] = []

        @dg.asset(
            key=ASSET_KEY,
            partitions_def=production.partitions_def,
            io_manager_key=self.io_manager_key,
            metadata=production.metadata_by_key.get(ASSET_KEY),
        )
        def stand_in() -> DayBatches:
            return DayBatches.of({PARTITION: self.frame})

        self.asset = stand_in

    def describe(self) -> str:
        return f'{self.io_manager_class.__name__} (resource "{self.io_manager_key}")'

    def run(self, frame: pd.DataFrame | None = None) -> None:
        self.frame = self.frame if frame is None else frame
        handle: list[float] = []
        parquet: list[float] = []
        with (
            timed_calls(self.io_manager_class, "handle_output", handle),
            timed_calls(pq, "write_table", parquet),
        ):
            result = dg.materialize(
                [self.asset],
                resources=self.resources,
                partition_key=PARTITION,
                run_config=bench.QUIET,
                instance=dg.DagsterInstance.ephemeral(),
                raise_on_error=True,
            )
        if not result.success:
            raise RuntimeError("the production IO manager's run failed")
        self.shares.append((sum(handle), sum(parquet)))

    def before(self, postgres: PostgresResource) -> None:
        """Untimed: an empty table and no lake object, as every other method starts."""
        truncate(postgres)
        shutil.rmtree(self.lake_dir, ignore_errors=True)


# --- the libraries -------------------------------------------------------------------------------------


def adbc_uri(postgres: PostgresResource) -> str:
    """The resource's connection as a libpq URI (the ADBC driver takes a URI)."""
    params = conninfo_to_dict(postgres.conninfo())
    user, dbname = str(params.pop("user", "")), str(params.pop("dbname", ""))
    return f"postgresql://{quote(user)}@/{quote(dbname)}?{urlencode(params)}"


def adbc_loader(postgres: PostgresResource, frame: pd.DataFrame) -> Callable[[], None]:
    """ADBC bulk ingest (binary COPY from Arrow) after deleting the partition, in one transaction."""
    uri = adbc_uri(postgres)
    delete = DELETE_PARTITION.as_string()

    def load() -> None:
        data = to_arrow(frame, PLAYS)
        with adbc.connect(uri) as conn, conn.cursor() as cursor:
            cursor.execute(delete)
            cursor.adbc_ingest(PLAYS.name, data, mode="append", db_schema_name=PLAYS.schema)
            conn.commit()

    return load


def pgpq_loader(postgres: PostgresResource, frame: pd.DataFrame) -> Callable[[], None]:
    """pgpq-encoded binary COPY sent by psycopg after deleting the partition, in one transaction."""
    columns = sql.SQL(", ").join(sql.Identifier(name) for name in PLAYS.column_names)
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary)").format(TABLE, columns)

    def load() -> None:
        data = to_arrow(frame, PLAYS)
        encoder = pgpq.ArrowToPostgresBinaryEncoder(data.schema)
        with postgres.connect() as conn, conn.cursor() as cursor:
            cursor.execute(DELETE_PARTITION)
            with cursor.copy(statement, writer=QueuedLibpqWriter(cursor)) as copy:
                copy.write(encoder.write_header())
                for batch in data.to_batches(max_chunksize=CHUNK_ROWS):
                    copy.write(encoder.write_batch(batch))
                copy.write(encoder.finish())

    return load


# --- psql and pandas, as before --------------------------------------------------------------------------


def export_csv(postgres: PostgresResource, path: Path) -> None:
    columns = sql.SQL(", ").join(sql.Identifier(name) for name in PLAYS.column_names)
    statement = sql.SQL("COPY {} ({}) TO STDOUT (FORMAT csv)").format(TABLE, columns)
    with postgres.connect() as conn, path.open("wb") as sink, conn.cursor().copy(statement) as copy:
        for block in copy:
            sink.write(block)


def psql_loader(postgres: PostgresResource, csv_path: Path) -> Callable[[], None]:
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


def to_sql_loader(postgres: PostgresResource, frame: pd.DataFrame, method: str | None) -> Callable[[], None]:
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
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs of ours, ADBC, pgpq and \\copy (best kept)"
    )
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
    times: dict[str, list[float]] = {}
    digests: dict[str, str] = {}
    with bench.temporary_stack("load") as stack:
        postgres = stack.postgres
        ours = ProductionLoad(stack.settings, frame)
        print(f"  ours = {ours.describe()}, bound to {ASSET_KEY.to_user_string()} by the definitions")
        # Untimed warm-up with the whole frame: creates the typed table, fills first-run caches, and leaves
        # the rows that psql's CSV file is exported from.
        ours.run()
        ours.shares = []
        csv_path = stack.root / "plays.csv"
        export_csv(postgres, csv_path)

        def verify(name: str, expected_rows: int) -> None:
            found = table_rows(postgres)
            if found != expected_rows:
                raise RuntimeError(f"{name} left {found:,} rows, expected {expected_rows:,}")
            if expected_rows == rows:
                digests[name] = table_digest(postgres)
                print(f"    {name}: {found:,} rows, md5 {digests[name]}", flush=True)

        # Round-robin: each round runs every method once, so a burst of load from elsewhere on the machine
        # hits them alike; the rows are checked after each method's run in the last round.
        empty: Callable[[], object] = lambda: truncate(postgres)  # noqa: E731
        methods: dict[str, tuple[Callable[[], object], Callable[[], object]]] = {
            "ours": (ours.run, lambda: ours.before(postgres)),
            "adbc": (adbc_loader(postgres, frame), empty),
            "pgpq": (pgpq_loader(postgres, frame), empty),
            "copy": (psql_loader(postgres, csv_path), empty),
        }
        for round_number in range(1, args.repeats + 1):
            print(f"  round {round_number} of {args.repeats}: {', '.join(methods)} ...", flush=True)
            for name, (load, before) in methods.items():
                before()
                times.setdefault(name, []).append(bench.timed(load))
                if round_number == args.repeats:
                    verify(name, rows)
        for name, load, expected_rows in (
            ("to_sql_none", to_sql_loader(postgres, frame, None), rows),
            ("to_sql_multi", to_sql_loader(postgres, frame.iloc[:multi_rows], "multi"), multi_rows),
        ):
            print(f"  {name} ...", flush=True)
            empty()
            times[name] = [bench.timed(load)]
            verify(name, expected_rows)
        csv_mb = csv_path.stat().st_size / 1e6

    print("  to_arrow alone (no database) ...", flush=True)
    to_arrow_times = bench.best_of(args.repeats, lambda: to_arrow(frame, PLAYS))

    # ours' reference is the IO manager's share of its best run; the whole run is shown too.
    best_run = min(range(len(times["ours"])), key=times["ours"].__getitem__)
    handle, parquet = ours.shares[best_run]
    shares = [share for share, _ in ours.shares]
    best = {name: min(values) for name, values in times.items()}
    best["to_sql_multi"] *= rows / multi_rows  # the same cost per 10,000-row chunk
    reference = handle if handle > 0 else best["ours"]

    def md5_ok(name: str) -> str:
        if name not in digests:
            return "n/a (part)"
        return "yes" if digests[name] == digests["ours"] else "NO"

    multi_note = "" if multi_rows == rows else f", timed on {multi_rows:,} rows and scaled"
    table = [
        ("ours: the whole Dagster run", times["ours"], best["ours"], "ours", ""),
        ("ours: its handle_output (lake Parquet + warehouse)", shares, handle, "ours", ""),
        ("ADBC adbc_ingest (binary COPY from Arrow)", times["adbc"], best["adbc"], "adbc", ""),
        ("pgpq + psycopg COPY (ours' encoder, no IO manager)", times["pgpq"], best["pgpq"], "pgpq", ""),
        ("psql \\copy from CSV (the floor)", times["copy"], best["copy"], "copy", f"<= {TARGET_FLOOR}x"),
        ("pandas to_sql(method=None)", times["to_sql_none"], best["to_sql_none"], "to_sql_none", ""),
        (
            f'pandas to_sql(method="multi", chunksize=10000){multi_note}',
            times["to_sql_multi"],
            best["to_sql_multi"],
            "to_sql_multi",
            "",
        ),
    ]
    print()
    print(f"silver.plays, {rows:,} rows x {len(PLAYS.columns)} columns ({csv_mb:,.0f} MB as CSV), partition")
    print(f"{PARTITION}; best of {args.repeats} (to_sql: 1 run); {bench.machine_note()}")
    print()
    rows_out = []
    for label, runs, value, name, _ in table:
        runs_text = ", ".join(f"{t:.2f}" for t in runs)
        rows_out.append(
            (
                label,
                runs_text,
                bench.seconds(value),
                f"{rows / value:,.0f}",
                f"{value / reference:.2f}x",
                md5_ok(name),
            )
        )
    bench.print_table(["method", "runs (s)", "best", "rows/s", "vs ours", "md5 ok"], rows_out)
    print()
    print("(vs ours: the method's seconds over ours' handle_output seconds; above 1, ours is faster)")
    print(f"ours' best run: handle_output {handle:.2f} s of {best['ours']:.2f} s (Dagster's own overhead")
    print(f"{best['ours'] - handle:.2f} s), of which Parquet encoding for the lake {parquet:.2f} s;")
    print(f"to_arrow(frame, PLAYS), paid by ours, ADBC and pgpq alike: {min(to_arrow_times):.2f} s")
    print()
    print("md5 of the table after each method:")
    for name, digest in digests.items():
        print(f"  {name:<12} {digest}  {md5_ok(name)}")
    print()
    # ours' warehouse COPY is pgpq's too: what ours spends beyond plain pgpq is the IO manager's own work.
    own = reference - best["pgpq"]
    print(f"ours' handle_output minus plain pgpq + psycopg COPY (the same encoder): {own:.2f} s, our IO")
    print("manager's own cost: the lake object (its own to_arrow, Parquet encoding, the write), the advisory")
    print("lock, the table check, count(*) and the metadata")
    print()
    failed = [name for name in digests if digests[name] != digests["ours"]]
    if failed:
        print(f"FAILED: the table's md5 after {', '.join(failed)} differs from ours'", file=sys.stderr)
        sys.exit(1)
    print(
        bench.result_line(
            "warehouse_load_vs_to_sql_multi", best["to_sql_multi"] / reference, f">= {TARGET_MULTI}x"
        )
    )
    print(
        bench.result_line(
            "warehouse_load_vs_to_sql_none", best["to_sql_none"] / reference, f">= {TARGET_NONE}x"
        )
    )
    print(bench.result_line("warehouse_load_vs_copy_floor", reference / best["copy"], f"<= {TARGET_FLOOR}x"))


if __name__ == "__main__":
    main()
