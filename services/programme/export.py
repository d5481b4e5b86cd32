"""The metric tables as CSV, for the programme's own reports.

A downloaded CSV is opened in a spreadsheet, where a cell starting with =, +, -, @ (or a tab
or carriage return) is run as a formula: a unit's name comes from a directory import, so
every text cell is prefixed with a quote when it starts with one of those (OWASP's advice).
Numbers are written by this module from numbers, so they need no prefix. Suppressed cells
are written as "<5", as on the screen, and a figure that does not exist (a median of no
cases) as an empty cell.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from services.programme.tables import CountTable, TimeTable

SUPPRESSED = "<5"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: str) -> str:
    """A text cell no spreadsheet will evaluate."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def _write(rows: Sequence[Sequence[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerows(rows)
    return out.getvalue()


def _count(count: int | None, suppressed: bool) -> str:
    return SUPPRESSED if suppressed or count is None else str(count)


def _rate(rate: float | None, suppressed: bool) -> str:
    if suppressed:
        return SUPPRESSED
    return "" if rate is None else f"{rate * 100:.1f}"


def _minutes(value: float | None, suppressed: bool) -> str:
    if suppressed:
        return SUPPRESSED
    return "" if value is None else f"{value:.1f}"


def table_csv(table: CountTable) -> str:
    """One row per month: each category's count, then the month total where there is one.

    Tables whose categories share a denominator (the answers) also carry each category's
    percentage of it, since a rate is what a reader of that table compares."""
    with_rates = table.show_rates
    header = ["Month"]
    for c in table.categories:
        header.append(safe_cell(c.label))
        if with_rates:
            header.append(safe_cell(f"{c.label} (% of {table.counted})"))
    if table.totals is not None:
        header.append(safe_cell(f"Total {table.counted}" if with_rates else "Total"))
    rows = [header]
    for month in table.months:
        row = [month.strftime("%Y-%m")]
        for c in table.categories:
            cell = table.cell(month, c.code)
            row.append(_count(cell.count, cell.suppressed))
            if with_rates:
                row.append(_rate(cell.rate, cell.suppressed))
        total = table.total(month)
        if total is not None:
            row.append(_count(total.count, total.suppressed))
        rows.append(row)
    return _write(rows)


def times_csv(table: TimeTable) -> str:
    """One row per month: for each measure, the cases that got there, median and p90 minutes."""
    header = ["Month"]
    for measure in table.measures:
        header += [
            safe_cell(f"{measure.label}: cases"),
            safe_cell(f"{measure.label}: median minutes"),
            safe_cell(f"{measure.label}: p90 minutes"),
        ]
    rows = [header]
    for month in table.months:
        row = [month.strftime("%Y-%m")]
        for measure in table.measures:
            r = table.row(month, measure.code)
            row += [
                _count(r.cases, r.suppressed),
                _minutes(r.median_minutes, r.suppressed),
                _minutes(r.p90_minutes, r.suppressed),
            ]
        rows.append(row)
    return _write(rows)
