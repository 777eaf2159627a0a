"""Report layer: each day's listening report (PNG charts in the lake, Markdown in the UI) and the BI views."""

from datetime import date, timedelta

import dagster as dg
import pandas as pd

from spotify_assets.charts import render_charts, report_markdown
from spotify_assets.pools import WAREHOUSE_POOL
from spotify_assets.storage.bi import ensure_views, read_listening
from spotify_assets.storage.lake import LakeResource
from spotify_assets.storage.postgres import PostgresResource
from spotify_assets.transforms.report import WINDOW_DAYS, ListeningReport, listening_reports

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


ARTIST_COLUMNS = ("artist", "plays", "minutes")
TRACK_COLUMNS = ("track", "artist", "plays", "minutes")


def report_numbers(report: ListeningReport) -> dict[str, object]:
    """The report's numbers as metadata: `day_*` for the day, `window_*` for the rolling 30 days."""
    periods = (("day", report.day), ("window", report.window))
    numbers: dict[str, object] = {}
    for prefix, period in periods:
        numbers[f"{prefix}_plays"] = period.plays
        numbers[f"{prefix}_minutes"] = period.minutes
    numbers["window_first_day"] = report.window.first_day.isoformat()
    for prefix, period in periods:
        numbers[f"{prefix}_top_artists"] = ranking_table(period.top_artists, ARTIST_COLUMNS)
    for prefix, period in periods:
        numbers[f"{prefix}_top_tracks"] = ranking_table(period.top_tracks, TRACK_COLUMNS)
    for prefix, period in periods:
        numbers[f"{prefix}_plays_by_hour"] = dg.MetadataValue.json(period.plays_by_hour)
    return numbers


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
        charts."""
        days = [date.fromisoformat(key) for key in context.partition_keys]
        with postgres.connect() as conn:
            views = ensure_views(conn)
            plays = read_listening(conn, days[0] - timedelta(days=WINDOW_DAYS - 1), days[-1])
        for day, report in zip(days, listening_reports(plays, days), strict=True):
            charts = render_charts(report)
            uris = {}
            for name, png in charts.items():
                key = lake.partition_path(REPORT_LISTENING.path, day.isoformat(), f"{name}.png")
                lake.write_bytes(key, png)
                uris[name] = lake.uri(key)
            numbers = report_numbers(report)
            scalars = {k: v for k, v in numbers.items() if not isinstance(v, dg.MetadataValue)}
            metadata = {
                "report": dg.MetadataValue.md(report_markdown(report, charts)),
                **scalars,
                "charts": dg.MetadataValue.json(uris),
                "chart_bytes": sum(len(png) for png in charts.values()),
                "bi_views": ", ".join(views),
                **{k: v for k, v in numbers.items() if k not in scalars},
            }
            context.add_asset_metadata(metadata, partition_key=day.isoformat())
        return dg.MaterializeResult()

    return listening
