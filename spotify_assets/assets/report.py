"""Report layer: each day's listening report (PNG charts in the lake, Markdown in the UI) and the BI views.

With one listener in a day's window the metadata and lake objects are the single-listener report's. With
several, those stay the household's (every listener's plays together) and each listener gets their own
report (`report[<listener_id>]`, charts under `report/listening/listener=<listener_id>/`), next to the
`listeners` numbers and the `household` page comparing them.
"""

from datetime import date, timedelta
from urllib.parse import quote

import dagster as dg
import pandas as pd

from spotify_assets.assets.pools import WAREHOUSE_POOL
from spotify_assets.report.charts import render_charts, report_markdown
from spotify_assets.report.household_page import household_markdown, listener_markdown
from spotify_assets.storage.bi import ensure_views, read_listening
from spotify_assets.storage.lake import LakeResource
from spotify_assets.storage.postgres import PostgresResource
from spotify_assets.transforms.household import HouseholdReport, household_reports
from spotify_assets.transforms.report import WINDOW_DAYS, ListeningReport

REPORT_LISTENING = dg.AssetKey(["report", "listening"])
GOLD_INPUTS = [
    dg.AssetKey(["gold", name]) for name in ("fact_recently_played", "dim_artist", "dim_track", "dim_date")
]


def ranking_table(frame: pd.DataFrame, columns: tuple[str, ...]) -> dg.TableMetadataValue:
    """A top-N frame as table metadata (shown as a table in the UI), numbers as Python numbers."""
    types = {"plays": "int", "minutes": "float"}
    schema = dg.TableSchema(columns=[dg.TableColumn(name, types.get(name, "string")) for name in columns])
    rows = frame.loc[:, list(columns)].astype(object).itertuples(index=False)
    records = [
        dg.TableRecord({name: _plain(value) for name, value in zip(columns, row, strict=True)})
        for row in rows
    ]
    return dg.MetadataValue.table(records=records, schema=schema)


def _plain(value: object) -> str | int | float | bool | None:
    plain = value.item() if hasattr(value, "item") else value
    if plain is not None and not isinstance(plain, str | int | float | bool):
        raise TypeError(f"a table metadata cell must be a string or a number, not {type(plain).__name__}")
    return plain


CHART_ALL_DAYS = 31
"""A run of at most this many days charts every day; a longer one its last this many days and month ends."""


def chart_days(days: list[date]) -> set[date]:
    """The days of a run that get charts, top lists and a page; every day gets its numbers.

    A run over a month or less (the schedule's, a catch-up, a backfill looked at day by day) charts every
    day. A longer one (an imported history) charts its last CHART_ALL_DAYS days and the last day of each
    month, whose 30-day window is that month: charts for 3,653 days would cost 3,653 times a day's.
    """
    if len(days) <= CHART_ALL_DAYS:
        return set(days)
    return set(days[-CHART_ALL_DAYS:]) | {day for day in days if (day + timedelta(days=1)).day == 1}


ARTIST_COLUMNS = ("artist", "plays", "minutes")
TRACK_COLUMNS = ("track", "artist", "plays", "minutes")


def report_scalars(report: ListeningReport) -> dict[str, object]:
    """The report's plain numbers: `day_*` for the day, `window_*` for the rolling 30 days."""
    periods = (("day", report.day), ("window", report.window))
    numbers: dict[str, object] = {}
    for prefix, period in periods:
        numbers[f"{prefix}_plays"] = period.plays
        numbers[f"{prefix}_minutes"] = period.minutes
    numbers["window_first_day"] = report.window.first_day.isoformat()
    numbers["window_days_with_plays"] = report.window.days_with_plays  # what window_plays_by_hour averages
    return numbers


def report_numbers(report: ListeningReport) -> dict[str, object]:
    """The report's numbers as metadata: `report_scalars`, and the top lists and hours of each period."""
    periods = (("day", report.day), ("window", report.window))
    numbers = report_scalars(report)
    for prefix, period in periods:
        numbers[f"{prefix}_top_artists"] = ranking_table(period.top_artists, ARTIST_COLUMNS)
    for prefix, period in periods:
        numbers[f"{prefix}_top_tracks"] = ranking_table(period.top_tracks, TRACK_COLUMNS)
    for prefix, period in periods:
        numbers[f"{prefix}_plays_by_hour"] = dg.MetadataValue.json(period.plays_by_hour)
    return numbers


