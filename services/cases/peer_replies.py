"""A peer's answer to a page: accept, pass or refer to Tier 3, checked against the page
still being open and the peer's case limit."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.events import PageAnswer, PageAnswered
from services import clock, outbox, texts
from services.cases import flows, outbound
from services.cases.answers import (
    answer_help,
    answer_sender,
    ask_for_a_look,
    stop_number,
)
from services.cases.attention import Attention
from services.cases.inbound import InboundText
from services.cases.machine import OPEN_STATES as OPEN_CASE_STATES
from services.cases.machine import CaseState, move
from services.cases.refs import case_ref
from services.config import Settings
from services.conversations.parsing import parse_peer_reply
from services.paging.models import OPEN_STATES as OPEN_PAGE_STATES
from services.paging.models import InboundSms, Page, PageState, SupportCase
from services.paging.service import transition
from services.people.matching import locked_load
from services.people.models import Staff


async def _taken_and_open(session: AsyncSession, pages: list[Page]) -> Page | None:
    """The newest page the peer accepted whose case is still open. Not just the newest
    accepted page: a case they took later may already be closed, and a bare R is about the
    person they are still supporting."""
    accepted = [p for p in pages if p.state == PageState.accepted]
    if not accepted:
        return None
    states = dict(
        (
            await session.execute(
                select(SupportCase.id, SupportCase.state).where(
                    SupportCase.id.in_({p.case_id for p in accepted})
                )
            )
        ).all()
    )
    return next((p for p in accepted if states.get(p.case_id) in OPEN_CASE_STATES), None)


async def handle_peer_reply(
    session: AsyncSession,
    number: str,
    pages: list[Page],
    sms: InboundText,
    settings: Settings,
    peer: Staff | None,
) -> str:
    """`peer` is the directory's owner of `number`, whose language the answers are in."""
    reply = parse_peer_reply(sms.body)
    if reply.kind == "stop":
        await stop_number(session, number)
        return "stop"
    if reply.kind in ("help", "unknown", "start", "crisis"):
        helped = await answer_help(
            session, settings, sms, await texts.text_for(session, peer, "peer_help")
        )
        if reply.kind == "unknown" and pages:
            await ask_for_a_look(session, settings, pages[0].case_id, sms, False)
        return "help" if helped else "unanswered"
    if reply.code is not None:
        # A code names the open page that carries it first: an older, answered or
        # superseded page may have had the same code (codes are reused once freed).
        named = [p for p in pages if p.reply_code == reply.code]
        page = next((p for p in named if p.state in OPEN_PAGE_STATES), None) or next(
            iter(named), None
        )
    elif reply.kind == "refer":  # a bare R: the open case this peer took, else the newest page
        page = await _taken_and_open(session, pages) or next(
            (p for p in pages if p.state in OPEN_PAGE_STATES), None
        )
    else:
        page = next((p for p in pages if p.state in OPEN_PAGE_STATES), None)
    if page is None:
        gone = await texts.text_for(session, peer, "peer_no_such_page")
        await answer_help(session, settings, sms, gone)
        return "no such page"
    case = await session.get(SupportCase, page.case_id, with_for_update=True)
    assert case is not None
    if reply.kind == "refer" and page.state == "accepted" and case.state in OPEN_CASE_STATES:
        # The peer who took the case, after talking with the clinician: Tier 3 now.
        return await _refer(session, case, settings, sms, peer)
    if page.state not in OPEN_PAGE_STATES or case.state not in (
        CaseState.peer_paged,
        CaseState.waiting_coordinator,
        CaseState.tier1_notified,
        CaseState.identified,
    ):
        await answer_sender(
            session, sms, "taken", await texts.text_for(session, peer, "page_taken")
        )
        if page.state in OPEN_PAGE_STATES:
            page.state = PageState.superseded
            transition(session, page.id, PageState.superseded, sms_id=str(sms.sms_id))
        return "already taken"
    inbound = await session.get(InboundSms, sms.sms_id)
    if inbound is not None:
        inbound.page_id = page.id
    answer = {
        "accept": PageAnswer.accepted,
        "pass": PageAnswer.declined,
        "refer": PageAnswer.referred,
    }[reply.kind]
    over: tuple[int, int] | None = None
    if answer == PageAnswer.accepted and page.peer_staff_id is not None:
        # The limit again, at acceptance, counted by the store under the peer's lock: a
        # peer paged before a limit was lowered, or over it, is thanked and the case moves
        # on to the next peer at once.
        load = await locked_load(session, page.peer_staff_id, accepted_only=True, excluding=page.id)
        if load is not None and load[0] >= load[1]:
            answer, over = PageAnswer.declined, load
    page.state = PageState.accepted if answer == PageAnswer.accepted else PageState.declined
    page.answered_at = clock.now()
    detail: dict[str, object] = {"sms_id": str(sms.sms_id), "answer": answer.value}
    if over is not None:
        detail["over_limit"] = f"{over[0]}/{over[1]}"
    transition(session, page.id, page.state, **detail)
    await outbox.add(
        session,
        PageAnswered(page_id=page.id, case_id=case.id, answer=answer, sms_id=sms.sms_id),
    )
    if over is not None:
        full = await texts.text_for(session, peer, "over_limit", open_cases=over[0])
        await answer_sender(session, sms, "over_limit", full)
        await flows.escalate_now(session, case.id, page.id)
        return "over limit"
    clinician = await session.get(Staff, case.staff_id)
    assert clinician is not None
    if answer == PageAnswer.declined:
        await flows.escalate_now(session, case.id, page.id)
        await answer_sender(
            session, sms, "ack", await texts.text_for(session, peer, "pass_ack"), case.id
        )
        return "passed"
    if answer == PageAnswer.referred:
        return await _refer(session, case, settings, sms, peer)
    await move(session, case, CaseState.peer_accepted, "peer accepted the page")
    await flows.cancel_deadlines(session, case.id, ("page_timeout",), "answered")
    # Other peers still holding a page for this case are told it is taken.
    await flows.supersede_open_pages(session, case.id, reason="another peer took the case")
    # Minimum necessary: the peer learns who and how only now, after accepting.
    await outbound.enqueue(
        session,
        kind="peer_details",
        case_id=case.id,
        to_number=number,
        body=await texts.text_for(
            session,
            peer,
            "peer_details",
            first_name=flows.first_name(clinician),
            number=clinician.mobile_e164,
        ),
    )
    await flows.offer(session, case, clinician, settings, again=False)
    return "accepted"


async def _refer(
    session: AsyncSession,
    case: SupportCase,
    settings: Settings,
    sms: InboundText,
    peer: Staff | None,
) -> str:
    await move(session, case, CaseState.tier3_referred, "referred to Tier 3 by the peer")
    await flows.cancel_deadlines(
        session,
        case.id,
        flows.ALL_DEADLINES,
        "tier 3",
    )
    await flows.tell_coordinator(
        session,
        settings,
        case.id,
        texts.coordinator_referral(case_ref(case.id)),
        dedupe=str(sms.sms_id),
        why=Attention.referral,
    )
    await answer_sender(
        session, sms, "ack", await texts.text_for(session, peer, "referral_ack"), case.id
    )
    return "referred"
