"""The SQL behind each programme table: every figure counted and suppressed by PostgreSQL.

One statement per table; the suppression rules they share (`SUPPRESS`) are those of
services/programme/metrics.py's docstring, so no per-case row and no small number ever
reaches Python.
"""

from __future__ import annotations

# The months of the period, and the cases whose incident was received in it.
BASE = """
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
# metrics.py's docstring, then one row per cell (or one row with a NULL category for a month
# with no categories at all), carrying its month's total.
SUPPRESS = """
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

TIMES = (
    BASE
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

ANSWERS = (
    BASE
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
    + SUPPRESS
)

TIERS = (
    BASE
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
    + SUPPRESS
)


def _volumes(dimension: str) -> str:
    """Cases per month by `dimension`: an expression over `cases c`, `staff s`, `units u`
    (u is the incident's unit) giving (category, label)."""
    return (
        BASE
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
        + SUPPRESS
    )


BY_DISCIPLINE = _volumes("s.discipline AS category, s.discipline AS label")
BY_UNIT = _volumes("c.unit AS category, coalesce(u.name, c.unit) AS label")
