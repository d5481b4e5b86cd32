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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.cases.flows import NO_ANSWER_REASON

SMALL = 5  # fewer distinct people than this in a cell and it is suppressed
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


# --- SQL -----------------------------------------------------------------------------------

# The months of the period, and the cases whose incident was received in it.
_BASE = """
WITH months AS (
    SELECT CAST(m AS date) AS month
    FROM generate_series(
        CAST(:first AS timestamp), CAST(:last AS timestamp), interval '1 month'
    ) AS m
),
cases AS (
    SELECT sc.id, sc.staff_id, sc.contact_at, i.received_at, i.unit,
           CAST(date_trunc('month', i.received_at AT TIME ZONE :tz) AS date) AS month
    FROM support_cases sc
    JOIN incidents i ON i.id = sc.incident_id
    WHERE i.received_at >= CAST(:first AS timestamp) AT TIME ZONE :tz
      AND i.received_at < CAST(:stop AS timestamp) AT TIME ZONE :tz
),
marks AS (
    SELECT c.id, c.staff_id, c.month, c.received_at,
           (SELECT min(p.sent_at) FROM pages p WHERE p.case_id = c.id) AS first_page_at,
           min(t.at) FILTER (WHERE t.to_state = 'peer_accepted') AS peer_accepted_at,
           coalesce(
               c.contact_at, min(t.at) FILTER (WHERE t.to_state = 'contact_made')
           ) AS contact_at,
           coalesce(bool_or(t.to_state = 'tier1_notified'), false) AS tier1,
           coalesce(bool_or(t.to_state = 'tier3_referred'), false) AS tier3,
           coalesce(bool_or(t.to_state = 'clinician_offered'), false) AS offered,
           coalesce(bool_or(t.to_state = 'clinician_accepted'), false) AS accepted,
           coalesce(bool_or(t.to_state = 'deferred'), false) AS deferred,
           coalesce(bool_or(t.to_state = 'declined'), false) AS declined,
           coalesce(bool_or(t.to_state = 'opted_out'), false) AS opted_out,
           coalesce(bool_or(t.reason = :no_answer), false) AS no_answer
    FROM cases c
    LEFT JOIN case_transitions t ON t.case_id = c.id
    GROUP BY c.id, c.staff_id, c.month, c.received_at, c.contact_at
)
"""

# Given `cells` (month, category, label, ord, in_total, cases, people) covering every month
# and category, and `totals` (month, cases, people) for every month: the suppression rules of
# the module docstring, then one row per cell (or one row with a NULL category for a month
# with no categories at all), carrying its month's total.
_SUPPRESS = """
, marked AS (
    SELECT c.*,
           c.people BETWEEN 1 AND :small - 1 AS small,
           t.cases AS total_cases,
           t.people BETWEEN 1 AND :small - 1 AS total_small
    FROM cells c
    JOIN totals t ON t.month = c.month
),
ranked AS (
    SELECT m.*,
           count(*) FILTER (WHERE m.small AND m.in_total)
               OVER (PARTITION BY m.month) AS small_in_month,
           row_number() OVER (
               PARTITION BY m.month
               ORDER BY NOT m.in_total, m.small, m.cases = 0, m.cases, m.ord, m.category
           ) AS smallest
    FROM marked m
),
hidden AS (
    SELECT r.*,
           r.small OR r.total_small
           OR (r.in_total AND r.small_in_month = 1 AND NOT r.small AND r.cases > 0
               AND r.smallest = 1) AS suppressed
    FROM ranked r
)
SELECT t.month, h.category, h.label, h.ord, h.in_total, h.suppressed,
       CASE WHEN h.suppressed THEN NULL ELSE h.cases END AS cases,
       CASE WHEN h.suppressed OR t.cases = 0 THEN NULL
            ELSE CAST(h.cases AS double precision) / t.cases END AS rate,
       t.people BETWEEN 1 AND :small - 1 AS total_suppressed,
       CASE WHEN t.people BETWEEN 1 AND :small - 1 THEN NULL ELSE t.cases END AS total
FROM totals t
LEFT JOIN hidden h ON h.month = t.month
ORDER BY t.month, h.ord, h.category
"""

_TIMES = (
    _BASE
    + """
, spans AS (
    SELECT m.month, m.staff_id, s.measure,
           CAST(extract(epoch FROM s.at - m.received_at) AS double precision) / 60 AS minutes
    FROM marks m
    CROSS JOIN LATERAL (VALUES
        ('first_page', m.first_page_at),
        ('peer_accepted', m.peer_accepted_at),
        ('contact', m.contact_at)
    ) AS s(measure, at)
    WHERE s.at IS NOT NULL
),
stats AS (
    SELECT mo.month, me.measure, me.ord,
           count(s.minutes) AS cases,
           count(DISTINCT s.staff_id) AS people,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY s.minutes) AS median,
           percentile_cont(0.9) WITHIN GROUP (ORDER BY s.minutes) AS p90
    FROM months mo
    CROSS JOIN (VALUES ('first_page', 1), ('peer_accepted', 2), ('contact', 3))
        AS me(measure, ord)
    LEFT JOIN spans s ON s.month = mo.month AND s.measure = me.measure
    GROUP BY mo.month, me.measure, me.ord
)
SELECT month, measure,
       people BETWEEN 1 AND :small - 1 AS suppressed,
       CASE WHEN people BETWEEN 1 AND :small - 1 THEN NULL ELSE cases END AS cases,
       CASE WHEN people < :small THEN NULL ELSE median END AS median_minutes,
       CASE WHEN people < :small THEN NULL ELSE p90 END AS p90_minutes
FROM stats
ORDER BY month, ord
"""
)

