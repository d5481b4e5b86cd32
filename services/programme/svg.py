"""The drawing kit every programme chart shares: geometry, palette, escaping, and a canvas
that lays out the title, the wrapping legend, the axes and the hatch of suppressed figures.

Plain strings of SVG, so a chart is the same picture in a browser, a screenshot and print.
Every text that reaches a chart goes through `esc`: labels come from directory imports.
"""

from __future__ import annotations

import math
import re
import textwrap
from collections.abc import Sequence
from datetime import date
from html import escape

WIDTH = 420
PAD = 12
PLOT_LEFT = 54
PLOT_RIGHT = WIDTH - PAD
PLOT_HEIGHT = 200
BOTTOM = 56
INK = "#1a1a1a"
MUTED = "#555555"
GRID = "#d9d9d9"
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")
MARKERS = ("circle", "square", "diamond")
STUB = 12  # height of the hatched marker standing in for a suppressed figure
SUPPRESSED_NOTE = "fewer than 5 people, not shown"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def esc(value: object) -> str:
    """Text and attribute values escaped: unit names come from imports."""
    return escape(str(value), quote=True)


def _id(chart_id: str) -> str:
    return "chart-" + (re.sub(r"[^A-Za-z0-9_-]", "", chart_id)[:40] or "x")


def num(x: float) -> str:
    """A coordinate to one decimal, trailing zeros dropped: smaller SVG, same picture."""
    return f"{x:.1f}".rstrip("0").rstrip(".")


class Canvas:
    """The parts every chart shares: frame, title, legend, axes, hatch."""

    def __init__(self, chart_id: str, title: str, description: str) -> None:
        self.cid = _id(chart_id)
        self.title = title
        self.description = description
        self.body: list[str] = []
        self.title_lines = textwrap.wrap(title, 48) or [""]
        self.legend_items: list[tuple[str, str]] = []  # (swatch svg at 0,0, label)
        self.top = 0.0

    def legend(self, swatch: str, label: str) -> None:
        self.legend_items.append((swatch, label))

    def layout_legend(self) -> list[str]:
        """Wrap legend entries into rows; set where the plot starts."""
        out: list[str] = []
        y = 20 + 19 * (len(self.title_lines) - 1) + 22
        x = float(PAD)
        for swatch, label in self.legend_items:
            width = 20 + 6.6 * len(label) + 14
            if x + width > WIDTH - PAD and x > PAD:
                x, y = float(PAD), y + 20
            out.append(
                f'<g transform="translate({num(x)},{num(y - 10)})">{swatch}'
                f'<text x="18" y="10" font-size="12" fill="{INK}">{esc(label)}</text></g>'
            )
            x += width
        self.top = y + (26 if self.legend_items else 4)
        return out

    @property
    def bottom(self) -> float:
        return self.top + PLOT_HEIGHT

    def hatch_swatch(self) -> str:
        return (
            f'<rect width="12" height="12" fill="url(#{self.cid}-hatch)" '
            f'stroke="{INK}" stroke-width="0.75"/>'
        )

    def suppressed_label(self, x: float, y: float) -> str:
        """The "<5" marker text, with a white halo so it reads over bars and hatching."""
        return (
            f'<text x="{num(x)}" y="{num(y)}" font-size="11" font-weight="700" '
            f'text-anchor="middle" fill="{INK}" stroke="#ffffff" stroke-width="3" '
            f'paint-order="stroke">&lt;5</text>'
        )

    def x_axis(self, months: Sequence[date], label: str) -> None:
        slot = (PLOT_RIGHT - PLOT_LEFT) / max(len(months), 1)
        every = max(1, math.ceil(len(months) / 12))
        b = self.bottom
        self.body.append(
            f'<line x1="{PLOT_LEFT}" y1="{num(b)}" x2="{PLOT_RIGHT}" y2="{num(b)}" '
            f'stroke="{INK}" stroke-width="1"/>'
        )
        for i, m in enumerate(months):
            if i % every:
                continue
            cx = PLOT_LEFT + slot * (i + 0.5)
            self.body.append(
                f'<text x="{num(cx)}" y="{num(b + 16)}" font-size="12" text-anchor="middle" '
                f'fill="{INK}">{MONTHS[m.month - 1]}</text>'
            )
            if i == 0 or m.month == 1 or (i < every and m.month <= every):
                self.body.append(
                    f'<text x="{num(cx)}" y="{num(b + 30)}" font-size="11" '
                    f'text-anchor="middle" fill="{MUTED}">{m.year}</text>'
                )
        self.body.append(
            f'<text x="{(PLOT_LEFT + PLOT_RIGHT) / 2:.0f}" y="{num(b + 48)}" font-size="12" '
            f'text-anchor="middle" fill="{INK}">{esc(label)}</text>'
        )

    def y_axis(self, ticks: Sequence[tuple[float, str]], label: str) -> None:
        for y, text in ticks:
            self.body.append(
                f'<line x1="{PLOT_LEFT}" y1="{num(y)}" x2="{PLOT_RIGHT}" y2="{num(y)}" '
                f'stroke="{GRID}" stroke-width="1"/>'
                f'<text x="{PLOT_LEFT - 6}" y="{num(y + 4)}" font-size="12" text-anchor="end" '
                f'fill="{INK}">{esc(text)}</text>'
            )
        mid = self.top + PLOT_HEIGHT / 2
        self.body.append(
            f'<text transform="translate(13,{num(mid)}) rotate(-90)" font-size="12" '
            f'text-anchor="middle" fill="{INK}">{esc(label)}</text>'
        )

    def render(self) -> str:
        legend = self.layout_legend()  # the same rows the plot was laid out under
        height = self.bottom + BOTTOM
        tid, did = f"{self.cid}-title", f"{self.cid}-desc"
        title_svg = "".join(
            f'<text x="{PAD}" y="{20 + 19 * i}" font-size="15" font-weight="700" '
            f'fill="{INK}">{esc(line)}</text>'
            for i, line in enumerate(self.title_lines)
        )
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {num(height)}" '
            f'width="100%" role="img" aria-labelledby="{tid} {did}" '
            f'font-family="{esc(FONT)}" style="max-width:44rem;height:auto">'
            f'<title id="{tid}">{esc(self.title)}</title>'
            f'<desc id="{did}">{esc(self.description)}</desc>'
            f'<defs><pattern id="{self.cid}-hatch" patternUnits="userSpaceOnUse" width="6" '
            f'height="6" patternTransform="rotate(45)"><rect width="6" height="6" '
            f'fill="#ffffff"/><line x1="0" y1="0" x2="0" y2="6" stroke="{MUTED}" '
            f'stroke-width="2"/></pattern></defs>'
            f'<rect width="{WIDTH}" height="{num(height)}" fill="#ffffff"/>'
            f"{title_svg}{''.join(legend)}{''.join(self.body)}</svg>"
        )


