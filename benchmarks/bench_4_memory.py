"""Memory: peak RSS of the one-year single-run backfill and of a 1,000,000-play history import (and its time).

Each run happens in a child Python process, and its peak resident set size is the kernel's `ru_maxrss` for
that process (`os.wait4`). The embedded PostgreSQL is started beforehand by this parent: it is a separate
server process, not part of the figure (its own memory is bounded by its configuration). Runs record to
the project's default Dagster instance (schema `dagster` of that PostgreSQL, from the generated
dagster.yaml), as a deployment's do; `--instance sqlite` records to SQLite files instead.

- backfill: the whole graph (raw, silver, gold, report, checks) over `--days` days of about 100 sample plays
  a day as one run, as in bench_3;
- history import: `--history-plays` rows of Spotify's extended streaming history (Streaming_History_Audio_*
  .json files of 15,000 rows, as Spotify splits them), made from the sample catalogue over
  `--history-days` days, imported through raw, silver and gold as one run (the recently-played sample is
  empty there, so every play comes from the export). When the project has no history import, that line says
  so and the backfill is reported alone. The import's wall time has a target too (at most 60 s): a line
  `history_import_seconds` before the last one.

Run: `.venv/bin/python benchmarks/bench_4_memory.py [--days 365] [--history-plays 1000000]
[--instance postgres|sqlite]` (`--days 0` skips the backfill).
"""

# ruff: noqa: E402 - PARTITIONS_START_DATE must be set before spotify_assets is imported.

import os

os.environ["PARTITIONS_START_DATE"] = "2022-01-01"

import argparse
import json
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import _common as bench
import dagster as dg

from spotify_assets.contracts.tables import PLAYS
from spotify_assets.sources.sample import generate_recently_played
from spotify_assets.storage.postgres import embedded_server
from spotify_assets.storage.warehouse import count_rows

FIRST_DAY = date(2022, 1, 1)
TARGET_GIB = 1.5
TARGET_HISTORY_SECONDS = 60.0
ROWS_PER_FILE = 15_000
RAW_SILVER_GOLD = ("raw", "silver", "gold")
HISTORY_ASSET = dg.AssetKey(["raw", "streaming_history"])
INSTANCES = ("postgres", "sqlite")


def history_import_available() -> bool:
    """Whether the project defines the `raw/streaming_history` asset (the export import)."""
    try:
        from spotify_assets.assets.history import RAW_STREAMING_HISTORY
    except ImportError:
        return False
    return RAW_STREAMING_HISTORY == HISTORY_ASSET


def export_row(item: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """A recently-played sample item as a row of Spotify's extended streaming history export."""
    track = item["track"]
    album = track["album"]
    album_artists = album.get("artists") or track["artists"]  # local files credit no album artist
    duration = track["duration_ms"]
    skipped = rng.random() < 0.15
    played = rng.randint(min(5_000, duration), duration) if skipped else duration
    return {
        "ts": item["played_at"][:19] + "Z",
        "platform": rng.choice(("android", "ios", "windows", "osx", "web_player")),
        "ms_played": played,
        "conn_country": rng.choice(("DE", "GB", "US", "FR", "IN")),
        "ip_addr": "192.0.2.1",
        "master_metadata_track_name": track["name"],
        "master_metadata_album_artist_name": album_artists[0]["name"],
        "master_metadata_album_album_name": album["name"],
        "spotify_track_uri": None if track["is_local"] else track["uri"],
        "episode_name": None,
        "episode_show_name": None,
        "spotify_episode_uri": None,
        "audiobook_title": None,
        "audiobook_uri": None,
        "audiobook_chapter_uri": None,
        "audiobook_chapter_title": None,
        "reason_start": "trackdone" if rng.random() < 0.7 else "clickrow",
        "reason_end": "fwdbtn" if skipped else "trackdone",
        "shuffle": rng.random() < 0.4,
        "skipped": skipped,
        "offline": False,
        "offline_timestamp": 0,
        "incognito_mode": False,
    }


def export_rows(plays: int, first: date, days: int) -> Iterator[dict[str, Any]]:
    """`plays` export rows spread evenly over `days` days from `first`, oldest first, deterministic."""
    rng = random.Random(plays)
    for offset in range(days):
        count = plays * (offset + 1) // days - plays * offset // days
        for item in reversed(generate_recently_played(first + timedelta(days=offset), plays=count)):
            yield export_row(item, rng)


def write_export(folder: Path, plays: int, first: date, days: int) -> int:
    """Streaming_History_Audio_*.json files of at most ROWS_PER_FILE rows; returns the rows written."""
    folder.mkdir(parents=True, exist_ok=True)
    batch: list[dict[str, Any]] = []
    written = 0

    def flush() -> None:
        path = folder / f"Streaming_History_Audio_{first.year}-{written // ROWS_PER_FILE:04d}.json"
        path.write_text(json.dumps(batch, ensure_ascii=False), encoding="utf-8")

    for row in export_rows(plays, first, days):
        batch.append(row)
        if len(batch) == ROWS_PER_FILE:
            flush()
            written += len(batch)
            batch = []
    if batch:
        flush()
        written += len(batch)
    return written


def peak_rss(arguments: list[str]) -> tuple[float, int]:
    """Run this script as a child with `arguments`: its wall seconds and peak RSS in bytes."""
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, __file__, *arguments])
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if child.returncode:
        raise RuntimeError(f"child run {arguments} failed with exit code {child.returncode}")
    return seconds, usage.ru_maxrss * 1024  # kilobytes on Linux


