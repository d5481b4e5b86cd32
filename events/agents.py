"""The agents. Each is small: decode one contract, run one service step, move on.

incident-reported --identify_staff--> support-needed --page_peer--> page-requested
page-requested --send_page--> SMS via notifiers.pager.deliver
sms-received --record_reply--> page-answered

Straight through: a step whose transaction committed goes on to the next step in the same
process at once (identify -> match -> send), instead of waiting for its own event to come
back from Kafka. Each step still commits its rows and outbox events first, so the events are
published as always and the agents downstream receive them: they find the case already paged
(state) or the page already claimed, and do nothing. If this process dies between steps,
those agents (or the page sweep) finish the work. Kafka stays the guarantee; it is no longer
on the critical path three times over.

A step that fails on the store is retried in place (the partition waits) rather than skipped;
an event that fails validation goes to the dead-letter table, never silently dropped.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from typing import TypeVar

import faust
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from events.app import (
    app,
    incident_reported,
    page_requested,
    settings,
    sms_received,
    support_needed,
)
from notifiers import pager
from schemas.events import (
    Event,
    IncidentReported,
    PageRequested,
    SmsReceived,
    SupportNeeded,
    utcnow,
)
from services.cases import flows, outbound, replies
from services.cases import runner as flows_runner
from services.db import transaction
from services.deadletter import store_dead_letter
from services.incidents import involvement
from services.logs import log
from services.paging import service as paging
from services.people.matching import ContextCache, MatchContext

E = TypeVar("E", bound=Event)


async def persistently(step: Callable[[], Awaitable[object]], what: str) -> None:
    """Retry a store step until the database answers: a page waits, it is never dropped."""
    delay = 0.2
    while True:
        try:
            await step()
            return
        except (DBAPIError, OSError) as exc:
            log().warning("store.retry", step=what, error=type(exc).__name__, backoff_s=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


async def consume(
    stream: AsyncIterable[bytes], contract: type[E], handle: Callable[[E], Awaitable[object]]
) -> AsyncIterator[str]:
    """Feed each valid event to `handle`; park anything else in the dead-letter table.

    Faust commits the offset of an event whose agent raised, so an exception must never
    escape: a bad event or a bug leaves a dead letter to replay, not a silent gap. Yields
    how each event ended, so sinks (and Faust's test tooling) see it fully processed.
    """
    async for raw in stream:
        try:
            event = contract.model_validate_json(raw)
        except ValidationError as exc:
            log().error("event.invalid", topic=contract.topic, errors=exc.error_count())
            await persistently(
                lambda raw=raw: store_dead_letter(contract.topic, raw, "schema validation"),
                "dead_letter",
            )
            yield "dead_letter"
            continue
        try:
            await persistently(lambda event=event: handle(event), contract.topic)
            yield "done"
        except Exception as exc:
            log().exception("event.failed", topic=contract.topic, event_id=str(event.event_id))
            reason = f"{handle.__name__}: {type(exc).__name__}"
            await persistently(
                lambda raw=raw, reason=reason: store_dead_letter(contract.topic, raw, reason),
                "dead_letter",
            )
            yield "dead_letter"


# The worker's matching context, shared by every agent and timer in this process.
contexts = ContextCache(settings.match_other_unit)


async def open_cases(incident: IncidentReported) -> None:
    async with transaction() as session:
        cases = await involvement.identify(session, incident, settings.group_debrief_threshold)
    log().info("staff.identified", incident_id=str(incident.incident_id), cases=len(cases))
    if cases:
        await straight_through(cases, incident_id=str(incident.incident_id))


async def straight_through(needs: list[SupportNeeded], **ids: str) -> None:
    """Match and send now; on any failure leave the rest to the agents downstream.

    The cases are committed and their SupportNeeded events are in the outbox, so a failure
    here delays a page by one trip through Kafka; it must not mark the incident as failed.
    """
    matcher = Matcher()
    try:
        for need in needs:
            await matcher.add(need)
    except Exception:
        log().warning("straight_through.deferred", cases=len(needs), exc_info=True, **ids)
    if matcher.page_ids:
        await send_now(matcher.page_ids)


class Matcher:
    """One matching context for a batch of cases: a 50-staff incident loads the roster,
    schedules and load counts once, not fifty times. Each page it assigns counts toward
    the next choice, so one incident's cases spread across peers. It keeps the pages it
    wrote, so the batch can be sent straight away."""

    def __init__(self) -> None:
        self.ctx: MatchContext | None = None
        self.page_ids: list[uuid.UUID] = []

    async def context(self, session: AsyncSession) -> MatchContext:
        # Asked for only when a case needs a peer: a replayed event costs no roster load.
        if self.ctx is None:
            self.ctx = await contexts.get(session, utcnow())
        return self.ctx

    async def add(self, need: SupportNeeded) -> None:
        async with transaction() as session:
            req = await flows.start_outreach(session, need, settings, self.context)
        if req is None:
            return
        self.page_ids.append(req.page_id)
        log().info(
            "page.requested",
            case_id=str(need.case_id),
            page_id=str(req.page_id),
            to_coordinator=req.peer_staff_id is None,
        )


class BatchSender:
    """Collects one batch's pages, then delivers them bundled per phone."""

    def __init__(self) -> None:
        self.page_ids: list[uuid.UUID] = []

    async def add(self, req: PageRequested) -> None:
        self.page_ids.append(req.page_id)

    async def flush(self) -> None:
        if self.page_ids:
            await pager.deliver_pages(self.page_ids)


async def _each(items: list[bytes]) -> AsyncIterator[bytes]:
    for item in items:
        yield item


async def apply_reply(sms: SmsReceived) -> None:
    async with transaction() as session:
        outcome = await replies.handle_sms(session, sms, settings)
    log().info("sms.handled", sms_id=str(sms.sms_id), outcome=outcome)


@app.agent(incident_reported)
async def identify_staff(stream: AsyncIterable[bytes]) -> AsyncIterator[str]:
    async for outcome in consume(stream, IncidentReported, open_cases):
        yield outcome


@app.agent(support_needed)
async def page_peer(stream: faust.StreamT[bytes]) -> AsyncIterator[str]:
    # Whatever arrived within 10 ms is matched against one context; a lone case waits
    # at most that long. Usually identify_staff has paged these already and this is a
    # no-op per case; it does the work when that straight-through step did not finish.
    async for batch in stream.take(64, within=0.01):
        matcher = Matcher()
        async for outcome in consume(_each(batch), SupportNeeded, matcher.add):
            yield outcome
        if matcher.page_ids:
            await send_now(matcher.page_ids)


async def send_now(page_ids: list[uuid.UUID]) -> None:
    """Send pages this process just wrote; send_page or the sweep covers a failure."""
    try:
        await pager.deliver_pages(page_ids)
    except Exception:
        log().warning("pages.deferred_to_send_page", count=len(page_ids), exc_info=True)


@app.agent(page_requested)
async def send_page(stream: faust.StreamT[bytes]) -> AsyncIterator[str]:
    # Pages requested within 10 ms of each other are claimed together, so several pages to
    # one peer go out as one SMS.
    async for batch in stream.take(64, within=0.01):
        sender = BatchSender()
        outcomes = [o async for o in consume(_each(batch), PageRequested, sender.add)]
        try:
            await persistently(sender.flush, "deliver_pages")
        except Exception:
            # The pages are in the store as requested; the sweep sends them. Never crash
            # the agent: Faust would skip past the batch.
            log().exception("pages.deliver_failed", count=len(sender.page_ids))
        for outcome in outcomes:
            yield outcome


@app.agent(sms_received)
async def record_reply(stream: AsyncIterable[bytes]) -> AsyncIterator[str]:
    async for outcome in consume(stream, SmsReceived, apply_reply):
        yield outcome


# Small batches commit sooner: the first escalation of a burst is not held for the last.
FIRE_BATCH = 25


# Sends started by the deadline timer; kept so they are not garbage-collected mid-flight.
_sending: set[asyncio.Task[None]] = set()
# At most this many fired batches are being sent at once; the timer waits for a slot. Why:
# firing is faster than sending, and unbounded sends would exhaust the store's connection
# pool and flood Twilio; with the wait, a burst of deadlines is fired as fast as it can be
# sent, and the rest stay due in the store where a second worker can take them.
SEND_SLOTS = 2
_send_slots = asyncio.Semaphore(SEND_SLOTS)


@app.timer(interval=1.0)
async def fire_deadlines() -> None:
    """Escalations, reminders, re-offers and follow-ups that fell due, each exactly once:
    a deadline row is claimed, acted on and marked fired in one transaction.

    A batch's new pages are sent by a task of their own while the next batch fires: at a
    burst of deadlines, firing and sending overlap instead of taking turns.
    """
    while True:
        new_pages: list[uuid.UUID] = []
        try:
            fired = await flows_runner.fire_due(
                settings, limit=FIRE_BATCH, contexts=contexts, new_pages=new_pages
            )
        except (DBAPIError, OSError) as exc:
            log().warning("deadlines.store_unavailable", error=type(exc).__name__)
            return
        if new_pages:
            await _send_slots.acquire()
            task = asyncio.create_task(send_now(new_pages))
            _sending.add(task)
            task.add_done_callback(_sent)
        if fired < FIRE_BATCH:
            return


def _sent(task: asyncio.Task[None]) -> None:
    _sending.discard(task)
    _send_slots.release()


@app.timer(interval=0.5)
async def send_messages() -> None:
    """Queued SMS that are due (quiet hours over, rate limit allows) go out."""
    try:
        async with transaction() as session:
            due = await outbound.due(session, utcnow(), settings.sending_stale_seconds)
    except (DBAPIError, OSError) as exc:
        log().warning("messages.store_unavailable", error=type(exc).__name__)
        return
    for message_id in due:
        await persistently(
            lambda message_id=message_id: pager.deliver_message(message_id), "message"
        )


@app.timer(interval=5.0)
async def sweep_pages() -> None:
    """Drive pages whose event was lost or whose sender died mid-send."""
    try:
        async with transaction() as session:
            due = await paging.due_pages(
                session, stale_after=settings.sending_stale_seconds, older_than=10.0
            )
    except (DBAPIError, OSError) as exc:
        log().warning("sweep.store_unavailable", error=type(exc).__name__)
        return
    for page_id in due:
        await persistently(lambda page_id=page_id: pager.deliver(page_id), "sweep_deliver")


@app.timer(interval=0.2)
async def apply_status_callbacks() -> None:
    """Twilio's status callbacks, stored by the webhook, applied to their pages in sets
    (services/paging/callbacks.py); every worker runs it, one applies at a time."""
    from services.paging import callbacks

    try:
        while await callbacks.apply_pending() == callbacks.BATCH:
            pass  # a full batch: more may be waiting
    except (DBAPIError, OSError) as exc:
        log().warning("callbacks.store_unavailable", error=type(exc).__name__)
