"""The listening report's presentation: its four charts as small PNGs, and its Markdown page.

The charts are drawn with `chart_canvas` (Pillow's ImageDraw, a fixed palette, the shipped font): the four
of a report take about 20 ms (matplotlib took 0.35-0.45 s). Characters the font lacks show as boxes in the
PNGs, while the Markdown tables keep every name as it is.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

import pandas as pd

from spotify_assets.contracts.markdown import markdown_cell, markdown_table, one_line
from spotify_assets.report.chart_canvas import (
    ACCENT,
    AXIS,
    GRID,
    INK,
    MUTED,
    Chart,
    Plot,
    bar,
    fit_text,
    nice_ticks,
    slots,
    tick_text,
)
from spotify_assets.transforms.report import HOURS, TOP_N, ListeningReport

SIZE = (576, 288)
RANKING_SIZE = (648, 324)
LABEL_CHARS = 40
LABEL_PIXELS = 260  # ranking labels wider than this (in pixels) are cut further
MARKDOWN_TOP = 5


def _label(text: str) -> str:
    # Pillow's layout (raqm) fails on line breaks in one-line text: names keep them in the warehouse, and
    # show them here as spaces.
    text = one_line(text)
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def hour_of_day_chart(report: ListeningReport) -> bytes:
    """Plays per hour on the day (bars) against the window's average day (line)."""
    chart = Chart(SIZE)
    plot = Plot(left=64, top=40, right=SIZE[0] - 16, bottom=SIZE[1] - 44)
    day, window = list(report.day.plays_by_hour), list(report.window.plays_by_hour)
    y = chart.y_axis(plot, nice_ticks(max(day + window, default=0)), "plays")
    centers = []
    for hour in range(HOURS):
        x0, x1 = slots(plot, HOURS, hour)
        centers.append((x0 + x1) / 2)
        bar(chart, x0, x1, y(day[hour]), plot.bottom, ACCENT)
    points = [(round(x), y(value)) for x, value in zip(centers, window, strict=True)]
    chart.draw.line(points, fill=INK, width=2, joint="curve")
    for x, at in points:
        chart.draw.ellipse((x - 2, at - 2, x + 2, at + 2), fill=INK)
    chart.axes_lines(plot)
    for hour in range(0, HOURS, 3):
        chart.x_tick(plot, centers[hour], str(hour))
    chart.x_label(plot, "hour of day")
    chart.title(plot.left, "Plays by hour of day")
    # The legend, right-aligned on the title's line: no bar or line can run under it.
    font, right, middle = chart.fonts.tick, plot.right, 18
    days = report.window.days_with_plays
    average = f"{report.window.name}: average of {days} day{'' if days == 1 else 's'} with plays"
    right -= round(chart.width(average, font))
    chart.text((right, middle), average, font, "lm")
    chart.draw.line((right - 24, middle, right - 6, middle), fill=INK, width=2)
    chart.draw.ellipse((right - 17, middle - 2, right - 13, middle + 2), fill=INK)
    right -= 40
    day_text = report.day.last_day.isoformat()
    right -= round(chart.width(day_text, font))
    chart.text((right, middle), day_text, font, "lm")
    chart.draw.rectangle((right - 16, middle - 5, right - 6, middle + 5), fill=ACCENT)
    return chart.png()


def daily_minutes_chart(report: ListeningReport) -> bytes:
    """Minutes listened on each day of the window; the report's day highlighted."""
    chart = Chart(SIZE)
    plot = Plot(left=64, top=40, right=SIZE[0] - 16, bottom=SIZE[1] - 32)
    dates, minutes = report.daily["date"].tolist(), report.daily["minutes"].tolist()
    y = chart.y_axis(plot, nice_ticks(max(minutes, default=0)), "minutes")
    for index, (day, value) in enumerate(zip(dates, minutes, strict=True)):
        x0, x1 = slots(plot, len(dates), index)
        bar(chart, x0, x1, y(value), plot.bottom, ACCENT if day == report.day.last_day else MUTED)
    chart.axes_lines(plot)
    for index in range(len(dates) - 1, -1, -7):
        x0, x1 = slots(plot, len(dates), index)
        chart.x_tick(plot, (x0 + x1) / 2, dates[index].strftime("%m-%d"))
    chart.title(plot.left, f"Minutes per day, last {report.window.days} days")
    return chart.png()


