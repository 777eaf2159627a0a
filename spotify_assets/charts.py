"""The listening report's presentation: charts as small PNGs (Pillow's ImageDraw) and a Markdown page.

Each chart is drawn at 1x on its own RGB image with `ImageDraw` (nothing needs a display), its text in DejaVu
Sans, shipped with the package (no system font needed). The image is then mapped to a fixed 15-colour palette
(`_PALETTE`) and saved as a 4-bit PNG without metadata: a few KB each, and the same numbers always give the
same bytes. The four charts of a report take about 20 ms (matplotlib took 0.35-0.45 s).

DejaVu Sans has Latin, Greek and Cyrillic; characters it lacks (CJK, for one) show as boxes in the PNGs, while
the Markdown tables keep every name as it is.
"""

from __future__ import annotations

import base64
import functools
import io
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from PIL import Image, ImageColor, ImageDraw, ImageFont

from spotify_assets.transforms.report import HOURS, TOP_N, ListeningReport

SIZE = (576, 288)
RANKING_SIZE = (648, 324)
ACCENT = "#1db954"  # Spotify green
MUTED = "#b3b3b3"
LABEL_CHARS = 40
LABEL_PIXELS = 260  # ranking labels wider than this (in pixels) are cut further
MARKDOWN_TOP = 5
# Control characters and line/paragraph separators: Pillow's layout (raqm) fails on line breaks in one-line
# text, and a Markdown table row cannot hold one. Names keep them in the warehouse; here they show as spaces.
_NOT_ONE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")

WHITE = "#ffffff"
_RAMP = [tuple(round(ink + (255 - ink) * step / 12) for ink in (25, 20, 20)) for step in range(12)]
"""12 steps from Spotify black to (almost) white: the text, its anti-aliased edges, the axes and gridlines."""
INK, AXIS, GRID = (f"#{r:02x}{g:02x}{b:02x}" for r, g, b in (_RAMP[0], _RAMP[4], _RAMP[11]))
_PALETTE = [ImageColor.getrgb(color) for color in (WHITE, ACCENT, MUTED)] + _RAMP
"""The 15 colours of every chart (a 4-bit PNG): whatever is drawn maps to them exactly but text edges."""

_TITLE_PX, _LABEL_PX, _TICK_PX = 16, 13, 12
FONT_FILE = Path(__file__).parent / "fonts" / "DejaVuSans.ttf"
"""DejaVu Sans (its licence beside it): Latin, Greek and Cyrillic names draw as they are written."""


@functools.lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT_FILE), size)


def one_line(text: object) -> str:
    """`text` as one line: each control character or line/paragraph separator becomes a space."""
    return _NOT_ONE_LINE.sub(" ", str(text))


def _label(text: str) -> str:
    text = one_line(text)
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def nice_ticks(top: float, intervals: int = 7, integer: bool = False) -> list[float]:
    """Axis ticks: 0 up to the first multiple >= `top` of the smallest round step (1, 2 or 5 times a power
    of ten, at least 1 if `integer`) that needs at most `intervals` steps.

    13 -> 0, 2, ..., 14; 580 -> 0, 100, ..., 600; 0 (nothing to show) -> as for 1.
    """
    if not top > 0:
        top = 1.0
    magnitude = 10 ** math.floor(math.log10(top / intervals))
    step = next(m * magnitude for m in (1, 2, 5, 10) if math.ceil(top / (m * magnitude) - 1e-9) <= intervals)
    if integer:
        step = max(step, 1)
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    return [round(i * step, decimals) for i in range(math.ceil(top / step - 1e-9) + 1)]


def _tick_text(value: float) -> str:
    return f"{value:g}"


@dataclass(frozen=True)
class _Fonts:
    title: ImageFont.FreeTypeFont
    label: ImageFont.FreeTypeFont
    tick: ImageFont.FreeTypeFont