def child(args: argparse.Namespace) -> None:
    """The measured run, in this (child) process, on the stack under `--root`, run as a deployment runs it."""
    if args.child == "backfill":
        last = FIRST_DAY + timedelta(days=args.days - 1)
        stack = bench.stack_at(args.root)
        bench.execute_job(stack, FIRST_DAY, last, run_instance=run_instance(stack, args.instance))
    else:
        last = FIRST_DAY + timedelta(days=args.history_days - 1)
        history_dir = str(args.history_dir)
        stack = bench.stack_at(args.root, history_dir=history_dir)
        bench.execute_job(
            stack,
            FIRST_DAY,
            last,
            groups=RAW_SILVER_GOLD,
            plays_per_day=0,
            run_instance=run_instance(stack, args.instance),
            history_dir=history_dir,
        )


def run_instance(stack: bench.Stack, kind: str) -> dg.DagsterInstance:
    """The Dagster instance a run records to: the project's default (PostgreSQL) or SQLite files."""
    return bench.instance(stack) if kind == "sqlite" else bench.project_instance(stack)


def measure(name: str, arguments: list[str], kind: str, **settings: Any) -> tuple[float, int, int]:
    """A child's wall seconds and peak RSS, and the silver plays the run left in the warehouse."""
    with bench.temporary_stack(name, **settings) as stack:
        embedded_server(stack.settings.embedded_pg_dir)  # started here: the child only connects
        run_instance(stack, kind)  # its storage created here, not in the measured run
        arguments = ["--child", name, "--root", str(stack.root), "--instance", kind, *arguments]
        seconds, peak = peak_rss(arguments)
        with stack.postgres.connect() as conn:
            plays = count_rows(conn, PLAYS)
        return seconds, peak, plays


def gib(value: int) -> str:
    return f"{value / 2**30:.2f} GiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365, help="days of the backfill (0: skip)")
    parser.add_argument("--history-plays", type=int, default=1_000_000, help="export rows (0: skip)")
    parser.add_argument("--history-days", type=int, default=365, help="days the export rows cover")
    parser.add_argument(
        "--instance", choices=INSTANCES, default="postgres", help="Dagster instance (default postgres)"
    )
    parser.add_argument("--child", choices=("backfill", "history"), help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--history-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    results: list[tuple[str, float, int, int]] = []
    if args.days:
        print(f"  backfill of {args.days} days in a child process ...", flush=True)
        label = f"one-run backfill, {args.days} days x {bench.PLAYS_PER_DAY} plays, whole graph"
        results.append((label, *measure("backfill", ["--days", str(args.days)], args.instance)))

    history_note = ""
    if not args.history_plays:
        history_note = "history import: skipped (--history-plays 0)"
    elif not history_import_available():
        history_note = "history import not available (no raw/streaming_history asset in this project)"
    else:
        with bench.temporary_stack("export") as export:
            folder = export.root / "export"
            print(f"  writing {args.history_plays:,} export rows ...", flush=True)
            rows = write_export(folder, args.history_plays, FIRST_DAY, args.history_days)
            files = len(list(folder.glob("*.json")))
            size = sum(p.stat().st_size for p in folder.glob("*.json")) / 1e6
            print(f"  importing them ({files} files, {size:,.0f} MB) in a child process ...", flush=True)
            arguments = ["--history-dir", str(folder), "--history-days", str(args.history_days)]
            measured = measure("history", arguments, args.instance, history_dir=str(folder))
        label = f"history import, {rows:,} export rows over {args.history_days} days, raw+silver+gold"
        results.append((label, *measured))

    print()
    print(
        "Peak RSS of the Python process running the one run (the embedded PostgreSQL is a separate server);"
    )
    print(bench.machine_note())
    print()
    rows_out = [
        (label, f"{plays:,}", bench.seconds(s), gib(p), "yes" if p < TARGET_GIB * 2**30 else "NO")
        for label, s, p, plays in results
    ]
    bench.print_table(["run", "silver plays", "wall time", "peak RSS", f"< {TARGET_GIB} GiB"], rows_out)
    if history_note:
        print()
        print(history_note)
    history_runs = [seconds for label, seconds, _, _ in results if label.startswith("history import")]
    if history_runs:
        target = f"<= {TARGET_HISTORY_SECONDS:.0f} s"
        print(bench.result_line("history_import_seconds", history_runs[0], target, unit=" s"))
    worst = max(peak for _, _, peak, _ in results)
    print(bench.result_line("memory_peak", worst / 2**30, f"< {TARGET_GIB} GiB", unit=" GiB"))


if __name__ == "__main__":
    main()
