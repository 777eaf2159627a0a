"""The listening report: valid PNG charts in the lake and in the Markdown metadata, numbers equal to SQL on
the warehouse, and the BI views."""

from __future__ import annotations

import base64
import io
import random
import re
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from PIL import Image, ImageColor

from spotify_assets.assets.report import CHART_ALL_DAYS, REPORT_LISTENING, chart_days
from spotify_assets.definitions import build_definitions
from spotify_assets.report.chart_canvas import ACCENT, INK, nice_ticks
from spotify_assets.report.charts import (
    CHARTS,
    RANKING_SIZE,
    SIZE,
    hour_of_day_chart,
    render_charts,
    report_markdown,
    top_artists_chart,
    top_tracks_chart,
)
from spotify_assets.transforms.household import household_reports, household_totals
from spotify_assets.transforms.report import (
    WINDOW_DAYS,
    DayTotals,
    ListeningReport,
    _dates,
    _report,
    listening_reports,
)
from spotify_assets_tests.helpers import make_settings, materialize
from spotify_assets_tests.report_numbers import listening_frame, sql_numbers

FIRST, LAST = date(2025, 3, 12), date(2025, 3, 14)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_CHART_BYTES = 60_000


def assert_png(data: bytes) -> tuple[int, int]:
    assert data.startswith(PNG_MAGIC)
    assert len(data) < MAX_CHART_BYTES
    with Image.open(io.BytesIO(data)) as image:
        image.verify()
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        assert image.format == "PNG"
        return image.size


def report_numbers(metadata, prefix: str) -> dict[str, object]:
    value = {key: entry.value for key, entry in metadata.items()}
    return {
        "plays": value[f"{prefix}_plays"],
        "minutes": value[f"{prefix}_minutes"],
        "top_artists": [
            (r.data["artist"], r.data["plays"], r.data["minutes"])
            for r in value[f"{prefix}_top_artists"].records
        ],
        "top_tracks": [
            (r.data["track"], r.data["plays"], r.data["minutes"])
            for r in value[f"{prefix}_top_tracks"].records
        ],
        "plays_by_hour": value[f"{prefix}_plays_by_hour"],
    }


@pytest.fixture()
def settings(tmp_path: Path, clean_warehouse):
    return make_settings(tmp_path, clean_warehouse)


@pytest.mark.slow
def test_report_charts_and_numbers_equal_sql_on_the_warehouse(settings, clean_warehouse):
    materialize(settings, FIRST - timedelta(days=1))  # a day before the range, inside the rolling window
    result = materialize(settings, FIRST, LAST)
    events = {
        event.partition: event.materialization.metadata
        for event in result.get_asset_materialization_events()
        if event.asset_key == REPORT_LISTENING
    }
    assert sorted(events) == [d.isoformat() for d in (FIRST, FIRST + timedelta(days=1), LAST)]
    lake = Path(settings.lake_dir)
    with clean_warehouse.connect() as conn:
        for key, metadata in events.items():
            day = date.fromisoformat(key)
            assert report_numbers(metadata, "day") == sql_numbers(conn, day, day)
            assert report_numbers(metadata, "window") == sql_numbers(conn, day - timedelta(days=29), day)
            assert metadata["window_plays"].value > metadata["day_plays"].value > 0

            markdown = metadata["report"].value
            images = dict(re.findall(r"!\[(\w+)\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", markdown))
            assert list(images) == list(CHARTS)
            for name in CHARTS:
                stored = (lake / f"report/listening/extraction_date={key}/{name}.png").read_bytes()
                width, height = assert_png(stored)
                assert width > 300 and height > 200
                assert base64.b64decode(images[name]) == stored
            assert metadata["charts"].value["top_artists"].endswith(f"extraction_date={key}/top_artists.png")

            daily = conn.execute(
                "SELECT plays, minutes FROM bi.daily_listening WHERE date = %s", (day,)
            ).fetchone()
            assert (daily[0], float(daily[1])) == (metadata["day_plays"].value, metadata["day_minutes"].value)


