"""Programme metrics over a known cohort: exact medians, rates and volumes, suppression of
cells under 5 people (primary and secondary), one SQL statement per table, the CSV and the
charts.

The cohort lives in February to April 2019 (in New York time) on units of its own (PM*), far
from the suite's other data, which is received at the time the tests run.
"""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services.cases.flows import NO_ANSWER_REASON
from services.cases.models import CaseTransition
from services.db import transaction
from services.incidents.models import Incident
from services.paging.models import Page, PageState, SupportCase
from services.people.models import Staff, Unit
from services.programme import charts, export, tables
from services.programme import metrics as m

NY = ZoneInfo("America/New_York")
FEB, MAR, APR, MAY = date(2019, 2, 1), date(2019, 3, 1), date(2019, 4, 1), date(2019, 5, 1)
PERIOD = tables.Period(FEB, APR, "America/New_York")
INJECTED_UNIT_NAME = '=HYPERLINK("http://evil.example","x")'


@dataclass
class Spec:
    """One case: who, where, when received, and its history in minutes after receipt."""

    staff: str
    discipline: str
    unit: str
    received: datetime
    first_page: float | None = 2.0
    moves: list[tuple[str, float]] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)
    contact_at: float | None = None  # minutes; recorded on the case, with no transition


def _mid(month: date, day: int = 10) -> datetime:
    return datetime(month.year, month.month, day, 12, 0, tzinfo=UTC)


def _cohort() -> list[Spec]:
    specs: list[Spec] = []
    # February: RN 6 cases from 5 people (R1 twice), physician 5, pharmacist 4, chaplain 8.
    for i, staff in enumerate(["R1", "R1", "R2", "R3", "R4", "R5"]):
        specs.append(
            Spec(
                staff,
                "RN",
                "PMA",
                _mid(FEB, 3 + i),
                moves=[("tier1_notified", 0.5), ("peer_paged", 1), ("clinician_offered", 20)],
            )
        )
    for i in range(5):
        specs.append(
            Spec(
                f"P{i}",
                "physician",
                "PMB",
                _mid(FEB, 3 + i),
                moves=[("peer_paged", 1), ("clinician_offered", 20), ("declined", 30)],
            )
        )
    for i in range(4):
        specs.append(
            Spec(
                f"H{i}",
                "pharmacist",
                "PMC",
                _mid(FEB, 3 + i),
                moves=[("opted_out", 0.2), ("tier3_referred", 60)],
            )
        )
    for i in range(8):
        moves = [("peer_paged", 1), ("peer_accepted", 5), ("clinician_offered", 10)]
        if i < 6:
            moves += [("deferred", 15), ("clinician_offered", 100)]
        moves += [("clinician_accepted", 120)]
        # Contact at 130..200 minutes: half as a transition, half recorded on the case only
        # (a peer recording contact once follow-ups have begun).
        contact: float | None = None
        if i % 2:
            moves.append(("contact_made", 130 + 10 * i))
        else:
            contact = 130 + 10 * i
        spec = Spec(f"C{i}", "chaplain", "PMA", _mid(FEB, 3 + i), moves=moves, contact_at=contact)
        specs.append(spec)
    # March: RN 5, physician 6 (11 people). First pages at 1..11 minutes; peers accept 5 cases
    # at 10..50 minutes; contact made for 4 people only.
    march = [(f"M{i}", "RN") for i in range(5)] + [(f"D{i}", "physician") for i in range(6)]
    answers = ["accepted"] * 5 + ["declined"] * 2 + ["no_answer", "opted_out"] + ["awaiting"] * 2
    for i, (staff, discipline) in enumerate(march):
        moves: list[tuple[str, float]] = [("peer_paged", i + 1)]
        reasons: dict[str, str] = {}
        if i < 5:
            moves.append(("peer_accepted", 10 * (i + 1)))
        answer = answers[i]
        if answer == "opted_out":
            moves.append(("opted_out", 60))
        else:
            moves.append(("clinician_offered", 60))
            if i in (0, 1, 9):  # asked for later first: 3 people
                moves += [("deferred", 61), ("clinician_offered", 90)]
            if answer == "accepted":
                moves.append(("clinician_accepted", 120))
                if i < 4:
                    moves.append(("contact_made", 180 + i))
            elif answer == "declined":
                moves.append(("declined", 120))
            elif answer == "no_answer":
                moves.append(("waiting_coordinator", 400))
                reasons["waiting_coordinator"] = NO_ANSWER_REASON
        if i >= 6:
            moves.append(("tier3_referred", 500))
        specs.append(
            Spec(staff, discipline, "PMB", _mid(MAR, 2 + i), i + 1, moves=moves, reasons=reasons)
        )
    # April (New York), May in UTC: 3 RNs on the evening of 30 April, all offered.
    for i in range(3):
        received = datetime(2019, 4, 30, 23, 30, tzinfo=NY)
        specs.append(
            Spec(
                f"A{i}",
                "RN",
                "PMA",
                received,
                moves=[("peer_paged", 1), ("clinician_offered", 30)],
            )
        )
    return specs


