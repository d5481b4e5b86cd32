"""Firing due deadlines: claim a batch with SKIP LOCKED, act, mark, commit.

Several workers may run this at once; each deadline is taken by exactly one of them, and a
crash before the commit leaves it due for the next try (the actions and the mark are one
transaction, so nothing is half done).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services import clock, texts
from services.cases import flows
from services.cases.attention import Attention
from services.cases.models import Deadline
from services.cases.refs import case_ref
from services.config import Settings
from services.db import transaction
from services.logs import log
from services.metrics import DEADLINES
from services.paging.models import Page
from services.paging.service import allocate_deferred_codes
from services.people.matching import ContextCache, load_context

MAX_ATTEMPTS = 5


async def _retry_later(
    session: AsyncSession, deadline: Deadline, settings: Settings, exc: Exception
) -> None:
    attempts = int(str(deadline.payload.get("attempts", 0))) + 1
    log().exception(
        "deadline.failed", case_id=str(deadline.case_id), kind=deadline.kind, attempts=attempts
    )
    deadline.payload = {**deadline.payload, "attempts": attempts}
    if attempts < MAX_ATTEMPTS:
        deadline.due_at = clock.now() + timedelta(seconds=5 * 2**attempts)
        return
    deadline.fired_at = clock.now()
    deadline.outcome = f"failed: {type(exc).__name__}"[:40]
    await flows.tell_coordinator(
        session,
        settings,
        deadline.case_id,
        texts.coordinator_step_failed(case_ref(deadline.case_id)),
        dedupe=str(deadline.id),
        why=Attention.step_failed,
    )


async def fire_due(
    settings: Settings,
    limit: int = 100,
    contexts: ContextCache | None = None,
    new_pages: list[uuid.UUID] | None = None,
) -> int:
    """Fire up to `limit` due deadlines; returns how many were taken.

    The ids of the pages a committed batch wrote are appended to `new_pages`, so the caller
    can send them at once instead of waiting for their events to come back from Kafka.

    The whole batch runs in one transaction with its reads prefetched and its writes
    flushed together. If anything in it fails, the batch is rolled back and fired again
    one deadline at a time, so one bad deadline can only delay itself.
    """
    try:
        return await _fire(settings, limit, contexts, new_pages, isolated=False)
    except Exception:
        log().warning("deadlines.batch_failed_isolating", exc_info=True)
        return await _fire(settings, limit, contexts, new_pages, isolated=True)


async def _fire(
    settings: Settings,
    limit: int,
    contexts: ContextCache | None,
    new_pages: list[uuid.UUID] | None,
    isolated: bool,
) -> int:
    async with transaction() as session:
        due = (
            await session.scalars(
                select(Deadline)
                .where(Deadline.fired_at.is_(None), Deadline.due_at <= clock.now())
                .order_by(Deadline.due_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).all()
        if not due:
            return 0
        if contexts is not None:
            ctx = await contexts.get(session, clock.now())
        else:
            ctx = await load_context(session, clock.now(), settings.match_other_unit)
        if isolated:
            for deadline in due:
                try:
                    async with session.begin_nested():
                        outcome = await flows.fire(session, deadline, settings, ctx)
                except Exception as exc:
                    # Not marked fired: retried with backoff, then the coordinator is told.
                    await _retry_later(session, deadline, settings, exc)
                    continue
                _mark(deadline, outcome)
            return len(due)
        await flows.prefetch(session, [d.case_id for d in due])
        pages: list[Page] = []
        session.info["deferred_codes"] = pages
        try:
            with session.no_autoflush:  # nothing is written until every page has its code
                outcomes = [await flows.fire(session, d, settings, ctx) for d in due]
                await allocate_deferred_codes(session, pages)
        finally:
            for key in (
                "deferred_codes",
                "locked_cases",
                "involved",
                "earlier_pages",
                "prefetched",
            ):
                session.info.pop(key, None)
        for deadline, outcome in zip(due, outcomes, strict=True):
            _mark(deadline, outcome)
    if new_pages is not None:  # committed: the pages exist for whoever sends them
        new_pages.extend(p.id for p in pages)
    return len(due)


def _mark(deadline: Deadline, outcome: str) -> None:
    deadline.fired_at = clock.now()
    deadline.outcome = outcome[:40]
    DEADLINES.labels(deadline.kind).inc()
    log().info(
        "deadline.fired",
        case_id=str(deadline.case_id),
        kind=deadline.kind,
        outcome=outcome,
        late_ms=round((deadline.fired_at - deadline.due_at).total_seconds() * 1000),
    )
