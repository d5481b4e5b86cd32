"""The peer supporter's pages, laid out for a phone: their own open cases, recording that
contact happened with a coded outcome, and pausing themselves.

Whose cases: a case is a peer's while a page to them is accepted and the case is open. A
case they were paged for and did not accept, another peer's case, or a case handed to the
next peer (its page superseded) is "not found", like an id that does not exist. What they
see is the minimum necessary (domain.md): the clinician's first name and number (they have
accepted, so the programme has already texted both to them), where the case stands in plain
words and when the next check-in is due. No incident, no unit, no event type.

Recording contact is codes only (services/cases/outcomes.py): the programme keeps that
support happened, never what was said, so there is no free-text field on any of these pages.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services import clock, texts
from services.cases import flows, outbound
from services.cases.attention import Attention
from services.cases.machine import OPEN_STATES, CaseState, IllegalTransition, can_move, move
from services.cases.models import Deadline
from services.cases.outcomes import CONTACT_LABELS, ContactOutcome
from services.cases.refs import case_ref
from services.config import get_settings
from services.console.pages import PREFIX, render
from services.db import transaction
from services.identity import audit
from services.identity.deps import page_role
from services.identity.models import Role
from services.identity.principal import Principal
from services.paging.models import Page, PageState, SupportCase
from services.people.models import PeerSupporter, Staff

router = APIRouter(prefix=f"{PREFIX}/peer")
peer_only = page_role(Role.peer)

S = CaseState
# Where the case stands, in the words a peer would use, and what (if anything) to do now.
PLAIN: dict[str, str] = {
    S.peer_accepted: "You took this. We are asking your colleague if they would welcome a call.",
    S.clinician_offered: "Your colleague has been asked if they would welcome a call. "
    "We will text you their answer.",
    S.deferred: "Your colleague asked for later.",
    S.clinician_accepted: "Your colleague would welcome your call now.",
    S.contact_made: "You have talked. Thank you.",
    S.follow_up: "Check-ins are under way.",
    S.tier3_referred: "Referred for expedited professional help. The coordinator is arranging it.",
    S.opted_out: "Your colleague asked not to receive messages. Please don't call: the "
    "coordinator will follow up.",
    S.waiting_coordinator: "The coordinator is following up with your colleague.",
}
NOT_YET = "You can record contact once your colleague has said yes to a call."
# States in which the peer may record that they talked.
CONTACT_STATES = frozenset({S.clinician_accepted, S.contact_made, S.follow_up})
BEFORE_CONTACT = frozenset({S.peer_accepted, S.clinician_offered, S.deferred})
# Deadlines that a recorded contact makes moot: the offer and the page are answered.
ANSWERED_DEADLINES = ("page_timeout", *flows.OFFER_DEADLINES)


def plain(state: str) -> str:
    return PLAIN.get(state, "The coordinator is looking after this case.")


@dataclass
class MyCase:
    case: SupportCase
    ref: str
    first_name: str
    mobile: str | None  # None while the clinician has asked for no messages
    next_check_in: datetime | None


async def _mine(
    session: AsyncSession, who: Principal, case_id: uuid.UUID | None = None
) -> list[tuple[SupportCase, Staff]]:
    """(case, clinician) for each open case this peer holds: a page of theirs accepted."""
    query = (
        select(SupportCase, Staff)
        .join(Page, Page.case_id == SupportCase.id)
        .join(Staff, Staff.staff_id == SupportCase.staff_id)
        .where(
            Page.peer_staff_id == who.staff_id,
            Page.state == PageState.accepted,
            SupportCase.state.in_([s.value for s in OPEN_STATES]),
        )
        .order_by(Page.answered_at.desc().nulls_last(), SupportCase.id)
    )
    if case_id is not None:
        query = query.where(SupportCase.id == case_id).with_for_update(of=SupportCase)
    return [(case, staff) for case, staff in (await session.execute(query)).unique().all()]


async def _check_ins(session: AsyncSession, case_ids: list[uuid.UUID]) -> dict[uuid.UUID, datetime]:
    rows = await session.execute(
        select(Deadline.case_id, Deadline.due_at)
        .where(
            Deadline.case_id.in_(case_ids),
            Deadline.kind == "follow_up",
            Deadline.fired_at.is_(None),
        )
        .order_by(Deadline.due_at.desc())
    )
    return {case_id: due for case_id, due in rows.all()}  # earliest wins


def _view(case: SupportCase, clinician: Staff, check_in: datetime | None) -> MyCase:
    hidden = case.state == S.opted_out
    return MyCase(
        case=case,
        ref=case_ref(case.id),
        first_name=flows.first_name(clinician),
        mobile=None if hidden else clinician.mobile_e164,
        next_check_in=check_in,
    )


async def _peer_row(session: AsyncSession, who: Principal) -> PeerSupporter | None:
    if who.staff_id is None:
        return None
    return await session.get(PeerSupporter, who.staff_id)


def not_found(request: Request, who: Principal) -> HTMLResponse:
    return render(
        request,
        who,
        "error.html",
        status_code=404,
        heading="Case not found",
        message="This is not one of your open cases.",
        home=f"{PREFIX}/peer",
    )


@router.get("")
async def my_cases(request: Request, who: Principal = Depends(peer_only)) -> Response:
    async with transaction() as session:
        rows = await _mine(session, who)
        check_ins = await _check_ins(session, [c.id for c, _ in rows])
        peer = await _peer_row(session, who)
        await audit.record(
            session, who, "case.list", "case", "mine", {"shown": [str(c.id) for c, _ in rows]}
        )
    cases = [_view(c, s, check_ins.get(c.id)) for c, s in rows]
    return render(request, who, "peer/cases.html", cases=cases, peer=peer, plain=plain)


async def _case_page(
    request: Request,
    who: Principal,
    case_id: uuid.UUID,
    status_code: int = 200,
    message: str | None = None,
    notice: str | None = None,
) -> Response:
    async with transaction() as session:
        rows = await _mine(session, who, case_id)
        if not rows:
            return not_found(request, who)
        case, clinician = rows[0]
        check_ins = await _check_ins(session, [case.id])
        await audit.record(session, who, "case.view", "case", str(case.id))
    return render(
        request,
        who,
        "peer/case.html",
        status_code=status_code,
        c=_view(case, clinician, check_ins.get(case.id)),
        plain=plain,
        outcomes=[(o.value, CONTACT_LABELS[o]) for o in ContactOutcome],
        can_record=case.state in CONTACT_STATES and case.contact_at is None,
        not_yet=NOT_YET,
        outcome_label=CONTACT_LABELS.get(ContactOutcome(case.outcome)) if case.outcome else None,
        message=message,
        notice=notice,
    )


@router.get("/cases/{case_id}")
async def one_case(
    request: Request,
    case_id: uuid.UUID,
    who: Principal = Depends(peer_only),
    done: int = Query(default=0, ge=0, le=1),
) -> Response:
    notice = "Recorded. Thank you for supporting your colleague." if done else None
    return await _case_page(request, who, case_id, notice=notice)


class Refused(Exception):
    """A contact record that cannot be taken in the case's state: said, not a 500."""


