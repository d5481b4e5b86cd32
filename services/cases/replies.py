"""Every inbound SMS, read and answered: STOP/START, crisis, a peer's answer to a page, a
clinician's answer to the offer, or help.

Crisis comes first, whoever writes: a clinician's case goes to Tier 3, a peer or a unit lead
is a colleague in crisis and the coordinator is paged about them. A reply becomes an action
only when the whole message reads as one (services/conversations/parsing/); anything else
gets the help text, and a person looks when it may show distress (for a clinician, always).
Every message gets an answer or a deliberate silence: `clinician_action` is the whole table of
(case state, reply kind). Functions take the caller's session and never commit.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from notifiers import templates
from schemas.events import PageAnswer, PageAnswered, PageState, SmsReceived
from services import outbox, texts
from services.cases import flows, outbound
from services.cases.attention import Attention
from services.cases.machine import BEFORE_OFFER, TERMINAL, CaseState, move
from services.cases.machine import OPEN_STATES as OPEN_CASE_STATES
from services.cases.models import Message, NumberOptOut
from services.cases.refs import case_ref
from services.clock import now
from services.config import Settings
from services.conversations.crisis import signals_crisis, signals_distress
from services.conversations.parsing import parse_offer_reply, parse_peer_reply
from services.logs import log
from services.paging.models import InboundSms, Page, SupportCase
from services.paging.service import OPEN_STATES as OPEN_PAGE_STATES
from services.paging.service import transition
from services.people.matching import locked_load
from services.people.models import Staff


async def handle_sms(session: AsyncSession, sms: SmsReceived, settings: Settings) -> str:
    """Route one inbound SMS: STOP/START, crisis, a peer's answer, a clinician's answer, help.

    Every message gets an answer or a deliberate silence (STOP, START, which the carrier
    answers itself). Returns what was done, for the log and the tests.
    """
    inbound = await session.get(InboundSms, sms.sms_id, with_for_update=True)
    if inbound is None or inbound.handled_at is not None:
        return "duplicate"
    inbound.handled_at = now()
    number = sms.from_number
    peer_pages = (
        await session.scalars(
            select(Page)
            .where(
                Page.to_number == number,
                Page.state.in_([*OPEN_PAGE_STATES, "accepted", "superseded"]),
                Page.requested_at > now() - timedelta(days=2),
            )
            .order_by(Page.requested_at.desc())
            .with_for_update()
        )
    ).all()
    sender = await session.scalar(
        select(Staff).where(Staff.mobile_e164 == number, Staff.active.is_(True))
    )
    case = await _clinician_case(session, sender) if sender is not None else None
    upper = " ".join(sms.body.upper().split())
    if upper in ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"):
        await _stop(session, number)
        return "stop"
    if upper in ("START", "UNSTOP"):
        await _start(session, number)
        return "start"
    if upper == "YES":
        await _start(session, number)  # carriers re-subscribe a number on YES; so do we
    if signals_crisis(sms.body):
        return await _crisis(session, sms, settings, sender, case, list(peer_pages))
    open_pages = [p for p in peer_pages if p.state in OPEN_PAGE_STATES]
    if open_pages or (peer_pages and (case is None or case.state in TERMINAL)):
        return await _peer_reply(session, number, list(peer_pages), sms, settings, sender)
    if case is not None and sender is not None:
        return await _clinician_reply(session, case, sender, sms, settings)
    await _answer(session, sms, "help", await texts.text_for(session, sender, "help_text"))
    return "help"


async def _clinician_case(session: AsyncSession, clinician: Staff) -> SupportCase | None:
    """The case a clinician's SMS is about: their newest open case, else their newest case of
    the last two weeks (a reply after a decline still deserves an answer), locked."""
    cases = (
        await session.scalars(
            select(SupportCase)
            .where(
                SupportCase.staff_id == clinician.staff_id,
                SupportCase.created_at > now() - timedelta(days=14),
            )
            .order_by(SupportCase.updated_at.desc())
            .with_for_update()
        )
    ).all()
    return next((c for c in cases if c.state in OPEN_CASE_STATES), None) or next(iter(cases), None)


async def _answer(
    session: AsyncSession,
    sms: SmsReceived,
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


async def _new_reply_to_coordinator(
    session: AsyncSession, settings: Settings, case_id: uuid.UUID, sms: SmsReceived
) -> None:
    """A reply while a person holds the case: the coordinator hears of it (never its words)."""
    await flows.tell_coordinator(
        session,
        settings,
        case_id,
        templates.coordinator_new_reply(case_ref(case_id)),
        str(sms.sms_id),
        why=Attention.new_reply,
    )


async def _ask_for_a_look(
    session: AsyncSession,
    settings: Settings,
    case_id: uuid.UUID,
    sms: SmsReceived,
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
        templates.coordinator_look(case_ref(case_id), distress),
        dedupe=str(sms.sms_id),
        why=Attention.distress if distress else Attention.unread_reply,
    )
    log().info("case.needs_a_look", case_id=str(case_id), distress=distress)


async def _to_peer(
    session: AsyncSession,
    case_id: uuid.UUID,
    peer_number: str | None,
    kind: str,
    body: str,
    sms: SmsReceived,
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


async def _stop(session: AsyncSession, number: str) -> None:
    """STOP: nothing more to this number, and nothing that still assumes we can text it.

    A clinician's open cases move to `opted_out` for the coordinator (a peer holding one is
    stood down); a peer's open pages are passed on at once rather than waiting out the step.
    """
    await session.execute(insert(NumberOptOut).values(number=number).on_conflict_do_nothing())
    await session.execute(
        update(Message)
        .where(Message.to_number == number, Message.state == "queued")
        .values(state="suppressed")
    )
    clinician = await session.scalar(
        select(Staff).where(Staff.mobile_e164 == number, Staff.active.is_(True))
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
    await _withdraw_pages(session, number, "stop")


async def _withdraw_pages(session: AsyncSession, number: str, why: str) -> list[uuid.UUID]:
    """A peer who can no longer take cases (STOP, their own crisis): each open page of theirs
    is passed on at once. Returns the cases they had accepted and still hold."""
    pages = (
        await session.scalars(
            select(Page)
            .where(
                Page.to_number == number,
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
        page.answered_at = now()
        transition(session, page.id, "declined", withdrawn=why)
        await flows.escalate_now(session, page.case_id, page.id)
    return held


async def _start(session: AsyncSession, number: str) -> None:
    await session.execute(delete(NumberOptOut).where(NumberOptOut.number == number))


async def _crisis(
    session: AsyncSession,
    sms: SmsReceived,
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
    # default text for a number the directory does not know.
    await _answer(
        session, sms, "crisis_reply", await texts.text_for(session, sender, "crisis_reply")
    )
    own_case = case if case is not None and case.state in OPEN_CASE_STATES else None
    if own_case is not None:
        await flows.tell_coordinator(
            session,
            settings,
            own_case.id,
            templates.coordinator_crisis(case_ref(own_case.id)),
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
        body = templates.coordinator_unknown_crisis(sms.from_number)
    else:
        role = "peer supporter" if peer_pages else "staff member"
        body = templates.coordinator_staff_crisis(role, sender.display_name, sender.staff_id)
    await flows.tell_coordinator(
        session,
        settings,
        None,
        body,
        dedupe=str(sms.sms_id),
        why=Attention.crisis,
        staff_id=sender.staff_id if sender is not None else None,
    )
    held = await _withdraw_pages(session, sms.from_number, "crisis")
    for case_id in held:
        await flows.hand_to_next_peer(session, case_id, settings, "peer withdrew")
    log().warning("staff.crisis", pages=len(peer_pages), handed_on=len(held))
    return "crisis"


async def _peer_reply(
    session: AsyncSession,
    number: str,
    pages: list[Page],
    sms: SmsReceived,
    settings: Settings,
    peer: Staff | None,
) -> str:
    """`peer` is the directory's owner of `number`, whose language the answers are in."""
    reply = parse_peer_reply(sms.body)
    if reply.kind == "stop":
        await _stop(session, number)
        return "stop"
    if reply.kind in ("help", "unknown", "start", "crisis"):
        await _answer(session, sms, "help", await texts.text_for(session, peer, "peer_help"))
        if reply.kind == "unknown" and pages:
            await _ask_for_a_look(session, settings, pages[0].case_id, sms, False)
        return "help"
    if reply.code is not None:
        page = next((p for p in pages if p.reply_code == reply.code), None)
    elif reply.kind == "refer":  # a bare R: the case this peer took, else the newest page
        page = next((p for p in pages if p.state == "accepted"), None) or next(
            (p for p in pages if p.state in OPEN_PAGE_STATES), None
        )
    else:
        page = next((p for p in pages if p.state in OPEN_PAGE_STATES), None)
    if page is None:
        gone = await texts.text_for(session, peer, "peer_no_such_page")
        await _answer(session, sms, "help", gone)
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
        await _answer(session, sms, "taken", await texts.text_for(session, peer, "page_taken"))
        if page.state in OPEN_PAGE_STATES:
            page.state = "superseded"
            transition(session, page.id, "superseded", sms_id=str(sms.sms_id))
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
    page.answered_at = now()
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
        await _answer(session, sms, "over_limit", full)
        await flows.escalate_now(session, case.id, page.id)
        return "over limit"
    clinician = await session.get(Staff, case.staff_id)
    assert clinician is not None
    if answer == PageAnswer.declined:
        await flows.escalate_now(session, case.id, page.id)
        await _answer(session, sms, "ack", await texts.text_for(session, peer, "pass_ack"), case.id)
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
    sms: SmsReceived,
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
        templates.coordinator_referral(case_ref(case.id)),
        dedupe=str(sms.sms_id),
        why=Attention.referral,
    )
    await _answer(session, sms, "ack", await texts.text_for(session, peer, "referral_ack"), case.id)
    return "referred"


