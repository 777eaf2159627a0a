"""Household: a backfill of several listeners through the whole graph against one listener, time and memory.

A run without the `spotify_assets/listener` tag covers the household: the default listener and every listener
registered in the Dagster instance (keys of the dynamic partitions definition `listener`). Both sides here
are one single-run backfill of `--days` days of `--plays` sample plays a day per listener, through the whole
graph (raw, silver, gold, report, with their checks; the history import has no export here), run as a
deployment launches it (`dagster asset materialize --partition-range`: `dg.execute_job` with the range tags),
each on a fresh lake, embedded PostgreSQL and persistent (SQLite) Dagster instance:

- one listener: the default listener only, nobody registered;
- `--listeners` listeners: the default listener and `--listeners - 1` registered ones.

Each run happens in a child Python process: its wall time is the run's own (the child's import and start-up
left out), its peak RSS the kernel's `ru_maxrss` for that process (`os.wait4`; the embedded PostgreSQL is a
separate server, started by this parent). With `--repeats` the sides alternate (one, household, one,
household, ...) so that the machine's load falls on both; the medians are compared. Each step's time comes
from the run's events (STEP_START to STEP_SUCCESS), so a step that grows faster than the plays shows.

Run: `.venv/bin/python benchmarks/bench_5_household.py [--days 120] [--plays 100] [--listeners 5]
[--repeats 1]` (docs/benchmarks.md's figures: `--days 365`).
"""

# ruff: noqa: E402 - PARTITIONS_START_DATE must be set before spotify_assets is imported.

import os

os.environ["PARTITIONS_START_DATE"] = "2022-01-01"

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import _common as bench
import dagster as dg

from spotify_assets.contracts.listener_scope import LISTENER_PARTITIONS
from spotify_assets.contracts.tables import PLAYS
from spotify_assets.storage.postgres import embedded_server
from spotify_assets.storage.warehouse import count_rows

FIRST_DAY = date(2022, 1, 1)
TIME_TARGET = 5.5
MEMORY_TARGET = 1.5
RESULT_FILE = "child_result.json"


@dataclass(frozen=True)
class Measured:
    """One run of one side: its seconds, peak RSS (bytes), silver plays and each step's seconds."""

    seconds: float
    peak: int
    plays: int
    steps: dict[str, float]


def listener_names(count: int) -> list[str]:
    """The registered listeners of a household of `count` (the default listener is the first)."""
    return [f"listener{n}" for n in range(2, count + 1)]


def step_seconds(run_instance: dg.DagsterInstance, run_id: str) -> dict[str, float]:
    """Each step's seconds in a run, STEP_START to STEP_SUCCESS of its events."""
    started: dict[str, float] = {}
    steps: dict[str, float] = {}
    for entry in run_instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or not event.step_key:
            continue
        if event.event_type_value == "STEP_START":
            started[event.step_key] = entry.timestamp
        elif event.event_type_value == "STEP_SUCCESS" and event.step_key in started:
            steps[event.step_key] = entry.timestamp - started[event.step_key]
    return steps


def child(args: argparse.Namespace) -> None:
    """The measured run, in this (child) process, on the stack under `--root`: writes its seconds and steps
    for the parent."""
    stack = bench.stack_at(args.root)
    last = FIRST_DAY + timedelta(days=args.days - 1)
    seconds = bench.execute_job(stack, FIRST_DAY, last, plays_per_day=args.plays)
    run_instance = bench.instance(stack)
    run = run_instance.get_runs(limit=1)[0]
    result = {"seconds": seconds, "steps": step_seconds(run_instance, run.run_id)}
    (args.root / RESULT_FILE).write_text(json.dumps(result))


def measure(listeners: int, days: int, plays: int) -> Measured:
    """One side's run in a child process on a fresh stack, with `listeners` listeners in its household."""
    with bench.temporary_stack(f"household_{listeners}") as stack:
        embedded_server(stack.settings.embedded_pg_dir)  # started here: the child only connects
        names = listener_names(listeners)
        if names:
            bench.instance(stack).add_dynamic_partitions(LISTENER_PARTITIONS, names)
        arguments = ["--child", "--root", str(stack.root), "--days", str(days), "--plays", str(plays)]
        process = subprocess.Popen([sys.executable, __file__, *arguments])
        _, status, usage = os.wait4(process.pid, 0)
        if os.waitstatus_to_exitcode(status):
            raise RuntimeError(
                f"{listeners}-listener run failed with exit code {os.waitstatus_to_exitcode(status)}"
            )
        result = json.loads((stack.root / RESULT_FILE).read_text())
        with stack.postgres.connect() as conn:
            silver = count_rows(conn, PLAYS)
        expected = listeners * days * plays
        if silver != expected:
            raise RuntimeError(f"{listeners}-listener run left {silver:,} silver plays, not {expected:,}")
        return Measured(result["seconds"], usage.ru_maxrss * 1024, silver, result["steps"])