def nice_ticks(top: float) -> list[float]:
    """0 and 3 to 6 round steps (1, 2, 2.5, 5 x 10^k) covering `top`."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / 4
    power = 10 ** math.floor(math.log10(raw))
    step = next(s * power for s in (1, 2, 2.5, 5, 10) if s * power >= raw)
    if step < 1 and top >= 1:
        step = 1.0
    n = math.ceil(top / step - 1e-9)
    return [i * step for i in range(n + 1)]


def swatch(colour: str) -> str:
    """A legend's square of `colour`, outlined so light colours stand out from white."""
    return f'<rect width="12" height="12" fill="{colour}" stroke="{INK}" stroke-width="0.75"/>'


def marker(shape: str, x: float, y: float, fill: str, size: float = 5.0) -> str:
    """A point of a series in its own shape, so colour is never the only cue."""
    stroke = f'fill="{fill}" stroke="{INK}" stroke-width="1"'
    if shape == "circle":
        return f'<circle cx="{num(x)}" cy="{num(y)}" r="{num(size)}" {stroke}/>'
    if shape == "square":
        s = size * 0.9
        return (
            f'<rect x="{num(x - s)}" y="{num(y - s)}" width="{num(2 * s)}" '
            f'height="{num(2 * s)}" {stroke}/>'
        )
    s = size * 1.25
    return (
        f'<path d="M{num(x)} {num(y - s)} L{num(x + s)} {num(y)} L{num(x)} {num(y + s)} '
        f'L{num(x - s)} {num(y)} Z" {stroke}/>'
    )
