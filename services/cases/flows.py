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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from notifiers import templates
from schemas.events import PageRequested, SupportNeeded
from services import outbox, texts
from services.cases import attention, outbound
from services.cases.attention import Attention
from services.cases.machine import PEER_HOLDS, CaseState, move
from services.cases.models import Deadline, EscalationPolicy, NumberOptOut
from services.cases.refs import case_ref
from services.clock import now
from services.config import Settings
from services.conversations.quiet_hours import next_allowed
from services.paging.models import InboundSms, Page, SupportCase
from services.paging.service import OPEN_STATES as OPEN_PAGE_STATES
from services.paging.service import involved_in, new_page, transition
from services.people.matching import MatchContext, choose, load_context
from services.people.models import Involvement, PeerSupporter, Staff, Tier1Prompt, Unit

DEFAULT_STEPS: list[dict[str, object]] = [
    {"target": "peer", "wait_minutes": 5},
    {"target": "peer", "wait_minutes": 5},
    {"target": "coordinator", "wait_minutes": 15},
]
OFFER_REMINDER_AFTER = timedelta(hours=2)
OFFER_GIVE_UP_AFTER = timedelta(hours=4)
# Deadline kinds a case can have pending; a case that ends cancels all of them.
OFFER_DEADLINES = ("offer_reminder", "offer_expired", "reoffer")
ALL_DEADLINES = ("page_timeout", *OFFER_DEADLINES, "follow_up")
FOLLOW_UPS = (timedelta(hours=24), timedelta(hours=72), timedelta(days=7))
WROTE_RECENTLY = timedelta(hours=1)
# The transition reason that marks an offer left unanswered; programme metrics count by it.
NO_ANSWER_REASON = "no answer to the offer or reminder"


def coordinator_reason_none(why_none: str) -> str:
    """The reason stored on a coordinator page is also the "why" of its SMS: say only what
    matching found ("no peer available"), with its counts, never a peer's name."""
    detail = why_none.removeprefix("no qualified peer").lstrip(": ")
    return f"no peer available ({detail})"[:120] if detail else "no peer available"


def coordinator_reason_policy(peers_paged: int) -> str:
    if peers_paged == 0:
        return "the escalation policy pages the coordinator first"
    return f"no peer answered after {peers_paged} page{'s' if peers_paged > 1 else ''}"


@dataclass(frozen=True)
class Policy:
    steps: list[dict[str, object]]
    repeat: int


async def policy_for(session: AsyncSession, site: str | None) -> Policy:
    """The site's policy, else the programme's default, else the built-in one.

    Cached for the transaction: a batch of 100 escalations reads the policies once.
    """
    cache: dict[str | None, Policy] = session.info.setdefault("policies", {})
    if site not in cache:
        cache[site] = await _load_policy(session, site)
    return cache[site]


