"""Incremental cost: materializing one new day with 10 days, then 1,000 days, already materialized.

The design's claim is that a day's cost does not grow with the history: silver and the fact replace only
their partition's rows, dimensions upsert only the day's entities, and nothing reads the whole history. So
the time to materialize one new day through raw, silver and gold (with their checks) should be the same
whether 10 or 1,000 days came before it. For each history length, a fresh stack (lake folder, embedded
PostgreSQL, a persistent Dagster instance as in a deployment) gets the history as one single run; then the
next `--new-days` days are materialized one run each, alternating between the two stacks so that both see
the same machine load, and the median of those runs is the figure. As a reference, the single run that built
the whole history is what the original pipeline redid on every run (it rebuilt all days).

Run: `.venv/bin/python benchmarks/bench_2_incremental.py [--days 10 1000] [--new-days 6]`.
"""

# ruff: noqa: E402 - PARTITIONS_START_DATE must be set before spotify_assets is imported.

import os

os.environ["PARTITIONS_START_DATE"] = "2022-01-01"

import argparse
import contextlib
from datetime import date, timedelta

import _common as bench
import dagster as dg

FIRST_DAY = date(2022, 1, 1)
TARGET = 1.25
SILVER_AND_GOLD = dg.AssetSelection.groups("raw", "silver", "gold")
"""Raw, silver and gold, with their checks: the daily job without the report (its 30-day window is fixed)."""


def measure(histories: tuple[int, ...], new_days: int) -> dict[int, tuple[float, list[float]]]:
    """For each history length: the seconds of the single run that built it, and of each new-day run.

    Every history gets its own stack, all alive together, and the new-day runs alternate between them
    (ABBA...), so that a change in the machine's load while measuring hits every history alike.
    """
    with contextlib.ExitStack() as stacks:
        builds, runs, instances, lasts = {}, {}, {}, {}
        for days in histories:
            stack = stacks.enter_context(bench.temporary_stack(f"incremental_{days}"))
            instances[days] = (stack, bench.instance(stack))
            lasts[days] = FIRST_DAY + timedelta(days=days - 1)
            print(f"  {days:,} days of history as one run ...", flush=True)
            builds[days] = bench.materialize(
                stack, FIRST_DAY, lasts[days], selection=SILVER_AND_GOLD, run_instance=instances[days][1]
            )
            runs[days] = []
        for offset in range(1, new_days + 1):
            order = histories if offset % 2 else tuple(reversed(histories))
            for days in order:
                stack, instance = instances[days]
                day = lasts[days] + timedelta(days=offset)
                runs[days].append(
                    bench.materialize(stack, day, selection=SILVER_AND_GOLD, run_instance=instance)
                )
                print(f"    {days:,} days + new day {day}: {runs[days][-1]:.2f} s", flush=True)
        return {days: (builds[days], runs[days]) for days in histories}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, nargs=2, default=[10, 1000], metavar=("SHORT", "LONG"))
    parser.add_argument("--new-days", type=int, default=6, help="one-day runs timed after each history")
    args = parser.parse_args()
    short, long = args.days

    results = measure((short, long), args.new_days)
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
