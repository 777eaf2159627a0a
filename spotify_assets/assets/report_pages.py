"""What the report asset records for its run's days: numbers, Markdown pages and charts (PNGs in the lake).

Imported by the asset when its step runs: pandas and Pillow stay out of the Dagster definitions' import.
"""

from datetime import date, timedelta
from typing import Any

import dagster as dg
import pandas as pd

from spotify_assets.assets.report import REPORT_LISTENING, chart_days, listener_segment
from spotify_assets.report.charts import render_charts, report_markdown
from spotify_assets.report.household_page import household_markdown, listener_markdown
from spotify_assets.storage.bi import ensure_views, read_listening
from spotify_assets.storage.lake import LakeResource
from spotify_assets.storage.postgres import PostgresResource
from spotify_assets.storage.step_metadata import add_partition_metadata
from spotify_assets.transforms.household import HouseholdReport, household_reports, household_totals
from spotify_assets.transforms.report import WINDOW_DAYS, DayTotals, ListeningReport


def add_report_metadata(
    context: dg.AssetExecutionContext, postgres: PostgresResource, lake: LakeResource
) -> None:
    """Each day's report of the run as the day's metadata, its charts written to the lake (in a long range
    for its last month and month ends, `chart_days`); with several listeners, each one's too."""
    days = [date.fromisoformat(key) for key in context.partition_keys]
    with postgres.connect() as conn:
        views = ensure_views(conn)
        plays = read_listening(conn, days[0] - timedelta(days=WINDOW_DAYS - 1), days[-1])
    charted = chart_days(days)
    # Days without charts need only their totals, counted for all of them at once.
    totals = iter(household_totals(plays, [day for day in days if day not in charted]))
    reports = iter(household_reports(plays, [day for day in days if day in charted]))
    per_day: dict[str, dict[str, Any]] = {}
    for day in days:
        if day not in charted:
            counted = next(totals)
            several = {"listeners": dg.MetadataValue.json(counted.totals())} if counted.several else {}
            per_day[day.isoformat()] = {**report_scalars(counted.household), **several}
            continue
        household = next(reports)
        report = household.household
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
        per_day[day.isoformat()] = metadata
    add_partition_metadata(context, per_day)


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


ARTIST_COLUMNS = ("artist", "plays", "minutes")
TRACK_COLUMNS = ("track", "artist", "plays", "minutes")


def report_scalars(totals: DayTotals) -> dict[str, object]:
    """The report's plain numbers: `day_*` for the day, `window_*` for the rolling 30 days."""
    return {
        "day_plays": totals.day_plays,
        "day_minutes": totals.day_minutes,
        "window_plays": totals.window_plays,
        "window_minutes": totals.window_minutes,
        "window_first_day": totals.window_first_day.isoformat(),
        "window_days_with_plays": totals.window_days_with_plays,  # what window_plays_by_hour averages
    }


def report_numbers(report: ListeningReport) -> dict[str, object]:
    """The report's numbers as metadata: `report_scalars`, and the top lists and hours of each period."""
    periods = (("day", report.day), ("window", report.window))
    numbers = report_scalars(DayTotals.of(report))
    for prefix, period in periods:
        numbers[f"{prefix}_top_artists"] = ranking_table(period.top_artists, ARTIST_COLUMNS)
    for prefix, period in periods:
        numbers[f"{prefix}_top_tracks"] = ranking_table(period.top_tracks, TRACK_COLUMNS)
    for prefix, period in periods:
        numbers[f"{prefix}_plays_by_hour"] = dg.MetadataValue.json(period.plays_by_hour)
    return numbers


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
