"""Incremental cost: materializing one new day with 10 days, then 1,000 days, already materialized.

The design's claim is that a day's cost does not grow with the history: silver and the fact replace only
their partition's rows, dimensions upsert only the day's entities, and nothing reads the whole history. So
the time to materialize one new day through raw, silver and gold (with their checks) should be the same
whether 10 or 1,000 days came before it. For each history length, a fresh stack (lake folder, embedded
PostgreSQL, a persistent Dagster instance as in a deployment) gets the history as one single run, then the
next `--new-days` days one run each; the median of those runs is the figure. As a reference, the single run
that built the whole history is what the original pipeline redid on every run (it rebuilt all days).

Run: `.venv/bin/python benchmarks/bench_2_incremental.py [--days 10 1000] [--new-days 3]`.
"""

# ruff: noqa: E402 - PARTITIONS_START_DATE must be set before spotify_assets is imported.

import os

os.environ["PARTITIONS_START_DATE"] = "2022-01-01"

import argparse
from datetime import date, timedelta

import _common as bench
import dagster as dg

FIRST_DAY = date(2022, 1, 1)
TARGET = 1.25
SILVER_AND_GOLD = dg.AssetSelection.groups("raw", "silver", "gold")
"""Raw, silver and gold, with their checks: the daily job without the report (its 30-day window is fixed)."""


def measure(history_days: int, new_days: int) -> tuple[float, list[float]]:
    """Seconds of the single run building `history_days` days, and of each following one-day run."""
    with bench.temporary_stack(f"incremental_{history_days}") as stack:
        instance = bench.instance(stack)
        last = FIRST_DAY + timedelta(days=history_days - 1)
        print(f"  {history_days:,} days of history as one run ...", flush=True)
        build = bench.materialize(stack, FIRST_DAY, last, selection=SILVER_AND_GOLD, run_instance=instance)
        runs = []
        for offset in range(1, new_days + 1):
            day = last + timedelta(days=offset)
            runs.append(bench.materialize(stack, day, selection=SILVER_AND_GOLD, run_instance=instance))
            print(f"    new day {day}: {runs[-1]:.2f} s", flush=True)
        return build, runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, nargs=2, default=[10, 1000], metavar=("SHORT", "LONG"))
    parser.add_argument("--new-days", type=int, default=3, help="one-day runs timed after each history")
    args = parser.parse_args()
    short, long = args.days

    results = {days: measure(days, args.new_days) for days in (short, long)}
    medians = {days: bench.median(runs) for days, (_, runs) in results.items()}
    print()
    print(
        f"One new day ({bench.PLAYS_PER_DAY} sample plays) through raw, silver and gold with their checks, "
        "in process, persistent Dagster instance;"
    )
    print(bench.machine_note())
    print()
    rows = []
    for days, (build, runs) in results.items():
        rows.append(
            (
                f"{days:,} days materialized",
                ", ".join(f"{t:.2f}" for t in runs),
                bench.seconds(medians[days]),
                bench.seconds(build),
                f"{build / medians[days]:.0f}x",
            )
        )
    headers = ["history", "new-day runs (s)", "median", "full build, one run", "full build / new day"]
    bench.print_table(headers, rows)
    print()
    print(
        "full build: the single run that materialized the history, i.e. what the original pipeline did on "
        "every run (it rebuilt all days)."
    )
    name = f"incremental_{long}_vs_{short}_days"
    print(bench.result_line(name, medians[long] / medians[short], f"<= {TARGET}x"))


if __name__ == "__main__":
    main()
