"""The tiered response, step by step: each function is one transaction's worth of decisions.

    case opened  -> Tier 1 prompt to the unit lead, page the best peer, escalation deadline
    deadline     -> page the next candidate, then the coordinator (the programme's policy)
    peer accepts -> peer gets the clinician's first name and number; clinician gets the offer
    clinician    -> accept (peer told, follow-ups scheduled) | defer (re-offer then)
                    | decline (one resource message, outreach ends) | silence (one reminder,
                    then the coordinator)
    any crisis   -> Tier 3 at once: coordinator paged, crisis line in the reply

Functions take the caller's session and never commit: the state, its transition row, the
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
from schemas.events import (
    PageAnswer,
    PageAnswered,
    PageRequested,
    PageState,
    SmsReceived,
    SupportNeeded,
)
from services import outbox
from services.cases import outbound
from services.cases.machine import OPEN_STATES as OPEN_CASE_STATES
from services.cases.machine import move
from services.cases.models import Deadline, EscalationPolicy
from services.clock import now
from services.config import Settings
from services.conversations.parsing import (
    next_allowed,
    parse_offer_reply,
    parse_peer_reply,
    signals_crisis,
)
from services.logs import log
from services.paging.models import InboundSms, Page, SupportCase
from services.paging.service import OPEN_STATES as OPEN_PAGE_STATES
from services.paging.service import involved_in, new_page, transition
from services.people.matching import MatchContext, choose, load_context, locked_load
from services.people.models import Involvement, Staff, Tier1Prompt, Unit

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
) -> None:
    """An SMS to the programme coordinator: the human who takes over when automation stops."""
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


async def _unit(session: AsyncSession, code: str) -> Unit | None:
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
        )
        .limit(1)
    )
    if recent is not None:
        return at
    unit = await _unit(session, clinician.home_unit)
    zone = ZoneInfo(unit.time_zone if unit else "UTC")
    return next_allowed(at, zone, time(quiet[0]), time(quiet[1]))


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
    if case.state != "identified":
        return None
    clinician = await session.get(Staff, case.staff_id)
    assert clinician is not None
    involved = await involved_in(session, case.incident_id)
    unit = await _unit(session, clinician.home_unit)
    lead_id = unit.tier1_lead_staff_id if unit else None
    if lead_id and lead_id != clinician.staff_id:
        # One prompt per lead per incident, naming no one ("3 of your team"). The key row is
        # the guard, so several workers or a redelivery cannot prompt the lead twice: a
        # concurrent insert of the same key waits for the first to commit, then does nothing.
        lead = await session.get(Staff, lead_id)
        key: str | None = None
        if await session.get(Tier1Prompt, (case.incident_id, lead_id)) is None and (
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
                )
            )
            key = await session.scalar(
                insert(Tier1Prompt)
                .values(incident_id=case.incident_id, lead_staff_id=lead_id, staff_count=count or 1)
                .on_conflict_do_nothing()
                .returning(Tier1Prompt.lead_staff_id)
            )
            if key is not None:
                message_id = await outbound.enqueue(
                    session,
                    kind="tier1_prompt",
                    case_id=case.id,
                    to_number=lead.mobile_e164,
                    body=templates.tier1_prompt(count or 1),
                    dedupe=str(case.incident_id),
                )
                await session.execute(
                    update(Tier1Prompt)
                    .where(
                        Tier1Prompt.incident_id == case.incident_id,
                        Tier1Prompt.lead_staff_id == lead_id,
                    )
                    .values(message_id=message_id)
                )
                await move(session, case, "tier1_notified", "unit lead prompted to check in")
        if key is None and await session.get(Tier1Prompt, (case.incident_id, lead_id)):
            await move(session, case, "tier1_notified", "unit lead already prompted")
    if ctx is None:
        ctx = await load_context(session, now(), settings.match_other_unit)
    elif not isinstance(ctx, MatchContext):
        ctx = await ctx(session)
    return await _page_next(session, case, clinician, involved, ctx, settings, step=0, round_=0)


async def _page_next(
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
    unit = await _unit(session, clinician.home_unit)
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
            to_number, reason = settings.coordinator_number, match.why_none()
    else:
        to_number, reason = settings.coordinator_number, "escalation policy: coordinator"
    page = await new_page(session, case, attempt, peer_id, to_number, reason)
    if prefetched is not None:
        prefetched.setdefault(case.id, []).append((peer_id, attempt))
    case.escalation_step, case.escalation_round = step, round_
    to_state = "peer_paged" if peer_id is not None else "waiting_coordinator"
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
        if case.state not in ("peer_paged", "waiting_coordinator"):
            return "moot: answered"
        unit = await _unit(session, clinician.home_unit)
        policy = await policy_for(session, unit.site if unit else None)
        step, round_ = (
            int(str(deadline.payload.get("step", 0))) + 1,
            int(str(deadline.payload.get("round", 0))),
        )
        if step >= len(policy.steps):
            if round_ >= policy.repeat:
                if case.state != "waiting_coordinator":
                    await move(session, case, "waiting_coordinator", "escalation policy exhausted")
                return "exhausted"
            step, round_ = 0, round_ + 1
        ctx = ctx or await load_context(session, now(), settings.match_other_unit)
        involved = await _involved(session, case.incident_id)
        await _page_next(session, case, clinician, involved, ctx, settings, step, round_)
        return f"escalated to step {step + 1}"
    if deadline.kind == "offer_reminder":
        if case.state != "clinician_offered":
            return "moot: answered"
        await _to_clinician(
            session, case, clinician, "offer_reminder", templates.offer_reminder(), settings
        )
        await schedule(session, case.id, "offer_expired", now() + OFFER_GIVE_UP_AFTER)
        return "reminded"
    if deadline.kind == "offer_expired":
        if case.state != "clinician_offered":
            return "moot: answered"
        await move(session, case, "waiting_coordinator", "no answer to the offer or reminder")
        await tell_coordinator(session, settings, case.id, templates.coordinator_no_answer())
        return "handed to coordinator"
    if deadline.kind == "reoffer":
        if case.state != "deferred":
            return "moot: answered"
        await _offer(session, case, clinician, settings, again=True)
        return "re-offered"
    if deadline.kind == "follow_up":
        if case.state not in ("clinician_accepted", "contact_made", "follow_up"):
            return "moot: case moved on"
        if clinician.opted_out:
            return "moot: opted out"
        n = int(str(deadline.payload.get("n", 1)))
        await _to_clinician(
            session, case, clinician, "follow_up", templates.follow_up(), settings, dedupe=str(n)
        )
        if n >= len(FOLLOW_UPS):
            await move(session, case, "closed", "last follow-up sent")
        elif case.state != "follow_up":
            await move(session, case, "follow_up", f"follow-up {n} sent")
        return f"follow-up {n}"
    return f"unknown kind {deadline.kind}"


async def escalate_now(session: AsyncSession, case_id: uuid.UUID) -> None:
    """A page failed for good or was passed: don't wait out the step, escalate at once."""
    await session.execute(
        update(Deadline)
        .where(
            Deadline.case_id == case_id,
            Deadline.kind == "page_timeout",
            Deadline.fired_at.is_(None),
        )
        .values(due_at=now())
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


async def _offer(
    session: AsyncSession, case: SupportCase, clinician: Staff, settings: Settings, again: bool
) -> None:
    await _to_clinician(
        session,
        case,
        clinician,
        "offer",
        templates.clinician_offer(),
        settings,
        dedupe=f"{again}:{case.escalation_round}:{now().isoformat()}" if again else None,
    )
    await move(session, case, "clinician_offered", "offer re-sent" if again else "offer sent")
    await cancel_deadlines(session, case.id, ("offer_reminder", "offer_expired"), "replaced")
    await schedule(session, case.id, "offer_reminder", now() + OFFER_REMINDER_AFTER)


# --- inbound SMS ----------------------------------------------------------------------------


async def handle_sms(session: AsyncSession, sms: SmsReceived, settings: Settings) -> str:
    """Route one inbound SMS: STOP/START, a peer's answer, a clinician's answer, or help.

    Returns what was done, for the log and the tests.
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
    clinician = await session.scalar(
        select(Staff).where(Staff.mobile_e164 == number, Staff.active.is_(True))
    )
    offered = None
    if clinician is not None:
        offered = await session.scalar(
            select(SupportCase)
            .where(
                SupportCase.staff_id == clinician.staff_id,
                SupportCase.state.in_(
                    [
                        "clinician_offered",
                        "deferred",
                        "clinician_accepted",
                        "contact_made",
                        "follow_up",
                    ]
                ),
            )
            .order_by(SupportCase.updated_at.desc())
            .limit(1)
            .with_for_update()
        )
    text_ = sms.body
    upper = " ".join(text_.upper().split())
    if upper in ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"):
        await _stop(session, number)
        return "stop"
    if upper in ("START", "UNSTOP"):
        await _start(session, number)
        return "start"
    if upper == "YES":
        await _start(session, number)  # carriers re-subscribe a number on YES; so do we
    if signals_crisis(text_):
        return await _crisis(session, number, offered, settings, sms)
    open_pages = [p for p in peer_pages if p.state in OPEN_PAGE_STATES]
    if open_pages or (peer_pages and offered is None):
        return await _peer_reply(session, number, list(peer_pages), sms, settings)
    if offered is not None and clinician is not None:
        return await _clinician_reply(session, offered, clinician, sms, settings)
    if clinician is not None:
        return "noted"  # e.g. after a decline: nothing more is sent
    await outbound.enqueue(
        session, kind="help", to_number=number, body=templates.help_text(), dedupe=upper[:40]
    )
    return "help"


async def _answer(session: AsyncSession, sms: SmsReceived, kind: str, body: str) -> None:
    """Reply to whoever sent `sms`, at most once per inbound message."""
    await outbound.enqueue(
        session, kind=kind, to_number=sms.from_number, body=body, dedupe=str(sms.sms_id)
    )


async def _stop(session: AsyncSession, number: str) -> None:
    from sqlalchemy.dialects.postgresql import insert

    from services.cases.models import Message, NumberOptOut

    await session.execute(insert(NumberOptOut).values(number=number).on_conflict_do_nothing())
    await session.execute(
        update(Message)
        .where(Message.to_number == number, Message.state == "queued")
        .values(state="suppressed")
    )


async def _start(session: AsyncSession, number: str) -> None:
    from sqlalchemy import delete

    from services.cases.models import NumberOptOut

    await session.execute(delete(NumberOptOut).where(NumberOptOut.number == number))


async def _crisis(
    session: AsyncSession,
    number: str,
    case: SupportCase | None,
    settings: Settings,
    sms: SmsReceived,
) -> str:
    """Tier 3 at once: the coordinator is paged and the writer gets the crisis line."""
    await _answer(session, sms, "crisis_reply", templates.crisis_reply(settings.crisis_line))
    await tell_coordinator(
        session,
        settings,
        case.id if case else None,
        templates.coordinator_crisis(),
        dedupe=str(sms.sms_id),
    )
    if case is not None and case.state != "tier3_referred":
        await move(session, case, "tier3_referred", "crisis signalled in a reply")
        await cancel_deadlines(
            session,
            case.id,
            (*OFFER_DEADLINES, "follow_up"),
            "tier 3",
        )
    log().warning("case.crisis", case_id=str(case.id) if case else None)
    return "crisis"


async def _peer_reply(
    session: AsyncSession,
    number: str,
    pages: list[Page],
    sms: SmsReceived,
    settings: Settings,
) -> str:
    reply = parse_peer_reply(sms.body)
    if reply.kind == "stop":
        await _stop(session, number)
        return "stop"
    if reply.kind in ("help", "unknown", "start", "crisis"):
        await _answer(session, sms, "help", templates.peer_help())
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
        await _answer(session, sms, "help", templates.peer_no_such_page())
        return "no such page"
    case = await session.get(SupportCase, page.case_id, with_for_update=True)
    assert case is not None
    if reply.kind == "refer" and page.state == "accepted" and case.state in OPEN_CASE_STATES:
        # The peer who took the case, after talking with the clinician: Tier 3 now.
        return await _refer(session, case, settings, sms)
    if page.state not in OPEN_PAGE_STATES or case.state not in (
        "peer_paged",
        "waiting_coordinator",
        "tier1_notified",
        "identified",
    ):
        await _answer(session, sms, "taken", templates.page_taken())
        if page.state in OPEN_PAGE_STATES:
            page.state = "superseded"
            transition(session, page.id, "superseded", sms_id=str(sms.sms_id))
        return "already taken"
    inbound = await session.get(InboundSms, sms.sms_id)
    if inbound is not None:
        inbound.page_id = page.id
    if reply.kind == "accept" and page.peer_staff_id is not None:
        # The limit again, at acceptance, counted by the store under the peer's lock: a
        # peer paged before a limit was lowered, or over it, is thanked and the case moves
        # on to the next peer at once.
        load = await locked_load(session, page.peer_staff_id, accepted_only=True, excluding=page.id)
        if load is not None and load[0] >= load[1]:
            page.state = PageState.declined
            page.answered_at = now()
            transition(
                session,
                page.id,
                page.state,
                sms_id=str(sms.sms_id),
                answer=PageAnswer.declined.value,
                over_limit=f"{load[0]}/{load[1]}",
            )
            await outbox.add(
                session,
                PageAnswered(
                    page_id=page.id, case_id=case.id, answer=PageAnswer.declined, sms_id=sms.sms_id
                ),
            )
            await _answer(session, sms, "over_limit", templates.over_limit(load[0]))
            await escalate_now(session, case.id)
            return "over limit"
    answer = {
        "accept": PageAnswer.accepted,
        "pass": PageAnswer.declined,
        "refer": PageAnswer.referred,
    }[reply.kind]
    page.state = "accepted" if answer == PageAnswer.accepted else "declined"
    page.answered_at = now()
    transition(session, page.id, page.state, sms_id=str(sms.sms_id), answer=answer.value)
    await outbox.add(
        session,
        PageAnswered(page_id=page.id, case_id=case.id, answer=answer, sms_id=sms.sms_id),
    )
    clinician = await session.get(Staff, case.staff_id)
    assert clinician is not None
    if answer == PageAnswer.declined:
        await escalate_now(session, case.id)
        return "passed"
    if answer == PageAnswer.referred:
        return await _refer(session, case, settings, sms)
    await move(session, case, "peer_accepted", "peer accepted the page")
    await cancel_deadlines(session, case.id, ("page_timeout",), "answered")
    # Other peers still holding a page for this case are told it is taken.
    others = [
        p
        for p in (
            await session.scalars(
                select(Page).where(
                    Page.case_id == case.id,
                    Page.id != page.id,
                    Page.state.in_(list(OPEN_PAGE_STATES)),
                )
            )
        ).all()
    ]
    for other in others:
        other.state = "superseded"
        transition(session, other.id, "superseded")
    # Minimum necessary: the peer learns who and how only now, after accepting.
    await outbound.enqueue(
        session,
        kind="peer_details",
        case_id=case.id,
        to_number=number,
        body=templates.peer_details(first_name(clinician), clinician.mobile_e164),
    )
    await _offer(session, case, clinician, settings, again=False)
    return "accepted"


async def _refer(
    session: AsyncSession, case: SupportCase, settings: Settings, sms: SmsReceived
) -> str:
    await move(session, case, "tier3_referred", "referred to Tier 3 by the peer")
    await cancel_deadlines(
        session,
        case.id,
        ALL_DEADLINES,
        "tier 3",
    )
    await tell_coordinator(
        session, settings, case.id, templates.coordinator_referral(), dedupe=str(sms.sms_id)
    )
    return "referred"


async def _clinician_reply(
    session: AsyncSession,
    case: SupportCase,
    clinician: Staff,
    sms: SmsReceived,
    settings: Settings,
) -> str:
    unit = await _unit(session, clinician.home_unit)
    zone = ZoneInfo(unit.time_zone if unit else "UTC")
    reply = parse_offer_reply(sms.body, now(), zone)
    if reply.kind == "stop":  # "please stop texting me": honoured like STOP
        await _stop(session, clinician.mobile_e164)
        return "stop"
    peer_number = await session.scalar(
        select(Page.to_number).where(Page.case_id == case.id, Page.state == "accepted").limit(1)
    )
    if case.state not in ("clinician_offered", "deferred"):
        # Follow-up replies: only a crisis (handled before) changes anything.
        return "noted"
    if reply.kind == "accept":
        await move(session, case, "clinician_accepted", "clinician accepted contact")
        await cancel_deadlines(session, case.id, OFFER_DEADLINES, "answered")
        await outbound.cancel_pending(session, case.id, ("offer_reminder",))
        if peer_number:
            await outbound.enqueue(
                session,
                kind="peer_go",
                case_id=case.id,
                to_number=peer_number,
                body=templates.peer_go(first_name(clinician)),
            )
        for n, after in enumerate(FOLLOW_UPS, start=1):
            await schedule(session, case.id, "follow_up", now() + after, n=n)
        return "clinician accepted"
    if reply.kind == "defer" and reply.until is not None:
        case.deferred_until = reply.until
        await move(session, case, "deferred", "clinician asked for later")
        await cancel_deadlines(session, case.id, OFFER_DEADLINES, "deferred")
        await outbound.cancel_pending(session, case.id, ("offer_reminder",))
        await schedule(session, case.id, "reoffer", reply.until)
        local = reply.until.astimezone(zone).strftime("%a %H:%M")
        await outbound.enqueue(
            session,
            kind="ack",
            case_id=case.id,
            to_number=clinician.mobile_e164,
            body=templates.deferral_ack(local),
            dedupe=str(sms.sms_id),
        )
        if peer_number:
            await outbound.enqueue(
                session,
                kind="peer_wait",
                case_id=case.id,
                to_number=peer_number,
                body=templates.peer_wait(first_name(clinician), local),
                dedupe=str(sms.sms_id),
            )
        return "deferred"
    if reply.kind == "decline":
        await move(session, case, "declined", "clinician declined")
        await cancel_deadlines(
            session,
            case.id,
            (*OFFER_DEADLINES, "follow_up"),
            "declined",
        )
        await outbound.cancel_pending(session, case.id, ("offer_reminder", "offer", "follow_up"))
        await outbound.enqueue(
            session,
            kind="resources",
            case_id=case.id,
            to_number=clinician.mobile_e164,
            body=templates.resources(),
        )
        if peer_number:
            await outbound.enqueue(
                session,
                kind="peer_stand_down",
                case_id=case.id,
                to_number=peer_number,
                body=templates.peer_stand_down(),
            )
        return "declined"
    await outbound.enqueue(
        session,
        kind="help",
        to_number=clinician.mobile_e164,
        body=templates.clinician_help(),
        dedupe=str(sms.sms_id),
    )
    return "help"