@pytest.fixture(scope="module")
async def cohort(db: Engine) -> list[Spec]:
    specs = _cohort()
    async with transaction() as session:
        for code, name in (("PMA", "Programme A"), ("PMB", "Programme B")):
            session.add(Unit(code=code, name=name, active=False))
        session.add(Unit(code="PMC", name=INJECTED_UNIT_NAME, active=False))
        await session.flush()
        made: set[str] = set()
        for n, spec in enumerate(specs):
            staff_id = f"PM-{spec.staff}"
            if staff_id not in made:
                made.add(staff_id)
                session.add(
                    Staff(
                        staff_id=staff_id,
                        display_name=f"Metrics {spec.staff}",
                        discipline=spec.discipline,
                        home_unit=spec.unit,
                        mobile_e164=f"+1555077{n:04d}",
                        active=False,
                    )
                )
            await session.flush()
            incident = Incident(
                request_hash="metrics",
                occurred_at=spec.received - timedelta(hours=1),
                unit=spec.unit,
                event_type="unexpected_death",
                harm_level="death",
                staff_ids=[staff_id],
                received_at=spec.received,
            )
            session.add(incident)
            await session.flush()
            case = SupportCase(
                incident_id=incident.id,
                staff_id=staff_id,
                state="closed",
                created_at=spec.received,
                contact_at=None
                if spec.contact_at is None
                else spec.received + timedelta(minutes=spec.contact_at),
            )
            session.add(case)
            await session.flush()
            if spec.first_page is not None:
                for attempt, late in ((1, 0.0), (2, 7.0)):  # the second page is not the first
                    session.add(
                        Page(
                            case_id=case.id,
                            attempt=attempt,
                            to_number="+15550779999",
                            reply_code=f"{attempt}M",
                            reason="metrics cohort",
                            state=PageState.superseded,
                            requested_at=spec.received,
                            sent_at=spec.received + timedelta(minutes=spec.first_page + late),
                        )
                    )
            state = "identified"
            for to_state, minutes in spec.moves:
                session.add(
                    CaseTransition(
                        case_id=case.id,
                        from_state=state,
                        to_state=to_state,
                        reason=spec.reasons.get(to_state, "metrics cohort"),
                        at=spec.received + timedelta(minutes=minutes),
                    )
                )
                state = to_state
    return specs


@contextmanager
def statements(session: AsyncSession) -> Iterator[list[str]]:
    """Every SQL statement the session's engine sends while the block runs."""
    seen: list[str] = []
    assert isinstance(session.bind, AsyncEngine)
    engine = session.bind.sync_engine

    def count(*args: object) -> None:
        seen.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