@pytest.mark.slow
def test_a_long_range_gives_its_uncharted_days_their_numbers_only(settings, clean_warehouse):
    first, last = date(2025, 1, 2), date(2025, 2, 3)  # 33 days: the first two are charted by nobody
    result = materialize(settings, first, last)
    events = {
        date.fromisoformat(event.partition): event.materialization.metadata
        for event in result.get_asset_materialization_events()
        if event.asset_key == REPORT_LISTENING
    }
    assert len(events) == 33
    with clean_warehouse.connect() as conn:
        for day in (first, first + timedelta(days=1), date(2025, 1, 31)):
            metadata = {key: entry.value for key, entry in events[day].items()}
            assert ("report" in metadata) == (day == date(2025, 1, 31))
            for prefix, since in (("day", day), ("window", day - timedelta(days=29))):
                expected = sql_numbers(conn, since, day)
                assert (metadata[f"{prefix}_plays"], metadata[f"{prefix}_minutes"]) == (
                    expected["plays"],
                    expected["minutes"],
                )
            (with_plays,) = conn.execute(
                "SELECT count(DISTINCT extraction_date) FROM gold.fact_recently_played "
                "WHERE extraction_date BETWEEN %s AND %s",
                (day - timedelta(days=29), day),
            ).fetchone()
            assert metadata["window_days_with_plays"] == with_plays
            assert metadata["window_first_day"] == (day - timedelta(days=29)).isoformat()
            assert metadata["day_plays"] > 0


@pytest.mark.slow
def test_bi_views_answer_the_monthly_questions(settings, clean_warehouse):
    materialize(settings, FIRST, LAST)
    month = FIRST.replace(day=1)
    with clean_warehouse.connect() as conn:
        views = conn.execute(
            "SELECT table_name FROM information_schema.views WHERE table_schema = 'bi' ORDER BY 1"
        ).fetchall()
        names = ["daily_listening", "household_artists", "listeners", "plays", "top_artists_by_month"]
        names.append("top_tracks_by_month")
        assert [v for (v,) in views] == names
        top = conn.execute(
            "SELECT artist, plays, minutes FROM bi.top_artists_by_month WHERE month = %s AND rank <= 10 "
            "ORDER BY rank",
            (month,),
        ).fetchall()
        expected = sql_numbers(conn, FIRST, LAST)  # the data holds only these days of the month
        assert [(a, n, float(m)) for a, n, m in top] == expected["top_artists"]
        tracks = conn.execute(
            "SELECT track, plays, minutes FROM bi.top_tracks_by_month WHERE month = %s AND rank <= 10 "
            "ORDER BY rank",
            (month,),
        ).fetchall()
        assert [(t, n, float(m)) for t, n, m in tracks] == expected["top_tracks"]
        (total,) = conn.execute("SELECT sum(plays) FROM bi.daily_listening").fetchone()
        assert total == expected["plays"]


