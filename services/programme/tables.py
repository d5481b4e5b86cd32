"""The shapes programme metrics come back in: a reporting period, tables of counts and of
times per month, each cell either a figure or suppressed.

A suppressed figure is None with `suppressed` true, never a number: the charts and the CSV
export can only show "<5" for it (the rules are in services/programme/metrics.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from zoneinfo import ZoneInfo

MAX_MONTHS = 120


@dataclass(frozen=True)
class Period:
    """Whole months, from the month of `first` to the month of `last`, in `time_zone`.

    Months are the programme's reporting unit; the time zone decides in which month an
    incident received near midnight on the last day falls, so pass the viewer's site zone.
    """

    first: date
    last: date
    time_zone: str = "UTC"

    def __post_init__(self) -> None:
        ZoneInfo(self.time_zone)  # an unknown zone fails here, not inside the query
        if self.first_month > self.last_month:
            raise ValueError("the period ends before it starts")
        if len(self.months) > MAX_MONTHS:
            raise ValueError(f"a period may span at most {MAX_MONTHS} months")

    @property
    def first_month(self) -> date:
        return self.first.replace(day=1)

    @property
    def last_month(self) -> date:
        return self.last.replace(day=1)

    @property
    def stop(self) -> date:
        """The first day after the period."""
        m = self.last_month
        return date(m.year + 1, 1, 1) if m.month == 12 else date(m.year, m.month + 1, 1)

    @property
    def months(self) -> tuple[date, ...]:
        out: list[date] = []
        m = self.first_month
        while m <= self.last_month:
            out.append(m)
            m = date(m.year + 1, 1, 1) if m.month == 12 else date(m.year, m.month + 1, 1)
        return tuple(out)

    @classmethod
    def trailing(cls, months: int, today: date, time_zone: str = "UTC") -> Period:
        """The `months` whole months ending with the current one: the console's default."""
        y, m = today.year, today.month - (months - 1)
        while m < 1:
            y, m = y - 1, m + 12
        return cls(date(y, m, 1), today, time_zone)

    def params(self) -> dict[str, object]:
        return {
            "first": self.first_month,
            "last": self.last_month,
            "stop": self.stop,
            "tz": self.time_zone,
        }


@dataclass(frozen=True)
class Category:
    code: str
    label: str
    # False for an overlapping measure (deferred, the tiers): not part of the month's total.
    in_total: bool = True


@dataclass(frozen=True)
class Cell:
    """One month of one category. `count` None means suppressed (see `suppressed`)."""

    month: date
    category: str
    count: int | None
    # The cell's share of the month's total; None when either is suppressed or the total is 0.
    rate: float | None
    suppressed: bool


@dataclass(frozen=True)
class MonthTotal:
    month: date
    count: int | None
    suppressed: bool


@dataclass(frozen=True)
class CountTable:
    """Counts per month and category, with month totals when the categories add up."""

    name: str  # a stable identifier, used for file names
    title: str
    counted: str  # what a count counts, for axis labels and CSV headers
    categories: tuple[Category, ...]
    months: tuple[date, ...]
    cells: tuple[Cell, ...]
    totals: tuple[MonthTotal, ...] | None
    # The categories share the month total as a denominator, and their shares are what a
    # reader compares (the answers), so exports carry each cell's percentage too.
    show_rates: bool = False
    _index: Mapping[tuple[date, str], Cell] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {(c.month, c.category): c for c in self.cells})

    def cell(self, month: date, category: str) -> Cell:
        return self._index[(month, category)]

    def total(self, month: date) -> MonthTotal | None:
        if self.totals is None:
            return None
        return next(t for t in self.totals if t.month == month)


@dataclass(frozen=True)
class TimeRow:
    """One month of one measure. `cases` None means suppressed; 0 means nobody got there."""

    month: date
    measure: str
    cases: int | None
    median_minutes: float | None
    p90_minutes: float | None
    suppressed: bool


@dataclass(frozen=True)
class TimeTable:
    name: str
    title: str
    measures: tuple[Category, ...]
    months: tuple[date, ...]
    rows: tuple[TimeRow, ...]

    def row(self, month: date, measure: str) -> TimeRow:
        return next(r for r in self.rows if r.month == month and r.measure == measure)
