"""The household's numbers: each listener's report of a day, and the page comparing them.

The rows are `tables.LISTENING_COLUMNS`, `listener_id` included. A listener is in a day's household when they
have plays in its window (the 30 days ending on the day); each one's report is `transforms.report`'s on just
their rows, and the household's report (everyone's plays together) is the one on all rows, which is the
only listener's own when there is one. The comparisons, made when there are at least two listeners, count
the window's plays:
- shared artists: primary artists played by at least two listeners, ranked by how many listeners played
  them, then plays, minutes, name and key (as the report ranks);
- who played most: for each of the household's top artists and tracks of the window, the listener with the
  most plays of it (then the most minutes, then the first listener id).
Names are labelled as the report labels them: the first name in row order, else the key.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from spotify_assets.transforms.report import (
    MS_PER_MINUTE,
    TOP_N,
    WINDOW_DAYS,
    DayTotals,
    ListeningReport,
    day_totals,
    day_windows,
    listening_reports,
)

SHARED_COLUMNS = ("artist_key", "artist", "listeners", "plays", "minutes", "plays_by_listener")
MOST_COLUMNS = ("key", "label", "plays", "listeners", "listener_id", "listener_plays", "listener_minutes")


def _empty(columns: tuple[str, ...]) -> pd.DataFrame:
    # Made once (a frame costs milliseconds, and a long range has thousands of days with one listener);
    # pandas' copy-on-write keeps the kept frame unchanged.
    return _empty_frame(columns).copy(deep=False)


@functools.cache
def _empty_frame(columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series([], dtype=object) for name in columns})


@dataclass(frozen=True)
class HouseholdReport:
    """One day's reports: the household's (every listener's plays together), each listener's, and the
    comparisons (empty unless at least two listeners have plays in the window)."""

    day: date
    household: ListeningReport
    listeners: dict[str, ListeningReport]  # listener_id -> their report: those with plays in the window
    shared_artists: pd.DataFrame = field(default_factory=lambda: _empty(SHARED_COLUMNS))
    # artist_key, artist, listeners, plays, minutes, plays_by_listener ({listener_id: plays}, most first)
    most_artists: pd.DataFrame = field(default_factory=lambda: _empty(MOST_COLUMNS))
    # of the household's top artists: key, label (artist), plays, listeners, and who played it most
    # (listener_id) with their listener_plays and listener_minutes
    most_tracks: pd.DataFrame = field(default_factory=lambda: _empty(MOST_COLUMNS))
    # the same for the household's top tracks (label: the track)

    @property
    def several(self) -> bool:
        """Whether at least two listeners have plays in the window."""
        return len(self.listeners) > 1

    def totals(self) -> dict[str, dict[str, int | float]]:
        """listener_id -> day_plays, day_minutes, window_plays, window_minutes."""
        return {
            listener: listener_totals(DayTotals.of(report)) for listener, report in self.listeners.items()
        }


def listener_totals(report: DayTotals) -> dict[str, int | float]:
    """A listener's numbers in the household's `listeners` metadata."""
    return {
        "day_plays": report.day_plays,
        "day_minutes": report.day_minutes,
        "window_plays": report.window_plays,
        "window_minutes": report.window_minutes,
    }


@dataclass(frozen=True)
class HouseholdTotals:
    """One day's totals (`DayTotals`): the household's, and each listener's with plays in the window."""

    household: DayTotals
    listeners: dict[str, DayTotals]

    @property
    def several(self) -> bool:
        """Whether at least two listeners have plays in the window."""
        return len(self.listeners) > 1

    def totals(self) -> dict[str, dict[str, int | float]]:
        """listener_id -> day_plays, day_minutes, window_plays, window_minutes, as `HouseholdReport`'s."""
        return {listener: listener_totals(totals) for listener, totals in self.listeners.items()}


def household_totals(
    plays: pd.DataFrame, days: Iterable[date], window_days: int = WINDOW_DAYS
) -> list[HouseholdTotals]:
    """The totals of `household_reports` for each of `days`, without their top lists, hours and comparisons:
    counted for all the days at once (`day_totals`)."""
    days = list(days)
    ids = sorted(plays["listener_id"].dropna().unique().tolist())
    everyone = day_totals(plays, days, window_days)
    theirs = {
        listener: day_totals(plays[plays["listener_id"] == listener], days, window_days)
        if len(ids) > 1
        else everyone
        for listener in ids
    }
    return [
        HouseholdTotals(
            household,
            {listener: each[n] for listener, each in theirs.items() if each[n].window_plays},
        )
        for n, household in enumerate(everyone)
    ]


class _Window:
    """A day's window rows for the comparisons, each column converted once and shared by the artists' and
    the tracks' counts: listened ms, the listeners' group codes, and each key's group codes."""

    def __init__(self, rows: pd.DataFrame) -> None:
        self.rows = rows
        self.ms = rows["ms_played"].fillna(rows["duration_ms"]).fillna(0).astype("int64").to_numpy()
        self.listeners, listener_values = pd.factorize(rows["listener_id"])
        self.listener_values = np.asarray(listener_values, dtype=object)
        self._codes: dict[str, tuple[np.ndarray, pd.Index]] = {}

    def codes(self, key: str) -> tuple[np.ndarray, pd.Index]:
        """Each row's group code of `key` (-1: no key) and the keys of the codes."""
        if key not in self._codes:
            codes, values = pd.factorize(self.rows[key])
            self._codes[key] = (codes, pd.Index(values))
        return self._codes[key]

    def labels(self, key: str, name: str, keys: list[object]) -> list[object]:
        """The label of each of `keys`: its first name in row order, else the key."""
        codes, values = self.codes(key)
        named = np.flatnonzero((codes >= 0) & self.rows[name].notna().to_numpy())
        found_codes, firsts = np.unique(codes[named], return_index=True)
        names = self.rows[name].array.take(named[firsts]).tolist()
        found = dict(zip(np.asarray(values, dtype=object)[found_codes].tolist(), names, strict=True))
        return [found.get(value, value) for value in keys]


@dataclass(frozen=True)
class _ByListener:
    """Plays and listened ms of each (key, listener) of a window's rows holding a key, most played first
    (then ms, then listener id), counted on group codes (a pandas groupby costs ~10 ms, a year of days makes
    365, a household's comparisons three a day)."""

    keys: np.ndarray  # each pair's key (object)
    listeners: np.ndarray  # each pair's listener id (object)
    plays: np.ndarray
    ms: np.ndarray

    def per_key(self) -> pd.DataFrame:
        """Of each key, in order of its first pair: its most played listener's pair (`listener_id`, `plays`,
        `ms`), with `listeners`, `total_plays` and `total_ms` of all its listeners; indexed by key."""
        codes, _ = pd.factorize(self.keys)
        firsts = np.unique(codes, return_index=True)[1]
        total_plays = np.zeros(len(firsts), dtype="int64")
        total_ms = np.zeros(len(firsts), dtype="int64")
        np.add.at(total_plays, codes, self.plays)
        np.add.at(total_ms, codes, self.ms)
        return pd.DataFrame(
            {
                "listener_id": self.listeners[firsts],
                "plays": self.plays[firsts],
                "ms": self.ms[firsts],
                "listeners": np.bincount(codes, minlength=len(firsts)).astype("int64"),
                "total_plays": total_plays,
                "total_ms": total_ms,
            },
            index=pd.Index(self.keys[firsts], dtype=object),
        )


def _by_listener(window: _Window, key: str, only: list[object] | None = None) -> _ByListener:
    """`_ByListener` of the window's rows holding a key (of those of `only`, when given)."""
    codes, values = window.codes(key)
    held = codes >= 0 if only is None else np.isin(codes, values.get_indexer(only)) & (codes >= 0)
    rows = np.flatnonzero(held)
    width = max(len(window.listener_values), 1)
    pairs, inverse = np.unique(codes[rows] * width + window.listeners[rows], return_inverse=True)
    ms = np.zeros(len(pairs), dtype="int64")
    np.add.at(ms, inverse, window.ms[rows])
    plays = np.bincount(inverse, minlength=len(pairs)).astype("int64")
    listeners = window.listener_values[pairs % width]
    order = np.lexsort((listeners, -ms, -plays))
    keys = np.asarray(values, dtype=object)[pairs // width]
    return _ByListener(keys[order], listeners[order], plays[order], ms[order])


def _shared_artists(window: _Window, counted: _ByListener, top_n: int) -> pd.DataFrame:
    """The `top_n` primary artists of the window played by at least two listeners (see the module docstring),
    from the window's artists `counted` by listener."""
    artists = counted.per_key()
    artists = artists[artists["listeners"] >= 2]
    if artists.empty:
        return _empty(SHARED_COLUMNS)
    keys = artists.index.tolist()
    frame = pd.DataFrame(
        {
            "artist_key": keys,
            "artist": window.labels("primary_artist_key", "artist_name", keys),
            "listeners": artists["listeners"].to_numpy(),
            "plays": artists["total_plays"].to_numpy(),
            "ms": artists["total_ms"].to_numpy(),
        }
    )
    frame = frame.sort_values(
        ["listeners", "plays", "ms", "artist", "artist_key"],
        ascending=[False, False, False, True, True],
        kind="stable",
    ).head(top_n)
    by_listener: dict[object, dict[str, int]] = {key: {} for key in frame["artist_key"]}
    for artist_key, listener, plays in zip(
        counted.keys.tolist(), counted.listeners.tolist(), counted.plays.tolist(), strict=True
    ):
        if artist_key in by_listener:
            by_listener[artist_key][listener] = plays  # most played first, as `counted` is ordered
    frame = frame.assign(
        minutes=(frame["ms"] / MS_PER_MINUTE).round(1),
        plays_by_listener=[by_listener[key] for key in frame["artist_key"]],
    )
    return frame.loc[:, list(SHARED_COLUMNS)].reset_index(drop=True)


def _most_played_by(counted: _ByListener, keys: list[object], labels: list[object]) -> pd.DataFrame:
    """For each of `keys` (labelled `labels`, in their order), who of the listeners `counted` played it most
    (see the module docstring), with the key's plays and how many listeners played it."""
    if not keys:
        return _empty(MOST_COLUMNS)
    per_key = counted.per_key().reindex(keys)
    return pd.DataFrame(
        {
            "key": keys,
            "label": labels,
            "plays": per_key["total_plays"].to_numpy(),
            "listeners": per_key["listeners"].to_numpy(),
            "listener_id": per_key["listener_id"].to_numpy(),
            "listener_plays": per_key["plays"].to_numpy(),
            "listener_minutes": (per_key["ms"] / MS_PER_MINUTE).round(1).to_numpy(),
        }
    )


def household_reports(
    plays: pd.DataFrame, days: Iterable[date], window_days: int = WINDOW_DAYS
) -> Iterator[HouseholdReport]:
    """The household report of each of `days` from fact rows (`LISTENING_COLUMNS`, with `listener_id`)."""
    days = list(days)
    ids = sorted(plays["listener_id"].dropna().unique().tolist())
    everyone = listening_reports(plays, days, window_days)
    if len(ids) <= 1:  # one listener (or none): the household's report is theirs
        for day, report in zip(days, everyone, strict=True):
            yield HouseholdReport(day, report, {ids[0]: report} if ids and report.window.plays else {})
        return
    theirs = {
        listener: listening_reports(plays[plays["listener_id"] == listener], days, window_days)
        for listener in ids
    }
    windows = day_windows(plays, days, window_days)
    for (day, rows, _), report in zip(windows, everyone, strict=True):
        each = {listener: next(reports) for listener, reports in theirs.items()}
        present = {listener: r for listener, r in each.items() if r.window.plays}
        if len(present) < 2:
            yield HouseholdReport(day, report, present)
            continue
        top_artists, top_tracks = report.window.top_artists, report.window.top_tracks
        window = _Window(rows)
        artists = _by_listener(window, "primary_artist_key")  # the shared artists' and the top artists'
        track_keys = top_tracks["track_key"].tolist()
        yield HouseholdReport(
            day,
            report,
            present,
            shared_artists=_shared_artists(window, artists, TOP_N),
            most_artists=_most_played_by(
                artists, top_artists["artist_key"].tolist(), top_artists["artist"].tolist()
            ),
            most_tracks=_most_played_by(
                _by_listener(window, "track_key", track_keys), track_keys, top_tracks["track"].tolist()
            ),
        )
