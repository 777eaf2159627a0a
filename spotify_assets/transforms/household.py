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

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from spotify_assets.transforms.report import (
    MS_PER_MINUTE,
    TOP_N,
    WINDOW_DAYS,
    ListeningReport,
    day_windows,
    listening_reports,
)

SHARED_COLUMNS = ("artist_key", "artist", "listeners", "plays", "minutes", "plays_by_listener")
MOST_COLUMNS = ("key", "label", "plays", "listeners", "listener_id", "listener_plays", "listener_minutes")


def _empty(columns: tuple[str, ...]) -> pd.DataFrame:
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
            listener: {
                "day_plays": report.day.plays,
                "day_minutes": report.day.minutes,
                "window_plays": report.window.plays,
                "window_minutes": report.window.minutes,
            }
            for listener, report in self.listeners.items()
        }


def _with_ms(rows: pd.DataFrame) -> pd.DataFrame:
    listened = rows["ms_played"].fillna(rows["duration_ms"]).fillna(0).astype("int64")
    return rows.assign(_ms=listened.to_numpy())


def _labels(rows: pd.DataFrame, key: str, name: str) -> pd.Series:
    """Each key's label: its first name in row order, else the key."""
    first = rows.groupby(key, sort=False)[name].first()
    return first.fillna(pd.Series(first.index, index=first.index)).astype(object)


def _by_listener(rows: pd.DataFrame, key: str) -> pd.DataFrame:
    """Plays and ms of each (key, listener), most played first (then ms, then listener id)."""
    counted = (
        rows.groupby([key, "listener_id"], sort=False)
        .agg(plays=("play_id", "size"), ms=("_ms", "sum"))
        .reset_index()
    )
    counted = counted.astype({key: object, "listener_id": object, "plays": "int64", "ms": "int64"})
    return counted.sort_values(
        ["plays", "ms", "listener_id"], ascending=[False, False, True], kind="stable"
    ).reset_index(drop=True)


def shared_artists(rows: pd.DataFrame, top_n: int = TOP_N) -> pd.DataFrame:
    """The `top_n` primary artists of `rows` played by at least two listeners (see the module docstring)."""
    rows = _with_ms(rows[rows["primary_artist_key"].notna()])
    counted = _by_listener(rows, "primary_artist_key")
    listeners = counted.groupby("primary_artist_key", sort=False)["listener_id"].size()
    shared = listeners[listeners >= 2].index
    if not len(shared):
        return _empty(SHARED_COLUMNS)
    labels = _labels(rows, "primary_artist_key", "artist_name")
    records = []
    for artist_key, group in counted[counted["primary_artist_key"].isin(shared)].groupby(
        "primary_artist_key", sort=False
    ):
        records.append(
            {
                "artist_key": artist_key,
                "artist": labels[artist_key],
                "listeners": len(group),
                "plays": int(group["plays"].sum()),
                "ms": int(group["ms"].sum()),
                "plays_by_listener": dict(zip(group["listener_id"], group["plays"].tolist(), strict=True)),
            }
        )
    frame = pd.DataFrame(records).sort_values(
        ["listeners", "plays", "ms", "artist", "artist_key"],
        ascending=[False, False, False, True, True],
        kind="stable",
    )
    frame["minutes"] = (frame["ms"] / MS_PER_MINUTE).round(1)
    return frame.head(top_n).loc[:, list(SHARED_COLUMNS)].reset_index(drop=True)


def most_played_by(
    rows: pd.DataFrame, key: str, keys: Iterable[object], labels: Iterable[object]
) -> pd.DataFrame:
    """For each of `keys` (labelled `labels`, in their order), who of the listeners of `rows` played it most
    (see the module docstring), with the key's plays and how many listeners played it."""
    rows = _with_ms(rows[rows[key].notna()])
    counted = _by_listener(rows, key)
    groups = dict(tuple(counted.groupby(key, sort=False)))
    records = []
    for value, label in zip(keys, labels, strict=True):
        group = groups[value]
        most = group.iloc[0]
        records.append(
            {
                "key": value,
                "label": label,
                "plays": int(group["plays"].sum()),
                "listeners": len(group),
                "listener_id": most["listener_id"],
                "listener_plays": int(most["plays"]),
                "listener_minutes": round(int(most["ms"]) / MS_PER_MINUTE, 1),
            }
        )
    return pd.DataFrame(records, columns=list(MOST_COLUMNS)) if records else _empty(MOST_COLUMNS)


def household_reports(
    plays: pd.DataFrame, days: Iterable[date], window_days: int = WINDOW_DAYS
) -> Iterator[HouseholdReport]:
    """The household report of each of `days` from fact rows (`LISTENING_COLUMNS`, with `listener_id`)."""
    days = list(days)
    ids = sorted(plays["listener_id"].dropna().unique().tolist())
    everyone = listening_reports(plays, days, window_days)
    if len(ids) <= 1:  # one listener (or none): the household's report is theirs
        for day, report in zip(days, everyone, strict=True):
            yield HouseholdReport(day, report, {ids[0]: report} if report.window.plays else {})
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
        yield HouseholdReport(
            day,
            report,
            present,
            shared_artists=shared_artists(rows),
            most_artists=most_played_by(
                rows, "primary_artist_key", top_artists["artist_key"].tolist(), top_artists["artist"].tolist()
            ),
            most_tracks=most_played_by(
                rows, "track_key", top_tracks["track_key"].tolist(), top_tracks["track"].tolist()
            ),
        )
