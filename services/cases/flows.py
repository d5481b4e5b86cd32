"""The tiered response, step by step: each function is one transaction's worth of decisions.

    case opened  -> Tier 1 prompt to the unit lead, page the best peer, escalation deadline
    deadline     -> page the next candidate, then the coordinator (the programme's policy)
    peer accepts -> peer gets the clinician's first name and number; clinician gets the offer
    clinician    -> accept (peer told, follow-ups scheduled) | defer (re-offer then)
                    | decline (one resource message, outreach ends) | silence (one reminder,
                    then the coordinator)
    any crisis   -> Tier 3 at once: coordinator paged, crisis line in the reply

Inbound SMS are read and answered in replies.py, which calls the steps here. Functions take
the caller's session and never commit: the state, its transition row, the
events, the SMS rows and the next deadline are written together or not at all.
"""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.events import PageRequested
from services import clock, texts
from services.cases import attention, dispatch, outbound
from services.cases.attention import Attention
from services.cases.machine import PEER_HOLDS, CaseState, move
from services.cases.models import Deadline
from services.cases.policies import load_policies
from services.cases.refs import case_ref
from services.config import Settings
from services.conversations.quiet_hours import next_allowed
from services.paging.models import OPEN_STATES as OPEN_PAGE_STATES
from services.paging.models import InboundSms, Page, PageState, SupportCase
from services.paging.service import involved_in, transition
from services.people.matching import MatchContext, load_context
from services.people.models import PeerSupporter, Staff, Unit

OFFER_REMINDER_AFTER = timedelta(hours=2)
OFFER_GIVE_UP_AFTER = timedelta(hours=4)
# Deadline kinds a case can have pending; a case that ends cancels all of them.
OFFER_DEADLINES = ("offer_reminder", "offer_expired", "reoffer")
ALL_DEADLINES = ("page_timeout", *OFFER_DEADLINES, "follow_up")
FOLLOW_UPS = (timedelta(hours=24), timedelta(hours=72), timedelta(days=7))
WROTE_RECENTLY = timedelta(hours=1)
# The transition reason that marks an offer left unanswered; programme metrics count by it.
NO_ANSWER_REASON = "no answer to the offer or reminder"


async def tell_coordinator(
    session: AsyncSession,
    settings: Settings,
    case_id: uuid.UUID | None,
    body: str,
    dedupe: str | None = None,
    *,
    why: Attention,
    staff_id: str | None = None,
) -> None:
    """An SMS to the programme coordinator: the human who takes over when automation stops.
    `why` also flags the case on the console's board until someone has looked.

    A crisis of someone we know (their case, or a staff member) goes at once, past the
    per-number limit (services.cases.outbound). One from a number we do not know keeps the
    urgent slots, which pages cannot take: strangers texting crisis words from many numbers
    must not be able to flood the coordinator's handset, and the board shows every one."""
    await attention.flag(session, why, case_id, staff_id)
    at_once = why is Attention.crisis and (case_id is not None or staff_id is not None)
    await outbound.enqueue(
        session,
        kind="coordinator",
        case_id=case_id,
        to_number=settings.coordinator_number,
        body=body,
        dedupe=dedupe,
        priority=outbound.Priority.crisis if at_once else None,
    )


async def schedule(
    session: AsyncSession, case_id: uuid.UUID, kind: str, due_at: datetime, **payload: object
) -> None:
    session.add(Deadline(case_id=case_id, kind=kind, due_at=due_at, payload=payload))


async def cancel_deadlines(
    session: AsyncSession, case_id: uuid.UUID, kinds: tuple[str, ...], outcome: str
) -> None:
    await session.execute(
        update(Deadline)
        .where(Deadline.case_id == case_id, Deadline.kind.in_(kinds), Deadline.fired_at.is_(None))
        .values(fired_at=clock.now(), outcome=outcome)
    )


async def unit_of(session: AsyncSession, code: str) -> Unit | None:
    return await session.get(Unit, code)