def _ranking_chart(labels: list[str], plays: list[int], title: str) -> bytes:
    chart = Chart(RANKING_SIZE)
    font = chart.fonts.tick
    texts = [fit_text(chart, _label(label), font, LABEL_PIXELS) for label in labels]
    left = 12 + round(max((chart.width(text, font) for text in texts), default=60)) + 10
    counts = [str(int(n)) for n in plays]
    right = RANKING_SIZE[0] - 16 - round(max((chart.width(n, font) for n in counts), default=0))
    plot = Plot(left=left, top=40, right=right, bottom=RANKING_SIZE[1] - 44)
    ticks = nice_ticks(max(plays, default=0), integer=True)

    def x(value: float) -> int:
        return round(plot.left + value / ticks[-1] * plot.width)

    for value in ticks:
        at = x(value)
        if value:
            chart.draw.line((at, plot.top, at, plot.bottom), fill=GRID)
        chart.x_tick(plot, at, tick_text(value))
    slot = plot.height / max(len(labels), TOP_N)
    for rank, (text, count) in enumerate(zip(texts, counts, strict=True)):
        y0 = round(plot.top + rank * slot + slot * 0.12)
        y1 = round(plot.top + (rank + 1) * slot - slot * 0.12) - 1
        middle = (y0 + y1) / 2
        end = x(int(count))
        if end > plot.left:
            chart.draw.rectangle((plot.left + 1, y0, end, y1), fill=ACCENT)
        chart.text((plot.left - 8, middle), text, font, "rm")
        chart.text((end + 4, middle), count, font, "lm")
    chart.axes_lines(plot)
    chart.x_label(plot, "plays")
    if not labels:
        center = ((plot.left + plot.right) / 2, (plot.top + plot.bottom) / 2)
        chart.text(center, "no plays", chart.fonts.label, "mm", fill=AXIS)
    chart.title(12, title)
    return chart.png()


def top_artists_chart(report: ListeningReport) -> bytes:
    """The window's most played artists."""
    top = report.window.top_artists
    title = f"Top artists, last {report.window.days} days"
    return _ranking_chart(top["artist"].astype(str).tolist(), top["plays"].tolist(), title)


def top_tracks_chart(report: ListeningReport) -> bytes:
    """The window's most played tracks."""
    top = report.window.top_tracks
    labels = [f"{track} — {artist}" for track, artist in zip(top["track"], top["artist"], strict=True)]
    return _ranking_chart(labels, top["plays"].tolist(), f"Top tracks, last {report.window.days} days")


CHARTS: dict[str, Callable[[ListeningReport], bytes]] = {
    "hour_of_day": hour_of_day_chart,
    "daily_minutes": daily_minutes_chart,
    "top_artists": top_artists_chart,
    "top_tracks": top_tracks_chart,
}
"""Chart name (the PNG's file name in the lake) -> how it is drawn."""


def render_charts(report: ListeningReport) -> dict[str, bytes]:
    """Every chart of the report, as PNG bytes by name."""
    return {name: draw(report) for name, draw in CHARTS.items()}


def _table(frame: pd.DataFrame, columns: dict[str, str], rows: int = MARKDOWN_TOP) -> str:
    if frame.empty:
        return "_no plays_"
    ranked = [
        [rank, *(getattr(row, name) for name in columns)]
        for rank, row in enumerate(frame.head(rows).itertuples(index=False), 1)
    ]
    return markdown_table(["#", *columns.values()], ranked)


def _image(name: str, png: bytes) -> str:
    return f"![{name}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"


def report_markdown(report: ListeningReport, charts: dict[str, bytes], listener: str | None = None) -> str:
    """The report as one Markdown page: headline numbers, top artists and tracks, and the charts inline;
    titled with whose it is when `listener` is given (a household's listener's report)."""
    day, window = report.day, report.window
    whose = f"{markdown_cell(listener)}: listening" if listener is not None else "Listening"
    artist_columns = {"artist": "artist", "plays": "plays", "minutes": "minutes"}
    track_columns = {"track": "track", "artist": "artist", "plays": "plays", "minutes": "minutes"}
    parts = [
        f"## {whose} on {day.last_day.isoformat()}",
        f"**{day.plays} plays, {day.minutes:g} minutes** that day; **{window.plays} plays, "
        f"{window.minutes:g} minutes** over the {window.days} days "
        f"{window.first_day.isoformat()}..{window.last_day.isoformat()}.",
        f"### Top artists ({window.days} days)",
        _table(window.top_artists, artist_columns),
        f"### Top tracks ({window.days} days)",
        _table(window.top_tracks, track_columns),
        "### Top artists (the day)",
        _table(day.top_artists, artist_columns),
        *(_image(name, png) for name, png in charts.items()),
    ]
    return "\n\n".join(parts)
