"""Every inbound SMS, read and answered: STOP/START, crisis, a peer's answer to a page, a
clinician's answer to the offer, or help.

Crisis comes first, whoever writes: a clinician's case goes to Tier 3, a peer or a unit lead
is a colleague in crisis and the coordinator is paged about them. A reply becomes an action
only when the whole message reads as one (services/conversations/parsing/); anything else
gets the help text, and a person looks when it may show distress (for a clinician, always).
Every message gets an answer or a deliberate silence: `clinician_action` is the whole table of
(case state, reply kind). A number the product does not know is answered at most a few times
a day (services.limits.may_answer_unknown), so a loop with an auto-responder ends.
Functions take the caller's session and never commit.

Here: the routing and crisis, which come before any reading. A peer's answer is read in
peer_replies.py, a clinician's in clinician_replies.py; what both may do is in answers.py.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services import clock, texts
from services.cases import flows
from services.cases.answers import (
    answer_help,
    answer_sender,
    start_number,
    stop_number,
    withdraw_pages,
)
from services.cases.attention import Attention
from services.cases.clinician_replies import handle_clinician_reply
from services.cases.inbound import InboundText
from services.cases.machine import OPEN_STATES as OPEN_CASE_STATES
from services.cases.machine import TERMINAL, CaseState, move
from services.cases.peer_replies import handle_peer_reply
from services.cases.refs import case_ref
from services.config import Settings
from services.conversations.crisis import signals_crisis
from services.limits import may_answer_unknown
from services.logs import log
from services.paging.models import OPEN_STATES as OPEN_PAGE_STATES
from services.paging.models import Page, PageState, SupportCase
from services.people.models import Staff


async def handle_sms(session: AsyncSession, sms: InboundText, settings: Settings) -> str:
    """Route one inbound SMS: STOP/START, crisis, a peer's answer, a clinician's answer, help.

    Every message gets an answer or a deliberate silence (STOP, START, which the carrier
    answers itself; a number we do not know past its cap of answers). Returns what was
    done, for the log and the tests. `sms` is what inbound.claim took: its row is locked
    and marked handled in the caller's transaction.
    """
    number = sms.from_number
    # Locked in id order, the one every locker of several pages uses (claims, callbacks,
    # recording a batch): in requested_at order this deadlocked with the page sweep.
    locked = (
        await session.scalars(
            select(Page)
            .where(
                Page.to_number_key == number,
                Page.state.in_([*OPEN_PAGE_STATES, "accepted", PageState.superseded]),
                Page.requested_at > clock.now() - timedelta(days=2),
            )
            .order_by(Page.id)
            .with_for_update()
        )
    ).all()
    peer_pages = sorted(locked, key=lambda p: p.requested_at, reverse=True)
    sender = await session.scalar(
        select(Staff).where(Staff.mobile_key == number, Staff.active.is_(True))
    )
    case = await _clinician_case(session, sender) if sender is not None else None
    upper = " ".join(sms.body.upper().split())
    if upper in ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"):
        await stop_number(session, number)
        return "stop"
    if upper in ("START", "UNSTOP"):
        await start_number(session, number)
        return "start"
    if upper == "YES":
        await start_number(session, number)  # carriers re-subscribe a number on YES; so do we
    if signals_crisis(sms.body):
        return await _crisis(session, sms, settings, sender, case, list(peer_pages))
    open_pages = [p for p in peer_pages if p.state in OPEN_PAGE_STATES]
    if open_pages or (peer_pages and (case is None or case.state in TERMINAL)):
        return await handle_peer_reply(session, number, list(peer_pages), sms, settings, sender)
    if case is not None and sender is not None:
        return await handle_clinician_reply(session, case, sender, sms, settings)
    if sender is None and not await may_answer_unknown(session, number, settings):
        # A number we do not know, answered as often as the window allows: an auto-responder
        # answering our help text must not get it back for ever (services/limits.py).
        log().info("sms.unanswered", sms_id=str(sms.sms_id), reason="unknown number at its cap")
        return "unanswered"
    help_text = await texts.text_for(session, sender, "help_text")
    return "help" if await answer_help(session, settings, sms, help_text) else "unanswered"


async def _clinician_case(session: AsyncSession, clinician: Staff) -> SupportCase | None:
    """The case a clinician's SMS is about: their newest open case, else their newest case of
    the last two weeks (a reply after a decline still deserves an answer), locked."""
    cases = (
        await session.scalars(
            select(SupportCase)
            .where(
                SupportCase.staff_id == clinician.staff_id,
                SupportCase.created_at > clock.now() - timedelta(days=14),
            )
            .order_by(SupportCase.id)  # id order, as every locker of several cases
            .with_for_update()
        )
    ).all()
    cases = sorted(cases, key=lambda c: c.updated_at, reverse=True)
    return next((c for c in cases if c.state in OPEN_CASE_STATES), None) or next(iter(cases), None)


async def _crisis(
    session: AsyncSession,
    sms: InboundText,
    settings: Settings,
    sender: Staff | None,
    case: SupportCase | None,
    peer_pages: list[Page],
) -> str:
    """Whoever writes it, a sign of crisis reaches a human at once, with the crisis line.

    A clinician's case goes to Tier 3. A peer (or a unit lead, or anyone on staff) is a
    colleague in crisis: the coordinator is paged about them by name, and any case the peer
    was paged for or holds goes to the next peer now instead of waiting out a step.
    """
    # The crisis line of their own site, in their language; the programme's line and the
    # default text for a number the directory does not know, within that number's cap of
    # answers (one crisis reply a window even over it; the coordinator is told either way).
    unknown = sender is None and not peer_pages
    if not unknown or await may_answer_unknown(session, sms.from_number, settings, crisis=True):
        await answer_sender(
            session, sms, "crisis_reply", await texts.text_for(session, sender, "crisis_reply")
        )
    else:
        log().info("sms.unanswered", sms_id=str(sms.sms_id), reason="unknown number at its cap")
    own_case = case if case is not None and case.state in OPEN_CASE_STATES else None
    if own_case is not None:
        await flows.tell_coordinator(
            session,
            settings,
            own_case.id,
            texts.coordinator_crisis(case_ref(own_case.id)),
            dedupe=str(sms.sms_id),
            why=Attention.crisis,
        )
        if own_case.state != CaseState.tier3_referred:
            await move(session, own_case, CaseState.tier3_referred, "crisis signalled in a reply")
            await flows.cancel_deadlines(session, own_case.id, flows.ALL_DEADLINES, "tier 3")
            await flows.supersede_open_pages(session, own_case.id, reason="tier 3")
        log().warning("case.crisis", case_id=str(own_case.id))
        return "crisis"
    if sender is None:
        body = texts.coordinator_unknown_crisis(sms.from_number)
    else:
        role = "peer supporter" if peer_pages else "staff member"
        body = texts.coordinator_staff_crisis(role, sender.display_name, sender.staff_id)
    await flows.tell_coordinator(
        session,
        settings,
        None,
        body,
        dedupe=str(sms.sms_id),
        why=Attention.crisis,
        staff_id=sender.staff_id if sender is not None else None,
    )
    held = await withdraw_pages(session, sms.from_number, "crisis")
    for case_id in held:
        await flows.hand_to_next_peer(session, case_id, settings, "peer withdrew")
    log().warning("staff.crisis", pages=len(peer_pages), handed_on=len(held))
    return "crisis"