_ANSWERS = (
    _BASE
    + """
, asked AS (
    SELECT month, staff_id, deferred,
           CASE WHEN accepted THEN 'accepted'
                WHEN declined THEN 'declined'
                WHEN opted_out THEN 'opted_out'
                WHEN no_answer THEN 'no_answer'
                ELSE 'awaiting' END AS answer
    FROM marks
    WHERE offered OR declined OR opted_out
),
kinds(category, label, ord, in_total) AS (VALUES
    ('accepted', 'Accepted', 1, true),
    ('deferred', 'Asked for later', 2, false),
    ('declined', 'Declined', 3, true),
    ('no_answer', 'No answer', 4, true),
    ('opted_out', 'Opted out', 5, true),
    ('awaiting', 'Awaiting an answer', 6, true)
),
cells AS (
    SELECT mo.month, k.category, k.label, k.ord, k.in_total,
           count(a.staff_id) AS cases, count(DISTINCT a.staff_id) AS people
    FROM months mo
    CROSS JOIN kinds k
    LEFT JOIN asked a ON a.month = mo.month
        AND (a.answer = k.category OR (k.category = 'deferred' AND a.deferred))
    GROUP BY mo.month, k.category, k.label, k.ord, k.in_total
),
totals AS (
    SELECT mo.month, count(a.staff_id) AS cases, count(DISTINCT a.staff_id) AS people
    FROM months mo
    LEFT JOIN asked a ON a.month = mo.month
    GROUP BY mo.month
)
"""
    + _SUPPRESS
)

_TIERS = (
    _BASE
    + """
, kinds(category, label, ord, in_total) AS (VALUES
    ('tier1', 'Tier 1: unit lead prompted', 1, false),
    ('tier2', 'Tier 2: peer support case', 2, false),
    ('tier3', 'Tier 3: referred', 3, false)
),
reached AS (
    SELECT m.month, m.staff_id, k.category
    FROM marks m
    JOIN kinds k ON (k.category = 'tier1' AND m.tier1)
        OR k.category = 'tier2'
        OR (k.category = 'tier3' AND m.tier3)
),
cells AS (
    SELECT mo.month, k.category, k.label, k.ord, k.in_total,
           count(r.staff_id) AS cases, count(DISTINCT r.staff_id) AS people
    FROM months mo
    CROSS JOIN kinds k
    LEFT JOIN reached r ON r.month = mo.month AND r.category = k.category
    GROUP BY mo.month, k.category, k.label, k.ord, k.in_total
),
totals AS (
    SELECT mo.month, count(m.staff_id) AS cases, count(DISTINCT m.staff_id) AS people
    FROM months mo
    LEFT JOIN marks m ON m.month = mo.month
    GROUP BY mo.month
)
"""
    + _SUPPRESS
)


def _volumes(dimension: str) -> str:
    """Cases per month by `dimension`: an expression over `cases c`, `staff s`, `units u`
    (u is the incident's unit) giving (category, label)."""
    return (
        _BASE
        + f"""
, sorted AS (
    SELECT c.month, c.staff_id, {dimension}
    FROM cases c
    JOIN staff s ON s.staff_id = c.staff_id
    LEFT JOIN units u ON u.code = c.unit
),
kinds AS (
    SELECT category, min(label) AS label, 0 AS ord, true AS in_total
    FROM sorted
    GROUP BY category
),
cells AS (
    SELECT mo.month, k.category, k.label, k.ord, k.in_total,
           count(x.staff_id) AS cases, count(DISTINCT x.staff_id) AS people
    FROM months mo
    CROSS JOIN kinds k
    LEFT JOIN sorted x ON x.month = mo.month AND x.category = k.category
    GROUP BY mo.month, k.category, k.label, k.ord, k.in_total
),
totals AS (
    SELECT mo.month, count(c.staff_id) AS cases, count(DISTINCT c.staff_id) AS people
    FROM months mo
    LEFT JOIN cases c ON c.month = mo.month
    GROUP BY mo.month
)
"""
        + _SUPPRESS
    )


_BY_DISCIPLINE = _volumes("s.discipline AS category, s.discipline AS label")
_BY_UNIT = _volumes("c.unit AS category, coalesce(u.name, c.unit) AS label")

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
    rows = (await session.execute(text(_TIMES), _params(period))).mappings().all()
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
        _ANSWERS,
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
        _TIERS,
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
        _BY_DISCIPLINE,
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
        _BY_UNIT,
        period,
        name="volumes_by_unit",
        title="Cases per month by unit",
        counted="cases",
        with_totals=True,
        by_label=True,
    )