async def _load_policy(session: AsyncSession, site: str | None) -> Policy:
    rows = (
        await session.scalars(
            select(EscalationPolicy).where(
                EscalationPolicy.active.is_(True),
                (EscalationPolicy.site == site) | EscalationPolicy.site.is_(None),
            )
        )
    ).all()
    chosen = next((p for p in rows if p.site == site and site is not None), None) or next(
        (p for p in rows if p.site is None), None
    )
    if chosen is None:
        return Policy(DEFAULT_STEPS, 0)
    return Policy(list(chosen.steps), chosen.repeat)


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
    `why` also flags the case on the console's board until someone has looked."""
    await attention.flag(session, why, case_id, staff_id)
    await outbound.enqueue(
        session,
        kind="coordinator",
        case_id=case_id,
        to_number=settings.coordinator_number,
        body=body,
        dedupe=dedupe,
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
        .values(fired_at=now(), outcome=outcome)
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
            InboundSms.from_number == clinician.mobile_e164,
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


# --- case opened ----------------------------------------------------------------------------


async def start_outreach(
    session: AsyncSession,
    need: SupportNeeded,
    settings: Settings,
    ctx: MatchContext | Callable[[AsyncSession], Awaitable[MatchContext]] | None = None,
) -> PageRequested | None:
    """Tier 1 prompt, the first page, and its escalation deadline; None on a replay.

    `ctx` may be a loader: a replay (the case is paged already) then never loads a roster.
    """
    case = await session.get(SupportCase, need.case_id, with_for_update=True)
    if case is None:
        raise LookupError(f"case {need.case_id} not in store")
    if case.state != CaseState.identified:
        return None
    clinician = await session.get(Staff, case.staff_id)
    assert clinician is not None
    why = (await outbound.unreachable(session, [clinician.mobile_e164])).get(clinician.mobile_e164)
    if why in (outbound.Unreachable.stop, outbound.Unreachable.opted_out):
        # Nobody may text them, so no peer is asked to and no lead is prompted about them;
        # the case waits, visible as opted out, for the coordinator. (A number that cannot
        # take SMS is different: the peer can still call it.)
        await opt_out_case(session, case, "clinician has opted out of messages")
        return None
    involved = await involved_in(session, case.incident_id)
    unit = await unit_of(session, clinician.home_unit)
    lead_id = unit.tier1_lead_staff_id if unit else None
    if lead_id and lead_id != clinician.staff_id:
        # One prompt per lead per incident, naming no one ("3 of your team"). The key row is
        # the guard, so several workers or a redelivery cannot prompt the lead twice: a
        # concurrent insert of the same key waits for the first to commit, then does nothing.
        lead = await session.get(Staff, lead_id)
        prompted = await session.get(Tier1Prompt, (case.incident_id, lead_id)) is not None
        if not prompted and (
            lead is not None and lead.active and await outbound.can_text(session, lead.mobile_e164)
        ):
            count = await session.scalar(
                select(func.count())
                .select_from(SupportCase)
                .join(Staff, Staff.staff_id == SupportCase.staff_id)
                .join(Unit, Unit.code == Staff.home_unit)
                .where(
                    SupportCase.incident_id == case.incident_id,
                    Unit.tier1_lead_staff_id == lead_id,
                    SupportCase.staff_id != lead_id,
                    # Not about those who opted out: their lead is not prompted about them.
                    Staff.opted_out.is_(False),
                    Staff.mobile_e164.not_in(select(NumberOptOut.number)),
                )
            )
            key = await session.scalar(
                insert(Tier1Prompt)
                .values(incident_id=case.incident_id, lead_staff_id=lead_id, staff_count=count or 1)
                .on_conflict_do_nothing()
                .returning(Tier1Prompt.lead_staff_id)
            )
            if key is not None:
                await outbound.enqueue(
                    session,
                    kind="tier1_prompt",
                    case_id=case.id,
                    to_number=lead.mobile_e164,
                    body=await texts.text_for(
                        session,
                        lead,
                        "tier1_prompt_one" if (count or 1) == 1 else "tier1_prompt_many",
                        count=count or 1,
                    ),
                    dedupe=str(case.incident_id),
                )
                await move(
                    session, case, CaseState.tier1_notified, "unit lead prompted to check in"
                )
            else:
                prompted = True  # another worker's case of this incident got there first
        if prompted:
            await move(session, case, CaseState.tier1_notified, "unit lead already prompted")
    if ctx is None:
        ctx = await load_context(session, now(), settings.match_other_unit)
    elif not isinstance(ctx, MatchContext):
        ctx = await ctx(session)
    return await page_next(session, case, clinician, involved, ctx, settings, step=0, round_=0)


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
    """Page whoever step `step` of the policy names, and set the deadline for an answer."""
    unit = await unit_of(session, clinician.home_unit)
    policy = await policy_for(session, unit.site if unit else None)
    target = str(policy.steps[step].get("target", "peer"))
    wait = float(str(policy.steps[step].get("wait_minutes", 5)))
    prefetched: dict[uuid.UUID, list[tuple[str | None, int]]] | None = session.info.get(
        "earlier_pages"
    )
    if prefetched is not None and case.id in prefetched:
        earlier = prefetched[case.id]
    else:
        query = select(Page.peer_staff_id, Page.attempt).where(Page.case_id == case.id)
        earlier = [(peer, attempt) for peer, attempt in (await session.execute(query)).all()]
    already = {peer for peer, _ in earlier if peer is not None}
    attempt = max((a for _, a in earlier), default=0) + 1
    peer_id: str | None = None
    if target == "peer":
        # The store decides the case limit: `choose` counts the peer's load under a lock.
        match, chosen = await choose(session, ctx, clinician, involved | already)
        if chosen is not None:
            peer_id, to_number, reason = chosen.staff_id, chosen.mobile, chosen.reason
        else:
            to_number = settings.coordinator_number
            reason = coordinator_reason_none(match.why_none())
    else:
        to_number = settings.coordinator_number
        reason = coordinator_reason_policy(sum(1 for peer, _ in earlier if peer is not None))
    page = await new_page(session, case, attempt, peer_id, to_number, reason)
    if prefetched is not None:
        prefetched.setdefault(case.id, []).append((peer_id, attempt))
    case.escalation_step, case.escalation_round = step, round_
    to_state = CaseState.peer_paged if peer_id is not None else CaseState.waiting_coordinator
    if case.state != to_state or attempt > 1:
        why = "first page" if attempt == 1 else f"escalation step {step + 1}, round {round_ + 1}"
        if peer_id is None:
            why = f"coordinator paged: {reason}"[:200]
        await move(session, case, to_state, why)
    await schedule(
        session,
        case.id,
        "page_timeout",
        now() + timedelta(minutes=wait),
        page_id=str(page.id),
        step=step,
        round=round_,
    )
    if peer_id is not None:
        ctx.recent_pages[peer_id] += 1
    event = PageRequested(
        page_id=page.id, case_id=case.id, attempt=attempt, peer_staff_id=peer_id, reason=reason
    )
    await outbox.add(session, event)
    return event


# --- deadlines ------------------------------------------------------------------------------


async def prefetch(session: AsyncSession, case_ids: list[uuid.UUID]) -> None:
    """Load what a batch of deadlines will read, a few queries for the whole batch: the
    cases (locked), their clinicians, every unit, who was involved, the earlier pages."""
    cases = (
        await session.scalars(
            select(SupportCase)
            .where(SupportCase.id.in_(case_ids))
            .order_by(SupportCase.id)  # a fixed lock order, so batches cannot deadlock
            .with_for_update()
        )
    ).all()
    session.info["locked_cases"] = {c.id for c in cases}
    staff = (
        await session.scalars(select(Staff).where(Staff.staff_id.in_({c.staff_id for c in cases})))
    ).all()
    units = (await session.scalars(select(Unit))).all()
    # The identity map holds unchanged objects weakly: without a strong reference they are
    # collected on return and every session.get() below would query again, 3 per deadline.
    session.info["prefetched"] = [cases, staff, units]
    incidents = list({c.incident_id for c in cases})
    involved: dict[uuid.UUID, set[str]] = {i: set() for i in incidents}
    for incident_id, staff_ids in (
        await session.execute(
            text("SELECT id, staff_ids FROM incidents WHERE id = ANY(:ids)"), {"ids": incidents}
        )
    ).all():
        involved[incident_id] |= set(staff_ids or ())
    for incident_id, staff_id in (
        await session.execute(
            select(Involvement.incident_id, Involvement.staff_id).where(
                Involvement.incident_id.in_(incidents), Involvement.status != "removed"
            )
        )
    ).all():
        involved[incident_id].add(staff_id)
    session.info["involved"] = involved
    earlier: dict[uuid.UUID, list[tuple[str | None, int]]] = {}
    for case_id, peer, attempt in (
        await session.execute(
            select(Page.case_id, Page.peer_staff_id, Page.attempt).where(Page.case_id.in_(case_ids))
        )
    ).all():
        earlier.setdefault(case_id, []).append((peer, attempt))
    for case_id in case_ids:
        earlier.setdefault(case_id, [])
    session.info["earlier_pages"] = earlier


async def _locked_case(session: AsyncSession, case_id: uuid.UUID) -> SupportCase | None:
    if case_id in session.info.get("locked_cases", ()):
        return await session.get(SupportCase, case_id)  # locked by prefetch; no query
    return await session.get(SupportCase, case_id, with_for_update=True)


async def _involved(session: AsyncSession, incident_id: uuid.UUID) -> set[str]:
    cached: dict[uuid.UUID, set[str]] | None = session.info.get("involved")
    if cached is not None and incident_id in cached:
        return cached[incident_id]
    return await involved_in(session, incident_id)


async def fire(
    session: AsyncSession, deadline: Deadline, settings: Settings, ctx: MatchContext | None
) -> str:
    """Do what a deadline asks if the case still needs it; say what happened."""
    case = await _locked_case(session, deadline.case_id)
    if case is None:
        return "no case"
    clinician = await session.get(Staff, case.staff_id)
    assert clinician is not None
    if deadline.kind == "page_timeout":
        if case.state not in (CaseState.peer_paged, CaseState.waiting_coordinator):
            return "moot: answered"
        unit = await unit_of(session, clinician.home_unit)
        policy = await policy_for(session, unit.site if unit else None)
        step, round_ = (
            int(str(deadline.payload.get("step", 0))) + 1,
            int(str(deadline.payload.get("round", 0))),
        )
        if step >= len(policy.steps):
            if round_ >= policy.repeat:
                if case.state != CaseState.waiting_coordinator:
                    await move(
                        session, case, CaseState.waiting_coordinator, "escalation policy exhausted"
                    )
                return "exhausted"
            step, round_ = 0, round_ + 1
        ctx = ctx or await load_context(session, now(), settings.match_other_unit)
        involved = await _involved(session, case.incident_id)
        await page_next(session, case, clinician, involved, ctx, settings, step, round_)
        return f"escalated to step {step + 1}"
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
        await schedule(session, case.id, "offer_expired", now() + OFFER_GIVE_UP_AFTER)
        return "reminded"
    if deadline.kind == "offer_expired":
        if case.state != CaseState.clinician_offered:
            return "moot: answered"
        await move(session, case, CaseState.waiting_coordinator, NO_ANSWER_REASON)
        await tell_coordinator(
            session,
            settings,
            case.id,
            templates.coordinator_no_answer(case_ref(case.id)),
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
        update(Deadline).where(Deadline.id.in_(pending.scalar_subquery())).values(due_at=now())
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
    at = now()
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
        dedupe=f"{again}:{case.escalation_round}:{now().isoformat()}" if again else None,
    )
    await move(
        session, case, CaseState.clinician_offered, "offer re-sent" if again else "offer sent"
    )
    await cancel_deadlines(session, case.id, ("offer_reminder", "offer_expired"), "replaced")
    await schedule(session, case.id, "offer_reminder", now() + OFFER_REMINDER_AFTER)


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
            .where(Page.case_id == case.id, Page.state == "accepted")
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
        page.state = "superseded"
        transition(session, page.id, "superseded", reason=reason)


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
            select(Page).where(Page.case_id == case.id, Page.state == "accepted").with_for_update()
        )
    ).all()
    for page in pages:
        page.state = "superseded"
        transition(session, page.id, "superseded", reason=reason)
    await outbound.cancel_pending(session, case.id, ("offer", "offer_reminder"))
    ctx = await load_context(session, now(), settings.match_other_unit)
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
