"""A clinician's answer to the offer of a peer, as the whole table of (case state, reply
kind): `clinician_action` decides, `handle_clinician_reply` carries it out."""

from __future__ import annotations

from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services import clock, texts
from services.cases import flows, outbound
from services.cases.answers import (
    answer_help,
    answer_sender,
    ask_for_a_look,
    new_reply_to_coordinator,
    start_number,
    stop_number,
    tell_peer,
)
from services.cases.attention import Attention
from services.cases.inbound import InboundText
from services.cases.machine import BEFORE_OFFER, CaseState, move
from services.cases.refs import case_ref
from services.config import Settings
from services.conversations.parsing import parse_offer_reply
from services.paging.models import Page, SupportCase
from services.people.models import Staff


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


async def handle_clinician_reply(
    session: AsyncSession,
    case: SupportCase,
    clinician: Staff,
    sms: InboundText,
    settings: Settings,
) -> str:
    unit = await flows.unit_of(session, clinician.home_unit)
    zone = ZoneInfo(unit.time_zone if unit else "UTC")
    reply = parse_offer_reply(sms.body, clock.now(), zone)
    if reply.kind == "stop":  # "please stop texting me": honoured like STOP
        await stop_number(session, clinician.mobile_e164)
        return "stop"
    if reply.kind == "start":
        await start_number(session, clinician.mobile_e164)
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
        await answer_sender(session, sms, "ack", await thanks(), case.id)
        if peer_number is not None:
            call = await to_peer("peer_go", first_name=flows.first_name(clinician))
            await tell_peer(session, case.id, peer_number, "peer_go", call, sms)
        for n, after in enumerate(flows.FOLLOW_UPS, start=1):
            await flows.schedule(session, case.id, "follow_up", clock.now() + after, n=n)
        return "clinician accepted"
    if action in (A.DEFER, A.LATER_AGAIN) and reply.until is not None:
        quiet = (settings.quiet_start_hour, settings.quiet_end_hour)
        until = flows.promised_time(reply.until, clock.now(), zone, quiet)
        local = until.astimezone(zone).strftime("%a %H:%M")
        if action == A.DEFER:
            case.deferred_until = until
            await move(session, case, CaseState.deferred, "clinician asked for later")
            await flows.cancel_deadlines(session, case.id, flows.OFFER_DEADLINES, "deferred")
            await outbound.cancel_pending(session, case.id, ("offer_reminder", "offer"))
            await flows.schedule(session, case.id, "reoffer", until)
        ack = "deferral_ack" if until == reply.until else "deferral_ack_quiet"
        await answer_sender(session, sms, "ack", await to_clinician(ack, time=local), case.id)
        if peer_number is not None:
            wait = await to_peer("peer_wait", first_name=flows.first_name(clinician), time=local)
            await tell_peer(session, case.id, peer_number, "peer_wait", wait, sms)
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
            await tell_peer(session, case.id, peer_number, "peer_stand_down", stand_down, sms)
        return "declined"
    if action == A.PENDING:
        await answer_sender(session, sms, "ack", await to_clinician("clinician_pending"), case.id)
        return "pending"
    if action == A.CALL_AGAIN:
        await answer_sender(session, sms, "ack", await thanks(), case.id)
        if peer_number is not None:
            call = await to_peer("peer_go", first_name=flows.first_name(clinician))
            await tell_peer(session, case.id, peer_number, "peer_go", call, sms)
        else:
            await new_reply_to_coordinator(session, settings, case.id, sms)
        return "call again"
    if action == A.END_FOLLOW_UPS:
        await flows.cancel_deadlines(session, case.id, ("follow_up",), "clinician said no")
        await outbound.cancel_pending(session, case.id, ("follow_up",))
        await move(session, case, CaseState.closed, "clinician asked for no more check-ins")
        await answer_sender(session, sms, "ack", await to_clinician("follow_up_ended"), case.id)
        return "follow-ups ended"
    if action in (A.TO_COORDINATOR, A.REOPEN):
        await answer_sender(
            session, sms, "ack", await to_clinician("clinician_team_will_call"), case.id
        )
        await new_reply_to_coordinator(session, settings, case.id, sms)
        return "to coordinator"
    if action == A.EXPLAIN:
        await answer_help(session, settings, sms, await to_clinician("about_us"), case.id)
        if "wrong" in sms.body.lower():
            # "Wrong number": the directory may have texted someone else about a colleague.
            await flows.tell_coordinator(
                session,
                settings,
                case.id,
                texts.coordinator_wrong_number(ref),
                dedupe=str(sms.sms_id),
                why=Attention.wrong_number,
            )
        return "explained"
    if action == A.SILENT:
        return "noted"  # "no" again after a decline, or a thanks: nothing more is sent
    # HELP, or a deferral whose time could not be placed.
    if reply.kind == "unknown":
        await ask_for_a_look(session, settings, case.id, sms, True)
    if case.state in _CONTACT:
        help_text = await to_clinician("follow_up_help")
    elif case.state in _OFFERED:
        help_text = await to_clinician("clinician_help")
    else:
        help_text = await to_clinician("clinician_pending")
    return "help" if await answer_help(session, settings, sms, help_text, case.id) else "unanswered"
