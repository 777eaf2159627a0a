"""A decade of history: a 10-year export imported as the README says, against the same run's floor.

The export is built from the repository's own fixture (`../shared/fixtures/spotify/extended_history/
Streaming_History_Audio_2022.json`, 35 real plays): every day of the decade gets `--plays-per-day` of those
rows, shifted to that day at distinct times, in one `Streaming_History_Audio_<year>.json` file a year as
Spotify splits them. The stand-in Spotify (the tests' local HTTP server) lists no recent plays, so every play
comes from the export. Both sides start from an empty lake, warehouse and Dagster instance:

- the import: `spotify-assets instance`, then `dagster asset materialize -m spotify_assets.definitions
  --select '*' --partition-range FIRST...LAST`, one run on the default PostgreSQL instance (the generated
  dagster.yaml), in a child process as a user runs it;
- the floor: the same assets and checks over the same days as one run in a child process, with Dagster's
  event writes taken out (an in-memory instance that keeps nothing), so what is left is the import, the
  transforms and the lake and warehouse writes, with Dagster's in-process execution around them.

Afterwards every warehouse table's md5 must be equal on both sides and every partition of every asset must
show materialized in Dagster's partition status; the script exits 1 otherwise.

Run: `.venv/bin/python benchmarks/bench_6_decade.py [--years 10] [--plays-per-day 15]`.
"""

# ruff: noqa: E402 - PARTITIONS_START_DATE must be set before spotify_assets is imported.

import os

FIRST_DAY = "2015-01-01"
os.environ["PARTITIONS_START_DATE"] = FIRST_DAY
os.environ["PARTITIONS_TIMEZONE"] = "UTC"

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

# The stand-in Spotify is the tests' (not installed with the package): importable from the repository's root.
sys.path.append(str(Path(__file__).resolve().parents[1]))

import _common as bench
import dagster as dg
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log import InMemoryEventLogStorage
from psycopg import sql

from spotify_assets.contracts.tables import TABLES
from spotify_assets.storage.postgres import PostgresResource, stop_embedded_server
from spotify_assets_tests.fake_spotify import FakeSpotify, fake_settings, seed_token_file

FIXTURE = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "fixtures"
    / "spotify"
    / "extended_history"
    / "Streaming_History_Audio_2022.json"
)
TARGET_SECONDS = 120.0
TARGET_RATIO = 3.0


def decade_export(folder: Path, first: date, last: date, plays_per_day: int) -> tuple[int, int]:
    """One file a year of fixture rows shifted onto every day first..last; (plays, days)."""
    rows = [row for row in json.loads(FIXTURE.read_text(encoding="utf-8")) if row["spotify_track_uri"]]
    folder.mkdir(parents=True)
    by_year: dict[int, list[dict[str, Any]]] = {}
    day, n, plays = first, 0, 0
    spacing = 86_400 // plays_per_day
    while day <= last:
        for slot in range(plays_per_day):
            row = dict(rows[n % len(rows)])
            n += 1
            stop = datetime(day.year, day.month, day.day) + timedelta(seconds=slot * spacing + n % 60)
            row["ts"] = stop.strftime("%Y-%m-%dT%H:%M:%SZ")
            by_year.setdefault(day.year, []).append(row)
            plays += 1
        day += timedelta(days=1)
    for year, year_rows in by_year.items():
        text = json.dumps(year_rows, ensure_ascii=False)
        (folder / f"Streaming_History_Audio_{year}.json").write_text(text, encoding="utf-8")
    return plays, (last - first).days + 1