def listener_segment(listener: str) -> str:
    """`listener=<listener_id>`, the id percent-encoded (a Spotify user id is usually safe as it is)."""
    encoded = quote(listener, safe="")
    return "listener=" + (encoded.replace(".", "%2E") if encoded in (".", "..") else encoded)


def write_charts(
    lake: LakeResource, day: date, charts: dict[str, bytes], listener: str | None = None
) -> dict[str, str]:
    """Store the PNGs at `report/listening/extraction_date=<day>/<chart>.png` (the household's, the only
    listener's) or `report/listening/listener=<listener_id>/extraction_date=<day>/<chart>.png` (one of several
    listeners'); their uris by name."""
    path = [*REPORT_LISTENING.path, *([listener_segment(listener)] if listener is not None else [])]
    uris = {}
    for name, png in charts.items():
        key = lake.partition_path(path, day.isoformat(), f"{name}.png")
        lake.write_bytes(key, png)
        uris[name] = lake.uri(key)
    return uris


def household_metadata(lake: LakeResource, household: HouseholdReport) -> dict[str, object]:
    """Each listener's charts written to the lake, and the metadata of several listeners: `listeners` (their
    numbers), `listener_charts` (listener_id -> chart -> uri), `report[<listener_id>]` (each one's page) and
    `household` (the page comparing them)."""
    pages, chart_uris = {}, {}
    for listener, report in household.listeners.items():
        chart_uris[listener] = write_charts(lake, household.day, render_charts(report), listener)
        pages[f"report[{listener}]"] = dg.MetadataValue.md(
            listener_markdown(listener, report, chart_uris[listener])
        )
    return {
        "listeners": dg.MetadataValue.json(household.totals()),
        "listener_charts": dg.MetadataValue.json(chart_uris),
        "household": dg.MetadataValue.md(household_markdown(household)),
        **pages,
    }


def build_report_asset(partitions: dg.DailyPartitionsDefinition) -> dg.AssetsDefinition:
    """`report/listening` on `partitions`."""

    @dg.asset(
        key=REPORT_LISTENING,
        group_name="report",
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=GOLD_INPUTS,
        # No io_manager_key: the asset returns a MaterializeResult (it writes its charts to the lake itself
        # and its views live in the warehouse), so no output of it is stored by an IO manager.
        pool=WAREHOUSE_POOL,
        kinds={"pillow", "pandas", "postgres"},
    )
    def listening(
        context: dg.AssetExecutionContext, postgres: PostgresResource, lake: LakeResource
    ) -> dg.MaterializeResult:
        """Plays, minutes, top artists and tracks and hours of the day and of the last 30 days, with
        charts (in a long range: its last month and month ends); with several listeners, each one's too."""
        days = [date.fromisoformat(key) for key in context.partition_keys]
        with postgres.connect() as conn:
            views = ensure_views(conn)
            plays = read_listening(conn, days[0] - timedelta(days=WINDOW_DAYS - 1), days[-1])
        charted = chart_days(days)
        for household in household_reports(plays, days):
            day, report = household.day, household.household
            if day not in charted:
                totals = {"listeners": dg.MetadataValue.json(household.totals())} if household.several else {}
                context.add_asset_metadata(
                    {**report_scalars(report), **totals}, partition_key=day.isoformat()
                )
                continue
            numbers = report_numbers(report)
            scalars = {k: v for k, v in numbers.items() if not isinstance(v, dg.MetadataValue)}
            charts = render_charts(report)
            uris = write_charts(lake, day, charts)
            metadata = {
                "report": dg.MetadataValue.md(report_markdown(report, charts)),
                **scalars,
                "charts": dg.MetadataValue.json(uris),
                "chart_bytes": sum(len(png) for png in charts.values()),
                "bi_views": ", ".join(views),
                **{k: v for k, v in numbers.items() if k not in scalars},
            }
            if household.several:
                metadata.update(household_metadata(lake, household))
            context.add_asset_metadata(metadata, partition_key=day.isoformat())
        return dg.MaterializeResult()

    return listening