async def record_contact(
    session: AsyncSession, case: SupportCase, outcome: ContactOutcome, at: datetime
) -> list[str]:
    """Moves, fields and deadlines for one recorded contact; returns the states moved to.

    Idempotent: a contact already recorded is not recorded again (a double tap, a resent
    form). Only an escalation to Tier 3 is still taken afterwards, because a peer who
    realises a colleague is in danger must never be told "already recorded".
    """
    moved: list[str] = []

    async def go(to: CaseState, why: str) -> None:
        await move(session, case, to, why)
        moved.append(to.value)

    if case.contact_at is not None:
        if outcome is ContactOutcome.referred_tier3 and can_move(case.state, S.tier3_referred):
            await _to_tier3(session, case, go)
        return moved
    if case.state not in CONTACT_STATES:
        if case.state in BEFORE_CONTACT:
            raise Refused(NOT_YET)
        raise Refused(f"{plain(case.state)} Contact cannot be recorded now.")
    if case.state == S.clinician_accepted:
        await go(S.contact_made, f"peer recorded contact: {outcome.value}")
    case.contact_at = at
    case.outcome = outcome.value
    await flows.cancel_deadlines(session, case.id, ANSWERED_DEADLINES, "contact made")
    if outcome is ContactOutcome.follow_up_planned and case.state != S.follow_up:
        await go(S.follow_up, "peer will check in again")
    elif outcome is ContactOutcome.referred_tier3:
        await _to_tier3(session, case, go)
    elif outcome is ContactOutcome.clinician_declined_on_contact:
        # A decline ends outreach (domain.md): no more check-ins are texted. The case stays
        # open for the coordinator to close with a reason.
        await flows.cancel_deadlines(session, case.id, ("follow_up",), "declined on contact")
        await outbound.cancel_pending(session, case.id, ("follow_up",))
    return moved