def first_name(staff: Staff) -> str:
    parts = staff.display_name.split()
    if len(parts) > 1 and parts[0].rstrip(".").lower() in ("dr", "mr", "ms", "mrs", "mx"):
        parts = parts[1:]
    return parts[0] if parts else staff.display_name


async def clinician_not_before(
    session: AsyncSession, clinician: Staff, at: datetime, quiet: tuple[int, int]
) -> datetime:
    """Quiet hours in the clinician's local time, unless they wrote to us within the hour."""
    recent = await session.scalar(
        select(InboundSms.id)
        .where(
            InboundSms.from_number_key == clinician.mobile_e164,
            InboundSms.received_at > at - WROTE_RECENTLY,
            InboundSms.received_at <= at,
        )
        .limit(1)
    )
    if recent is not None:
        return at
    unit = await unit_of(session, clinician.home_unit)
    zone = ZoneInfo(unit.time_zone if unit else "UTC")
    return next_allowed(at, zone, time(quiet[0]), time(quiet[1]))


def promised_time(
    asked: datetime, wrote_at: datetime, zone: ZoneInfo, quiet: tuple[int, int]
) -> datetime:
    """When a deferred offer will really go, so the acknowledgement never promises 22:28 for
    a message that quiet hours hold until 07:00.

    The same rule as clinician_not_before at sending time: quiet hours give way only when the
    clinician wrote within the hour, and the deferral itself is what they wrote.
    """
    if asked - wrote_at <= WROTE_RECENTLY:
        return asked
    return next_allowed(asked, zone, time(quiet[0]), time(quiet[1]))


async def page_next(
    session: AsyncSession,
    case: SupportCase,
    clinician: Staff,
    involved: set[str],
    ctx: MatchContext,
    settings: Settings,
    step: int,
    round_: int,
) -> PageRequested:
    """Page whoever step `step` of the policy names, and set the deadline for an answer: one
    case through the batch's code (dispatch.page_cases), its page left `requested` for the
    pager. For a person's action or a reply; escalations in bulk go through the engine."""
    await session.flush()  # this transaction's changes first: the set statements read them
    writes = dispatch.Writes(clock.now(), claim=False)
    earlier = (await dispatch.earlier_pages(session, [case.id]))[case.id]
    wanted = dispatch.Wanted.after(
        case.id, case.incident_id, clinician, case.state, step, round_, involved, earlier
    )
    units = await dispatch.all_units(session)
    policies = await load_policies(session)
    await dispatch.page_cases(session, [wanted], ctx, settings, units, policies, writes)
    await writes.flush(session)
    return next(e for e in writes.events if isinstance(e, PageRequested))


# --- deadlines ------------------------------------------------------------------------------


async def fire(session: AsyncSession, deadline: Deadline, settings: Settings) -> str | None:
    """Do what a reminder, re-offer or follow-up asks if the case still needs it; say what
    happened, or None when another transaction holds the case (the deadline stays due: the
    engine never waits for a case while it holds deadline rows). Escalations are the
    engine's, in sets: services.cases.engine.escalate."""
    case = await session.scalar(
        select(SupportCase)
        .where(SupportCase.id == deadline.case_id)
        .with_for_update(skip_locked=True)
    )
    if case is None:
        exists = await session.scalar(
            select(SupportCase.id).where(SupportCase.id == deadline.case_id)
        )
        return None if exists is not None else "no case"
    clinician = await session.get(Staff, case.staff_id)
    assert clinician is not None
    if deadline.kind == "offer_reminder":
        if case.state != CaseState.clinician_offered:
            return "moot: answered"
        await _to_clinician(
            session,
            case,
            clinician,
            "offer_reminder",
            await texts.text_for(session, clinician, "offer_reminder"),
            settings,
        )
        await schedule(session, case.id, "offer_expired", clock.now() + OFFER_GIVE_UP_AFTER)
        return "reminded"
    if deadline.kind == "offer_expired":
        if case.state != CaseState.clinician_offered:
            return "moot: answered"
        await move(session, case, CaseState.waiting_coordinator, NO_ANSWER_REASON)
        await tell_coordinator(
            session,
            settings,
            case.id,
            texts.coordinator_no_answer(case_ref(case.id)),
            why=Attention.no_answer,
        )
        return "handed to coordinator"
    if deadline.kind == "reoffer":
        if case.state != CaseState.deferred:
            return "moot: answered"
        await offer(session, case, clinician, settings, again=True)
        return "re-offered"
    if deadline.kind == "follow_up":
        if case.state not in (
            CaseState.clinician_accepted,
            CaseState.contact_made,
            CaseState.follow_up,
        ):
            return "moot: case moved on"
        if clinician.opted_out:
            return "moot: opted out"
        n = int(str(deadline.payload.get("n", 1)))
        await _to_clinician(
            session,
            case,
            clinician,
            "follow_up",
            await texts.text_for(session, clinician, "follow_up"),
            settings,
            dedupe=str(n),
        )
        if n >= len(FOLLOW_UPS):
            await move(session, case, CaseState.closed, "last follow-up sent")
        elif case.state != CaseState.follow_up:
            await move(session, case, CaseState.follow_up, f"follow-up {n} sent")
        return f"follow-up {n}"
    return f"unknown kind {deadline.kind}"


