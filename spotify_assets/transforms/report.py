"""The listening report's numbers, from the fact's plays of a window of days.

A report's rows are turned into numpy arrays once (dates, listened ms, hours, group codes of the keys) and
its day, window and daily totals are counted and summed on them: no pandas groupby or sort per period, so a
report of a 30-day window of ~3,000 plays takes a few ms instead of ~50 (a year's backfill makes 365).

Definitions (the same as the BI views in `storage/bi.py`; the rows are `tables.LISTENING_COLUMNS`):
- a play is a fact row; minutes are `sum(coalesce(ms_played, duration_ms)) / 60000`: how long it played when
  an export says so, else the track's length (the recently-played API does not say how long it played);
- top artists rank primary artists (the first credited track artist) by plays, then minutes, then name;
  top tracks rank tracks the same way;
- the hour-of-day profile counts plays by `hour_of_day` (in the partitions' time zone); for the 30 days it is
  the average plays at each hour over the days that have plays (`days_with_plays`: 7 when only a week of the
  window is materialized, so a new install's average day is not divided by 30);
- the rolling window is the 30 days ending on (and including) the partition's day.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

WINDOW_DAYS = 30
TOP_N = 10
HOURS = 24
MS_PER_MINUTE = 60_000


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
    # 24 values: average plays at each hour of a day with plays (one day: its plays)
    plays_by_hour: list[float]
    days_with_plays: int  # the days of the period with at least one play: what plays_by_hour averages over

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1


@dataclass(frozen=True)
class ListeningReport:
    """The report of one day: that day, the rolling window ending on it, and the window's daily totals."""

    day: PeriodSummary
    window: PeriodSummary
    daily: pd.DataFrame  # date, plays, minutes: one row per day of the window, zeros included


@dataclass(frozen=True)
class DayTotals:
    """A day's report without its top lists and hours: the day's and its window's plays and minutes, and the
    window's days with plays. What a long range records for the days it does not chart (`day_totals`)."""

    day: date
    day_plays: int
    day_minutes: float
    window_first_day: date
    window_plays: int
    window_minutes: float
    window_days_with_plays: int

    @classmethod
    def of(cls, report: ListeningReport) -> DayTotals:
        """The totals of a full report."""
        return cls(
            day=report.day.last_day,
            day_plays=report.day.plays,
            day_minutes=report.day.minutes,
            window_first_day=report.window.first_day,
            window_plays=report.window.plays,
            window_minutes=report.window.minutes,
            window_days_with_plays=report.window.days_with_plays,
        )


def day_totals(plays: pd.DataFrame, days: Iterable[date], window_days: int = WINDOW_DAYS) -> list[DayTotals]:
    """`DayTotals.of` the report of each of `days`, counted for all of them at once: each day's plays and ms
    once, then every window as a difference of running sums (a decade's 3,653 reports with their top lists
    take about a minute; their totals, milliseconds)."""
    days = list(days)
    if not days:
        return []
    first = min(days) - timedelta(days=window_days - 1)
    span = (max(days) - first).days + 1
    offsets = (_dates(plays["extraction_date"]) - np.datetime64(first, "D")).astype("int64")
    inside = (offsets >= 0) & (offsets < span)  # NaT's offset is the lowest int64: outside
    daily_plays = np.bincount(offsets[inside], minlength=span)
    daily_ms = np.zeros(span, dtype="int64")
    np.add.at(daily_ms, offsets[inside], _listened_ms(plays)[inside])

    def running(values: np.ndarray) -> list[int]:
        return np.concatenate([[0], np.cumsum(values, dtype="int64")]).tolist()

    plays_to, ms_to, played_to = running(daily_plays), running(daily_ms), running(daily_plays > 0)
    totals = []
    for day in days:
        end = (day - first).days + 1  # the running sums' index just after the day
        start = end - window_days
        totals.append(
            DayTotals(
                day=day,
                day_plays=plays_to[end] - plays_to[end - 1],
                day_minutes=round((ms_to[end] - ms_to[end - 1]) / MS_PER_MINUTE, 1),
                window_first_day=day - timedelta(days=window_days - 1),
                window_plays=plays_to[end] - plays_to[start],
                window_minutes=round((ms_to[end] - ms_to[start]) / MS_PER_MINUTE, 1),
                window_days_with_plays=played_to[end] - played_to[start],
            )
        )
    return totals


def _listened_ms(plays: pd.DataFrame) -> np.ndarray:
    """Each row's listened ms (`ms_played`, else `duration_ms`, else 0) as int64."""
    return plays["ms_played"].fillna(plays["duration_ms"]).fillna(0).astype("int64").to_numpy()


def _dates(extraction_date: pd.Series) -> np.ndarray:
    """`extraction_date` (`datetime.date` objects) as datetime64[D], missing dates NaT. Each distinct day is
    converted once: converting every row's date object would cost ~1 µs a row."""
    codes, days = pd.factorize(extraction_date)
    converted = np.array(list(days), dtype="datetime64[D]")
    return np.append(converted, np.datetime64("NaT", "D"))[codes]  # a missing date's code -1 takes the NaT


