"""The coordinator's board as SQL: every open case with what it is waiting for.

Why SQL with laterals and not the ORM: the board must open in well under a second with
10,000 open cases (a mass-casualty night); the ordering key (does a person need to look?)
is computed for every open case from indexes, and the per-row details (current page, next
deadline, open flags) are fetched only for the rows shown.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.cases.attention import LABELS, URGENCY, Attention
from services.cases.machine import CaseState
from services.cases.refs import case_ref

# States that are themselves a call for a person, whatever flags say, and what they say.
STATE_ATTENTION = {
    CaseState.waiting_coordinator: Attention.no_peer,
    CaseState.opted_out: Attention.opted_out,
    CaseState.tier3_referred: Attention.referral,
}
PAGE_SIZE = 100


@dataclass(frozen=True)
class Filters:
    state: str | None = None
    tier: int | None = None
    attention_only: bool = False
    ref_low: uuid.UUID | None = None
    ref_high: uuid.UUID | None = None

    def sql(self) -> tuple[str, dict[str, object]]:
        where, params = [], {}
        if self.state:
            where.append("c.state = :f_state")
            params["f_state"] = self.state
        if self.tier:
            where.append("c.tier = :f_tier")
            params["f_tier"] = self.tier
        if self.ref_low is not None:
            where.append("c.id BETWEEN :f_low AND :f_high")
            params.update(f_low=self.ref_low, f_high=self.ref_high)
        if self.attention_only:
            where.append("needs_human")
        return "".join(f" AND {w}" for w in where), params


@dataclass(frozen=True)
class Row:
    case_id: uuid.UUID
    ref: str
    state: str
    tier: int
    created_at: datetime
    updated_at: datetime
    clinician: str
    discipline: str
    unit: str
    peer: str | None
    page_state: str | None
    paged_coordinator: bool
    next_due: datetime | None
    next_kind: str | None
    reasons: list[Attention]
    needs_human: bool

    @property
    def reason_labels(self) -> list[str]:
        return [LABELS[r] for r in self.reasons]


_HUMAN_STATES = ", ".join(f"'{state.value}'" for state in STATE_ATTENTION)
_NEEDS_HUMAN = f"""(
    c.state IN ({_HUMAN_STATES})
    OR s.undeliverable_code IS NOT NULL
    OR EXISTS (SELECT 1 FROM case_attention f WHERE f.case_id = c.id AND f.cleared_at IS NULL)
)"""

_ROWS = f"""
WITH top AS (
    SELECT * FROM (
        SELECT c.id, c.state, c.tier, c.created_at, c.updated_at,
               s.display_name AS clinician, s.discipline, s.home_unit AS unit,
               s.undeliverable_code IS NOT NULL AS undeliverable,
               {_NEEDS_HUMAN} AS needs_human
        FROM support_cases c JOIN staff s ON s.staff_id = c.staff_id
        WHERE c.state NOT IN ('closed', 'declined') {{ids}}
    ) c
    WHERE true {{filters}}
    ORDER BY needs_human DESC, created_at, id
    LIMIT :limit OFFSET :offset
)
SELECT top.*, p.peer, p.page_state, p.paged_coordinator, d.due_at, d.kind, a.reasons
FROM top
LEFT JOIN LATERAL (
    SELECT ps.display_name AS peer, pg.state AS page_state,
           pg.peer_staff_id IS NULL AS paged_coordinator
    FROM pages pg LEFT JOIN staff ps ON ps.staff_id = pg.peer_staff_id
    WHERE pg.case_id = top.id AND pg.state <> 'superseded'
    ORDER BY pg.attempt DESC LIMIT 1
) p ON true
LEFT JOIN LATERAL (
    SELECT due_at, kind FROM deadlines
    WHERE case_id = top.id AND fired_at IS NULL ORDER BY due_at LIMIT 1
) d ON true
LEFT JOIN LATERAL (
    SELECT array_agg(DISTINCT reason) AS reasons FROM case_attention
    WHERE case_id = top.id AND cleared_at IS NULL
) a ON true
ORDER BY top.needs_human DESC, top.created_at, top.id
"""


def _row(r: Mapping[str, Any]) -> Row:
    reasons = {Attention(x) for x in (r["reasons"] or []) if x in Attention.__members__}
    if r["state"] in STATE_ATTENTION:
        reasons.add(STATE_ATTENTION[CaseState(r["state"])])
    if r["undeliverable"]:
        reasons.add(Attention.undeliverable)
    return Row(
        case_id=r["id"],
        ref=case_ref(r["id"]),
        state=r["state"],
        tier=r["tier"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
        clinician=r["clinician"],
        discipline=r["discipline"],
        unit=r["unit"],
        peer=r["peer"],
        page_state=r["page_state"],
        paged_coordinator=bool(r["paged_coordinator"]),
        next_due=r["due_at"],
        next_kind=r["kind"],
        reasons=sorted(reasons, key=URGENCY.__getitem__),
        needs_human=bool(r["needs_human"]),
    )


async def rows(
    session: AsyncSession,
    filters: Filters,
    limit: int = PAGE_SIZE,
    offset: int = 0,
    ids: list[uuid.UUID] | None = None,
) -> list[Row]:
    """Open cases, those needing a person first, then the longest waiting."""
    where, params = filters.sql()
    id_clause = " AND c.id = ANY(:ids)" if ids is not None else ""
    if ids is not None:
        params["ids"] = ids
    sql = _ROWS.replace("{ids}", id_clause).replace("{filters}", where)
    result = await session.execute(text(sql), {**params, "limit": limit, "offset": offset})
    return [_row(r._mapping) for r in result]


@dataclass(frozen=True)
class Summary:
    total: int
    needs_human: int
    by_state: dict[str, int]
    matching: int


async def summary(session: AsyncSession, filters: Filters) -> Summary:
    where, params = filters.sql()
    sql = f"""
    SELECT c.state, count(*) AS n, count(*) FILTER (WHERE needs_human) AS human,
           count(*) FILTER (WHERE true {where}) AS matching
    FROM (
        SELECT c.id, c.state, c.tier, {_NEEDS_HUMAN} AS needs_human
        FROM support_cases c JOIN staff s ON s.staff_id = c.staff_id
        WHERE c.state NOT IN ('closed', 'declined')
    ) c
    GROUP BY c.state
    """
    result = (await session.execute(text(sql), params)).all()
    return Summary(
        total=sum(r.n for r in result),
        needs_human=sum(r.human for r in result),
        by_state={r.state: r.n for r in result},
        matching=sum(r.matching for r in result),
    )


@dataclass(frozen=True)
class LooseFlag:
    """A flag with no case: crisis words from a staff member (or an unknown number) who is
    not a clinician in a case. The coordinator's phone had the name; the board has it too."""

    id: int
    reason: Attention
    at: datetime
    staff_id: str | None
    name: str | None


async def loose_flags(session: AsyncSession) -> list[LooseFlag]:
    result = await session.execute(
        text(
            """
            SELECT f.id, f.reason, f.at, f.staff_id, s.display_name
            FROM case_attention f LEFT JOIN staff s ON s.staff_id = f.staff_id
            WHERE f.case_id IS NULL AND f.cleared_at IS NULL
            ORDER BY f.at DESC LIMIT 50
            """
        )
    )
    return [LooseFlag(r.id, Attention(r.reason), r.at, r.staff_id, r.display_name) for r in result]