async def test_response_times_exact_and_suppressed(cohort: list[Spec]) -> None:
    async with transaction() as session:
        times = await m.response_times(session, PERIOD)
    assert times.months == (FEB, MAR, APR)
    feb = times.row(FEB, "first_page")
    # 23 cases, 22 people, every first page 2 minutes after receipt (the second page at 9).
    assert (feb.cases, feb.median_minutes, feb.p90_minutes, feb.suppressed) == (23, 2, 2, False)
    # Peer acceptance in February: the 8 chaplains, at 5 minutes.
    assert times.row(FEB, "peer_accepted").median_minutes == pytest.approx(5)
    mar_page = times.row(MAR, "first_page")
    assert (mar_page.cases, mar_page.suppressed) == (11, False)
    assert mar_page.median_minutes == pytest.approx(6)  # 1..11
    assert mar_page.p90_minutes == pytest.approx(10)
    # Five people accepted by a peer at 10..50 minutes: shown, not suppressed.
    accepted = times.row(MAR, "peer_accepted")
    assert (accepted.cases, accepted.suppressed) == (5, False)
    assert accepted.median_minutes == pytest.approx(30)
    assert accepted.p90_minutes == pytest.approx(46)
    # Contact for 4 people: count and times suppressed, in the database.
    contact = times.row(MAR, "contact")
    assert (contact.cases, contact.median_minutes, contact.p90_minutes) == (None, None, None)
    assert contact.suppressed
    # February: 8 chaplains reached, at 130..200 minutes, from either record of contact.
    contact = times.row(FEB, "contact")
    assert (contact.cases, contact.suppressed) == (8, False)
    assert contact.median_minutes == pytest.approx(165)
    assert contact.p90_minutes == pytest.approx(193)
    # April: no peer accepted any of its 3 cases: a true zero, shown, not suppressed.
    none = times.row(APR, "peer_accepted")
    assert (none.cases, none.median_minutes, none.suppressed) == (0, None, False)
    # April: 3 people, everything suppressed.
    assert times.row(APR, "first_page").suppressed
    assert times.row(APR, "first_page").median_minutes is None


async def test_answer_rates_with_secondary_suppression(cohort: list[Spec]) -> None:
    async with transaction() as session:
        answers = await m.answer_rates(session, PERIOD)
    assert [c.code for c in answers.categories] == [
        "accepted",
        "deferred",
        "declined",
        "no_answer",
        "opted_out",
        "awaiting",
    ]
    assert answers.total(FEB) == tables.MonthTotal(FEB, 23, False)
    accepted = answers.cell(FEB, "accepted")
    assert (accepted.count, accepted.suppressed) == (8, False)
    assert accepted.rate == pytest.approx(8 / 23)
    # Opted out: 4 people, suppressed; declined (5, the smallest other) goes with it, or
    # 23 - 8 - 6 - 0 - opted out would give it back.
    assert answers.cell(FEB, "opted_out") == tables.Cell(FEB, "opted_out", None, None, True)
    assert answers.cell(FEB, "declined") == tables.Cell(FEB, "declined", None, None, True)
    assert answers.cell(FEB, "awaiting").count == 6  # R1 twice: 6 cases, 5 people
    assert answers.cell(FEB, "no_answer") == tables.Cell(FEB, "no_answer", 0, 0.0, False)
    # Deferral overlaps the answers: 6 people, a rate of the asked, no secondary effect.
    deferred = answers.cell(FEB, "deferred")
    assert (deferred.count, deferred.rate) == (6, pytest.approx(6 / 23))
    # March: 11 asked; 5 accepted shown; the rest are each under 5 people (no secondary
    # needed: four cells are hidden); 3 deferrals hidden.
    assert answers.total(MAR) == tables.MonthTotal(MAR, 11, False)
    assert answers.cell(MAR, "accepted").rate == pytest.approx(5 / 11)
    for code in ("deferred", "declined", "no_answer", "opted_out", "awaiting"):
        assert answers.cell(MAR, code).suppressed, code
        assert answers.cell(MAR, code).count is None, code
    # April: 3 asked, the total and every cell suppressed, zeros included.
    assert answers.total(APR) == tables.MonthTotal(APR, None, True)
    assert all(answers.cell(APR, c.code).count is None for c in answers.categories)


