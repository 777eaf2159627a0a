"""The listening report's numbers, from the fact's plays of a window of days (pure pandas).

Definitions (the same as the BI views in `storage/bi.py`):
- a play is a fact row; minutes are `sum(coalesce(ms_played, duration_ms)) / 60000`: how long it played when
  an export says so, else the track's length (the recently-played API does not say how long it played);
- top artists rank primary artists (the first credited track artist) by plays, then minutes, then name;
  top tracks rank tracks the same way;
- the hour-of-day profile counts plays by `hour_of_day` (in the partitions' time zone); for the 30 days it is
  the average plays per day at each hour;
- the rolling window is the 30 days ending on (and including) the partition's day.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

WINDOW_DAYS = 30
TOP_N = 10
HOURS = 24
MS_PER_MINUTE = 60_000
LISTENING_COLUMNS = (
    "play_id",
    "extraction_date",
    "hour_of_day",
    "track_key",
    "track_name",
    "primary_artist_key",
    "artist_name",
    "duration_ms",
    "ms_played",
)
"""The columns `summarize` expects: fact rows joined to their track's and primary artist's names."""


@dataclass(frozen=True)
class PeriodSummary:
    """Listening of a period: totals, top artists and tracks, plays by hour of day."""

    name: str
    first_day: date
    last_day: date
    plays: int
    minutes: float
    top_artists: pd.DataFrame  # artist_key, artist, plays, minutes
    top_tracks: pd.DataFrame  # track_key, track, artist, plays, minutes
    plays_by_hour: list[float]  # 24 values: average plays per day at each hour (one day: its plays)

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1


@dataclass(frozen=True)
class ListeningReport:
    """The report of one day: that day, the rolling window ending on it, and the window's daily totals."""

    day: PeriodSummary
    window: PeriodSummary
    daily: pd.DataFrame  # date, plays, minutes: one row per day of the window, zeros included


def _listened_ms(plays: pd.DataFrame) -> pd.Series:
    return plays["ms_played"].fillna(plays["duration_ms"]).fillna(0).astype("int64")


def _rank(grouped: pd.DataFrame, key: str, label: str, n: int) -> pd.DataFrame:
    ranked = grouped.sort_values(
        ["plays", "ms", label, key], ascending=[False, False, True, True], kind="stable"
    ).head(n)
    ranked = ranked.assign(minutes=(ranked["ms"] / MS_PER_MINUTE).round(1)).drop(columns="ms")
    return ranked.reset_index(drop=True)


def top_artists(plays: pd.DataFrame, n: int = TOP_N) -> pd.DataFrame:
    """artist_key, artist, plays, minutes of the `n` most played primary artists."""
    frame = plays.assign(
        ms=_listened_ms(plays), artist=plays["artist_name"].fillna(plays["primary_artist_key"])
    )
    grouped = frame.groupby("primary_artist_key", sort=False, as_index=False).agg(
        artist=("artist", "first"), plays=("play_id", "size"), ms=("ms", "sum")
    )
    return _rank(grouped.rename(columns={"primary_artist_key": "artist_key"}), "artist_key", "artist", n)


def top_tracks(plays: pd.DataFrame, n: int = TOP_N) -> pd.DataFrame:
    """track_key, track, artist, plays, minutes of the `n` most played tracks."""
    frame = plays.assign(
        ms=_listened_ms(plays),
        track=plays["track_name"].fillna(plays["track_key"]),
        artist=plays["artist_name"].fillna(plays["primary_artist_key"]),
    )
    grouped = frame.groupby("track_key", sort=False, as_index=False).agg(
        track=("track", "first"), artist=("artist", "first"), plays=("play_id", "size"), ms=("ms", "sum")
    )
    return _rank(grouped, "track_key", "track", n)


def summarize_period(
    plays: pd.DataFrame, name: str, first_day: date, last_day: date, top_n: int = TOP_N
) -> PeriodSummary:
    """The summary of the plays whose extraction_date is in [first_day, last_day]."""
    days = (last_day - first_day).days + 1
    inside = _between(plays, first_day, last_day)
    hours = np.bincount(inside["hour_of_day"].astype("int64").to_numpy(), minlength=HOURS)[:HOURS]
    return PeriodSummary(
        name=name,
        first_day=first_day,
        last_day=last_day,
        plays=len(inside),
        minutes=round(int(_listened_ms(inside).sum()) / MS_PER_MINUTE, 1),
        top_artists=top_artists(inside, top_n),
        top_tracks=top_tracks(inside, top_n),
        plays_by_hour=[round(float(count) / days, 2) for count in hours.tolist()],
    )


def _between(plays: pd.DataFrame, first_day: date, last_day: date) -> pd.DataFrame:
    dates = plays["extraction_date"]
    return plays[(dates >= first_day) & (dates <= last_day)]


def daily_totals(plays: pd.DataFrame, first_day: date, last_day: date) -> pd.DataFrame:
    """Plays and minutes of every day in [first_day, last_day], days without plays included as zeros."""
    days = [first_day + timedelta(days=offset) for offset in range((last_day - first_day).days + 1)]
    inside = _between(plays, first_day, last_day)
    grouped = (
        inside.assign(ms=_listened_ms(inside))
        .groupby("extraction_date")
        .agg(plays=("play_id", "size"), ms=("ms", "sum"))
    )
    grouped = grouped.reindex(days, fill_value=0)
    return pd.DataFrame(
        {
            "date": days,
            "plays": grouped["plays"].astype("int64").to_numpy(),
            "minutes": (grouped["ms"].astype("int64") / MS_PER_MINUTE).round(1).to_numpy(),
        }
    )


def listening_report(plays: pd.DataFrame, day: date, window_days: int = WINDOW_DAYS) -> ListeningReport:
    """The report of `day` from fact rows (`LISTENING_COLUMNS`) covering at least the window ending on it."""
    first = day - timedelta(days=window_days - 1)
    return ListeningReport(
        day=summarize_period(plays, "day", day, day),
        window=summarize_period(plays, f"{window_days} days", first, day),
        daily=daily_totals(plays, first, day),
    )


def listening_reports(
    plays: pd.DataFrame, days: Iterable[date], window_days: int = WINDOW_DAYS
) -> Iterator[ListeningReport]:
    """`listening_report` of each of `days`, each from just its window's rows (sorted by day once), so a
    year of reports does not scan the year's plays 365 times."""
    ordered = plays.sort_values("extraction_date", kind="stable") if len(plays) else plays
    dates = np.array(ordered["extraction_date"].tolist(), dtype="datetime64[D]")
    for day in days:
        first = np.datetime64(day - timedelta(days=window_days - 1), "D")
        start = int(np.searchsorted(dates, first, side="left"))
        stop = int(np.searchsorted(dates, np.datetime64(day, "D"), side="right"))
        yield listening_report(ordered.iloc[start:stop], day, window_days)
