"""What needs a person before anything else: the reasons the coordinator was told.

Every SMS to the coordinator about a case also leaves a flag here, so the console's board
shows the same thing the coordinator's phone did, and a flag stays until a person has looked
(or acted on the case). States that need a person (no peer, opted out, Tier 3) and a number
that cannot take SMS are read from the case itself.
"""

from __future__ import annotations

import uuid
from enum import StrEnum

from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncSession

from services import clock
from services.cases.models import CaseAttention


class Attention(StrEnum):
    crisis = "crisis"
    no_peer = "no_peer"
    no_answer = "no_answer"
    unread_reply = "unread_reply"
    distress = "distress"
    new_reply = "new_reply"
    referral = "referral"
    wrong_number = "wrong_number"
    step_failed = "step_failed"
    opted_out = "opted_out"
    undeliverable = "undeliverable"


LABELS = {
    Attention.crisis: "Crisis words: call now",
    Attention.no_peer: "No peer available",
    Attention.no_answer: "No peer answered",
    Attention.unread_reply: "Reply not understood",
    Attention.distress: "Reply with words of distress",
    Attention.new_reply: "New reply while a person holds the case",
    Attention.referral: "Asked for professional help (Tier 3)",
    Attention.wrong_number: "Says wrong number",
    Attention.step_failed: "An automatic step failed",
    Attention.opted_out: "Opted out (STOP)",
    Attention.undeliverable: "Number cannot take SMS",
}
# Shown first, in this order: a life before a logistics problem.
URGENCY = {a: i for i, a in enumerate(Attention)}


async def flag(
    session: AsyncSession, why: Attention, case_id: uuid.UUID | None, staff_id: str | None
) -> None:
    await session.execute(
        insert(CaseAttention).values(case_id=case_id, staff_id=staff_id, reason=why.value)
    )


async def clear(session: AsyncSession, case_id: uuid.UUID, by: str) -> int:
    """A person looked at the case (or acted on it): its flags are done."""
    done = await session.execute(
        update(CaseAttention)
        .where(CaseAttention.case_id == case_id, CaseAttention.cleared_at.is_(None))
        .values(cleared_at=clock.now(), cleared_by=by)
    )
    return int(done.rowcount or 0)


async def clear_one(session: AsyncSession, flag_id: int, by: str) -> int:
    done = await session.execute(
        update(CaseAttention)
        .where(CaseAttention.id == flag_id, CaseAttention.cleared_at.is_(None))
        .values(cleared_at=clock.now(), cleared_by=by)
    )
    return int(done.rowcount or 0)