async def test_tier_mix(cohort: list[Spec]) -> None:
    async with transaction() as session:
        tiers = await m.tier_mix(session, PERIOD)
    assert tiers.totals is None
    assert [c.code for c in tiers.categories] == ["tier1", "tier2", "tier3"]
    assert tiers.cell(FEB, "tier1").count == 6
    assert tiers.cell(FEB, "tier2").count == 23
    assert tiers.cell(FEB, "tier3").suppressed  # 4 pharmacists
    assert tiers.cell(FEB, "tier2").suppressed is False  # overlapping: no secondary
    assert tiers.cell(MAR, "tier1") == tables.Cell(MAR, "tier1", 0, 0.0, False)
    assert tiers.cell(MAR, "tier3").count == 5
    assert tiers.cell(MAR, "tier3").rate == pytest.approx(5 / 11)
    assert all(tiers.cell(APR, c).suppressed for c in ("tier1", "tier2", "tier3"))


async def test_volumes_by_discipline_and_unit(cohort: list[Spec]) -> None:
    async with transaction() as session:
        disciplines = await m.volumes_by_discipline(session, PERIOD)
        units = await m.volumes_by_unit(session, PERIOD)
        may = await m.volumes_by_unit(session, tables.Period(APR, MAY))
    # Other tests' disciplines are received now, not in 2019: only the cohort's appear.
    assert [c.label for c in disciplines.categories] == [
        "Chaplain",
        "Pharmacist",
        "Physician",
        "RN",
    ]
    d = {(c.month, c.category): c.count for c in disciplines.cells}
    assert d[(FEB, "RN")] == 6  # 5 people, 6 cases: shown
    assert d[(FEB, "chaplain")] == 8
    assert d[(FEB, "pharmacist")] is None  # 4 people
    assert d[(FEB, "physician")] is None  # 5 people, but the secondary suppression
    assert disciplines.cell(FEB, "physician").suppressed
    assert disciplines.total(FEB) == tables.MonthTotal(FEB, 23, False)
    # March: RN 5 and physician 6 shown, with 5 people unsuppressed; zeros shown.
    assert (d[(MAR, "RN")], d[(MAR, "physician")], d[(MAR, "chaplain")]) == (5, 6, 0)
    assert disciplines.cell(MAR, "RN").rate == pytest.approx(5 / 11)
    assert disciplines.total(APR) == tables.MonthTotal(APR, None, True)
    assert all(disciplines.cell(APR, c.code).count is None for c in disciplines.categories)
    # Units: PMA 14 (6 RN + 8 chaplains), PMB 5 physicians (secondary), PMC 4 (primary).
    assert [c.code for c in units.categories] == ["PMC", "PMA", "PMB"]  # "=HYP..." sorts first
    assert units.cell(FEB, "PMA").count == 14
    assert units.cell(FEB, "PMB").suppressed and units.cell(FEB, "PMC").suppressed
    assert units.cell(MAR, "PMB").count == 11
    # The evening of 30 April in New York is May in UTC.
    assert may.total(APR) == tables.MonthTotal(APR, 0, False)
    assert may.total(MAY) == tables.MonthTotal(MAY, None, True)


async def test_each_table_is_one_statement(cohort: list[Spec]) -> None:
    functions = (
        m.response_times,
        m.answer_rates,
        m.tier_mix,
        m.volumes_by_discipline,
        m.volumes_by_unit,
    )
    for fn in functions:
        async with transaction() as session:
            await session.connection()  # the connection's own setup is not the metric's
            with statements(session) as seen:
                await fn(session, PERIOD)
        assert len(seen) == 1, (fn.__name__, seen)
        assert seen[0].lstrip().startswith("WITH months")


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