class ClinicianAction(StrEnum):
    """What a clinician's reply does, decided by the case's state and the reply's kind."""

    ACCEPT = "accept"  # offer taken: peer told to call, follow-ups scheduled
    DEFER = "defer"  # a new time for the offer (a second "later" too)
    DECLINE = "decline"  # outreach ends, one resource message
    PENDING = "pending"  # not offered yet: thanked, told a peer will reach out
    DECLINE_EARLY = "decline_early"  # "no thanks" before the offer: ends outreach all the same
    CALL_AGAIN = "call_again"  # during follow-ups: the peer is asked to call (again)
    LATER_AGAIN = "later_again"  # during follow-ups: the peer is told when to call
    END_FOLLOW_UPS = "end_follow_ups"  # during follow-ups: no more check-ins, case closed
    TO_COORDINATOR = "to_coordinator"  # a person holds the case: thanked, coordinator told
    REOPEN = "reopen"  # asks for support after the case ended: thanked, coordinator told
    SILENT = "silent"  # a repeated "no" after a decline, a thanks: deliberately no answer
    EXPLAIN = "explain"  # wholly a question about us: who we are and what a peer does
    HELP = "help"  # not understood: the help text for this stage


_OFFERED = (CaseState.clinician_offered, CaseState.deferred)
_CONTACT = (CaseState.clinician_accepted, CaseState.contact_made, CaseState.follow_up)
_HELD = (CaseState.waiting_coordinator, CaseState.opted_out, CaseState.tier3_referred)


