"""Firing due deadlines: claim a batch with SKIP LOCKED, act, mark, commit.

Several workers may run this at once; each deadline is taken by exactly one of them, and a
crash before the commit leaves it due for the next try (the actions and the mark are one
transaction, so nothing is half done).
"""

from __future__ import annotations

from sqlalchemy import select

from services.cases import flows
from services.cases.models import Deadline
from services.clock import now as utcnow
from services.config import Settings
from services.db import transaction
from services.logs import log
from services.metrics import DEADLINES
from services.people.matching import load_context


async def fire_due(settings: Settings, limit: int = 100) -> int:
    """Fire up to `limit` due deadlines; returns how many were taken."""
    async with transaction() as session:
        due = (
            await session.scalars(
                select(Deadline)
                .where(Deadline.fired_at.is_(None), Deadline.due_at <= utcnow())
                .order_by(Deadline.due_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).all()
        if not due:
            return 0
        ctx = await load_context(session, utcnow(), settings.match_other_unit)
        for deadline in due:
            try:
                async with session.begin_nested():  # one bad deadline must not block the rest
                    outcome = await flows.fire(session, deadline, settings, ctx)
            except Exception as exc:
                log().exception(
                    "deadline.failed", case_id=str(deadline.case_id), kind=deadline.kind
                )
                outcome = f"error: {type(exc).__name__}"
            deadline.fired_at = utcnow()
            deadline.outcome = outcome[:40]
            DEADLINES.labels(deadline.kind).inc()
            log().info(
                "deadline.fired",
                case_id=str(deadline.case_id),
                kind=deadline.kind,
                outcome=outcome,
                late_ms=round((deadline.fired_at - deadline.due_at).total_seconds() * 1000),
            )
    return len(due)