@functools.cache
def _count_dtype(dtype: object) -> object:
    """The dtype of pandas' group sizes of a column of `dtype` (`Int64` for a `string` column, else int64)."""
    return pd.Series([], dtype=dtype).groupby(np.array([], dtype="int64")).size().dtype


@dataclass(frozen=True)
class _Groups:
    """A period's plays grouped by a key, as groupby groups them: rows without a key left out."""

    positions: np.ndarray  # the period's rows holding a key, in row order
    codes: np.ndarray  # their groups
    plays: np.ndarray  # of each group (0: none of the period's rows)
    ms: np.ndarray  # of each group, summed exactly in int64
    firsts: np.ndarray  # of each group: the index in `positions` of its first row


class _Rows:
    """Fact rows (`LISTENING_COLUMNS`) as arrays, each converted once and shared by the periods of a report:
    listened ms, hours, the keys' group codes (`pd.factorize`, a missing key -1), the labels. A period is an
    ascending array of row positions. Ranking sorts no frame: `np.bincount` and `np.add.at` count and sum
    each group, and only the groups that can make the top n (ahead of the n-th by plays and ms, or tied with
    it) are sorted with their labels and keys."""

    def __init__(self, plays: pd.DataFrame) -> None:
        self.plays = plays
        self.ms = _listened_ms(plays)
        self._hours: np.ndarray | None = None
        self._codes: dict[str, np.ndarray] = {}
        self._labels: dict[tuple[str, str], tuple[pd.api.extensions.ExtensionArray, np.ndarray]] = {}

    @property
    def hours(self) -> np.ndarray:
        if self._hours is None:
            self._hours = self.plays["hour_of_day"].astype("int64").to_numpy()
        return self._hours

    def codes(self, key: str) -> np.ndarray:
        if key not in self._codes:
            self._codes[key] = pd.factorize(self.plays[key])[0]
        return self._codes[key]

    def labels(self, name: str, key: str) -> tuple[pd.api.extensions.ExtensionArray, np.ndarray]:
        """Each row's `name`, else `key` (as `name.fillna(key)`), and whether it has neither."""
        if (name, key) not in self._labels:
            labels = self.plays[name].fillna(self.plays[key])
            self._labels[name, key] = (labels.array, labels.isna().to_numpy())
        return self._labels[name, key]

    def group(self, positions: np.ndarray, key: str) -> _Groups:
        codes = self.codes(key)[positions]
        if len(codes) and codes.min() < 0:
            held = codes >= 0
            positions, codes = positions[held], codes[held]
        size = int(codes.max(initial=-1)) + 1
        ms = np.zeros(size, dtype="int64")
        np.add.at(ms, codes, self.ms[positions])
        firsts = np.full(size, len(positions), dtype="int64")
        np.minimum.at(firsts, codes, np.arange(len(positions)))
        return _Groups(positions, codes, np.bincount(codes, minlength=size), ms, firsts)

    def first_labels(
        self, grouped: _Groups, groups: np.ndarray, name: str, key: str
    ) -> pd.api.extensions.ExtensionArray:
        """The label of each of `groups` as groupby's `first` takes it: its first row's (in row order) if that
        row has one, else its first row with one, if any."""
        labels, missing = self.labels(name, key)
        rows = grouped.positions[grouped.firsts[groups]]
        lacking = missing[rows]
        if lacking.any():
            known = np.flatnonzero(~missing[grouped.positions])
            firsts = np.full(len(grouped.plays), len(grouped.positions), dtype="int64")
            np.minimum.at(firsts, grouped.codes[known], known)
            found = firsts[groups]
            replace = lacking & (found < len(grouped.positions))
            rows[replace] = grouped.positions[found[replace]]
        return labels.take(rows)

    def ranking(
        self, positions: np.ndarray, key: str, name: str, n: int
    ) -> tuple[_Groups, np.ndarray, dict[str, object]]:
        """The `n` most played groups of `key` among the rows at `positions`, by plays, then ms, then label
        (`name`, else `key`), then key: the grouping, the groups in rank order, and their key, label, plays
        and minutes columns."""
        grouped = self.group(positions, key)
        groups = np.flatnonzero(grouped.plays)
        plays, ms = grouped.plays[groups], grouped.ms[groups]
        if 0 < n < len(groups):
            order = np.lexsort((-ms, -plays))
            nth = order[n - 1]
            ahead = (plays > plays[nth]) | ((plays == plays[nth]) & (ms >= ms[nth]))
            groups, plays, ms = groups[ahead], plays[ahead], ms[ahead]
        labels = self.first_labels(grouped, groups, name, key)
        keys = self.plays[key].array.take(grouped.positions[grouped.firsts[groups]])
        label_values, key_values = labels.tolist(), keys.tolist()
        plays_values, ms_values = plays.tolist(), ms.tolist()
        ranked = np.array(
            sorted(
                range(len(groups)),
                key=lambda i: (-plays_values[i], -ms_values[i], label_values[i], key_values[i]),
            )[:n],
            dtype="int64",
        )
        columns = {
            "key": keys.take(ranked),
            "label": labels.take(ranked),
            "plays": pd.array(plays[ranked], dtype=_count_dtype(self.plays["play_id"].dtype)),
            "minutes": np.round(ms[ranked] / MS_PER_MINUTE, 1),
        }
        return grouped, groups[ranked], columns

    def top_artists(self, positions: np.ndarray, n: int) -> pd.DataFrame:
        _, _, columns = self.ranking(positions, "primary_artist_key", "artist_name", n)
        return pd.DataFrame(
            {
                "artist_key": columns["key"],
                "artist": columns["label"],
                "plays": columns["plays"],
                "minutes": columns["minutes"],
            }
        )

    def top_tracks(self, positions: np.ndarray, n: int) -> pd.DataFrame:
        grouped, groups, columns = self.ranking(positions, "track_key", "track_name", n)
        return pd.DataFrame(
            {
                "track_key": columns["key"],
                "track": columns["label"],
                "artist": self.first_labels(grouped, groups, "artist_name", "primary_artist_key"),
                "plays": columns["plays"],
                "minutes": columns["minutes"],
            }
        )

    def summary(
        self, positions: np.ndarray, name: str, first_day: date, last_day: date, top_n: int
    ) -> PeriodSummary:
        days_with_plays = len(np.unique(self.codes("extraction_date")[positions]))
        hours = np.bincount(self.hours[positions], minlength=HOURS)[:HOURS]
        return PeriodSummary(
            name=name,
            first_day=first_day,
            last_day=last_day,
            plays=len(positions),
            minutes=round(int(self.ms[positions].sum()) / MS_PER_MINUTE, 1),
            top_artists=self.top_artists(positions, top_n),
            top_tracks=self.top_tracks(positions, top_n),
            plays_by_hour=[round(float(count) / max(days_with_plays, 1), 2) for count in hours.tolist()],
            days_with_plays=days_with_plays,
        )

    def daily(self, offsets: np.ndarray, first_day: date, last_day: date) -> pd.DataFrame:
        """Daily totals of [first_day, last_day] from the rows' day offsets from first_day (the rows inside
        are those with an offset in [0, days))."""
        days = [first_day + timedelta(days=offset) for offset in range((last_day - first_day).days + 1)]
        inside = np.flatnonzero((offsets >= 0) & (offsets < len(days)))
        plays = np.bincount(offsets[inside], minlength=len(days))[: len(days)].astype("int64")
        ms = np.zeros(len(days), dtype="int64")
        np.add.at(ms, offsets[inside], self.ms[inside])
        return pd.DataFrame({"date": days, "plays": plays, "minutes": np.round(ms / MS_PER_MINUTE, 1)})


