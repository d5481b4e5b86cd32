"""The deadline engine: escalations, reminders, re-offers and follow-ups that fell due.

Run it as its own process (`svrr engine`), one or several: consuming Kafka never competes
with firing, and a burst of due escalations is not queued behind a burst of incidents.

Each round claims up to BATCH due deadlines with `FOR UPDATE SKIP LOCKED` (several engines
take disjoint sets), acts on them and marks them fired in one transaction, then sends the
pages it wrote. The escalations of a round, the bulk of the work, are set-based like the
first pages (services.cases.dispatch): their cases locked, the next peers chosen and the
pages born claimed with a handful of statements for the whole round. Reminders, re-offers
and follow-ups (a conversation's pace, not a burst's) take the per-case path in the same
transaction.

A crash before the commit leaves the deadlines due (nothing half done); a crash after it
leaves claimed pages, which the worker's page sweep reconciles against the provider's log.
A round that fails is fired again one deadline at a time, so one bad deadline only delays
itself; a deadline that fails alone is retried with backoff, then the coordinator is told.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
import uvloop
from sqlalchemy import select, text
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from services import clock, retention, texts
from services.cases import dispatch, flows
from services.cases.attention import Attention
from services.cases.machine import CaseState
from services.cases.models import Deadline
from services.cases.policies import load_policies
from services.cases.refs import case_ref
from services.config import Settings
from services.db import RawPool, transaction
from services.logs import log
from services.metrics import DEADLINES
from services.paging.service import involved_in_many
from services.people.matching import ContextCache
from services.people.models import Staff

BATCH = 500
# Idle, the engine sleeps until the next deadline falls due, but at most this long: a
# deadline written meanwhile for "now" (a pass, a failed delivery) waits no longer. Polling
# every 0.1 s cost 3% of a core with nothing due.
IDLE_S = 0.5
MAX_ATTEMPTS = 5
ESCALATING = (CaseState.peer_paged, CaseState.waiting_coordinator)


@dataclass(frozen=True)
class Fired:
    taken: int
    bundles: list[dispatch.Bundle]
    # With nothing taken: when the next deadline falls due (None: none is pending).
    next_due: datetime | None = None


async def fire_due(settings: Settings, limit: int = BATCH) -> int:
    """Fire what is due and leave its pages `requested`, for the worker's page sweep: for a
    one-off run (tests, a shell) beside a live engine. Returns how many were taken."""
    fired = await fire_round(settings, ContextCache(settings.match_other_unit), limit, claim=False)
    return fired.taken


async def fire_round(
    settings: Settings,
    contexts: ContextCache,
    limit: int = BATCH,
    at: datetime | None = None,
    *,
    claim: bool = True,
) -> Fired:
    """Fire up to `limit` due deadlines in one transaction; if that fails, one by one.

    With `claim` the escalations' pages are born claimed, for the caller to send."""
    at = at or clock.now()
    try:
        async with transaction() as session:
            return await _fire(session, settings, contexts, limit, at, None, claim)
    except (OperationalError, InterfaceError, OSError):
        raise  # the store: the caller waits and tries again
    except Exception:
        log().warning("deadlines.batch_failed_isolating", exc_info=True)
    async with transaction() as session:
        ids = list(
            await session.scalars(
                text(
                    "SELECT id FROM deadlines WHERE fired_at IS NULL AND due_at <= :at "
                    "ORDER BY due_at LIMIT :n"
                ),
                {"at": at, "n": limit},
            )
        )
    taken, bundles = 0, []
    for deadline_id in ids:
        try:
            async with transaction() as session:
                one = await _fire(session, settings, contexts, 1, at, deadline_id, claim)
        except (OperationalError, InterfaceError, OSError):
            raise
        except Exception as exc:
            async with transaction() as session:
                await _retry_later(session, deadline_id, settings, exc, at)
            continue
        taken += one.taken
        bundles += one.bundles
    return Fired(taken, bundles)