async def escalate_now(session: AsyncSession, case_id: uuid.UUID, page_id: uuid.UUID) -> None:
    """A page failed for good or was passed: don't wait out the step, escalate at once.

    Only while that page is still the case's current one (its wait is the open one): a late
    failure or pass of page 1 must not cut short the wait of page 2. The page is required so
    that no caller can escalate a case on another page's behalf.

    A deadline another transaction holds is being fired right now (the runner locks what is
    due, then the case), so it is skipped rather than waited for: waiting here, with the
    page and the case's rows touched, closed a lock cycle with the runner.
    """
    pending = (
        select(Deadline.id)
        .where(
            Deadline.case_id == case_id,
            Deadline.kind == "page_timeout",
            Deadline.fired_at.is_(None),
            Deadline.payload["page_id"].astext == str(page_id),
        )
        .with_for_update(skip_locked=True)
    )
    await session.execute(
        update(Deadline)
        .where(Deadline.id.in_(pending.scalar_subquery()))
        .values(due_at=clock.now())
    )


# --- offers to the clinician ----------------------------------------------------------------


async def _to_clinician(
    session: AsyncSession,
    case: SupportCase,
    clinician: Staff,
    kind: str,
    body: str,
    settings: Settings,
    dedupe: str | None = None,
) -> None:
    at = clock.now()
    not_before = await clinician_not_before(
        session, clinician, at, (settings.quiet_start_hour, settings.quiet_end_hour)
    )
    await outbound.enqueue(
        session,
        kind=kind,
        case_id=case.id,
        to_number=clinician.mobile_e164,
        body=body,
        not_before=not_before,
        dedupe=dedupe,
    )


async def offer(
    session: AsyncSession, case: SupportCase, clinician: Staff, settings: Settings, again: bool
) -> None:
    await _to_clinician(
        session,
        case,
        clinician,
        "offer",
        await texts.text_for(session, clinician, "clinician_offer"),
        settings,
        dedupe=f"{again}:{case.escalation_round}:{clock.now().isoformat()}" if again else None,
    )
    await move(
        session, case, CaseState.clinician_offered, "offer re-sent" if again else "offer sent"
    )
    await cancel_deadlines(session, case.id, ("offer_reminder", "offer_expired"), "replaced")
    await schedule(session, case.id, "offer_reminder", clock.now() + OFFER_REMINDER_AFTER)


# --- ending or rerouting outreach ---------------------------------------------------------