@pytest.mark.slow
def test_rerunning_the_report_gives_the_same_charts(settings):
    materialize(settings, LAST)
    chart = Path(settings.lake_dir) / f"report/listening/extraction_date={LAST}/top_tracks.png"
    before = chart.read_bytes()
    defs = build_definitions(settings)
    rerun = dg.materialize(
        defs.assets,
        selection=[REPORT_LISTENING],
        resources=defs.resources,
        partition_key=LAST.isoformat(),
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert rerun.success
    assert chart.read_bytes() == before


def listening_report(plays: pd.DataFrame, day: date) -> ListeningReport:
    """The report of `day` by the computation `listening_reports` runs for each day, on the rows in their
    given order (`listening_reports` sorts them by day first, which decides the "first" label of a key)."""
    return _report(plays, _dates(plays["extraction_date"]), day, WINDOW_DAYS)


def test_report_numbers_on_a_small_example():
    day = date(2025, 3, 14)
    earlier = day - timedelta(days=3)
    frame = listening_frame(
        [
            ("p1", day, 8, "t1", "One", "a1", "Alpha", 180_000, None),
            ("p2", day, 8, "t2", "Two", "a2", "Beta", 240_000, 60_000),  # ms_played wins over duration
            ("p3", day, 23, "t1", "One", "a1", "Alpha", 180_000, None),
            ("p4", earlier, 8, "t2", "Two", "a2", "Beta", 360_000, None),
            ("p5", earlier, 9, "t3", None, "a3", None, 120_000, None),  # names missing: keys shown
            ("p6", day - timedelta(days=30), 8, "t3", "Three", "a3", "Gamma", 120_000, None),  # outside
        ]
    )
    report = listening_report(frame, day)
    assert (report.day.plays, report.day.minutes) == (3, 7.0)
    assert report.day.top_artists[["artist", "plays", "minutes"]].values.tolist() == [
        ["Alpha", 2, 6.0],
        ["Beta", 1, 1.0],
    ]
    assert (report.window.plays, report.window.minutes) == (5, 15.0)
    # Alpha and Beta have two plays each: Beta's 7 minutes rank it before Alpha's 6.
    assert report.window.top_artists["artist"].tolist() == ["Beta", "Alpha", "a3"]
    assert report.window.top_tracks[["track", "artist"]].values.tolist()[-1] == ["t3", "a3"]
    assert report.day.plays_by_hour[8] == 2 and report.day.plays_by_hour[23] == 1
    assert report.window.plays_by_hour[8] == round(3 / 2, 2)  # 3 plays at 8 on the 2 days with plays
    assert report.window.days_with_plays == 2
    assert len(report.daily) == 30 and report.daily["plays"].sum() == 5
    assert report.daily.iloc[-1].tolist() == [day, 3, 7.0]


def test_reports_of_many_days_equal_each_day_on_its_own():
    first = date(2025, 3, 1)
    # Track t<k> is by artist a<k % 3>; 120 plays over 45 days, not in day order.
    tracks = [(f"t{k}", f"T{k}", f"a{k % 3}") for k in range(5)]
    rows = [
        (
            f"p{i}",
            first + timedelta(days=i * 7 % 45),
            i % 24,
            *tracks[i % 5][:2],
            tracks[i % 5][2],
            None,
            i,
            None,
        )
        for i in range(120)
    ]
    frame = listening_frame(rows)
    days = [first + timedelta(days=offset) for offset in (0, 10, 29, 30, 44, 60)]
    for day, report in zip(days, listening_reports(frame, days), strict=True):
        alone = listening_report(frame, day)
        assert (report.day.plays, report.window.plays, report.window.minutes) == (
            alone.day.plays,
            alone.window.plays,
            alone.window.minutes,
        ), day
        pd.testing.assert_frame_equal(report.window.top_tracks, alone.window.top_tracks, obj=str(day))
        pd.testing.assert_frame_equal(report.daily, alone.daily, obj=str(day))
        assert report.window.plays_by_hour == alone.window.plays_by_hour
    assert sum(1 for _ in listening_reports(frame.head(0), days)) == len(days)


def random_listening(seed: int, plays: int = 4000, days: int = 60, first: date = date(2025, 1, 1)):
    """Plays over `days` days, not in day order: names missing now and then (on whole artists and tracks, and
    on single rows), ms_played mostly missing, duration_ms sometimes, a few lengths (so ties in plays and
    minutes), artists sharing names (ties in labels), each track by one primary artist; and twins: two tracks
    of the same name and length by two artists of the same name, played alike every day, which only their
    keys order (the later key played first)."""
    rng = random.Random(seed)
    artists = [(f"a{k}", None if k % 9 == 0 else f"Artist {rng.randrange(12)}") for k in range(40)]
    tracks = [
        (f"t{k}", None if k % 13 == 0 else f"Track {rng.randrange(40)}", *rng.choice(artists))
        for k in range(300)
    ]
    lengths = {key: rng.choice([None, 180_000, 200_000]) for key, *_ in tracks}
    rows = []
    for i in range(plays):
        key, track, artist_key, artist = rng.choice(tracks[: rng.choice([5, 30, 300])])
        played = rng.choice([1_000, 60_000, lengths[key], None]) if rng.random() < 0.25 else None
        rows.append(
            (
                f"p{i}",
                first + timedelta(days=rng.randrange(days)),
                rng.randrange(24),
                key,
                None if rng.random() < 0.02 else track,
                artist_key,
                None if rng.random() < 0.02 else artist,
                lengths[key],
                played,
            )
        )
    for offset in range(days):
        for twin in ("2", "1") * 3:
            day = first + timedelta(days=offset)
            rows.append((f"w{len(rows)}", day, 20, f"tw{twin}", "Twin", f"aw{twin}", "Twins", 210_000, None))
    return listening_frame(rows)


def reference_report(frame: pd.DataFrame, day: date, window_days: int = 30) -> dict[str, dict]:
    """The report's numbers the plain pandas way: groupby, sort, one day at a time."""
    first = day - timedelta(days=window_days - 1)
    frame = frame.assign(
        ms=frame["ms_played"].fillna(frame["duration_ms"]).fillna(0).astype("int64"),
        artist=frame["artist_name"].fillna(frame["primary_artist_key"]),
        track=frame["track_name"].fillna(frame["track_key"]),
    )

    def ranked(period: pd.DataFrame, key: str, labels: list[str]) -> pd.DataFrame:
        grouped = (
            period.groupby(key, sort=False)
            .agg(**{label: (label, "first") for label in labels}, plays=("play_id", "size"), ms=("ms", "sum"))
            .reset_index()
            .sort_values(["plays", "ms", labels[0], key], ascending=[False, False, True, True])
            .head(10)
        )
        grouped = grouped.assign(minutes=(grouped["ms"] / 60_000).round(1)).drop(columns="ms")
        return grouped.reset_index(drop=True)

    def summary(since: date) -> dict:
        period = frame[(frame["extraction_date"] >= since) & (frame["extraction_date"] <= day)]
        days = max(period["extraction_date"].nunique(), 1)  # the average day is one with plays
        hours = period["hour_of_day"].value_counts()
        return {
            "plays": len(period),
            "minutes": round(int(period["ms"].sum()) / 60_000, 1),
            "top_artists": ranked(period, "primary_artist_key", ["artist"]).rename(
                columns={"primary_artist_key": "artist_key"}
            ),
            "top_tracks": ranked(period, "track_key", ["track", "artist"]),
            "plays_by_hour": [round(int(hours.get(hour, 0)) / days, 2) for hour in range(24)],
        }

    dates = [first + timedelta(days=offset) for offset in range(window_days)]
    on = [frame[frame["extraction_date"] == d] for d in dates]
    daily = pd.DataFrame(
        {
            "date": dates,
            "plays": [len(rows) for rows in on],
            # Rounded as pandas rounds (numpy's), which differs from `round` on some halves.
            "minutes": (pd.Series([int(rows["ms"].sum()) for rows in on]) / 60_000).round(1),
        }
    )
    return {"day": summary(day), "window": summary(first), "daily": daily}


@pytest.mark.parametrize("string_dtype", [False, True], ids=["str", "string"])
def test_report_numbers_equal_plain_pandas_on_random_plays(string_dtype: bool):
    frame = random_listening(seed=20250314)
    if string_dtype:  # as `read_listening` types them
        for column in ("play_id", "track_key", "track_name", "primary_artist_key", "artist_name"):
            frame[column] = frame[column].astype("string")
    first = min(frame["extraction_date"])
    days = [first, first + timedelta(days=12), first + timedelta(days=31), first + timedelta(days=59)]
    days.append(first + timedelta(days=61))  # no plays that day, some in its window
    ties = 0
    for day in days:
        report, expected = listening_report(frame, day), reference_report(frame, day)
        for name in ("day", "window"):
            summary, wanted = getattr(report, name), expected[name]
            assert (summary.plays, summary.minutes) == (wanted["plays"], wanted["minutes"]), (day, name)
            assert summary.plays_by_hour == wanted["plays_by_hour"], (day, name)
            for top in ("top_artists", "top_tracks"):
                pd.testing.assert_frame_equal(getattr(summary, top), wanted[top], obj=f"{day} {name} {top}")
                ranks = wanted[top][["plays", "minutes"]]
                ties += int(ranks.duplicated().sum())
        pd.testing.assert_frame_equal(report.daily, expected["daily"], obj=f"{day} daily")
    assert ties >= 5  # the tie-breaks (label, then key) were exercised


def test_a_day_without_plays_still_gets_valid_charts():
    report = listening_report(listening_frame([]), date(2025, 3, 14))
    assert (report.day.plays, report.window.plays, report.window.minutes) == (0, 0, 0.0)
    charts = render_charts(report)
    assert list(charts) == list(CHARTS)
    for data in charts.values():
        assert_png(data)


def chart_colors(data: bytes) -> dict[tuple[int, int, int], int]:
    """Pixels per colour."""
    with Image.open(io.BytesIO(data)) as image:
        return {color: count for count, color in image.convert("RGB").getcolors()}


def test_charts_are_drawn_to_size_and_change_with_the_numbers():
    day = date(2025, 3, 14)
    rows = [
        ("p1", day, 8, "t1", "Crazy in Love", "a1", "Beyoncé", 180_000, None),
        ("p2", day, 21, "t2", "Hoppípolla", "a2", "Sigur Rós", 240_000, None),
        ("p3", day - timedelta(days=2), 8, "t1", "Crazy in Love", "a1", "Beyoncé", 180_000, None),
    ]
    white, ink, green = (ImageColor.getrgb(color) for color in ("#ffffff", INK, ACCENT))
    report = listening_report(listening_frame(rows), day)
    charts = render_charts(report)
    for name, data in charts.items():
        size = RANKING_SIZE if name.startswith("top_") else SIZE
        assert assert_png(data) == size, name
        assert {white, ink, green} <= set(chart_colors(data)), name  # background, text and axes, bars
    assert render_charts(report) == charts  # the same numbers, the same bytes

    another_play = ("p4", day, 9, "t2", "Hoppípolla", "a2", "Sigur Rós", 1, None)
    one_more = listening_report(listening_frame([*rows, another_play]), day)
    assert hour_of_day_chart(one_more) != charts["hour_of_day"]
    assert top_tracks_chart(one_more) != charts["top_tracks"]

    nothing = listening_report(listening_frame([]), day)
    empty = top_artists_chart(nothing)
    assert assert_png(empty) == RANKING_SIZE
    colors = chart_colors(empty)
    assert ink in colors and green not in colors  # axes and "no plays", no bars
    # No plays on the day: no bars, the legend's swatch only.
    assert chart_colors(hour_of_day_chart(nothing))[green] < chart_colors(charts["hour_of_day"])[green]


def test_nice_ticks_are_a_few_round_numbers():
    assert nice_ticks(13) == [0, 2, 4, 6, 8, 10, 12, 14]
    assert nice_ticks(580) == [0, 100, 200, 300, 400, 500, 600]
    assert nice_ticks(0.07) == [0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07]
    assert nice_ticks(0, integer=True) == [0, 1]
    assert nice_ticks(3.3, integer=True) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    "odd", ["Line\nbreak", "Carriage\rreturn", "Both\r\nends", "Next\x85line", "Tab\tbed"]
)
def test_names_with_line_breaks_draw_as_one_line(odd: str):
    day = date(2025, 3, 14)
    rows = [
        ("p1", day, 8, "t1", f"Track {odd}", "a1", f"Artist {odd}", 180_000, None),
        ("p2", day, 9, "t2", "Plain", "a2", "Plain artist", 180_000, None),
    ]
    report = listening_report(listening_frame(rows), day)
    assert f"Artist {odd}" in report.window.top_artists["artist"].tolist()  # the numbers keep the name
    charts = render_charts(report)
    for data in charts.values():
        assert_png(data)
    markdown = report_markdown(report, charts)
    shown = odd.replace("\r", " ").replace("\n", " ").replace("\x85", " ").replace("\t", " ")
    rows = [line.split("|") for line in markdown.splitlines() if line.startswith("|")]
    assert any(row[2].strip() == f"Artist {shown}" for row in rows)  # each table row stays one line