async def _fire(
    session: AsyncSession,
    settings: Settings,
    contexts: ContextCache,
    limit: int,
    at: datetime,
    only: int | None,
    claim: bool,
) -> Fired:
    query = (
        select(Deadline)
        .where(Deadline.fired_at.is_(None), Deadline.due_at <= at)
        .order_by(Deadline.due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if only is not None:
        query = query.where(Deadline.id == only)
    due = list((await session.scalars(query)).all())
    if not due:
        upcoming = await session.scalar(
            text("SELECT min(due_at) FROM deadlines WHERE fired_at IS NULL")
        )
        return Fired(0, [], upcoming)
    timeouts = [d for d in due if d.kind == "page_timeout"]
    outcomes: dict[int, str] = {}
    pages: list[dispatch.NewPage] = []
    if timeouts:
        got, pages = await escalate(session, timeouts, settings, contexts, at, claim)
        outcomes |= got
    for d in due:
        if d.kind != "page_timeout":
            done = await flows.fire(session, d, settings)
            if done is not None:
                outcomes[d.id] = done
    # A deadline whose case another transaction held stays due, for the next round.
    due = [d for d in due if d.id in outcomes]
    await session.execute(
        text(
            "UPDATE deadlines AS d SET fired_at = :at, outcome = o.outcome "
            "FROM unnest(CAST(:ids AS bigint[]), CAST(:outcomes AS text[])) AS o(id, outcome) "
            "WHERE d.id = o.id"
        ),
        {"at": at, "ids": [d.id for d in due], "outcomes": [outcomes[d.id][:40] for d in due]},
    )
    for d in due:
        DEADLINES.labels(d.kind).inc()
        log().info(
            "deadline.fired",
            case_id=str(d.case_id),
            kind=d.kind,
            outcome=outcomes[d.id],
            late_ms=round((at - d.due_at).total_seconds() * 1000),
        )
    return Fired(len(due), dispatch.bundle(pages, at) if claim else [])


async def escalate(
    session: AsyncSession,
    timeouts: list[Deadline],
    settings: Settings,
    contexts: ContextCache,
    at: datetime,
    claim: bool,
) -> tuple[dict[int, str], list[dispatch.NewPage]]:
    """Unanswered pages: each case's next policy step, for the whole batch at once."""
    # Cases a person is acting on right now are passed over, never waited for: their action
    # locks the case, then the deadlines this round holds (a lock cycle if we waited).
    ids = [d.case_id for d in timeouts]
    cases = await dispatch.lock_cases(session, ids, skip_locked=True)
    held = await _held(session, set(ids) - set(cases))
    outcomes: dict[int, str] = {}
    live = []
    for d in timeouts:
        case = cases.get(d.case_id)
        if d.case_id in held:
            continue  # stays due: fired next round, once the action has committed
        if case is None:
            outcomes[d.id] = "no case"
        elif case.state not in ESCALATING:
            outcomes[d.id] = "moot: answered"
        else:
            live.append((d, case))
    if not live:
        return outcomes, []
    writes = dispatch.Writes(at, claim=claim)
    clinicians = {
        s.staff_id: s
        for s in (
            await session.scalars(
                select(Staff).where(Staff.staff_id.in_({c.staff_id for _, c in live}))
            )
        ).all()
    }
    units = await dispatch.all_units(session)
    policies = await load_policies(session)
    involved = await involved_in_many(session, {c.incident_id for _, c in live})
    earlier = await dispatch.earlier_pages(session, [c.id for _, c in live])
    wanted: list[dispatch.Wanted] = []
    for d, case in live:
        clinician = clinicians[case.staff_id]
        unit = units.get(clinician.home_unit)
        policy = policies.for_site(unit.site if unit else None)
        step = int(str(d.payload.get("step", 0))) + 1
        round_ = int(str(d.payload.get("round", 0)))
        if step >= len(policy.steps):
            if round_ >= policy.repeat:
                if case.state != CaseState.waiting_coordinator:
                    writes.move(
                        case.id,
                        case.state,
                        CaseState.waiting_coordinator,
                        "escalation policy exhausted",
                    )
                    writes.case_moves.append(
                        {
                            "id": case.id,
                            "state": CaseState.waiting_coordinator.value,
                            "step": case.step,
                            "round": case.round_,
                            "at": at,
                        }
                    )
                outcomes[d.id] = "exhausted"
                continue
            step, round_ = 0, round_ + 1
        wanted.append(
            dispatch.Wanted.after(
                case.id,
                case.incident_id,
                clinician,
                case.state,
                step,
                round_,
                involved.get(case.incident_id, set()),
                earlier[case.id],
            )
        )
        outcomes[d.id] = f"escalated to step {step + 1}"
    pages: list[dispatch.NewPage] = []
    if wanted:
        ctx = await contexts.get(session, at)
        pages = await dispatch.page_cases(session, wanted, ctx, settings, units, policies, writes)
    await writes.flush(session)
    return outcomes, pages


async def _held(session: AsyncSession, missing: set[uuid.UUID]) -> set[uuid.UUID]:
    """Of the cases SKIP LOCKED left out, those that exist (held by another transaction)."""
    if not missing:
        return set()
    found = await session.scalars(
        text("SELECT id FROM support_cases WHERE id = ANY(:ids)"), {"ids": list(missing)}
    )
    return set(found)


async def _retry_later(
    session: AsyncSession, deadline_id: int, settings: Settings, exc: Exception, at: datetime
) -> None:
    deadline = await session.get(Deadline, deadline_id, with_for_update=True)
    if deadline is None or deadline.fired_at is not None:
        return
    attempts = int(str(deadline.payload.get("attempts", 0))) + 1
    log().error(
        "deadline.failed",
        case_id=str(deadline.case_id),
        kind=deadline.kind,
        attempts=attempts,
        error=type(exc).__name__,
    )
    deadline.payload = {**deadline.payload, "attempts": attempts}
    if attempts < MAX_ATTEMPTS:
        deadline.due_at = at + timedelta(seconds=5 * 2**attempts)
        return
    deadline.fired_at = at
    deadline.outcome = f"failed: {type(exc).__name__}"[:40]
    await flows.tell_coordinator(
        session,
        settings,
        deadline.case_id,
        texts.coordinator_step_failed(case_ref(deadline.case_id)),
        dedupe=str(deadline.id),
        why=Attention.step_failed,
    )


class NextDue:
    """When the next deadline falls due, asked with one statement on an autocommit
    connection of its own (a RawPool of one: no ping, no transaction): the idle engine's
    only work.

    Why: idle, each look used to be a round (a pooled connection's ping, BEGIN, the locking
    select, the min, COMMIT), twice a second."""

    QUERY = "SELECT min(due_at) FROM deadlines WHERE fired_at IS NULL"

    def __init__(self, settings: Settings) -> None:
        self.pool = RawPool(settings.database_url, "svrr-engine-look", max_size=1)

    async def __call__(self) -> datetime | None:
        ((due,),) = await self.pool.fetch(self.QUERY, ())
        return due

    async def close(self) -> None:
        await self.pool.close()


async def run(settings: Settings, stop: asyncio.Event) -> None:
    """Fire what is due, send it, go round; idle, sleep until the next deadline (at most
    IDLE_S), looking with one cheap statement. Sending a round's pages overlaps the next
    round (a few in flight at most)."""
    from services.paging import sending

    contexts = ContextCache(settings.match_other_unit)
    sends = sending.Background(in_flight=4)
    next_due = NextDue(settings)
    backoff = IDLE_S
    busy = True  # the last round took something: go round at once, without a look
    # Retention beside the deadlines: the engine is the one long-running process that acts on
    # time alone, runs however quiet the hospital is, and may run several times over (the
    # purge takes its rows with SKIP LOCKED, like the deadlines). A task of its own, in
    # bounded batches: a purge never holds up a round.
    purging = asyncio.create_task(retention.keep_purging(settings, stop))
    log().info("engine.started")
    while not stop.is_set():
        wait = 0.0
        try:
            due = None if busy else await next_due()
            if busy or (due is not None and due <= clock.now()):
                fired = await fire_round(settings, contexts)
                busy = fired.taken > 0
                await sends.start(fired.bundles)
                due = fired.next_due
            if not busy:
                wait = IDLE_S
                if due is not None:
                    until = (due - clock.now()).total_seconds()
                    wait = min(IDLE_S, max(0.005, until))
            backoff = IDLE_S
        except (OperationalError, InterfaceError, OSError, psycopg.Error) as exc:
            log().warning("engine.store_unavailable", error=type(exc).__name__, backoff_s=backoff)
            busy, wait = False, backoff
            backoff = min(backoff * 2, 5.0)
        if wait:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)
    await purging
    await next_due.close()
    await sends.drain()
    await sending.close()
    log().info("engine.stopped")


def main(settings: Settings) -> int:
    """`svrr engine`: run until SIGTERM or SIGINT, then finish the sends in flight."""
    from services.db import async_engine

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        # A banner whatever the log level: supervisors and the test stack wait for it.
        print("svrr engine: ready", file=sys.stderr, flush=True)
        try:
            await run(settings, stop)
        finally:
            await async_engine().dispose()

    uvloop.run(serve())  # libuv's loop: less CPU per round than asyncio's own
    return 0