def clinician_action(state: str, kind: str) -> ClinicianAction:
    """The whole table, every (state, reply kind); crisis, STOP and START never reach it."""
    a = ClinicianAction
    if kind in ("help", "unknown"):
        return a.HELP
    if kind == "question":
        return a.EXPLAIN
    if kind == "acknowledge":  # a thanks is no answer to an offer still open: ask again
        return a.HELP if state in _OFFERED else a.SILENT
    if state in _OFFERED:
        return {"accept": a.ACCEPT, "defer": a.DEFER, "decline": a.DECLINE}.get(kind, a.HELP)
    if state in _CONTACT:
        table = {"accept": a.CALL_AGAIN, "defer": a.LATER_AGAIN, "decline": a.END_FOLLOW_UPS}
        return table.get(kind, a.HELP)
    if state in _HELD:
        return (
            a.DECLINE_EARLY
            if kind == "decline" and state == CaseState.waiting_coordinator
            else (a.TO_COORDINATOR if kind in ("accept", "defer", "decline") else a.HELP)
        )
    if state in BEFORE_OFFER:
        if kind == "decline":
            return a.DECLINE_EARLY
        return a.PENDING if kind in ("accept", "defer") else a.HELP
    # declined or closed
    if kind == "accept":
        return a.REOPEN
    return a.SILENT if kind == "decline" else a.HELP