def gib(value: float) -> str:
    return f"{value / 2**30:.2f} GiB"


def step_name(key: str) -> str:
    return key.replace("__", "/")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=120, help="days of the backfill (default 120)")
    parser.add_argument(
        "--plays", type=int, default=bench.PLAYS_PER_DAY, help="sample plays a listener a day"
    )
    parser.add_argument("--listeners", type=int, default=5, help="listeners of the household (default 5)")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each side, alternating (default 1)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    sides = (1, args.listeners)
    runs: dict[int, list[Measured]] = {side: [] for side in sides}
    loads = []
    for repeat in range(args.repeats):
        for side in sides:
            print(
                f"  round {repeat + 1}: {side} listener(s) x {args.days} days x {args.plays} plays ...",
                flush=True,
            )
            loads.append(os.getloadavg()[0])
            measured = measure(side, args.days, args.plays)
            runs[side].append(measured)
            print(f"    {bench.seconds(measured.seconds)}, peak RSS {gib(measured.peak)}", flush=True)

    def typical_seconds(side: int) -> float:
        return bench.median([m.seconds for m in runs[side]])

    def typical_peak(side: int) -> float:
        return bench.median([m.peak for m in runs[side]])

    def typical_step(side: int, key: str) -> float:
        return bench.median([m.steps.get(key, 0.0) for m in runs[side]])

    one, many = sides
    print()
    print(
        f"{args.days} days x {args.plays} sample plays a listener a day through the whole graph (raw, "
        f"silver, gold, report) with its checks, as one single-run backfill launched as a deployment "
        f"launches it; median of {args.repeats} run(s) a side, alternating;"
    )
    print(f"{bench.machine_note()} (1-min load at each run's start: {', '.join(f'{x:.2f}' for x in loads)})")
    print()
    rows = []
    for side in sides:
        times = ", ".join(bench.seconds(m.seconds) for m in runs[side])
        rows.append(
            (
                f"{side} listener{'s' if side > 1 else ''}",
                f"{runs[side][0].plays:,}",
                times,
                f"{typical_seconds(side) / typical_seconds(one):.2f}x",
                gib(typical_peak(side)),
                f"{typical_peak(side) / typical_peak(one):.2f}x",
            )
        )
    bench.print_table(["household", "silver plays", "wall time", "time vs 1", "peak RSS", "RSS vs 1"], rows)
    print()
    keys = sorted({key for side in sides for m in runs[side] for key in m.steps})
    step_rows = [
        (
            step_name(key),
            bench.seconds(typical_step(one, key)),
            bench.seconds(typical_step(many, key)),
            f"{typical_step(many, key) / typical_step(one, key):.2f}x" if typical_step(one, key) else "-",
        )
        for key in sorted(keys, key=lambda k: -typical_step(many, k))
    ]
    bench.print_table(
        ["step (STEP_START to STEP_SUCCESS)", f"{one} listener", f"{many} listeners", "ratio"], step_rows
    )
    print()
    time_ratio = typical_seconds(many) / typical_seconds(one)
    memory_ratio = typical_peak(many) / typical_peak(one)
    print(
        f"{many}x the plays took {time_ratio:.2f}x the time (target <= {TIME_TARGET}x: "
        f"{'met' if time_ratio <= TIME_TARGET else 'NOT met'}); peak RSS {memory_ratio:.2f}x "
        f"(flat: target <= {MEMORY_TARGET}x: {'met' if memory_ratio <= MEMORY_TARGET else 'NOT met'})."
    )
    print(bench.result_line("household_memory_vs_one_listener", memory_ratio, f"<= {MEMORY_TARGET}x"))
    print(bench.result_line("household_time_vs_one_listener", time_ratio, f"<= {TIME_TARGET}x"))


if __name__ == "__main__":
    main()