Step = Callable[[CaseState, str], Awaitable[None]]


async def _to_tier3(session: AsyncSession, case: SupportCase, go: Step) -> None:
    """As the peer's SMS "R" does (peer_replies._refer): Tier 3, every deadline off, the
    coordinator texted to arrange the referral and the case flagged on their board."""
    await go(S.tier3_referred, "referred to Tier 3 by the peer")
    await flows.cancel_deadlines(session, case.id, flows.ALL_DEADLINES, "tier 3")
    await flows.tell_coordinator(
        session,
        get_settings(),
        case.id,
        texts.coordinator_referral(case_ref(case.id)),
        dedupe=f"console-tier3:{case.id}",
        why=Attention.referral,
    )


@router.post("/cases/{case_id}/contact")
async def contact(
    request: Request,
    case_id: uuid.UUID,
    who: Principal = Depends(peer_only),
    outcome: str = Form(default="", max_length=40),
) -> Response:
    try:
        chosen = ContactOutcome(outcome)
    except ValueError:
        return await _case_page(
            request, who, case_id, 422, message="Choose what happened, then record it."
        )
    try:
        async with transaction() as session:
            rows = await _mine(session, who, case_id)
            if not rows:
                return not_found(request, who)
            case, _ = rows[0]
            before = case.state
            already = case.contact_at is not None
            moved = await record_contact(session, case, chosen, clock.now())
            await audit.record(
                session,
                who,
                "case.contact" if not already else "case.contact_repeat",
                "case",
                str(case.id),
                {"outcome": chosen.value, "from": before, "moved": moved},
            )
    except (Refused, IllegalTransition) as exc:
        why = str(exc) if isinstance(exc, Refused) else "This case has moved on; reload it."
        return await _case_page(request, who, case_id, 409, message=why)
    return RedirectResponse(f"{PREFIX}/peer/cases/{case_id}?done=1", status_code=303)


@router.get("/pause")
async def pause_form(request: Request, who: Principal = Depends(peer_only)) -> Response:
    """The confirmation: what pausing does, before it is done."""
    async with transaction() as session:
        peer = await _peer_row(session, who)
        held = len(await _mine(session, who))
        await audit.record(session, who, "peer.view", "staff", str(who.staff_id))
    return render(request, who, "peer/pause.html", peer=peer, held=held)


@router.post("/pause")
async def pause(request: Request, who: Principal = Depends(peer_only)) -> Response:
    """No new pages from now. Pages offered and not yet answered go to the next peer at once
    (as a pass would); cases already taken stay with the peer: handing them on is the
    coordinator's decision, since the clinician may already know who will call."""
    async with transaction() as session:
        changed = bool(await flows.set_peer_paused(session, str(who.staff_id), True))
        await audit.record(
            session, who, "peer.paused", "staff", str(who.staff_id), {"changed": changed}
        )
    return RedirectResponse(f"{PREFIX}/peer?paused=1", status_code=303)


@router.post("/resume")
async def resume(request: Request, who: Principal = Depends(peer_only)) -> Response:
    async with transaction() as session:
        changed = bool(await flows.set_peer_paused(session, str(who.staff_id), False))
        await audit.record(
            session, who, "peer.resumed", "staff", str(who.staff_id), {"changed": changed}
        )
    return RedirectResponse(f"{PREFIX}/peer?resumed=1", status_code=303)
