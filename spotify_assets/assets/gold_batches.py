"""A gold step's batches: each day's rows of a batch of days, from one call of the table's builder.

Here, not in `transforms`, so that a builder's error names the builder (the outermost transform on its
stack, see `assets.batches`); imported by the gold assets' steps, not when the definitions load (pandas).
"""

from collections.abc import Mapping, Sequence
from datetime import date

import pandas as pd

from spotify_assets.contracts.day_batches import DayBatches
from spotify_assets.contracts.table_frames import whole_frame
from spotify_assets.transforms.gold import DAY, PLAYS_DAY, GoldBuilder, split_by_day
from spotify_assets.transforms.gold_inputs import BuildFrom


def build_days(
    builder: GoldBuilder,
    takes: BuildFrom,
    plays: pd.DataFrame | None,
    days: Sequence[str],
    timezone: str = "UTC",
) -> Mapping[str, pd.DataFrame]:
    """The builder's rows for each of `days` (ISO dates), as if built from that day alone: `plays` holds the
    silver plays of all of them (None for a builder of days, `takes == "days"`). One call over all the days
    when the builder can (`by_day`), else one call per day."""
    if takes == "days":
        dates = [date.fromisoformat(day) for day in days]
        if not builder.by_day:
            return {day: builder.build([on]) for day, on in zip(days, dates, strict=True)}
        return split_by_day(builder.build(dates, by_day=True), days)
    assert plays is not None
    extra = (timezone,) if takes == "plays_in_timezone" else ()
    if builder.by_day:
        return split_by_day(builder.build(plays, *extra, by_day=True), days)
    each_day = split_by_day(plays.assign(**{DAY: plays[PLAYS_DAY].to_numpy(dtype=object)}), days)
    return {day: builder.build(each_day[day], *extra) for day in days}


def build_batch(
    builder: GoldBuilder, takes: BuildFrom, plays: DayBatches, days: list[str], timezone: str
) -> Mapping[str, pd.DataFrame]:
    """`build_days` of one batch of the silver input, its frames taken whole."""
    return build_days(builder, takes, whole_frame(plays.batch(days)), days, timezone)
