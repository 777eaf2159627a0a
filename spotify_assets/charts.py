"""The listening report's presentation: charts as small PNGs (matplotlib, headless) and a Markdown page.

No pyplot: each chart is its own `Figure` on an Agg canvas, so nothing needs a display or shares global state.
The PNGs are reduced to a 64-colour palette (a few tens of KB at most) and carry no timestamp or version
text, so the same numbers always give the same bytes.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from spotify_assets.transforms.report import HOURS, ListeningReport

SIZE_INCHES = (6.4, 3.2)
DPI = 90
PALETTE_COLORS = 64
ACCENT = "#1db954"  # Spotify green
MUTED = "#b3b3b3"
LABEL_CHARS = 40
MARKDOWN_TOP = 5


def _label(text: str) -> str:
    text = str(text)
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def _png(draw: Callable[[Axes], None], size: tuple[float, float] = SIZE_INCHES, left: float = 0.11) -> bytes:
    # Fixed margins: a layout engine would cost about as much as drawing the chart again.
    figure = Figure(figsize=size, dpi=DPI)
    FigureCanvasAgg(figure)
    figure.subplots_adjust(left=left, right=0.98, top=0.9, bottom=0.15)
    axes = figure.add_subplot()
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    draw(axes)
    raw = io.BytesIO()
    figure.savefig(raw, format="png", metadata={"Software": None})
    image = Image.open(io.BytesIO(raw.getvalue())).convert("RGB")
    small = image.quantize(colors=PALETTE_COLORS, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    out = io.BytesIO()
    small.save(out, format="PNG", optimize=True)
    return out.getvalue()


def hour_of_day_chart(report: ListeningReport) -> bytes:
    """Plays per hour on the day (bars) against the window's average day (line)."""

    def draw(axes: Axes) -> None:
        hours = list(range(HOURS))
        axes.bar(hours, report.day.plays_by_hour, color=ACCENT, label=report.day.last_day.isoformat())
        label = f"{report.window.name}: average"
        axes.plot(hours, report.window.plays_by_hour, color="#191414", marker=".", label=label)
        axes.set_xticks(range(0, HOURS, 3))
        axes.set_xlabel("hour of day")
        axes.set_ylabel("plays")
        axes.set_title("Plays by hour of day", loc="left")
        axes.legend(frameon=False, fontsize="small")

    return _png(draw)


def daily_minutes_chart(report: ListeningReport) -> bytes:
    """Minutes listened on each day of the window; the report's day highlighted."""

    def draw(axes: Axes) -> None:
        daily = report.daily
        colors = [ACCENT if day == report.day.last_day else MUTED for day in daily["date"]]
        axes.bar(range(len(daily)), daily["minutes"], color=colors)
        ticks = list(range(len(daily) - 1, -1, -7))[::-1]
        axes.set_xticks(ticks, [daily["date"].iloc[i].strftime("%m-%d") for i in ticks])
        axes.set_ylabel("minutes")
        axes.set_title(f"Minutes per day, last {report.window.days} days", loc="left")

    return _png(draw)


def _ranking_chart(labels: list[str], plays: list[int], title: str) -> bytes:
    def draw(axes: Axes) -> None:
        positions = list(range(len(labels)))[::-1]
        axes.barh(positions, plays, color=ACCENT)
        axes.set_yticks(positions, [_label(label) for label in labels], fontsize="small")
        axes.set_xlabel("plays")
        axes.set_title(title, loc="left")
        if not labels:
            axes.text(0.5, 0.5, "no plays", ha="center", va="center", transform=axes.transAxes)

    return _png(draw, (7.2, 3.6), left=0.4)


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
        cells = [str(getattr(row, name)).replace("|", "\\|") for name in columns]
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