async def opt_out_case(session: AsyncSession, case: SupportCase, reason: str) -> None:
    """Outreach by SMS ends; the case stays open and visible to the coordinator.

    Once contact is arranged (accepted, contact made, follow-ups) only the check-ins stop:
    the peer already has what they need and a person decides the rest.
    """
    if case.state in (CaseState.clinician_accepted, CaseState.contact_made, CaseState.follow_up):
        await cancel_deadlines(session, case.id, ("follow_up",), "opted out")
        return
    if case.state in (CaseState.opted_out, CaseState.tier3_referred):
        return
    held_by, peer_id = (
        await session.execute(
            select(Page.to_number, Page.peer_staff_id)
            .where(Page.case_id == case.id, Page.state == PageState.accepted)
            .limit(1)
        )
    ).first() or (None, None)
    await move(session, case, CaseState.opted_out, reason)
    await cancel_deadlines(session, case.id, ALL_DEADLINES, "opted out")
    await supersede_open_pages(session, case.id, reason="clinician opted out")
    if held_by is not None:
        await outbound.enqueue(
            session,
            kind="peer_stand_down",
            case_id=case.id,
            to_number=held_by,
            body=await texts.text_for(
                session,
                await session.get(Staff, peer_id) if peer_id is not None else None,
                "peer_stand_down_opted_out",
            ),
        )


async def supersede_open_pages(session: AsyncSession, case_id: uuid.UUID, reason: str) -> None:
    pages = (
        await session.scalars(
            select(Page)
            .where(Page.case_id == case_id, Page.state.in_(list(OPEN_PAGE_STATES)))
            .order_by(Page.id)
            .with_for_update()
        )
    ).all()
    for page in pages:
        page.state = PageState.superseded
        transition(session, page.id, PageState.superseded, reason=reason)


async def hand_to_next_peer(
    session: AsyncSession, case_id: uuid.UUID, settings: Settings, reason: str
) -> None:
    """A case whose peer can no longer carry it is paged to the next peer at once."""
    case = await session.get(SupportCase, case_id, with_for_update=True)
    if case is None or case.state not in PEER_HOLDS:
        return
    clinician = await session.get(Staff, case.staff_id)
    assert clinician is not None
    await cancel_deadlines(session, case.id, ALL_DEADLINES, reason)
    pages = (
        await session.scalars(
            select(Page)
            .where(Page.case_id == case.id, Page.state == PageState.accepted)
            .order_by(Page.id)
            .with_for_update()
        )
    ).all()
    for page in pages:
        page.state = PageState.superseded
        transition(session, page.id, PageState.superseded, reason=reason)
    await outbound.cancel_pending(session, case.id, ("offer", "offer_reminder"))
    ctx = await load_context(session, clock.now(), settings.match_other_unit)
    involved = await involved_in(session, case.incident_id)
    await page_next(session, case, clinician, involved, ctx, settings, step=0, round_=0)


async def set_peer_paused(session: AsyncSession, staff_id: str, paused: bool) -> bool | None:
    """Pause or resume a peer (the roster's own flag, which matching reads); a pause passes
    their unanswered pages on at once. Whether anything changed, or None when the staff id
    is not a peer of an active member of staff."""
    peer = await session.scalar(
        select(PeerSupporter)
        .join(Staff, Staff.staff_id == PeerSupporter.staff_id)
        .where(PeerSupporter.staff_id == staff_id, Staff.active)
        .with_for_update(of=PeerSupporter)
    )
    if peer is None:
        return None
    if peer.active is not paused:
        return False
    peer.active = not paused
    await session.flush()
    if paused:
        await release_unanswered_pages(session, staff_id)
    return True


async def release_unanswered_pages(session: AsyncSession, staff_id: str) -> int:
    """A peer who pauses (or is paused) answers no more pages: those offered and not yet
    answered go to the next step at once, as a pass would. Cases they already took stay
    with them; handing those on is the coordinator's decision."""
    waiting = (
        await session.execute(
            select(Page.case_id, Page.id)
            .join(SupportCase, SupportCase.id == Page.case_id)
            .where(
                Page.peer_staff_id == staff_id,
                Page.state.in_(list(OPEN_PAGE_STATES)),
                SupportCase.state == CaseState.peer_paged,
            )
        )
    ).all()
    for case_id, page_id in waiting:
        await escalate_now(session, case_id, page_id)
    return len(waiting)
