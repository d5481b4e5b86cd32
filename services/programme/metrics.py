"""Programme metrics: how fast support reaches people, how they answer, tiers, volumes.

Only aggregates leave the programme (the domain's confidentiality rule), so every figure is
computed by PostgreSQL in one statement per table and suppressed there: no per-case row and
no unsuppressed small number is ever returned to Python, where it could reach a page, a log
or a CSV by mistake.

What is counted
- A case is one affected clinician of one incident; it belongs to the month (in the period's
  time zone) in which the incident was received (`incidents.received_at`).
- Times are from the incident's receipt to: the first page sent for the case (to a peer, or
  to the coordinator when no peer was available: either way the programme had started), a
  peer's acceptance (the first move into `peer_accepted`), and contact (`contact_at`, which
  a peer or the coordinator records, even after the case has moved on to follow-ups; for
  cases from before that column, the first move into `contact_made`). Median and 90th
  percentile in minutes, over the cases that reached that point.
- Answers: a clinician was asked if the case reached `clinician_offered`, or they declined
  or opted out before the offer came. Each asked case has one answer, in this precedence:
  accepted (ever moved to `clinician_accepted`), declined, opted out, no answer (the offer
  and its reminder went unanswered: `flows.NO_ANSWER_REASON`), awaiting (none of these yet).
  These five add up to the month's asked total. "Deferred" (asked for later at least once)
  overlaps them, since a deferral is followed by another answer, so it is not part of the
  total.
- Tier mix, in clinicians: Tier 1 (their unit lead was prompted to check in: a move into
  `tier1_notified`; one prompt covers every clinician of that lead in the incident), Tier 2
  (every case opened for peer support), Tier 3 (referred: a move into `tier3_referred`).
  The tiers overlap, so this table has no total.
- Volumes: cases per month by the clinician's discipline and by the incident's unit.

Suppression (the rule every table follows)
1. Primary: a cell counting 1 to 4 distinct clinicians is suppressed: its count, rate, median
   and p90 come back as None with `suppressed` true (shown as "<5"). So is any rate or time
   computed from fewer than 5 people. A true zero is shown: it identifies nobody.
2. A month total of 1 to 4 people is suppressed, and with it every cell of that month.
3. Secondary, in tables whose cells add up to a published month total (answers, volumes):
   if exactly one cell of a month is suppressed, the total minus the others would give it
   back, so the smallest other non-zero cell of that month (ties broken by category) is
   suppressed too. Two hidden cells reveal only their sum, and the complement counts at
   least 5 people. Totals across months (per category) are not published: with them a
   suppressed cell could be recovered down a column as well, so a caller must not add them.
The counts in a cell are cases; the threshold is on distinct clinicians, so one person with
several cases cannot make a cell look safe.

Here: what each table is and how it is read. The SQL is in queries.py, the table shapes in
tables.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.cases.flows import NO_ANSWER_REASON
from services.programme.queries import ANSWERS, BY_DISCIPLINE, BY_UNIT, TIERS, TIMES
from services.programme.tables import (
    Category,
    Cell,
    CountTable,
    MonthTotal,
    Period,
    TimeRow,
    TimeTable,
)

SMALL = 5  # fewer distinct people than this in a cell and it is suppressed


DISCIPLINE_LABELS = {
    "RN": "RN",
    "LPN": "LPN",
    "physician": "Physician",
    "resident": "Resident",
    "advanced_practice": "Advanced practice",
    "respiratory_therapist": "Respiratory therapist",
    "pharmacist": "Pharmacist",
    "technician": "Technician",
    "paramedic": "Paramedic",
    "midwife": "Midwife",
    "chaplain": "Chaplain",
    "social_worker": "Social worker",
    "psychologist": "Psychologist",
    "other": "Other",
}

TIME_MEASURES = (
    Category("first_page", "First page sent"),
    Category("peer_accepted", "Peer accepted"),
    Category("contact", "Contact made"),
)


def _params(period: Period) -> dict[str, object]:
    return {**period.params(), "small": SMALL, "no_answer": NO_ANSWER_REASON}


async def _count_table(
    session: AsyncSession,
    sql: str,
    period: Period,
    *,
    name: str,
    title: str,
    counted: str,
    with_totals: bool,
    labels: Mapping[str, str] | None = None,
    by_label: bool = False,
    show_rates: bool = False,
) -> CountTable:
    rows = (await session.execute(text(sql), _params(period))).mappings().all()
    categories: dict[str, Category] = {}
    cells: list[Cell] = []
    totals: dict[date, MonthTotal] = {}
    for r in rows:
        month = r["month"]
        totals.setdefault(month, MonthTotal(month, r["total"], r["total_suppressed"]))
        if r["category"] is None:
            continue
        code = str(r["category"])
        label = (labels or {}).get(code, str(r["label"]))
        categories.setdefault(code, Category(code, label, bool(r["in_total"])))
        cells.append(Cell(month, code, r["cases"], r["rate"], bool(r["suppressed"])))
    ordered: Sequence[Category] = list(categories.values())
    if by_label:  # open-ended categories read best alphabetically; fixed ones keep their order
        ordered = sorted(ordered, key=lambda c: (c.label.lower(), c.code))
    return CountTable(
        name=name,
        title=title,
        counted=counted,
        categories=tuple(ordered),
        months=period.months,
        cells=tuple(cells),
        totals=tuple(totals[m] for m in period.months) if with_totals else None,
        show_rates=show_rates,
    )


# --- the tables ----------------------------------------------------------------------------


async def response_times(session: AsyncSession, period: Period) -> TimeTable:
    """How long support takes to start, per month: incident received to first page, to a
    peer's acceptance and to contact (median and p90 minutes, cases that got there).

    The promise programmes make (a call-back within 30 minutes, a meeting within 24 hours)
    is judged on these, so they come from the store's own timestamps, not from logs."""
    rows = (await session.execute(text(TIMES), _params(period))).mappings().all()
    return TimeTable(
        name="response_times",
        title="Time from incident to first page, peer acceptance and contact",
        measures=TIME_MEASURES,
        months=period.months,
        rows=tuple(
            TimeRow(
                month=r["month"],
                measure=str(r["measure"]),
                cases=r["cases"],
                median_minutes=r["median_minutes"],
                p90_minutes=r["p90_minutes"],
                suppressed=bool(r["suppressed"]),
            )
            for r in rows
        ),
    )