def side_env(root: Path, export: Path, fake: FakeSpotify) -> dict[str, str]:
    """A user's shell on a stack of its own under `root`: embedded PostgreSQL, lake, DAGSTER_HOME, export."""
    settings = fake_settings(fake, root)
    seed_token_file(settings)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPOTIFY_", "DB_", "S3_", "DAGSTER_"))}
    env.update(
        DAGSTER_HOME=str(root / "dagster_home"),
        LAKE_DIR=str(root / "lake"),
        EMBEDDED_PG_DIR=str(root / "postgres"),
        HISTORY_DIR=str(export),
        SPOTIFY_SOURCE="live",
        SPOTIFY_CLIENT_ID=str(settings.spotify_client_id),
        SPOTIFY_CLIENT_SECRET=settings.spotify_client_secret.get_secret_value(),
        SPOTIFY_API_BASE_URL=settings.spotify_api_base_url,
        SPOTIFY_ACCOUNTS_BASE_URL=settings.spotify_accounts_base_url,
        SPOTIFY_TOKEN_FILE=settings.spotify_token_file,
    )
    (root / "dagster_home").mkdir(parents=True)
    return env


def run_child(command: list[str], env: dict[str, str], cwd: Path, log: Path) -> float:
    started = time.perf_counter()
    with log.open("w") as out:
        result = subprocess.run(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{' '.join(command[:6])} ... failed (exit {result.returncode}); its output: {log}")
    return seconds


def import_as_readme(root: Path, env: dict[str, str], first: date, last: date) -> float:
    bin_dir = Path(sys.executable).parent
    instance = [sys.executable, "-m", "spotify_assets.operations.cli", "instance"]
    run_child(instance, env, root, root / "instance.log")
    command = [str(bin_dir / "dagster"), "asset", "materialize", "-m", "spotify_assets.definitions",
               "--select", "*", "--partition-range", f"{first}...{last}"]  # fmt: skip
    return run_child(command, env, root, root / "import.log")


def floor(root: Path, env: dict[str, str], first: date, last: date) -> float:
    command = [sys.executable, __file__, "--floor-run", f"{first}...{last}"]
    return run_child(command, env, root, root / "floor.log")


class DiscardingEventLog(InMemoryEventLogStorage):
    """An event log that keeps nothing: what is left of a run is its data work and Dagster's execution."""

    @property
    def supports_partition_subset_in_asset_materialization_planned_events(self) -> bool:
        return True  # one planned event per asset, as the project's own storage plans a range

    def store_event(self, event: EventLogEntry) -> None:
        pass

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        pass


def floor_run(first: date, last: date) -> None:
    """The floor's child: every asset and check over first..last as one run, events kept nowhere."""
    from spotify_assets.definitions import defs

    job = dg.define_asset_job("floor", selection=dg.AssetSelection.all())
    job_def = dg.Definitions.merge(defs, dg.Definitions(jobs=[job])).resolve_job_def("floor")
    tags = {bench.RANGE_START: first.isoformat(), bench.RANGE_END: last.isoformat()}
    instance = dg.DagsterInstance.ephemeral()
    instance._event_storage = DiscardingEventLog()  # noqa: SLF001 - the floor's point: no event is written
    instance._event_storage.register_instance(instance)  # noqa: SLF001
    result = job_def.execute_in_process(
        instance=instance, tags=tags, run_config=bench.QUIET, raise_on_error=True
    )
    if not result.success:
        sys.exit("the floor's run failed")


def table_digests(pg_dir: Path) -> dict[str, tuple[int, str]]:
    """Every warehouse table's row count and md5 of its rows (as PostgreSQL prints them, sorted)."""
    digests = {}
    with PostgresResource(embedded_dir=str(pg_dir)).connect() as conn:
        for spec in TABLES.values():
            table = sql.Identifier(spec.schema, spec.name)
            query = sql.SQL("SELECT count(*), md5(string_agg(t::text, E'\\n' ORDER BY t::text)) FROM {} t")
            row = conn.execute(query.format(table)).fetchone()
            digests[f"{spec.schema}.{spec.name}"] = (int(row[0]), str(row[1])) if row else (0, "")
    return digests


def unmaterialized_days(env: dict[str, str], first: date, last: date) -> dict[str, int]:
    """Per asset, the days first..last that Dagster's partition status does not show materialized."""
    from spotify_assets.definitions import defs

    os.environ.update({k: env[k] for k in ("EMBEDDED_PG_DIR", "DAGSTER_HOME")})
    from spotify_assets.contracts.settings import get_settings

    get_settings.cache_clear()
    graph = defs.resolve_asset_graph()
    missing = {}
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        for key in graph.materializable_asset_keys:
            partitions_def = graph.get(key).partitions_def
            if partitions_def is None:
                continue
            days = [
                day
                for day in partitions_def.get_partition_keys(dynamic_partitions_store=instance)
                if first.isoformat() <= day <= last.isoformat()
            ]
            status = instance.get_status_by_partition(key, days, partitions_def) or {}
            missing[key.to_user_string()] = sum(
                1 for day in days if status.get(day) != dg.AssetPartitionStatus.MATERIALIZED
            )
    return missing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--years", type=int, default=10, help="years of history (default 10)")
    parser.add_argument("--plays-per-day", type=int, default=15, help="plays a day (default 15)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (its logs)")
    parser.add_argument("--floor-run", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor_run:
        first_text, last_text = args.floor_run.split("...")
        floor_run(date.fromisoformat(first_text), date.fromisoformat(last_text))
        return

    first = date.fromisoformat(FIRST_DAY)
    last = date(first.year + args.years, 1, 1) - timedelta(days=1)
    root = Path(tempfile.mkdtemp(prefix="spotify_bench_decade_"))
    fake = FakeSpotify()  # the stand-in Spotify, with no recent plays to list
    fake.start()
    sides = {"import": root / "import", "floor": root / "floor"}
    try:
        plays, days = decade_export(root / "export", first, last, args.plays_per_day)
        print(f"export: {plays:,} plays over {days:,} days ({first}..{last}), built from {FIXTURE.name}")
        envs = {name: side_env(path, root / "export", fake) for name, path in sides.items()}
        print("  the import as the README says (CLI, one run, PostgreSQL instance) ...", flush=True)
        load_before = os.getloadavg()[0]
        cli = import_as_readme(sides["import"], envs["import"], first, last)
        print(f"    {cli:.1f} s", flush=True)
        print("  the floor (same assets and checks, no event writes) ...", flush=True)
        low = floor(sides["floor"], envs["floor"], first, last)
        print(f"    {low:.1f} s", flush=True)
        load_after = os.getloadavg()[0]
        digests = {name: table_digests(path / "postgres") for name, path in sides.items()}
        missing = unmaterialized_days(envs["import"], first, last)
    finally:
        fake.stop()
        for path in sides.values():
            stop_embedded_server(str(path / "postgres"))
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)

    print()
    print(f"{plays:,} plays over {days:,} days; one run through the whole graph with its checks")
    print(f"{bench.machine_note()} (1-minute load {load_before:.2f} before, {load_after:.2f} after)")
    print()
    rows = [
        ("import as the README says (dagster asset materialize)", bench.seconds(cli), f"{cli / low:.2f}x"),
        ("floor: the same run, Dagster's event writes taken out", bench.seconds(low), "1.00x"),
    ]
    bench.print_table(["way", "time", "vs floor"], rows)
    print()
    equal = digests["import"] == digests["floor"]
    for table, (count, digest) in digests["import"].items():
        same = "same" if digests["floor"][table] == (count, digest) else f"DIFFERS: {digests['floor'][table]}"
        print(f"  {table:<28} {count:>8,} rows  md5 {digest}  {same}")
    not_done = {asset: n for asset, n in missing.items() if n}
    print(f"partitions not materialized in Dagster's status: {not_done or 'none'} ({len(missing)} assets)")
    print(f"decade_import_seconds: {cli:.1f} s (target <= {TARGET_SECONDS:.0f} s)")
    print(bench.result_line("decade_import_vs_floor", cli / low, f"<= {TARGET_RATIO:.0f}x"))
    if not equal or not_done:
        sys.exit(1)


if __name__ == "__main__":
    main()
