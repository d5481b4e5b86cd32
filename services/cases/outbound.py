"""Queueing and sending the SMS that are not pages, with GoAlert's sending discipline.

- One identical pending message per number: queueing the same (kind, case, number) again
  while one waits is a no-op, so a replayed event never sends a reminder twice.
- Per-number rate limit: at most RATE_PER_MINUTE messages (pages included) to one number in
  a minute; the rest wait, in order, rather than get the number blocked by the carrier.
- A number that sent STOP gets nothing until it sends START.
- `not_before` holds a message (a clinician's quiet hours, a deferred offer) in the store.

Claiming a message before it is sent, and reconciling a stale claim against the provider's
log, is the same discipline as for pages (notifiers/pager.py).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.events import DeliveryStatus
from services.cases.models import Message, NumberOptOut
from services.clock import now as utcnow
from services.paging.delivery import Delivery, advance
from services.paging.models import Page

RATE_PER_MINUTE = 6


async def opted_out(session: AsyncSession, number: str) -> bool:
    return await session.get(NumberOptOut, number) is not None


async def enqueue(
    session: AsyncSession,
    *,
    kind: str,
    to_number: str,
    body: str,
    case_id: uuid.UUID | None = None,
    not_before: datetime | None = None,
    dedupe: str | None = None,
) -> uuid.UUID | None:
    """Queue one SMS in the caller's transaction; None when an identical one is pending or
    the number has opted out."""
    if await opted_out(session, to_number):
        return None
    key = f"{kind}:{case_id}:{to_number}:{dedupe or ''}"
    return await session.scalar(
        insert(Message)
        .values(
            id=uuid.uuid4(),
            case_id=case_id,
            kind=kind,
            to_number=to_number,
            body=body,
            dedupe_key=key[:200],
            state="queued",
            not_before=not_before or utcnow(),
        )
        .on_conflict_do_nothing(
            index_elements=["dedupe_key"], index_where=text("state IN ('queued', 'sending')")
        )
        .returning(Message.id)
    )


async def cancel_pending(session: AsyncSession, case_id: uuid.UUID, kinds: tuple[str, ...]) -> None:
    """Drop queued messages a case no longer needs (a reminder after the clinician answered)."""
    await session.execute(
        update(Message)
        .where(Message.case_id == case_id, Message.kind.in_(kinds), Message.state == "queued")
        .values(state="cancelled")
    )


async def sent_last_minute(session: AsyncSession, number: str, at: datetime) -> int:
    since = at - timedelta(minutes=1)
    messages = await session.scalar(
        select(func.count()).where(Message.to_number == number, Message.sent_at > since)
    )
    pages = await session.scalar(
        select(func.count()).select_from(Page).where(Page.to_number == number, Page.sent_at > since)
    )
    return int(messages or 0) + int(pages or 0)


async def due(
    session: AsyncSession, at: datetime, stale_after: float, limit: int = 200
) -> list[uuid.UUID]:
    """Messages due now (queued and past not_before, or claimed by a dead sender)."""
    rows = await session.scalars(
        select(Message.id)
        .where(
            ((Message.state == "queued") & (Message.not_before <= at))
            | (
                (Message.state == "sending")
                & (Message.claimed_at < at - timedelta(seconds=stale_after))
            )
        )
        .order_by(Message.not_before)
        .limit(limit)
    )
    return list(rows)


@dataclass(frozen=True)
class MessageClaim:
    message_id: uuid.UUID
    case_id: uuid.UUID | None
    to_number: str
    body: str
    created_at: datetime
    reclaimed: bool


async def claim(
    session: AsyncSession, message_id: uuid.UUID, stale_after: float
) -> MessageClaim | None:
    msg = await session.get(Message, message_id, with_for_update=True)
    if msg is None:
        return None
    at = utcnow()
    if msg.state == "queued" and msg.not_before <= at:
        reclaimed = False
    elif (
        msg.state == "sending"
        and msg.claimed_at is not None
        and msg.claimed_at < at - timedelta(seconds=stale_after)
    ):
        reclaimed = True
    else:
        return None
    if await opted_out(session, msg.to_number):
        msg.state = "suppressed"
        return None
    if not reclaimed and await sent_last_minute(session, msg.to_number, at) >= RATE_PER_MINUTE:
        msg.not_before = at + timedelta(seconds=10)  # wait its turn; order is kept by time
        return None
    msg.state = "sending"
    msg.claimed_at = at
    return MessageClaim(msg.id, msg.case_id, msg.to_number, msg.body, msg.created_at, reclaimed)


async def record_sent(session: AsyncSession, message_id: uuid.UUID, sid: str) -> None:
    await session.execute(
        update(Message)
        .where(Message.id == message_id, Message.sent_at.is_(None))
        .values(state="sent", provider_sid=sid, sent_at=utcnow())
    )


async def record_failed(session: AsyncSession, message_id: uuid.UUID, code: int | None) -> None:
    await session.execute(
        update(Message)
        .where(Message.id == message_id, Message.state == "sending")
        .values(state="failed", error_code=code)
    )


async def release(session: AsyncSession, message_id: uuid.UUID, stale_after: float) -> None:
    """After a transient failure: stale at once, so the next sweep reconciles then retries."""
    await session.execute(
        update(Message)
        .where(Message.id == message_id, Message.state == "sending")
        .values(claimed_at=utcnow() - timedelta(seconds=stale_after + 1))
    )


def message_delivery(msg: Message) -> Delivery:
    """How far the message got; 'cancelled'/'suppressed' never left, so they are final too."""
    if msg.state in ("delivered", "undelivered", "failed"):
        return Delivery(msg.state)
    if msg.state in ("cancelled", "suppressed"):
        return Delivery.failed
    if msg.state == "sent" or msg.sent_at is not None:
        return Delivery.sent
    return Delivery.none


async def record_status(
    session: AsyncSession,
    message_id: uuid.UUID,
    sid: str,
    status: DeliveryStatus,
    error_code: int | None,
) -> bool:
    """Record a delivery status if it moves the message forward (delivery.advance); True when
    something was written. A replay or a failure after delivery writes nothing."""
    msg = await session.get(Message, message_id, with_for_update=True)
    if msg is None or (msg.provider_sid is not None and msg.provider_sid != sid):
        return False
    new = advance(message_delivery(msg), status)
    if new is None:
        return False
    if msg.sent_at is None:
        # The callback got here before the sender recorded: Twilio has it, so it is sent
        # (and record_sent, which only writes while sent_at is empty, cannot move it back).
        msg.sent_at = utcnow()
        taken = await session.scalar(select(Message.id).where(Message.provider_sid == sid))
        if msg.provider_sid is None and taken is None:
            msg.provider_sid = sid
    if new in (Delivery.queued, Delivery.sent):
        if msg.state in ("queued", "sending"):
            msg.state = "sent"
        return True
    msg.state = new.value
    if new != Delivery.delivered:
        msg.error_code = error_code
    return True
