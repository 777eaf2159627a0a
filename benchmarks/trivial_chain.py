"""A trivial 3-asset daily chain, bench_7's yardstick: what any one-day Dagster run costs on an instance."""

import dagster as dg

DAILY = dg.DailyPartitionsDefinition(start_date="2015-01-01")


@dg.asset(partitions_def=DAILY)
def first() -> int:
    """One number."""
    return 1


@dg.asset(partitions_def=DAILY)
def second(first: int) -> int:
    """The number plus one."""
    return first + 1


@dg.asset(partitions_def=DAILY)
def third(second: int) -> int:
    """The number plus one."""
    return second + 1


defs = dg.Definitions(assets=[first, second, third], executor=dg.in_process_executor)