async def test_csv_writes_suppressed_cells_and_escapes_formulas(cohort: list[Spec]) -> None:
    async with transaction() as session:
        units = await m.volumes_by_unit(session, PERIOD)
        answers = await m.answer_rates(session, PERIOD)
        times = await m.response_times(session, PERIOD)
    rows = list(csv.reader(io.StringIO(export.table_csv(units))))
    assert rows[0] == ["Month", "'" + INJECTED_UNIT_NAME, "Programme A", "Programme B", "Total"]
    assert rows[1] == ["2019-02", "<5", "14", "<5", "23"]
    assert rows[2] == ["2019-03", "0", "0", "11", "11"]
    assert rows[3] == ["2019-04", "<5", "<5", "<5", "<5"]
    assert len(rows) == 4
    rows = list(csv.reader(io.StringIO(export.table_csv(answers))))
    assert rows[0][:4] == [
        "Month",
        "Accepted",
        "Accepted (% of clinicians asked)",
        "Asked for later",
    ]
    assert rows[0][-1] == "Total clinicians asked"
    assert rows[1][:4] == ["2019-02", "8", "34.8", "6"]
    assert rows[2][:3] == ["2019-03", "5", "45.5"]
    rows = list(csv.reader(io.StringIO(export.times_csv(times))))
    assert rows[0][:4] == [
        "Month",
        "First page sent: cases",
        "First page sent: median minutes",
        "First page sent: p90 minutes",
    ]
    assert rows[2][:4] == ["2019-03", "11", "6.0", "10.0"]
    assert rows[2][7:10] == ["<5", "<5", "<5"]  # contact, 4 people
    assert rows[1][7:10] == ["8", "165.0", "193.0"]
    assert rows[3][1:] == ["<5", "<5", "<5", "0", "", "", "0", "", ""]  # April: 3 people
    assert export.safe_cell("@SUM(A1)") == "'@SUM(A1)"
    assert export.safe_cell("+1 555") == "'+1 555"
    assert export.safe_cell("-x") == "'-x"
    assert export.safe_cell("\tx") == "'\tx"
    assert export.safe_cell("Ward 3") == "Ward 3"


async def test_charts_are_accessible_svg_with_suppression_markers(cohort: list[Spec]) -> None:
    async with transaction() as session:
        units = await m.volumes_by_unit(session, PERIOD)
        answers = await m.answer_rates(session, PERIOD)
        tiers = await m.tier_mix(session, PERIOD)
        times = await m.response_times(session, PERIOD)
    svgs = [
        charts.volume_chart(units, "units"),
        charts.answers_chart(answers, "answers"),
        charts.tiers_chart(tiers, "tiers"),
        charts.times_chart(times, "times"),
    ]
    ns = "{http://www.w3.org/2000/svg}"
    for svg in svgs:
        root = ET.fromstring(svg)
        assert root.tag == f"{ns}svg"
        assert root.get("role") == "img"
        assert root.get("width") == "100%"
        assert root.get("viewBox")
        title, desc = root.find(f"{ns}title"), root.find(f"{ns}desc")
        assert title is not None and title.text
        assert desc is not None and desc.text
        assert root.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
        texts = ["".join(t.itertext()) for t in root.iter(f"{ns}text")]
        assert "<5" in texts  # the marker on the chart itself
        assert any("fewer than 5" in t for t in texts)  # the legend explains it
        assert root.find(f".//{ns}pattern") is not None  # the hatch
    # The hostile unit name is text, escaped, not markup, and reads back as itself.
    assert "=HYPERLINK(&quot;http://evil.example&quot;,&quot;x&quot;)" in svgs[0]
    assert INJECTED_UNIT_NAME in "".join(ET.fromstring(svgs[0]).itertext())
    hostile = charts.bar_chart(
        "x<script>",
        title="<b>Title</b> & co",
        description="</desc><script>alert(1)</script>",
        months=(FEB,),
        series=[charts.Series("<img src=x>", (3.0,))],
        totals=None,
        y_label="cases",
    )
    root = ET.fromstring(hostile)
    assert "<script>" not in hostile and "<img" not in hostile
    assert root.find("{http://www.w3.org/2000/svg}title").text == "<b>Title</b> & co"  # type: ignore[union-attr]


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
