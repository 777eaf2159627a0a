"""Backfill: one year through the whole graph as one single run, against one run per partition.

Every asset has `BackfillPolicy.single_run()`, so a backfill of a year is one run that hands each asset the
whole range. The alternative, Dagster's default, is one run per day: the backfill daemon submits a run per
partition and the run launcher starts each in a new process (`dagster api execute_run`: import, load the
definitions, run). Both are timed here on the same sample days (about 100 plays a day), through the whole
graph with its checks, each on a fresh stack with the project's default Dagster instance (schema `dagster` of
the stack's PostgreSQL, from the generated dagster.yaml; `--instance sqlite` for SQLite files):

- the year as one run (in this process);
- `--process-runs` one-day runs (the first days of the same year), each in a new Python process that
  imports the project, builds the definitions and runs the day: what a per-partition backfill does. Their
  median is extrapolated to the year; this is the comparison the target is about;
- as a lower bound for per-partition runs, `--sample-runs` one-day runs one after another in this process
  (no start-up cost: not how Dagster runs them), also extrapolated.

Run: `.venv/bin/python benchmarks/bench_3_backfill.py [--days 365] [--process-runs 10] [--sample-runs 10]`.
"""

# ruff: noqa: E402 - PARTITIONS_START_DATE must be set before spotify_assets is imported.

import os

os.environ["PARTITIONS_START_DATE"] = "2022-01-01"

import argparse
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import _common as bench
import dagster as dg

FIRST_DAY = date(2022, 1, 1)
TARGET = 20.0
REPORT_STEP = "report__listening"
INSTANCES = ("sqlite", "postgres")


def instance(stack: bench.Stack, kind: str) -> dg.DagsterInstance:
    """The Dagster instance the runs record to: SQLite files, or the project's default (schema `dagster` of
    the stack's embedded PostgreSQL, the generated dagster.yaml)."""
    return bench.instance(stack) if kind == "sqlite" else bench.project_instance(stack)


def single_run(days: int, kind: str) -> tuple[float, dict[str, float], bench.EventStorageTimer]:
    with bench.temporary_stack("backfill_single") as stack:
        run_instance = instance(stack, kind)
        events = bench.EventStorageTimer(run_instance)
        print(f"  {days} days as one run ...", flush=True)
        last = FIRST_DAY + timedelta(days=days - 1)
        seconds, result = bench.run_graph(stack, FIRST_DAY, last, run_instance=run_instance)
        return seconds, bench.step_seconds(result), events


def per_partition_in_process(runs: int, kind: str) -> list[float]:
    with bench.temporary_stack("backfill_per_day") as stack:
        run_instance = instance(stack, kind)
        times = []
        for day in bench.days(FIRST_DAY, runs):
            times.append(bench.materialize(stack, day, run_instance=run_instance))
            print(f"    in process, {day}: {times[-1]:.2f} s", flush=True)
        return times


def per_partition_in_processes(runs: int, kind: str) -> list[float]:
    with bench.temporary_stack("backfill_processes") as stack:
        instance(stack, kind)
        times = []
        for day in bench.days(FIRST_DAY, runs):
            command = [sys.executable, __file__, "--child-run", day.isoformat(), "--root", str(stack.root),
                       "--instance", kind]  # fmt: skip
            started = time.perf_counter()
            subprocess.run(command, check=True)
            times.append(time.perf_counter() - started)
            print(f"    own process, {day}: {times[-1]:.2f} s", flush=True)
        return times


def child_run(day: date, root: Path, kind: str) -> None:
    """One day's run in this process, on the stack under `root` (left running for the parent to stop)."""
    stack = bench.stack_at(root)
    bench.materialize(stack, day, run_instance=instance(stack, kind))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365, help="days of the backfill (default 365)")
    parser.add_argument("--sample-runs", type=int, default=10, help="one-day runs timed in process")
    parser.add_argument("--process-runs", type=int, default=10, help="one-day runs timed as processes")
    parser.add_argument(
        "--instance", choices=INSTANCES, default="postgres", help="instance storage (default postgres)"
    )
    parser.add_argument("--child-run", type=date.fromisoformat, help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_run:
        child_run(args.child_run, args.root, args.instance)
        return

    single, steps, events = single_run(args.days, args.instance)
    in_process = per_partition_in_process(args.sample_runs, args.instance)
    processes = per_partition_in_processes(args.process_runs, args.instance)

    per_day = bench.median(processes)
    print()
    print(
        f"{args.days} days x {bench.PLAYS_PER_DAY} sample plays through the whole graph (raw, silver, gold, "
        f"report) with its checks; persistent Dagster instance ({args.instance});"
    )
    print(bench.machine_note())
    print()
    rows = [("one single run (BackfillPolicy.single_run)", "1", "", bench.seconds(single), "1.0x")]
    for label, times in (
        ("one run per day, each its own process (Dagster)", processes),
        ("one run per day, all in this process (bound)", in_process),
    ):
        typical = bench.median(times)
        rows.append(
            (
                label,
                str(len(times)),
                bench.seconds(typical),
                f"{bench.seconds(typical * args.days)} (extrapolated)",
                f"{typical * args.days / single:.1f}x",
            )
        )
    bench.print_table(["way", "runs timed", "median run", f"{args.days} days", "vs single run"], rows)
    print()
    print(
        f"Per-day runs: {len(processes)} as processes (and {len(in_process)} in this process) were timed and "
        f"their median multiplied by {args.days}; they are not all run."
    )
    days = args.days
    report, dagster = steps.get(REPORT_STEP, 0.0) / days, events.seconds / days
    print(
        f"A day of the single run costs {single / days:.3f} s: Dagster storing its events about "
        f"{dagster:.3f} s ({events.events / days:.0f} events a day: each asset's materialization of the day; "
        f"a range is planned once per asset), the report step {report:.3f} s (charts for the range's last "
        f"month and month ends), everything else "
        f"about {single / days - dagster - report:.3f} s. A one-day run as Dagster launches it costs "
        f"{per_day:.2f} s, so {TARGET:.0f}x needs {per_day / TARGET:.3f} s a day; against runs in one "
        f"process ({bench.median(in_process):.2f} s) the single run is "
        f"{bench.median(in_process) * days / single:.1f}x."
    )
    ratio = per_day * days / single
    print(bench.result_line("backfill_single_run_vs_per_partition_runs", ratio, f">= {TARGET}x"))


if __name__ == "__main__":
    main()