async def _clinician_reply(
    session: AsyncSession,
    case: SupportCase,
    clinician: Staff,
    sms: SmsReceived,
    settings: Settings,
) -> str:
    unit = await flows.unit_of(session, clinician.home_unit)
    zone = ZoneInfo(unit.time_zone if unit else "UTC")
    reply = parse_offer_reply(sms.body, now(), zone)
    if reply.kind == "stop":  # "please stop texting me": honoured like STOP
        await _stop(session, clinician.mobile_e164)
        return "stop"
    if reply.kind == "start":
        await _start(session, clinician.mobile_e164)
        return "start"
    action = clinician_action(case.state, reply.kind)
    peer = await session.scalar(
        select(Page).where(Page.case_id == case.id, Page.state == "accepted").limit(1)
    )
    peer_number = peer.to_number if peer is not None else None
    peer_id = peer.peer_staff_id if peer is not None else None
    peer_staff = await session.get(Staff, peer_id) if peer_id is not None else None
    peer_first = flows.first_name(peer_staff) if peer_staff is not None else None
    ref = case_ref(case.id)

    async def to_clinician(kind: str, **values: object) -> str:
        return await texts.text_for(session, clinician, kind, **values)

    async def to_peer(kind: str, **values: object) -> str:
        return await texts.text_for(session, peer_staff, kind, **values)

    async def thanks() -> str:
        if peer_first is None:
            return await to_clinician("clinician_accepted_ack_team")
        return await to_clinician("clinician_accepted_ack", peer_first_name=peer_first)

    A = ClinicianAction
    if action == A.ACCEPT:
        await move(session, case, CaseState.clinician_accepted, "clinician accepted contact")
        await flows.cancel_deadlines(session, case.id, flows.OFFER_DEADLINES, "answered")
        await outbound.cancel_pending(session, case.id, ("offer_reminder", "offer"))
        await _answer(session, sms, "ack", await thanks(), case.id)
        if peer_number is not None:
            call = await to_peer("peer_go", first_name=flows.first_name(clinician))
            await _to_peer(session, case.id, peer_number, "peer_go", call, sms)
        for n, after in enumerate(flows.FOLLOW_UPS, start=1):
            await flows.schedule(session, case.id, "follow_up", now() + after, n=n)
        return "clinician accepted"
    if action in (A.DEFER, A.LATER_AGAIN) and reply.until is not None:
        quiet = (settings.quiet_start_hour, settings.quiet_end_hour)
        until = flows.promised_time(reply.until, now(), zone, quiet)
        local = until.astimezone(zone).strftime("%a %H:%M")
        if action == A.DEFER:
            case.deferred_until = until
            await move(session, case, CaseState.deferred, "clinician asked for later")
            await flows.cancel_deadlines(session, case.id, flows.OFFER_DEADLINES, "deferred")
            await outbound.cancel_pending(session, case.id, ("offer_reminder", "offer"))
            await flows.schedule(session, case.id, "reoffer", until)
        ack = "deferral_ack" if until == reply.until else "deferral_ack_quiet"
        await _answer(session, sms, "ack", await to_clinician(ack, time=local), case.id)
        if peer_number is not None:
            wait = await to_peer("peer_wait", first_name=flows.first_name(clinician), time=local)
            await _to_peer(session, case.id, peer_number, "peer_wait", wait, sms)
        return "deferred" if action == A.DEFER else "later again"
    if action in (A.DECLINE, A.DECLINE_EARLY):
        await move(session, case, CaseState.declined, "clinician declined")
        await flows.cancel_deadlines(session, case.id, flows.ALL_DEADLINES, "declined")
        await outbound.cancel_pending(session, case.id, ("offer_reminder", "offer", "follow_up"))
        await flows.supersede_open_pages(session, case.id, reason="clinician declined")
        await outbound.enqueue(
            session,
            kind="resources",
            case_id=case.id,
            to_number=clinician.mobile_e164,
            body=await to_clinician("resources"),
        )
        if peer_number is not None:
            stand_down = await to_peer("peer_stand_down")
            await _to_peer(session, case.id, peer_number, "peer_stand_down", stand_down, sms)
        return "declined"
    if action == A.PENDING:
        await _answer(session, sms, "ack", await to_clinician("clinician_pending"), case.id)
        return "pending"
    if action == A.CALL_AGAIN:
        await _answer(session, sms, "ack", await thanks(), case.id)
        if peer_number is not None:
            call = await to_peer("peer_go", first_name=flows.first_name(clinician))
            await _to_peer(session, case.id, peer_number, "peer_go", call, sms)
        else:
            await _new_reply_to_coordinator(session, settings, case.id, sms)
        return "call again"
    if action == A.END_FOLLOW_UPS:
        await flows.cancel_deadlines(session, case.id, ("follow_up",), "clinician said no")
        await outbound.cancel_pending(session, case.id, ("follow_up",))
        await move(session, case, CaseState.closed, "clinician asked for no more check-ins")
        await _answer(session, sms, "ack", await to_clinician("follow_up_ended"), case.id)
        return "follow-ups ended"
    if action in (A.TO_COORDINATOR, A.REOPEN):
        await _answer(session, sms, "ack", await to_clinician("clinician_team_will_call"), case.id)
        await _new_reply_to_coordinator(session, settings, case.id, sms)
        return "to coordinator"
    if action == A.EXPLAIN:
        await _answer(session, sms, "help", await to_clinician("about_us"), case.id)
        if "wrong" in sms.body.lower():
            # "Wrong number": the directory may have texted someone else about a colleague.
            await flows.tell_coordinator(
                session,
                settings,
                case.id,
                templates.coordinator_wrong_number(ref),
                dedupe=str(sms.sms_id),
                why=Attention.wrong_number,
            )
        return "explained"
    if action == A.SILENT:
        return "noted"  # "no" again after a decline, or a thanks: nothing more is sent
    # HELP, or a deferral whose time could not be placed.
    if reply.kind == "unknown":
        await _ask_for_a_look(session, settings, case.id, sms, True)
    if case.state in _CONTACT:
        help_text = await to_clinician("follow_up_help")
    elif case.state in _OFFERED:
        help_text = await to_clinician("clinician_help")
    else:
        help_text = await to_clinician("clinician_pending")
    await _answer(session, sms, "help", help_text, case.id)
    return "help"
