"""Programme metrics without a store: the reporting period's months and bounds, and charts
drawn from tables built in memory (no data; more categories than colours). The metrics over a
known cohort, suppression and the CSV are in tests/integration/test_programme_metrics.py.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date

import pytest

from services.programme import charts, tables
from services.programme import metrics as m

FEB = date(2019, 2, 1)


def test_period_months_and_bounds() -> None:
    p = tables.Period(date(2025, 11, 17), date(2026, 2, 3), "Europe/London")
    assert p.months == (date(2025, 11, 1), date(2025, 12, 1), date(2026, 1, 1), date(2026, 2, 1))
    assert p.stop == date(2026, 3, 1)
    assert tables.Period.trailing(12, date(2026, 3, 15)).months[0] == date(2025, 4, 1)
    with pytest.raises(ValueError):
        tables.Period(date(2026, 2, 1), date(2026, 1, 1))
    with pytest.raises(ValueError):
        tables.Period(date(2000, 1, 1), date(2026, 1, 1))
    with pytest.raises(Exception):  # noqa: B017  (ZoneInfoNotFoundError)
        tables.Period(date(2026, 1, 1), date(2026, 1, 1), "Mars/Olympus")


def test_times_chart_without_data_still_renders() -> None:
    table = tables.TimeTable(
        "response_times",
        "Times",
        m.TIME_MEASURES,
        (FEB,),
        tuple(tables.TimeRow(FEB, c.code, 0, None, None, False) for c in m.TIME_MEASURES),
    )
    root = ET.fromstring(charts.times_chart(table, "empty"))
    assert "No cases" in "".join(root.itertext())


def test_volume_chart_names_six_largest_and_sums_the_rest_as_other() -> None:
    """Seven colours stay distinguishable; an eighth category is folded into "Other", whose
    bar is the sum of shown cells only (a suppressed one stays in the hatched band)."""
    cats = tuple(tables.Category(f"U{i}", f"Unit {i}") for i in range(9))
    counts = {f"U{i}": 10 + i for i in range(9)}
    counts["U0"] = None  # suppressed, with U1 as its complement
    counts["U1"] = None
    cells = tuple(tables.Cell(FEB, code, n, None, n is None) for code, n in counts.items())
    table = tables.CountTable(
        "volumes_by_unit",
        "Cases per month by unit",
        "cases",
        cats,
        (FEB,),
        cells,
        (tables.MonthTotal(FEB, sum(10 + i for i in range(9)), False),),
    )
    root = ET.fromstring(charts.volume_chart(table, "fold"))
    texts = ["".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")]
    # The six largest shown (U3..U8) by name, the rest (U2; U0 and U1 are hidden) as Other.
    assert [t for t in texts if t.startswith("Unit ")] == [f"Unit {i}" for i in range(3, 9)]
    assert "Other" in texts
    tips = ["".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}title")]
    assert "Other, Feb 2019: 12" in tips  # U2 alone: 12
    assert "<5" in texts  # U0 + U1 as one hatched band