@dataclass(frozen=True)
class _Plot:
    """The plotting area, in pixels (inclusive edges)."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top


class _Chart:
    """One chart's RGB canvas, fonts and helpers; `png()` gives the palette PNG."""

    def __init__(self, size: tuple[int, int]) -> None:
        self.image = Image.new("RGB", size, WHITE)
        self.draw = ImageDraw.Draw(self.image)
        self.fonts = _Fonts(_font(_TITLE_PX), _font(_LABEL_PX), _font(_TICK_PX))

    def text(self, xy: tuple[float, float], text: str, font, anchor: str = "la", fill: str = INK) -> None:
        self.draw.text(xy, text, fill=fill, font=font, anchor=anchor)

    def width(self, text: str, font) -> float:
        return font.getlength(text)

    def title(self, x: int, text: str) -> None:
        self.text((x, 10), text, self.fonts.title)

    def vertical_text(self, center: tuple[int, int], text: str) -> None:
        """Text turned a quarter left (reading upwards), centred on `center`."""
        font = self.fonts.label
        text = text
        left, top, right, bottom = font.getbbox(text)
        # A FreeType font's bounding box is whole pixels; Pillow's stubs type it as floats.
        mask = Image.new("L", (int(right - left), int(bottom - top)))
        ImageDraw.Draw(mask).text((-left, -top), text, fill=255, font=font)
        mask = mask.transpose(Image.Transpose.ROTATE_90)
        box = (center[0] - mask.width // 2, center[1] - mask.height // 2)
        self.image.paste(INK, box, mask)

    def y_axis(self, plot: _Plot, ticks: Sequence[float], label: str) -> Callable[[float], int]:
        """Gridlines, ticks and their numbers on the left; returns value -> y pixel."""
        top = ticks[-1]

        def y(value: float) -> int:
            return round(plot.bottom - value / top * plot.height)

        widest = 0.0
        for value in ticks:
            at = y(value)
            if value:
                self.draw.line((plot.left, at, plot.right, at), fill=GRID)
            self.draw.line((plot.left - 4, at, plot.left, at), fill=AXIS)
            self.text((plot.left - 7, at), _tick_text(value), self.fonts.tick, "rm")
            widest = max(widest, self.width(_tick_text(value), self.fonts.tick))
        self.vertical_text((round(plot.left - 7 - widest - 12), (plot.top + plot.bottom) // 2), label)
        return y

    def axes_lines(self, plot: _Plot) -> None:
        self.draw.line((plot.left, plot.top, plot.left, plot.bottom), fill=AXIS)
        self.draw.line((plot.left, plot.bottom, plot.right, plot.bottom), fill=AXIS)

    def x_tick(self, plot: _Plot, x: float, text: str) -> None:
        x = round(x)
        self.draw.line((x, plot.bottom, x, plot.bottom + 4), fill=AXIS)
        self.text((x, plot.bottom + 7), text, self.fonts.tick, "mt")

    def x_label(self, plot: _Plot, text: str) -> None:
        self.text(((plot.left + plot.right) / 2, plot.bottom + 24), text, self.fonts.label, "mt")

    def png(self) -> bytes:
        palette = Image.new("P", (1, 1))
        palette.putpalette([channel for color in _PALETTE for channel in color])
        small = self.image.quantize(palette=palette, dither=Image.Dither.NONE)
        out = io.BytesIO()
        # zlib level 6: `optimize=True` (level 9) saves ~10 % of the bytes for ~6 ms a chart, 6x the drawing.
        small.save(out, format="PNG", compress_level=6)
        return out.getvalue()


def _slots(plot: _Plot, count: int, index: int, fill: float = 0.8) -> tuple[int, int]:
    """The x pixels [x0, x1] of bar `index` of `count` bars side by side across the plot."""
    slot = plot.width / max(count, 1)
    margin = slot * (1 - fill) / 2
    x0 = round(plot.left + index * slot + margin)
    return x0, max(x0, round(plot.left + (index + 1) * slot - margin) - 1)


def _bar(chart: _Chart, x0: int, x1: int, y_top: int, bottom: int, color: str) -> None:
    if y_top < bottom:
        chart.draw.rectangle((x0, y_top, x1, bottom - 1), fill=color)


def hour_of_day_chart(report: ListeningReport) -> bytes:
    """Plays per hour on the day (bars) against the window's average day (line)."""
    chart = _Chart(SIZE)
    plot = _Plot(left=64, top=40, right=SIZE[0] - 16, bottom=SIZE[1] - 44)
    day, window = list(report.day.plays_by_hour), list(report.window.plays_by_hour)
    y = chart.y_axis(plot, nice_ticks(max(day + window, default=0)), "plays")
    centers = []
    for hour in range(HOURS):
        x0, x1 = _slots(plot, HOURS, hour)
        centers.append((x0 + x1) / 2)
        _bar(chart, x0, x1, y(day[hour]), plot.bottom, ACCENT)
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
    average = f"{report.window.name}: average"
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
    chart = _Chart(SIZE)
    plot = _Plot(left=64, top=40, right=SIZE[0] - 16, bottom=SIZE[1] - 32)
    dates, minutes = report.daily["date"].tolist(), report.daily["minutes"].tolist()
    y = chart.y_axis(plot, nice_ticks(max(minutes, default=0)), "minutes")
    for index, (day, value) in enumerate(zip(dates, minutes, strict=True)):
        x0, x1 = _slots(plot, len(dates), index)
        _bar(chart, x0, x1, y(value), plot.bottom, ACCENT if day == report.day.last_day else MUTED)
    chart.axes_lines(plot)
    for index in range(len(dates) - 1, -1, -7):
        x0, x1 = _slots(plot, len(dates), index)
        chart.x_tick(plot, (x0 + x1) / 2, dates[index].strftime("%m-%d"))
    chart.title(plot.left, f"Minutes per day, last {report.window.days} days")
    return chart.png()


def _fit(chart: _Chart, text: str, font, pixels: float) -> str:
    """`text` (already cut to LABEL_CHARS) cut further with "…" until it is at most `pixels` wide."""
    text = text
    while len(text) > 1 and chart.width(text, font) > pixels:
        text = text[:-2].rstrip() + "…"
    return text


def _ranking_chart(labels: list[str], plays: list[int], title: str) -> bytes:
    chart = _Chart(RANKING_SIZE)
    font = chart.fonts.tick
    texts = [_fit(chart, _label(label), font, LABEL_PIXELS) for label in labels]
    left = 12 + round(max((chart.width(text, font) for text in texts), default=60)) + 10
    counts = [str(int(n)) for n in plays]
    right = RANKING_SIZE[0] - 16 - round(max((chart.width(n, font) for n in counts), default=0))
    plot = _Plot(left=left, top=40, right=right, bottom=RANKING_SIZE[1] - 44)
    ticks = nice_ticks(max(plays, default=0), integer=True)

    def x(value: float) -> int:
        return round(plot.left + value / ticks[-1] * plot.width)

    for value in ticks:
        at = x(value)
        if value:
            chart.draw.line((at, plot.top, at, plot.bottom), fill=GRID)
        chart.x_tick(plot, at, _tick_text(value))
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
    lines = ["| # | " + " | ".join(columns.values()) + " |", "|---|" + "---|" * len(columns)]
    for rank, row in enumerate(frame.head(rows).itertuples(index=False), 1):
        cells = [one_line(getattr(row, name)).replace("|", "\\|") for name in columns]
        lines.append(f"| {rank} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _image(name: str, png: bytes) -> str:
    return f"![{name}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"


def report_markdown(report: ListeningReport, charts: dict[str, bytes]) -> str:
    """The report as one Markdown page: headline numbers, top artists and tracks, and the charts inline."""
    day, window = report.day, report.window
    artist_columns = {"artist": "artist", "plays": "plays", "minutes": "minutes"}
    track_columns = {"track": "track", "artist": "artist", "plays": "plays", "minutes": "minutes"}
    parts = [
        f"## Listening on {day.last_day.isoformat()}",
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
