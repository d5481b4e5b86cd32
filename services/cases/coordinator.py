"""What the programme coordinator can do to a case, from the console or the API alike.

One place for each action, so a button on the board and a call to the API move a case the
same way: the state machine's checks, the deadlines that no longer apply, the flags cleared.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services import clock
from services.cases import attention, flows
from services.cases.machine import PEER_HOLDS, CaseState, IllegalTransition, move
from services.cases.models import CaseAttention, CaseTransition, Deadline
from services.cases.outcomes import CloseReason
from services.config import Settings
from services.paging.models import Page, SupportCase
from services.paging.service import involved_in
from services.people.matching import load_context
from services.people.models import Staff


class Action(StrEnum):
    seen = "seen"  # looked at what needed a person; nothing else changes
    escalate_now = "escalate_now"  # the current page's wait ends now: the next step pages
    reassign = "reassign"  # page the next peer instead of the one who has it
    tier3 = "tier3"  # expedited professional referral
    contact_made = "contact_made"
    close = "close"


class ActionRefused(ValueError):
    """The action does not fit the case as it is now; the message says why, for a person."""


async def act(
    session: AsyncSession,
    case_id: uuid.UUID,
    action: Action,
    settings: Settings,
    by: str,
    close_reason: CloseReason | None = None,
) -> SupportCase:
    case = await session.get(SupportCase, case_id, with_for_update=True)
    if case is None:
        raise LookupError("no such case")
    if action is Action.seen:
        await attention.clear(session, case.id, by)
        return case
    if action is Action.escalate_now:
        await _escalate_now(session, case)
    elif action is Action.reassign:
        await _reassign(session, case, settings)
    elif action is Action.tier3:
        await _move(session, case, CaseState.tier3_referred, "coordinator: tier 3 referral")
        await flows.cancel_deadlines(session, case.id, flows.ALL_DEADLINES, "tier 3")
        await flows.supersede_open_pages(session, case.id, reason="tier 3")
    elif action is Action.contact_made:
        await _move(session, case, CaseState.contact_made, "coordinator: contact made")
        case.contact_at = case.contact_at or clock.now()
    elif action is Action.close:
        if close_reason is None:
            raise ActionRefused("choose why the case is closed")
        await _move(session, case, CaseState.closed, f"coordinator: close ({close_reason})")
        case.close_reason = close_reason.value
        await flows.cancel_deadlines(session, case.id, flows.ALL_DEADLINES, "closed")
        await flows.supersede_open_pages(session, case.id, reason="closed")
    # Acting on a case is looking at it.
    await attention.clear(session, case.id, by)
    return case


async def _move(session: AsyncSession, case: SupportCase, to: CaseState, why: str) -> None:
    try:
        await move(session, case, to, why)
    except IllegalTransition as exc:
        raise ActionRefused(
            f"a case that is {case.state.replace('_', ' ')} cannot move to "
            f"{to.value.replace('_', ' ')}"
        ) from exc


async def _escalate_now(session: AsyncSession, case: SupportCase) -> None:
    if case.state not in (CaseState.peer_paged, CaseState.waiting_coordinator):
        raise ActionRefused("only a case waiting for a peer's answer can be escalated")
    current = await session.scalar(
        select(Deadline.payload["page_id"].astext)
        .where(
            Deadline.case_id == case.id,
            Deadline.kind == "page_timeout",
            Deadline.fired_at.is_(None),
        )
        .order_by(Deadline.due_at.desc())
        .limit(1)
    )
    if current is None:
        raise ActionRefused(
            "no page is waiting for an answer (the next step is already on its way)"
        )
    await flows.escalate_now(session, case.id, uuid.UUID(current))


async def _reassign(session: AsyncSession, case: SupportCase, settings: Settings) -> None:
    """The peer who holds the case (or was paged) is stood down; the next one is paged at
    once. A peer already paged for this case is never chosen again."""
    if case.state in PEER_HOLDS:
        await flows.hand_to_next_peer(session, case.id, settings, "coordinator reassigned")
        return
    if case.state not in (CaseState.peer_paged, CaseState.waiting_coordinator):
        raise ActionRefused(
            f"a case that is {case.state.replace('_', ' ')} has no peer to reassign"
        )
    clinician = await session.get(Staff, case.staff_id)
    assert clinician is not None
    await flows.cancel_deadlines(session, case.id, ("page_timeout",), "coordinator reassigned")
    await flows.supersede_open_pages(session, case.id, reason="coordinator reassigned")
    ctx = await load_context(session, clock.now(), settings.match_other_unit)
    involved = await involved_in(session, case.incident_id)
    await flows.page_next(session, case, clinician, involved, ctx, settings, step=0, round_=0)


@dataclass(frozen=True)
class History:
    """Everything the coordinator reads about one case: the API's case view and the
    console's case page are two renderings of this."""

    case: SupportCase
    clinician: Staff
    transitions: list[CaseTransition]
    pages: list[tuple[Page, str | None]]  # each page with its peer's name (None: coordinator)
    pending: list[Deadline]
    flags: list[CaseAttention]


async def history(session: AsyncSession, case_id: uuid.UUID) -> History | None:
    case = await session.get(SupportCase, case_id)
    if case is None:
        return None
    clinician = await session.get(Staff, case.staff_id)
    assert clinician is not None
    transitions = await session.scalars(
        select(CaseTransition).where(CaseTransition.case_id == case_id).order_by(CaseTransition.id)
    )
    pages = await session.execute(
        select(Page, Staff.display_name)
        .outerjoin(Staff, Staff.staff_id == Page.peer_staff_id)
        .where(Page.case_id == case_id)
        .order_by(Page.attempt)
    )
    pending = await session.scalars(
        select(Deadline)
        .where(Deadline.case_id == case_id, Deadline.fired_at.is_(None))
        .order_by(Deadline.due_at)
    )
    flags = await session.scalars(
        select(CaseAttention)
        .where(CaseAttention.case_id == case_id)
        .order_by(CaseAttention.id.desc())
        .limit(20)
    )
    return History(
        case=case,
        clinician=clinician,
        transitions=list(transitions),
        pages=[(p, name) for p, name in pages.all()],
        pending=list(pending),
        flags=list(flags),
    )