def _inside(dates: np.ndarray, first_day: date, last_day: date) -> np.ndarray:
    """Positions of the `dates` (datetime64[D]) in [first_day, last_day]."""
    return np.flatnonzero((dates >= np.datetime64(first_day, "D")) & (dates <= np.datetime64(last_day, "D")))


def _report(plays: pd.DataFrame, dates: np.ndarray, day: date, window_days: int) -> ListeningReport:
    """The report of `day` from the rows' dates already converted (datetime64[D]): the rows of the window
    (and of the day) are taken once, and their columns converted once for the day, the window and the daily
    totals."""
    first = day - timedelta(days=window_days - 1)
    lowest = min(first, day)
    inside = _inside(dates, lowest, day)
    if len(inside) < len(plays):
        plays = plays.iloc[inside]
    offsets = (dates[inside] - np.datetime64(first, "D")).astype("int64")  # the day's: window_days - 1
    rows = _Rows(plays)
    return ListeningReport(
        day=rows.summary(np.flatnonzero(offsets == window_days - 1), "day", day, day, TOP_N),
        window=rows.summary(np.flatnonzero(offsets >= 0), f"{window_days} days", first, day, TOP_N),
        daily=rows.daily(offsets, first, day),
    )


def day_windows(
    plays: pd.DataFrame, days: Iterable[date], window_days: int = WINDOW_DAYS
) -> Iterator[tuple[date, pd.DataFrame, np.ndarray]]:
    """Each of `days` with the rows of its window (sorted by day once, ties in row order) and their dates
    (datetime64[D]), so a year of reports does not scan the year's plays 365 times."""
    dates = _dates(plays["extraction_date"])
    order = np.argsort(dates, kind="stable")  # as sort_values: by day, missing days last, ties in row order
    ordered, dates = plays.iloc[order], dates[order]
    for day in days:
        first = np.datetime64(day - timedelta(days=window_days - 1), "D")
        start = int(np.searchsorted(dates, first, side="left"))
        stop = int(np.searchsorted(dates, np.datetime64(day, "D"), side="right"))
        yield day, ordered.iloc[start:stop], dates[start:stop]


def listening_reports(
    plays: pd.DataFrame, days: Iterable[date], window_days: int = WINDOW_DAYS
) -> Iterator[ListeningReport]:
    """The report of each of `days` from fact rows (`LISTENING_COLUMNS`), each from just its window's rows."""
    for day, rows, dates in day_windows(plays, days, window_days):
        yield _report(rows, dates, day, window_days)
