"""A small drawing kit for the report's charts: a fixed palette, the shipped font, axes, bars, and PNG output.

Each chart is drawn at 1x on its own RGB image with `ImageDraw` (nothing needs a display), its text in DejaVu
Sans, shipped with the package (no system font needed). The image is then mapped to a fixed 15-colour palette
(`_PALETTE`) and saved as a 4-bit PNG without metadata: a few KB each, and the same numbers always give the
same bytes.

DejaVu Sans has Latin, Greek and Cyrillic; characters it lacks (CJK, for one) show as boxes in the PNGs.
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageColor, ImageDraw, ImageFont

ACCENT = "#1db954"  # Spotify green
MUTED = "#b3b3b3"

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


def tick_text(value: float) -> str:
    """A tick's number as written on an axis (no trailing zeros)."""
    return f"{value:g}"


@dataclass(frozen=True)
class Fonts:
    """The three text sizes of a chart."""

    title: ImageFont.FreeTypeFont
    label: ImageFont.FreeTypeFont
    tick: ImageFont.FreeTypeFont


@dataclass(frozen=True)
class Plot:
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


class Chart:
    """One chart's RGB canvas, fonts and helpers; `png()` gives the palette PNG."""

    def __init__(self, size: tuple[int, int]) -> None:
        self.image = Image.new("RGB", size, WHITE)
        self.draw = ImageDraw.Draw(self.image)
        self.fonts = Fonts(_font(_TITLE_PX), _font(_LABEL_PX), _font(_TICK_PX))

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

    def y_axis(self, plot: Plot, ticks: Sequence[float], label: str) -> Callable[[float], int]:
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
            self.text((plot.left - 7, at), tick_text(value), self.fonts.tick, "rm")
            widest = max(widest, self.width(tick_text(value), self.fonts.tick))
        self.vertical_text((round(plot.left - 7 - widest - 12), (plot.top + plot.bottom) // 2), label)
        return y

    def axes_lines(self, plot: Plot) -> None:
        self.draw.line((plot.left, plot.top, plot.left, plot.bottom), fill=AXIS)
        self.draw.line((plot.left, plot.bottom, plot.right, plot.bottom), fill=AXIS)

    def x_tick(self, plot: Plot, x: float, text: str) -> None:
        x = round(x)
        self.draw.line((x, plot.bottom, x, plot.bottom + 4), fill=AXIS)
        self.text((x, plot.bottom + 7), text, self.fonts.tick, "mt")

    def x_label(self, plot: Plot, text: str) -> None:
        self.text(((plot.left + plot.right) / 2, plot.bottom + 24), text, self.fonts.label, "mt")

    def png(self) -> bytes:
        palette = Image.new("P", (1, 1))
        palette.putpalette([channel for color in _PALETTE for channel in color])
        small = self.image.quantize(palette=palette, dither=Image.Dither.NONE)
        out = io.BytesIO()
        # zlib level 6: `optimize=True` (level 9) saves ~10 % of the bytes for ~6 ms a chart, 6x the drawing.
        small.save(out, format="PNG", compress_level=6)
        return out.getvalue()


def slots(plot: Plot, count: int, index: int, fill: float = 0.8) -> tuple[int, int]:
    """The x pixels [x0, x1] of bar `index` of `count` bars side by side across the plot."""
    slot = plot.width / max(count, 1)
    margin = slot * (1 - fill) / 2
    x0 = round(plot.left + index * slot + margin)
    return x0, max(x0, round(plot.left + (index + 1) * slot - margin) - 1)


def bar(chart: Chart, x0: int, x1: int, y_top: int, bottom: int, color: str) -> None:
    """A vertical bar from `y_top` down to the axis at `bottom` (nothing for a zero value)."""
    if y_top < bottom:
        chart.draw.rectangle((x0, y_top, x1, bottom - 1), fill=color)


def fit_text(chart: Chart, text: str, font, pixels: float) -> str:
    """`text` cut with "…" until it is at most `pixels` wide."""
    text = text
    while len(text) > 1 and chart.width(text, font) > pixels:
        text = text[:-2].rstrip() + "…"
    return text
