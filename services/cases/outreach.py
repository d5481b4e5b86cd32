"""Outreach for newly opened cases: Tier 1 prompts, the best peer for each, pages born
claimed, escalation deadlines, every event; a batch of cases in a few statements.

Why apart from flows.py: this is the worker's hot path (services.incidents.agents) and the
one place that matches a batch against the roster; flows.py holds the steps that follow one
case through its conversation.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.events import Event, PageRequested, SupportNeeded
from services import clock, outbox
from services.cases import dispatch, outbound, tier1
from services.cases.flows import opt_out_case
from services.cases.machine import CaseState
from services.cases.policies import Policies, load_policies
from services.config import Settings
from services.incidents.involvement import Opened
from services.paging.models import SupportCase
from services.people.matching import ContextCache, MatchContext, load_context
from services.people.models import Staff, Unit

# What outreach is given to match with: a context, the worker's cache of one, a loader of
# one, or None (load one now).
Matching = MatchContext | ContextCache | Callable[[AsyncSession], Awaitable[MatchContext]] | None


# --- case opened ----------------------------------------------------------------------------


async def start_outreach(
    session: AsyncSession,
    need: SupportNeeded,
    settings: Settings,
    ctx: Matching = None,
) -> PageRequested | None:
    """One case's outreach (start_outreach_many with one): None on a replay. Its page is left
    `requested`, for the pager to claim and send."""
    done = await start_outreach_many(session, [need], settings, ctx, claim=False)
    return done.requested[0] if done.requested else None


@dataclass(frozen=True)
class Outreach:
    """What a batch of outreach wrote: the pages born claimed (to send now) and every
    PageRequested (also on the outbox, for the topic)."""

    pages: list[dispatch.NewPage]
    requested: list[PageRequested]


async def start_outreach_many(
    session: AsyncSession,
    needs: Sequence[SupportNeeded],
    settings: Settings,
    ctx: Matching = None,
    *,
    claim: bool,
    at: datetime | None = None,
    queued: Sequence[Event] = (),
    opened: Sequence[Opened] | None = None,
) -> Outreach:
    """Tier 1 prompts, first pages and their escalation deadlines for cases just opened, in
    a few statements for the whole batch (services.cases.dispatch); a replay does nothing.

    With `claim` the pages are born claimed by the caller, who sends them after commit.
    `ctx` may be a ContextCache (the worker's: kept across batches, checked against the
    counters this batch reads anyway) or a loader: a batch of replays never loads a roster.
    `queued` are events the caller has yet to write (the incident's): they are written
    first, with this batch's, in one statement. `opened`: this transaction opened the
    cases (involvement.identify_many), so they are its own already (nobody else sees them
    before its commit) and what outreach needs of them is known: they are neither locked
    nor read again.
    """
    at = at or clock.now()
    writes = dispatch.Writes(at, claim=claim)
    writes.events.extend(queued)
    case_ids = [n.case_id for n in needs]
    if not case_ids:
        found: dict[uuid.UUID, dispatch.LockedCase] = {}
        inputs: dict[uuid.UUID, dispatch.CaseInputs] = {}
    elif opened is not None:
        inputs = {
            o.case_id: dispatch.CaseInputs(
                dispatch.LockedCase(
                    o.case_id, o.incident_id, o.clinician.staff_id, CaseState.identified, 0, 0
                ),
                o.clinician,
                o.involved,
                [],
                o.versions,
            )
            for o in opened
        }
        found = {cid: i.case for cid, i in inputs.items()}
    else:
        found = await dispatch.lock_cases(session, case_ids)
        ids = [c.id for c in found.values() if c.state == CaseState.identified]
        inputs = await dispatch.case_inputs(session, ids) if ids else {}
    missing = set(case_ids) - set(found)
    if missing:
        raise LookupError(f"cases not in store: {sorted(map(str, missing))}")
    waiting = [inputs[c.id].case for c in found.values() if c.state == CaseState.identified]
    if not waiting:
        await writes.flush(session)
        return Outreach([], [])
    versions = next(iter(inputs.values())).versions
    match, units, policies, known = await _matching(session, ctx, at, settings, versions)
    clinician_numbers = [i.clinician.mobile_e164 for i in inputs.values()]
    blocked = (
        {n: known[n] for n in clinician_numbers if n in known}
        if known is not None
        else await outbound.unreachable(session, clinician_numbers)
    )
    reach: list[dispatch.LockedCase] = []
    for c in waiting:
        why = blocked.get(inputs[c.id].clinician.mobile_e164)
        if why in (outbound.Unreachable.stop, outbound.Unreachable.opted_out):
            # Nobody may text them, so no peer is asked to and no lead is prompted about
            # them; the case waits, visible as opted out, for the coordinator. (A number
            # that cannot take SMS is different: the peer can still call it.)
            await outbox.add_many(session, writes.events)  # the queue keeps its order
            writes.events.clear()
            case = await session.get(SupportCase, c.id)
            assert case is not None
            await opt_out_case(session, case, "clinician has opted out of messages")
        else:
            reach.append(c)
    if not reach:
        await writes.flush(session)
        return Outreach([], [])
    # The worker keeps the units' leads beside its context, as fresh (one version).
    kept = isinstance(ctx, ContextCache)
    leads = await ctx.kept(session, "leads", tier1.unit_leads) if kept else None
    states = await tier1.prompt_leads(
        session,
        [(c.id, c.incident_id, c.state, inputs[c.id].clinician) for c in reach],
        units,
        writes,
        at=at,
        leads=leads,
        blocked=known,
    )
    # A case sent back to the start (the coordinator's "page again") keeps its history.
    wanted = [
        dispatch.Wanted.after(
            c.id,
            c.incident_id,
            inputs[c.id].clinician,
            states[c.id],
            0,
            0,
            inputs[c.id].involved,
            inputs[c.id].earlier,
        )
        for c in reach
    ]
    pages = await dispatch.page_cases(session, wanted, match, settings, units, policies, writes)
    await writes.flush(session)
    requested = [e for e in writes.events if isinstance(e, PageRequested)]
    return Outreach(pages, requested)


async def _matching(
    session: AsyncSession,
    ctx: Matching,
    at: datetime,
    settings: Settings,
    versions: tuple[int, int],
) -> tuple[MatchContext, dict[str, Unit], Policies, dict[str, outbound.Unreachable] | None]:
    """The matching context, the units, the policies and (when kept) every staff number that
    may not be texted, for a batch. A ContextCache keeps them all while the store's
    counters (read with the cases) say nothing they were read from has changed: staff,
    STOP/START, units and policies writes all bump `version`."""
    if isinstance(ctx, ContextCache):
        match = await ctx.at_versions(session, at, *versions)
        units = await ctx.kept(session, "units", dispatch.all_units)
        policies = await ctx.kept(session, "policies", load_policies)
        known = await ctx.kept(session, "unreachable", _unreachable_staff)
        return match, units, policies, known
    if ctx is None:
        match = await load_context(session, at, settings.match_other_unit)
    elif isinstance(ctx, MatchContext):
        match = ctx
    else:
        match = await ctx(session)
    return match, await dispatch.all_units(session), await load_policies(session), None


async def _unreachable_staff(session: AsyncSession) -> dict[str, outbound.Unreachable]:
    """Every staff number that may not be texted, and why (outbound's one rule, asked once
    for the whole directory): a clinician's reachability without a statement per batch."""
    numbers = (await session.scalars(select(Staff.mobile_e164))).all()
    return await outbound.unreachable(session, numbers)
