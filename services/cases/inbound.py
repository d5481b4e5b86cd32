"""An inbound SMS as the reply handlers read it: the stored row an SmsReceived event names.

Why a claim check: the event (schemas.events.SmsReceived, v2) carries no number and no text,
so neither sits in the outbox table or on the topic's log; both stay in inbound_sms, sealed
at rest and purged with the conversation. The reply agent reads them here, in the
transaction that acts on them, and hands the handlers an InboundText: a value that lives in
the process for one transaction and is never serialised.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from schemas.events import SmsReceived
from services import clock
from services.deadletter import Unprocessable
from services.paging.models import InboundSms


@dataclass(frozen=True)
class InboundText:
    """What the reply handlers read of one inbound SMS. Its repr (a log line, a traceback's
    locals) shows neither the number nor the text."""

    sms_id: uuid.UUID
    provider_sid: str
    from_number: str = field(repr=False)
    to_number: str
    body: str = field(repr=False)


class Unreadable(Unprocessable):
    """The row an event names cannot be read: gone or its text purged. Retrying cannot help;
    the message is the dead letter's reason (an id, never a number or a text)."""


async def claim(session: AsyncSession, event: SmsReceived) -> InboundText | None:
    """The inbound SMS the event names, its row locked until the caller's commit; None when
    it was handled already (a redelivered event: nothing to do, whatever is left of it).
    Marks it handled: the claim and what the handlers do commit together.

    Raises Unreadable when the row is gone or its number or text was purged. The row and
    its event commit together, so only a purge can do that (services.retention), and a
    purged reply is one the conversation no longer needs.
    """
    row = await session.get(InboundSms, event.sms_id, with_for_update=True)
    if row is None:
        raise Unreadable(f"inbound SMS {event.sms_id} is not in the store (purged?)")
    if row.handled_at is not None:
        return None
    if row.from_number is None or row.body is None:
        raise Unreadable(f"inbound SMS {event.sms_id} was purged before it was handled")
    row.handled_at = clock.now()  # committed with whatever the handlers do, or not at all
    return InboundText(
        sms_id=row.id,
        provider_sid=row.provider_sid,
        from_number=row.from_number,
        to_number=row.to_number,
        body=row.body,
    )
