"""Report layer: each day's listening report (PNG charts in the lake, Markdown in the UI) and the BI views.

With one listener in a day's window the metadata and lake objects are the single-listener report's. With
several, those stay the household's (every listener's plays together) and each listener gets their own
report (`report[<listener_id>]`, charts under `report/listening/listener=<listener_id>/`), next to the
`listeners` numbers and the `household` page comparing them. What a run computes, draws and writes is
`report_pages`', imported when the step runs (pandas, Pillow).
"""

from datetime import date, timedelta
from urllib.parse import quote

import dagster as dg

from spotify_assets.assets.pools import WAREHOUSE_POOL
from spotify_assets.storage.lake import LakeResource
from spotify_assets.storage.postgres import PostgresResource

REPORT_LISTENING = dg.AssetKey(["report", "listening"])
GOLD_INPUTS = [
    dg.AssetKey(["gold", name]) for name in ("fact_recently_played", "dim_artist", "dim_track", "dim_date")
]


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


def listener_segment(listener: str) -> str:
    """`listener=<listener_id>`, the id percent-encoded (a Spotify user id is usually safe as it is)."""
    encoded = quote(listener, safe="")
    return "listener=" + (encoded.replace(".", "%2E") if encoded in (".", "..") else encoded)


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
        from spotify_assets.assets.report_pages import add_report_metadata  # see LAZY_IMPORTS

        add_report_metadata(context, postgres, lake)
        return dg.MaterializeResult()

    return listening
