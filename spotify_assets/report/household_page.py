"""The household's Markdown: each listener's report page and the page comparing the listeners.

A listener's page is the report's (`charts.report_markdown`) titled with their id, with links to their
charts in the lake instead of inline images, so that five listeners' pages stay small in the event log.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from spotify_assets.contracts.markdown import markdown_table
from spotify_assets.report.charts import MARKDOWN_TOP, report_markdown
from spotify_assets.transforms.household import HouseholdReport
from spotify_assets.transforms.report import ListeningReport

PRIVACY_NOTE = (
    "_Every listener's plays are visible to whoever reads this page or the warehouse (`bi` views)._"
)


def listener_markdown(listener: str, report: ListeningReport, chart_uris: Mapping[str, str]) -> str:
    """A listener's report page: numbers and top lists, and where their charts are."""
    links = ", ".join(f"[{name}]({uri})" for name, uri in chart_uris.items())
    return report_markdown(report, {}, listener=listener) + f"\n\nCharts: {links}"


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "-"


def _listeners_table(household: HouseholdReport) -> str:
    totals = household.totals()
    order = sorted(totals, key=lambda listener: (-totals[listener]["window_plays"], listener))
    everyone = household.household.window.plays
    days = household.household.window.days
    header = ["listener", "plays (day)", "minutes (day)", f"plays ({days} days)", f"minutes ({days} days)"]
    rows: list[list[object]] = [
        [
            listener,
            totals[listener]["day_plays"],
            f"{totals[listener]['day_minutes']:g}",
            totals[listener]["window_plays"],
            f"{totals[listener]['window_minutes']:g}",
            _share(int(totals[listener]["window_plays"]), everyone),
        ]
        for listener in order
    ]
    return markdown_table([*header, "share of plays"], rows)


def _shared_table(shared: pd.DataFrame) -> str:
    if shared.empty:
        return "_no artist played by two listeners or more_"
    rows: list[list[object]] = [
        [
            rank,
            row.artist,
            row.listeners,
            row.plays,
            f"{row.minutes:g}",
            ", ".join(f"{listener} {plays}" for listener, plays in row.plays_by_listener.items()),
        ]
        for rank, row in enumerate(shared.itertuples(index=False), 1)
    ]
    return markdown_table(["#", "artist", "listeners", "plays", "minutes", "plays per listener"], rows)


def _most_table(most: pd.DataFrame, what: str) -> str:
    if most.empty:
        return "_no plays_"
    rows: list[list[object]] = [
        [rank, row.label, row.plays, row.listeners, row.listener_id, row.listener_plays]
        for rank, row in enumerate(most.head(MARKDOWN_TOP * 2).itertuples(index=False), 1)
    ]
    return markdown_table(["#", what, "plays", "listeners", "played most by", "their plays"], rows)


def household_markdown(household: HouseholdReport) -> str:
    """The household page: the listeners side by side, the artists they share, who played what most."""
    window = household.household.window
    days = f"{window.days} days"
    parts = [
        f"## Household on {household.day.isoformat()}",
        f"**{len(household.listeners)} listeners** played in the {days} "
        f"{window.first_day.isoformat()}..{window.last_day.isoformat()}: **{window.plays} plays, "
        f"{window.minutes:g} minutes** together.",
        PRIVACY_NOTE,
        "### Listeners",
        _listeners_table(household),
        f"### Artists shared by two listeners or more ({days})",
        _shared_table(household.shared_artists),
        f"### Who played the top artists most ({days})",
        _most_table(household.most_artists, "artist"),
        f"### Who played the top tracks most ({days})",
        _most_table(household.most_tracks, "track"),
    ]
    return "\n\n".join(parts)
