"""Twilio's delivery status callbacks: stored as they arrive, applied to pages in sets.

Why two halves: a burst of pages brings two or three callbacks per SMS, and when each
request locked and updated its page in a transaction of its own, the callbacks alone were a
large share of the API's work and of the page locks the worker's claims waited on. The
webhook now writes one row (`receive`) and answers; `apply_pending`, run by a worker timer,
takes the waiting callbacks in arrival order and applies a batch in one transaction: the
batch's pages and messages locked with one statement each, in id order (as every other
locker of several pages does, so none can deadlock), each callback through the one rule for
delivery statuses (delivery.advance), so a replayed, late or out-of-order status still
writes nothing, whichever batch it lands in.

One applier at a time (every worker runs the timer; a transaction-level advisory lock lets
one through): two appliers splitting one page's callbacks between them could apply a late
failure before the delivery that came first. A page or message another transaction holds
(a claim) is not waited for: the callbacks naming it stay waiting for the next round,
together, so a page's statuses are still applied in the order they arrived.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import Row, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from notifiers.sms import UNDELIVERABLE_NUMBER_ERRORS
from schemas.events import DeliveryStatus, PageStatusChanged
from services import clock, outbox
from services.cases import flows, outbound
from services.cases.models import Message
from services.config import get_settings
from services.db import ENGINE_OPTIONS, run_transaction
from services.logs import log
from services.paging.delivery import Delivery, advance
from services.paging.models import Page, PageState, PageTransition, StatusCallback
from services.paging.service import ANSWERED, record_sent, transition

# Callbacks applied in one transaction: a burst's callbacks take a few transactions, and the
# pages one locks are held for milliseconds, not the length of a burst.
BATCH = 500

FAILED_STATES = (PageState.undelivered, PageState.failed)
# What a status callback can leave a page in, by the delivery it reports.
DELIVERY_TO_STATE = {
    Delivery.delivered: PageState.delivered,
    Delivery.undelivered: PageState.undelivered,
    Delivery.failed: PageState.failed,
}
# The applier's advisory lock: the two-key form, a key space apart from the one-key locks
# taken per phone number (hashtext of the number) elsewhere.
APPLIER_LOCK = text("SELECT pg_try_advisory_xact_lock(x'5f5'::int, x'ca11'::int)")
INSERT = insert(StatusCallback.__table__)
# The one-statement pool's connections, as pg_stat_activity names them.
APPLICATION_NAME = "svrr-status-callbacks"
WAITING = text("SELECT 1 FROM status_callbacks WHERE applied_at IS NULL LIMIT 1")
# Statuses that say the SMS will never reach the phone.
FAILURES = (DeliveryStatus.undelivered, DeliveryStatus.failed, DeliveryStatus.canceled)
# Of those, the ones whose error code may also say the number cannot take SMS at all.
NUMBER_VERDICTS = (DeliveryStatus.undelivered, DeliveryStatus.failed)


# --- the request: one row ---------------------------------------------------------------------


@lru_cache(maxsize=4)
def _autocommit(url: str | None = None) -> AsyncEngine:
    """A small pool of its own for one-statement work: autocommit from the connection's
    start (no BEGIN and COMMIT round trips around an insert that is atomic on its own) and
    no ping at each checkout. Through the shared pool, the ping and the switch to
    autocommit and back cost the webhook 2 ms of CPU per callback; here 0.65 ms."""
    options = {**ENGINE_OPTIONS, "pool_pre_ping": False}
    return create_async_engine(
        url or get_settings().database_url,
        isolation_level="AUTOCOMMIT",
        connect_args={"application_name": APPLICATION_NAME},
        # Kept open up to a burst's concurrency: a connection opened and closed per request
        # above pool_size (SCRAM authentication, a backend started) cost ten times the insert.
        pool_size=32,
        max_overflow=32,
        **options,
    )


async def receive(
    sid: str,
    status: DeliveryStatus,
    error_code: int | None,
    page_ids: Sequence[uuid.UUID],
    message_id: uuid.UUID | None,
) -> None:
    """Store a verified status callback for the applier: the webhook's only write.

    A connection the server dropped (PostgreSQL restarted) fails once and is replaced, as
    the ping would have found: tried again on a new one rather than answering 500.
    """
    row = {
        "provider_sid": sid,
        "status": status.value,
        "error_code": error_code,
        "page_ids": list(page_ids),
        "message_id": message_id,
    }
    for attempt in (1, 2):
        try:
            async with _autocommit().connect() as conn:
                await conn.execute(INSERT, row)
            return
        except DBAPIError as exc:
            if not exc.connection_invalidated or attempt == 2:
                raise


# --- the applier: a batch in one transaction --------------------------------------------------


async def apply_pending(limit: int = BATCH) -> int:
    """Apply up to `limit` waiting callbacks, oldest first, in one transaction; how many
    were applied (fewer than `limit`: none are left that can be applied now).

    Every worker calls this five times a second, mostly to find nothing: a look without a
    transaction first (one round trip instead of three).
    """
    async with _autocommit().connect() as conn:
        if await conn.scalar(WAITING) is None:
            return 0
    return await run_transaction(lambda session: apply_batch(session, limit))


@dataclass
class _Locked:
    """The rows a batch may change, and the ids another transaction holds right now."""

    pages: dict[uuid.UUID, Page]
    messages: dict[uuid.UUID, Message]
    busy: set[uuid.UUID]


async def apply_batch(session: AsyncSession, limit: int) -> int:
    if not await session.scalar(APPLIER_LOCK):
        return 0  # another worker's applier is at it: it takes what is waiting
    waiting = (
        await session.execute(
            select(
                StatusCallback.id,
                StatusCallback.provider_sid,
                StatusCallback.status,
                StatusCallback.error_code,
                StatusCallback.page_ids,
                StatusCallback.message_id,
            )
            .where(StatusCallback.applied_at.is_(None))
            .order_by(StatusCallback.id)
            .limit(limit)
        )
    ).all()
    if not waiting:
        return 0
    locked = await _lock(session, waiting)
    recorded: list[int] = []
    applied: list[int] = []
    for row in waiting:
        named = [*row.page_ids, *([row.message_id] if row.message_id else [])]
        if locked.busy.intersection(named):
            continue  # its page is held elsewhere: next round, with its page's later statuses
        if await _apply_one(session, row, locked):
            recorded.append(row.id)
        applied.append(row.id)
    if applied:
        await session.execute(
            update(StatusCallback)
            .where(StatusCallback.id.in_(applied))
            .values(applied_at=func.now(), recorded=StatusCallback.id.in_(recorded))
        )
    return len(applied)


async def _lock(session: AsyncSession, waiting: Sequence[Row]) -> _Locked:
    """Lock every page, then every message, the batch names: one statement each, id order.

    SKIP LOCKED, then one read of which skipped ids exist: those are held by another
    transaction (a claim, another applier), the rest are ids we never had.
    """
    page_ids = sorted({p for row in waiting for p in row.page_ids})
    message_ids = sorted({row.message_id for row in waiting if row.message_id})
    pages: dict[uuid.UUID, Page] = {}
    messages: dict[uuid.UUID, Message] = {}
    busy: set[uuid.UUID] = set()
    if page_ids:
        rows = await session.scalars(
            select(Page)
            .where(Page.id.in_(page_ids))
            .order_by(Page.id)
            .with_for_update(skip_locked=True)
        )
        pages = {p.id: p for p in rows}
        if missing := [p for p in page_ids if p not in pages]:
            busy |= set(await session.scalars(select(Page.id).where(Page.id.in_(missing))))
    if message_ids:
        rows_m = await session.scalars(
            select(Message)
            .where(Message.id.in_(message_ids))
            .order_by(Message.id)
            .with_for_update(skip_locked=True)
        )
        messages = {m.id: m for m in rows_m}
        if missing := [m for m in message_ids if m not in messages]:
            busy |= set(await session.scalars(select(Message.id).where(Message.id.in_(missing))))
    return _Locked(pages, messages, busy)


async def _apply_one(session: AsyncSession, row: Row, locked: _Locked) -> bool:
    """One callback, as the webhook applied it before: True when it changed anything."""
    status = DeliveryStatus(row.status)
    sid, error = row.provider_sid, row.error_code
    changed = False
    # Only a failure that was recorded says anything about the number: a late
    # "undelivered" after "delivered" is stale and must not mark a working phone.
    failed_numbers: set[str] = set()
    # A bundled SMS reports for every page it carried.
    for page_id in sorted(set(row.page_ids)):
        page = locked.pages.get(page_id)
        if page is None:
            continue
        event = await apply_to_page(session, page, sid, status, error)
        if event is not None:
            changed = True
            if status in FAILURES:
                failed_numbers.add(page.to_number)
                # A number that cannot receive: page the next step now, not after the wait,
                # but only while this page is the case's current one.
                await flows.escalate_now(session, page.case_id, page.id)
        log().info(
            "page.status", page_id=str(page_id), status=status.value, recorded=event is not None
        )
    msg = locked.messages.get(row.message_id) if row.message_id else None
    if msg is not None:
        moved = await outbound.apply_status(session, msg, sid, status, error)
        log().info("message.status", message_id=str(msg.id), status=status.value, recorded=moved)
        if moved:
            changed = True
            failed_numbers.add(msg.to_number)
    if error in UNDELIVERABLE_NUMBER_ERRORS and status in NUMBER_VERDICTS:
        # A landline or a dead number: remembered, so the next incident skips it.
        for number in sorted(failed_numbers):
            await outbound.mark_undeliverable(session, number, error)
    return changed


# --- the rule, for one locked page ------------------------------------------------------------


async def page_delivery(session: AsyncSession, page: Page) -> Delivery:
    """How far the page's SMS got. An answered page no longer shows it in its state, so a
    failure recorded before the answer is read from its history."""
    if page.state in FAILED_STATES:
        return Delivery(page.state)
    if page.delivered_at is not None or page.state == PageState.delivered:
        return Delivery.delivered
    if page.state in ANSWERED:
        failed = await session.scalar(
            select(PageTransition.state)
            .where(
                PageTransition.page_id == page.id,
                PageTransition.state.in_(
                    [DeliveryStatus.failed, DeliveryStatus.undelivered, DeliveryStatus.canceled]
                ),
            )
            .limit(1)
        )
        if failed is not None:
            return Delivery.failed
    return Delivery.sent if page.sent_at is not None else Delivery.none


async def apply_to_page(
    session: AsyncSession,
    page: Page,
    sid: str,
    status: DeliveryStatus,
    error_code: int | None,
) -> PageStatusChanged | None:
    """Record a delivery status on a page the caller has locked, if it moves the page
    forward (delivery.advance); a replayed, late or out-of-order status writes nothing and
    returns None, so nothing reacts to it."""
    if page.sent_at is not None and page.provider_sid != sid:
        log().warning("page.status_sid_mismatch", page_id=str(page.id))
        return None
    new = advance(await page_delivery(session, page), status)
    if new is None:
        return None
    if page.sent_at is None:
        # The callback proves Twilio took the message: record it, whatever the worker knew.
        await record_sent(session, page.id, sid, reconciled=True)
    to_state = DELIVERY_TO_STATE.get(new)
    if to_state is None:
        # 'queued'/'sent': Twilio has it, which record_sent recorded (or had recorded). Half
        # of all callbacks are these.
        return None
    if page.state not in ANSWERED:
        page.state = to_state
    if to_state == PageState.delivered:
        page.delivered_at = clock.now()
    else:
        page.error_code = error_code
    transition(session, page.id, status, error_code=error_code)
    event = PageStatusChanged(
        page_id=page.id,
        case_id=page.case_id,
        provider_sid=sid,
        status=status,
        error_code=error_code,
    )
    await outbox.add(session, event)
    return event


async def record_status(
    session: AsyncSession,
    page_id: uuid.UUID,
    sid: str,
    status: DeliveryStatus,
    error_code: int | None,
) -> PageStatusChanged | None:
    """apply_to_page for one page by id, locking it first (tests, and any caller that holds
    a single status rather than a batch)."""
    page = await session.get(Page, page_id, with_for_update=True)
    if page is None:
        return None
    return await apply_to_page(session, page, sid, status, error_code)


async def pending(session: AsyncSession) -> int:
    """Callbacks not applied yet (the applier's backlog, for tests and metrics)."""
    return int(
        await session.scalar(text("SELECT count(*) FROM status_callbacks WHERE applied_at IS NULL"))
        or 0
    )
