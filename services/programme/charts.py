"""Charts of the programme metrics as plain SVG, drawn on the server.

No JavaScript library: the console has no build step, the charts must work inside a page
that only htmx touches, and a server-drawn SVG is the same picture in a browser, a
screenshot and a printed report. Each chart is an image for assistive technology
(`role="img"`, `<title>` and `<desc>`, the desc summarising the figures); the table and the
CSV beside it carry every number.

Choices that make them read at a glance, on a phone too:
- a viewBox about as wide as a phone (420 units) with `width="100%"`, so 13-unit text stays
  legible at 360 px; the legend wraps above the plot rather than squeezing it;
- the Okabe-Ito palette (distinguishable with the common colour-vision deficiencies), every
  shape outlined in near-black so light colours still stand out from white, and a distinct
  marker shape per series in the point chart, so colour is never the only cue;
- a suppressed figure is a hatched shape labelled "<5", never a bar of a made-up height;
- times on a log scale with human ticks (1 min, 15 min, 1 h, 1 day): the first page comes in
  minutes and contact in hours, and both must be readable on one chart.
Every label comes from data (a unit's name is whatever the directory import said) and is
escaped.

The shared drawing (canvas, legend, axes, palette) is in svg.py; here, what each chart
shows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from services.programme.svg import (
    INK,
    MARKERS,
    MONTHS,
    MUTED,
    PALETTE,
    PLOT_HEIGHT,
    PLOT_LEFT,
    PLOT_RIGHT,
    STUB,
    SUPPRESSED_NOTE,
    Canvas,
    esc,
    marker,
    nice_ticks,
    num,
    swatch,
)
from services.programme.tables import CountTable, TimeTable

TIME_TICKS = (
    (0.25, "15 s"),
    (1.0, "1 min"),
    (5.0, "5 min"),
    (15.0, "15 min"),
    (60.0, "1 h"),
    (240.0, "4 h"),
    (1440.0, "1 day"),
    (10080.0, "1 week"),
)


@dataclass(frozen=True)
class Series:
    """One coloured series; a None value is a suppressed figure."""

    label: str
    values: tuple[float | None, ...]


def month_name(m: date) -> str:
    return f"{MONTHS[m.month - 1]} {m.year}"


def bar_chart(
    chart_id: str,
    *,
    title: str,
    description: str,
    months: Sequence[date],
    series: Sequence[Series],
    totals: Sequence[float | None] | None,
    y_label: str,
    x_label: str = "Month the incident was received",
    percent: bool = False,
) -> str:
    """Bars per month. With `totals` (the series add up to them) the bars are stacked to the
    total, and whatever suppressed cells hold is one hatched band labelled "<5" (total minus
    the shown cells: no more than the published figures already give away); a suppressed
    total is a hatched marker. Without totals the series overlap and the bars are grouped,
    each suppressed one a hatched marker. `percent` puts a % on the axis."""
    c = Canvas(chart_id, title, description)
    n = len(months)
    slot = (PLOT_RIGHT - PLOT_LEFT) / max(n, 1)
    for i, s in enumerate(series):
        c.legend(swatch(PALETTE[i % len(PALETTE)]), s.label)
    # In a stacked chart what the total holds beyond the shown cells is the suppressed part
    # (also of categories folded away); a little float slack for percentages.
    hidden_part = [
        None if t is None else t - sum(s.values[i] or 0.0 for s in series)
        for i, t in enumerate(totals or ())
    ]
    any_hidden = any(v is None for s in series for v in s.values) or any(
        h is None or h > 1e-6 for h in hidden_part
    )
    if any_hidden:
        c.legend(c.hatch_swatch(), f"<5: {SUPPRESSED_NOTE}")
    c.layout_legend()
    if totals is not None:
        heights = [t if t is not None else 0.0 for t in totals]
    else:
        heights = [max((s.values[i] or 0.0) for s in series) if series else 0.0 for i in range(n)]
    ticks = nice_ticks(max(heights, default=0.0) or (100.0 if percent else 1.0))
    scale = PLOT_HEIGHT / ticks[-1]
    c.y_axis([(c.bottom - t * scale, f"{num(t)}%" if percent else num(t)) for t in ticks], y_label)
    hatch = f"url(#{c.cid}-hatch)"
    for i in range(n):
        x0 = PLOT_LEFT + slot * i
        if totals is not None:
            w = slot * 0.62
            x = x0 + (slot - w) / 2
            total = totals[i]
            if total is None:
                c.body.append(
                    f'<rect x="{num(x)}" y="{num(c.bottom - STUB)}" width="{num(w)}" '
                    f'height="{STUB}" fill="{hatch}" stroke="{INK}" stroke-width="0.75"/>'
                )
                c.body.append(c.suppressed_label(x + w / 2, c.bottom - STUB - 4))
                continue
            y = c.bottom
            shown = 0.0
            for j, s in enumerate(series):
                v = s.values[i]
                if not v:
                    continue
                h = v * scale
                y -= h
                shown += v
                c.body.append(
                    f'<rect x="{num(x)}" y="{num(y)}" width="{num(w)}" height="{num(h)}" '
                    f'fill="{PALETTE[j % len(PALETTE)]}" stroke="{INK}" stroke-width="0.75">'
                    f"<title>{esc(s.label)}, {esc(month_name(months[i]))}: "
                    f"{esc(num(v))}{'%' if percent else ''}</title></rect>"
                )
            if hidden_part[i] is not None and hidden_part[i] > 1e-6:
                h = max((total - shown) * scale, 4.0)
                y -= h
                c.body.append(
                    f'<rect x="{num(x)}" y="{num(y)}" width="{num(w)}" height="{num(h)}" '
                    f'fill="{hatch}" stroke="{INK}" stroke-width="0.75"/>'
                )
                c.body.append(c.suppressed_label(x + w / 2, y - 4))
        else:
            k = max(len(series), 1)
            w = slot * 0.8 / k
            hidden_at: list[float] = []
            for j, s in enumerate(series):
                x = x0 + slot * 0.1 + w * j
                v = s.values[i]
                if v is None:
                    c.body.append(
                        f'<rect x="{num(x)}" y="{num(c.bottom - STUB)}" width="{num(w)}" '
                        f'height="{STUB}" fill="{hatch}" stroke="{INK}" stroke-width="0.75"/>'
                    )
                    hidden_at.append(x + w / 2)
                    continue
                h = v * scale
                c.body.append(
                    f'<rect x="{num(x)}" y="{num(c.bottom - h)}" width="{num(w)}" '
                    f'height="{num(h)}" fill="{PALETTE[j % len(PALETTE)]}" stroke="{INK}" '
                    f'stroke-width="0.75"><title>{esc(s.label)}, {esc(month_name(months[i]))}: '
                    f"{esc(num(v))}</title></rect>"
                )
            if hidden_at:
                cx = sum(hidden_at) / len(hidden_at)
                c.body.append(c.suppressed_label(cx, c.bottom - STUB - 4))
    c.x_axis(months, x_label)
    return c.render()


def _fold(table: CountTable, keep: int) -> tuple[list[Series], list[str]]:
    """The `keep` largest categories (by what is shown) as series, the rest summed as
    "Other": a sum of shown cells reveals nothing new, and suppressed cells stay in the
    hatched band."""
    cats = [c for c in table.categories if c.in_total]
    shown = {c.code: sum(table.cell(m, c.code).count or 0 for m in table.months) for c in cats}
    ranked = sorted(cats, key=lambda c: -shown[c.code])
    main = sorted(ranked[:keep] if len(cats) > keep + 1 else ranked, key=cats.index)
    rest = [c for c in cats if c not in main]
    series = [
        Series(c.label, tuple(_value(table.cell(m, c.code).count) for m in table.months))
        for c in main
    ]
    if rest:
        series.append(
            Series(
                "Other",
                tuple(
                    float(sum(table.cell(m, c.code).count or 0 for c in rest)) for m in table.months
                ),
            )
        )
    return series, [c.label for c in rest]


def _value(count: int | None) -> float | None:
    return None if count is None else float(count)


def _totals_text(table: CountTable) -> str:
    if table.totals is None:
        return ""
    parts = [f"{month_name(t.month)} {'<5' if t.suppressed else t.count}" for t in table.totals]
    return f" Month totals: {', '.join(parts)}."


def _hidden_text(table: CountTable) -> str:
    hidden = sum(1 for c in table.cells if c.suppressed)
    if not hidden:
        return ""
    return f" {hidden} of {len(table.cells)} figures are suppressed ({SUPPRESSED_NOTE})."


def _span(months: Sequence[date]) -> str:
    if not months:
        return "no months"
    return f"{month_name(months[0])} to {month_name(months[-1])}"


def volume_chart(table: CountTable, chart_id: str) -> str:
    """Stacked monthly volumes (by discipline or by unit), the six largest categories named."""
    series, folded = _fold(table, keep=6)
    names = ", ".join(s.label for s in series) or "none"
    description = (
        f"Stacked bars, one per month from {_span(table.months)}, of {table.counted} by "
        f"category ({names})."
        + (f" Other groups {', '.join(folded)}." if folded else "")
        + _totals_text(table)
        + _hidden_text(table)
    )
    if table.totals is None:
        raise ValueError("a volume chart stacks to month totals; this table has none")
    return bar_chart(
        chart_id,
        title=table.title,
        description=description,
        months=table.months,
        series=series,
        totals=[_value(t.count) for t in table.totals],
        y_label=table.counted.capitalize(),
    )


def answers_chart(table: CountTable, chart_id: str) -> str:
    """How the asked clinicians answered, as 100% stacked bars per month."""
    if table.totals is None:
        raise ValueError("an answers chart stacks to the month's asked; this table has none")
    parts = [c for c in table.categories if c.in_total]
    series = [
        Series(
            c.label,
            tuple(
                None if (cell := table.cell(m, c.code)).suppressed else (cell.rate or 0.0) * 100
                for m in table.months
            ),
        )
        for c in parts
    ]
    totals = [None if t.suppressed else (100.0 if t.count else 0.0) for t in table.totals]
    overlap = [c for c in table.categories if not c.in_total]
    extra = ""
    for c in overlap:
        rates = [
            f"{month_name(m)} "
            + ("<5" if (cell := table.cell(m, c.code)).suppressed else _pct(cell.rate))
            for m in table.months
        ]
        extra += f" {c.label} (at least once, not a final answer): {', '.join(rates)}."
    description = (
        f"100% stacked bars, one per month from {_span(table.months)}, of how the clinicians "
        f"asked answered: {', '.join(c.label for c in parts)}."
        + _totals_text(table)
        + extra
        + _hidden_text(table)
    )
    return bar_chart(
        chart_id,
        title=table.title,
        description=description,
        months=table.months,
        series=series,
        totals=totals,
        y_label=f"Share of {table.counted}",
        percent=True,
    )


def _pct(rate: float | None) -> str:
    return "no one asked" if rate is None else f"{rate * 100:.0f}%"


def tiers_chart(table: CountTable, chart_id: str) -> str:
    """Clinicians at each tier per month, grouped bars (the tiers overlap)."""
    series = [
        Series(c.label, tuple(_value(table.cell(m, c.code).count) for m in table.months))
        for c in table.categories
    ]
    summary = "; ".join(
        f"{month_name(m)}: "
        + ", ".join(
            f"{c.label} {'<5' if (cell := table.cell(m, c.code)).suppressed else cell.count}"
            for c in table.categories
        )
        for m in table.months
    )
    description = (
        f"Grouped bars, one group per month from {_span(table.months)}, of {table.counted} "
        f"reached at each tier. {summary}." + _hidden_text(table)
    )
    return bar_chart(
        chart_id,
        title=table.title,
        description=description,
        months=table.months,
        series=series,
        totals=None,
        y_label=table.counted.capitalize(),
    )


def _duration(minutes: float) -> str:
    if minutes < 1:
        return f"{minutes * 60:.0f} s"
    if minutes < 60:
        return f"{minutes:.0f} min"
    if minutes < 2880:
        return f"{minutes / 60:.1f} h"
    return f"{minutes / 1440:.1f} days"


def times_chart(table: TimeTable, chart_id: str) -> str:
    """Median (marker) and 90th percentile (whisker up from it) of each measure per month,
    medians joined month to month, on a log time axis."""
    c = Canvas(chart_id, table.title, "")
    for i, measure in enumerate(table.measures):
        c.legend(
            f'<g transform="translate(6,6)">{marker(MARKERS[i], 0, 0, PALETTE[i], 4.5)}</g>',
            f"{measure.label} (median)",
        )
    c.legend(
        f'<line x1="6" y1="0" x2="6" y2="12" stroke="{INK}" stroke-width="2"/>'
        f'<line x1="2" y1="0" x2="10" y2="0" stroke="{INK}" stroke-width="2"/>',
        "Line up to the 90th percentile",
    )
    hidden = [r for r in table.rows if r.suppressed]
    if hidden:
        c.legend(c.hatch_swatch(), f"<5: {SUPPRESSED_NOTE}")
    c.layout_legend()
    values = [v for r in table.rows for v in (r.median_minutes, r.p90_minutes) if v is not None]
    lo_v = min(values, default=1.0)
    hi_v = max(values, default=60.0)
    lo = max((t for t, _ in TIME_TICKS if t <= lo_v), default=TIME_TICKS[0][0])
    hi = min((t for t, _ in TIME_TICKS if t >= hi_v), default=hi_v)
    if hi <= lo:
        hi = next((t for t, _ in TIME_TICKS if t > lo), lo * 4)
    span = math.log(hi) - math.log(lo)

    def y_of(minutes: float) -> float:
        clamped = min(max(minutes, lo), hi)
        return c.bottom - (math.log(clamped) - math.log(lo)) / span * PLOT_HEIGHT

    ticks = [(y_of(t), label) for t, label in TIME_TICKS if lo <= t <= hi]
    c.y_axis(ticks, "Time after the incident")
    n = len(table.months)
    slot = (PLOT_RIGHT - PLOT_LEFT) / max(n, 1)
    dodge = slot * 0.22
    k = len(table.measures)
    for j, measure in enumerate(table.measures):
        colour = PALETTE[j]
        offset = (j - (k - 1) / 2) * dodge
        previous: tuple[float, float] | None = None
        for i, m in enumerate(table.months):
            r = table.row(m, measure.code)
            x = PLOT_LEFT + slot * (i + 0.5) + offset
            if r.median_minutes is None:
                previous = None
                if r.suppressed:
                    c.body.append(
                        f'<rect x="{num(x - 5)}" y="{num(c.bottom - 11)}" width="10" '
                        f'height="10" fill="url(#{c.cid}-hatch)" stroke="{colour}" '
                        f'stroke-width="1.5"/>'
                    )
                continue
            y = y_of(r.median_minutes)
            if previous is not None:
                c.body.append(
                    f'<line x1="{num(previous[0])}" y1="{num(previous[1])}" x2="{num(x)}" '
                    f'y2="{num(y)}" stroke="{colour}" stroke-width="1.5" opacity="0.7"/>'
                )
            previous = (x, y)
            if r.p90_minutes is not None:
                y90 = y_of(r.p90_minutes)
                c.body.append(
                    f'<line x1="{num(x)}" y1="{num(y)}" x2="{num(x)}" y2="{num(y90)}" '
                    f'stroke="{colour}" stroke-width="2"/>'
                    f'<line x1="{num(x - 3)}" y1="{num(y90)}" x2="{num(x + 3)}" '
                    f'y2="{num(y90)}" stroke="{colour}" stroke-width="2"/>'
                )
            c.body.append(
                f"<g>{marker(MARKERS[j], x, y, colour)}<title>{esc(measure.label)}, "
                f"{esc(month_name(m))}: median {esc(_duration(r.median_minutes))}"
                + (
                    f", 90th percentile {esc(_duration(r.p90_minutes))}"
                    if r.p90_minutes is not None
                    else ""
                )
                + f", {r.cases} cases</title></g>"
            )
    for i, m in enumerate(table.months):
        if any(table.row(m, ms.code).suppressed for ms in table.measures):
            c.body.append(c.suppressed_label(PLOT_LEFT + slot * (i + 0.5), c.bottom - 16))
    if not values:
        c.body.append(
            f'<text x="{(PLOT_LEFT + PLOT_RIGHT) / 2:.0f}" y="{num(c.top + PLOT_HEIGHT / 2)}" '
            f'font-size="13" text-anchor="middle" fill="{MUTED}">No cases reached these points '
            f"in this period</text>"
        )
    c.x_axis(table.months, "Month the incident was received")
    parts = []
    for measure in table.measures:
        per_month = []
        for m in table.months:
            r = table.row(m, measure.code)
            if r.suppressed:
                per_month.append(f"{month_name(m)} <5")
            elif r.median_minutes is None:
                per_month.append(f"{month_name(m)} no cases")
            else:
                p90 = _duration(r.p90_minutes) if r.p90_minutes is not None else "n/a"
                per_month.append(f"{month_name(m)} median {_duration(r.median_minutes)}, p90 {p90}")
        parts.append(f"{measure.label}: {'; '.join(per_month)}.")
    c.description = (
        f"Medians with 90th percentiles, per month from {_span(table.months)}, of the time "
        f"from an incident's receipt to each point. {' '.join(parts)}"
        + (f" {len(hidden)} figures are suppressed ({SUPPRESSED_NOTE})." if hidden else "")
    )
    return c.render()
