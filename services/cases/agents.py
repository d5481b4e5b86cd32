"""The worker's agents and timers for cases: replies, queued SMS, and the sweep that pages
cases opened outside the incident path. (Deadlines have a process of their own:
services.cases.engine, `svrr engine`.)

sms-received --record_reply--> the stored SMS it names (services.cases.inbound)
    --> the conversation's next step (services.cases.replies)
every half second, when the worker's look at the store finds any (services.paging.agents):
queued SMS that are due; cases opened and not yet paged
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from events.app import app, settings, sms_received
from events.consume import consume, persistently
from schemas.events import SmsReceived, SupportNeeded
from services import clock
from services.cases import dispatch, inbound, outbound, outreach, replies
from services.db import transaction
from services.incidents.agents import contexts, sends
from services.logs import log
from services.paging import sending

# Cases opened this long ago and still not paged are the sweep's: younger ones are being
# paged by the batch that opened them.
UNPAGED_AFTER = timedelta(seconds=1)


async def apply_reply(sms: SmsReceived) -> None:
    """The stored SMS the event names (a claim check: the event holds no number and no
    text), handled in the transaction that reads it. A row gone or purged raises
    inbound.Unreadable: a dead letter with that reason (events.consume)."""
    async with transaction() as session:
        held = await inbound.claim(session, sms)
        outcome = "duplicate" if held is None else await replies.handle_sms(session, held, settings)
    log().info("sms.handled", sms_id=str(sms.sms_id), outcome=outcome)


@app.agent(sms_received)
async def record_reply(stream: AsyncIterable[bytes]) -> AsyncIterator[str]:
    async for outcome in consume(stream, SmsReceived, apply_reply):
        yield outcome


async def send_messages() -> None:
    """Queued SMS that are due (quiet hours over, rate limit allows) go out."""
    try:
        async with transaction() as session:
            due = await outbound.due(session, clock.now(), settings.sending_stale_seconds)
    except (DBAPIError, OSError) as exc:
        log().warning("messages.store_unavailable", error=type(exc).__name__)
        return
    for message_id in due:
        await persistently(
            lambda message_id=message_id: sending.deliver_message(message_id), "message"
        )


async def page_unpaged_cases() -> None:
    """Cases opened and not yet paged. The incident path opens and pages in one transaction,
    so these are cases opened elsewhere: a proposed colleague the risk manager confirmed
    (console or API), or a case the coordinator sent back to the start."""
    try:
        async with transaction() as session:
            rows = (
                await session.execute(
                    text(
                        "SELECT id, incident_id, staff_id FROM support_cases "
                        "WHERE state = 'identified' AND created_at < :before "
                        "ORDER BY created_at LIMIT 200"
                    ),
                    {"before": clock.now() - UNPAGED_AFTER},
                )
            ).all()
            if not rows:
                return
            needs = [SupportNeeded(case_id=r[0], incident_id=r[1], staff_id=r[2]) for r in rows]
            at = clock.now()
            done = await outreach.start_outreach_many(
                session, needs, settings, lambda s: contexts.get(s, at), claim=True, at=at
            )
    except (DBAPIError, OSError) as exc:
        log().warning("outreach_sweep.store_unavailable", error=type(exc).__name__)
        return
    dispatch.log_pages(done.pages)
    await sends.start(dispatch.bundle(done.pages, at))