def test_a_long_range_charts_its_last_month_and_month_ends_and_a_short_one_every_day():
    month = [date(2025, 3, 1) + timedelta(days=n) for n in range(CHART_ALL_DAYS)]
    assert chart_days(month) == set(month)
    decade = [date(2015, 1, 1) + timedelta(days=n) for n in range(3653)]  # 2015-01-01..2024-12-31
    charted = chart_days(decade)
    month_ends = {day for day in decade if (day + timedelta(days=1)).month != day.month}
    assert len(month_ends) == 120 and month_ends <= charted
    assert set(decade[-CHART_ALL_DAYS:]) <= charted
    assert len(charted) == 120 + CHART_ALL_DAYS - 1  # 2024-12-31 is both
    assert date(2019, 6, 14) not in charted


@pytest.mark.parametrize("listeners", [1, 3])
def test_the_totals_of_uncharted_days_equal_the_full_reports(listeners: int):
    first = date(2025, 1, 1)
    frame = random_listening(7, plays=3000, days=90, first=first)
    rng = random.Random(listeners)
    # Listeners' plays in turns of a few weeks: some days' windows hold one listener, others several.
    frame = frame.assign(
        listener_id=[
            f"l{(d - first).days // 20 % listeners + rng.randrange(2) * (listeners > 1)}"
            for d in frame["extraction_date"]
        ]
    )
    frame.loc[frame.index[:5], "extraction_date"] = None  # plays of no day count nowhere
    frame = frame[
        (frame["extraction_date"].isna()) | (frame["extraction_date"] != first + timedelta(days=40))
    ]
    days = [first + timedelta(days=n) for n in range(-3, 130, 1)]  # before, through and after the plays
    reports = list(household_reports(frame, days))
    totals = household_totals(frame, days)
    assert len(totals) == len(reports) == len(days)
    for report, counted in zip(reports, totals, strict=True):
        assert counted.household == DayTotals.of(report.household), report.day
        assert counted.totals() == report.totals() and counted.several == report.several
    assert any(t.several for t in totals) == (listeners > 1)
    assert {t.household.window_days_with_plays for t in totals} >= {0, 29, 30}