async def answer_rates(session: AsyncSession, period: Period) -> CountTable:
    """How clinicians answer the offer, per month: accepted, declined, opted out, no answer,
    awaiting (adding up to those asked), and how many asked for later at least once.

    Support is voluntary; a falling acceptance rate or a rising no-answer rate is the first
    sign that the offer's wording or timing is wrong. Aggregated, never who answered what."""
    return await _count_table(
        session,
        ANSWERS,
        period,
        name="answer_rates",
        title="How clinicians answered the offer of support",
        counted="clinicians asked",
        with_totals=True,
        show_rates=True,
    )


async def tier_mix(session: AsyncSession, period: Period) -> CountTable:
    """Clinicians reaching each tier per month (Tier 1 unit-lead check-in, Tier 2 peer
    support, Tier 3 referral); the tiers overlap, so no total.

    A programme sizes its peer pool and its referral pathways by this mix."""
    return await _count_table(
        session,
        TIERS,
        period,
        name="tier_mix",
        title="Clinicians reached at each tier",
        counted="clinicians",
        with_totals=False,
    )


async def volumes_by_discipline(session: AsyncSession, period: Period) -> CountTable:
    """Cases per month by the clinician's discipline, with month totals.

    Matching is nurse to nurse: the peer pool per discipline must follow where demand is."""
    return await _count_table(
        session,
        BY_DISCIPLINE,
        period,
        name="volumes_by_discipline",
        title="Cases per month by discipline",
        counted="cases",
        with_totals=True,
        labels=DISCIPLINE_LABELS,
        by_label=True,
    )


async def volumes_by_unit(session: AsyncSession, period: Period) -> CountTable:
    """Cases per month by the unit where the incident happened, with month totals.

    Several bad outcomes on one unit call for a group response; this shows where."""
    return await _count_table(
        session,
        BY_UNIT,
        period,
        name="volumes_by_unit",
        title="Cases per month by unit",
        counted="cases",
        with_totals=True,
        by_label=True,
    )
