"""What answering any inbound SMS may do, shared by the readers of a peer's and a
clinician's reply: answer the sender once, tell the coordinator (never the words), tell the
peer holding the case, and honour STOP and START."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services import clock, texts
from services.cases import flows, outbound
from services.cases.attention import Attention
from services.cases.inbound import InboundText
from services.cases.machine import OPEN_STATES as OPEN_CASE_STATES
from services.cases.models import Message, NumberOptOut
from services.cases.refs import case_ref
from services.config import Settings
from services.conversations.crisis import signals_distress
from services.limits import may_send_help
from services.logs import log
from services.paging.models import OPEN_STATES as OPEN_PAGE_STATES
from services.paging.models import Page, SupportCase
from services.paging.service import transition
from services.people.models import Staff


async def answer_sender(
    session: AsyncSession,
    sms: InboundText,
    kind: str,
    body: str,
    case_id: uuid.UUID | None = None,
) -> None:
    """Reply to whoever sent `sms`, at most once per inbound message."""
    await outbound.enqueue(
        session,
        kind=kind,
        case_id=case_id,
        to_number=sms.from_number,
        body=body,
        dedupe=str(sms.sms_id),
    )


async def answer_help(
    session: AsyncSession,
    settings: Settings,
    sms: InboundText,
    body: str,
    case_id: uuid.UUID | None = None,
) -> bool:
    """answer_sender with a help text, unless the sender's number has had its share
    (services.limits.may_send_help): an auto-responder loop ends. True when one was queued."""
    if not await may_send_help(session, sms.from_number, settings):
        log().info("sms.unanswered", sms_id=str(sms.sms_id), reason="help texts at their cap")
        return False
    await answer_sender(session, sms, "help", body, case_id)
    return True


async def new_reply_to_coordinator(
    session: AsyncSession, settings: Settings, case_id: uuid.UUID, sms: InboundText
) -> None:
    """A reply while a person holds the case: the coordinator hears of it (never its words)."""
    await flows.tell_coordinator(
        session,
        settings,
        case_id,
        texts.coordinator_new_reply(case_ref(case_id)),
        str(sms.sms_id),
        why=Attention.new_reply,
    )


async def ask_for_a_look(
    session: AsyncSession,
    settings: Settings,
    case_id: uuid.UUID,
    sms: InboundText,
    unread_is_enough: bool,
) -> None:
    """A reply we could not read: a person looks when it has words of distress, and for a
    clinician (`unread_is_enough`) even without them. Crisis detection misses wording it has
    never seen (see benchmarks/crisis.py, first sight on held-out sets); a clinician just after
    an adverse event whose reply we cannot read is worth a coordinator's look. The coordinator
    gets the case reference, never the words."""
    distress = signals_distress(sms.body)
    if not (distress or unread_is_enough):
        return
    await flows.tell_coordinator(
        session,
        settings,
        case_id,
        texts.coordinator_look(case_ref(case_id), distress),
        dedupe=str(sms.sms_id),
        why=Attention.distress if distress else Attention.unread_reply,
    )
    log().info("case.needs_a_look", case_id=str(case_id), distress=distress)


async def tell_peer(
    session: AsyncSession,
    case_id: uuid.UUID,
    peer_number: str | None,
    kind: str,
    body: str,
    sms: InboundText,
) -> None:
    """Tell the peer holding the case (if one does) what the clinician's reply means for them."""
    if peer_number is not None:
        await outbound.enqueue(
            session,
            kind=kind,
            case_id=case_id,
            to_number=peer_number,
            body=body,
            dedupe=str(sms.sms_id),
        )


async def stop_number(session: AsyncSession, number: str) -> None:
    """STOP: nothing more to this number, and nothing that still assumes we can text it.

    A clinician's open cases move to `opted_out` for the coordinator (a peer holding one is
    stood down); a peer's open pages are passed on at once rather than waiting out the step.
    """
    await session.execute(
        insert(NumberOptOut).values(number_key=number, number=number).on_conflict_do_nothing()
    )
    await session.execute(
        update(Message)
        .where(Message.to_number_key == number, Message.state == "queued")
        .values(state="suppressed")
    )
    clinician = await session.scalar(
        select(Staff).where(Staff.mobile_key == number, Staff.active.is_(True))
    )
    if clinician is not None:
        cases = (
            await session.scalars(
                select(SupportCase)
                .where(
                    SupportCase.staff_id == clinician.staff_id,
                    SupportCase.state.in_(list(OPEN_CASE_STATES)),
                )
                .order_by(SupportCase.id)
                .with_for_update()
            )
        ).all()
        for case in cases:
            await flows.opt_out_case(session, case, "clinician sent STOP")
    await withdraw_pages(session, number, "stop")


async def withdraw_pages(session: AsyncSession, number: str, why: str) -> list[uuid.UUID]:
    """A peer who can no longer take cases (STOP, their own crisis): each open page of theirs
    is passed on at once. Returns the cases they had accepted and still hold."""
    pages = (
        await session.scalars(
            select(Page)
            .where(
                Page.to_number_key == number,
                Page.peer_staff_id.is_not(None),
                Page.state.in_([*OPEN_PAGE_STATES, "accepted"]),
            )
            .order_by(Page.id)
            .with_for_update()
        )
    ).all()
    held: list[uuid.UUID] = []
    for page in pages:
        if page.state == "accepted":
            held.append(page.case_id)
            continue
        page.state = "declined"
        page.answered_at = clock.now()
        transition(session, page.id, "declined", withdrawn=why)
        await flows.escalate_now(session, page.case_id, page.id)
    return held


async def start_number(session: AsyncSession, number: str) -> None:
    await session.execute(delete(NumberOptOut).where(NumberOptOut.number_key == number))
