"""Twilio's delivery status callbacks: stored as they arrive, applied to pages in sets.

Why two halves: a burst of pages brings two or three callbacks per SMS, and when each
request locked and updated its page in a transaction of its own, the callbacks alone were a
large share of the API's work and of the page locks the worker's claims waited on. The
webhook now writes one row (paging.views.store_callback) and answers; the worker's sweeps
(services.paging.agents) see rows waiting and call `apply_waiting`, which takes the
waiting callbacks in arrival order and applies a batch in one transaction: the batch's
pages and messages locked with one statement each, in id order (as every other locker of
several pages does, so none can deadlock), each callback through the one rule for delivery
statuses (delivery.advance), so a replayed, late or out-of-order status still writes
nothing, whichever batch it lands in.

One applier at a time (every worker runs the timer; a transaction-level advisory lock lets
one through): two appliers splitting one page's callbacks between them could apply a late
failure before the delivery that came first. A page or message another transaction holds
(a claim) is not waited for: the callbacks naming it stay waiting for the next round,
together, so a page's statuses are still applied in the order they arrived.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

import psycopg
from psycopg.rows import namedtuple_row
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from notifiers.sms import UNDELIVERABLE_NUMBER_ERRORS
from schemas.events import DeliveryStatus, Event, PageSent, PageStatusChanged
from services import clock, outbox
from services.cases import flows, outbound
from services.cases.models import Message
from services.config import get_settings
from services.db import (
    ENGINE_OPTIONS,
    TRANSIENT,
    connect_args,
    driver,
    raw_pool,
    rows_json,
)
from services.logs import log
from services.paging.delivery import Delivery, advance
from services.paging.models import PageState
from services.paging.service import ANSWERED

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
# The one-statement pool's connections, as pg_stat_activity names them.
APPLICATION_NAME = "svrr-status-callbacks"
WAITING = "SELECT 1 FROM status_callbacks WHERE applied_at IS NULL LIMIT 1"
# Statuses that say the SMS will never reach the phone.
FAILURES = (DeliveryStatus.undelivered, DeliveryStatus.failed, DeliveryStatus.canceled)
# Of those, the ones whose error code may also say the number cannot take SMS at all.
NUMBER_VERDICTS = (DeliveryStatus.undelivered, DeliveryStatus.failed)


async def apply_pending(limit: int = BATCH) -> int:
    """Apply up to `limit` waiting callbacks, oldest first, in one transaction; how many
    were applied (fewer than `limit`: none are left that can be applied now).

    Every worker calls this five times a second, mostly to find nothing: a look without a
    transaction first (one round trip instead of three).
    """
    if not await raw_pool(APPLICATION_NAME, max_size=1).fetch(WAITING, ()):
        return 0
    return await apply_waiting(limit)


async def apply_waiting(limit: int = BATCH) -> int:
    """apply_pending without the look, for a caller that has just seen callbacks waiting
    (the worker's sweeps, services.paging.agents).

    On a small pool of its own without a ping at each checkout (one round trip less a
    round, five rounds a second): a connection PostgreSQL dropped fails this round, is
    replaced by the pool, and the callbacks wait for the next. A deadlock victim is run
    again at once (nothing of it was written)."""
    for attempt in (1, 2, 3):
        try:
            applied = await _plain_round(limit)
            if applied is not None:
                return applied
            async with _applier_sessions()() as session, session.begin():
                return await apply_batch(session, limit)
        except (DBAPIError, psycopg.Error) as exc:
            # The batch's own statements run on psycopg directly (db.driver): its errors
            # arrive unwrapped; the ORM's, wrapped in a DBAPIError.
            cause = exc.orig if isinstance(exc, DBAPIError) else exc
            if not isinstance(cause, TRANSIENT) or attempt == 3:
                raise
    raise AssertionError("unreachable: the last attempt returns or raises")


@lru_cache(maxsize=4)
def _applier_sessions(url: str | None = None) -> async_sessionmaker[AsyncSession]:
    options = {**ENGINE_OPTIONS, "pool_pre_ping": False}
    engine = create_async_engine(
        url or get_settings().database_url,
        connect_args=connect_args(APPLIER),
        pool_size=2,
        max_overflow=2,
        **options,
    )
    return async_sessionmaker(engine, expire_on_commit=False)


class PageRow:
    """The columns of a locked page the rule reads and writes: a plain object, not an ORM
    row (loading and flushing ORM pages was most of the applier's CPU per callback)."""

    __slots__ = ("id", "case_id", "state", "provider_sid", "sent_at", "delivered_at")
    __slots__ += ("to_number_key", "error_code", "changed")

    def __init__(self, row: Any) -> None:
        self.id: uuid.UUID = row.id
        self.case_id: uuid.UUID = row.case_id
        self.state: str = row.state
        self.provider_sid: str | None = row.provider_sid
        self.sent_at: datetime | None = row.sent_at
        self.delivered_at: datetime | None = row.delivered_at
        self.to_number_key: str | None = row.to_number_key  # None: purged (retention)
        self.error_code: int | None = row.error_code
        self.changed = False


PAGE_ROW = (
    "SELECT id, case_id, state, provider_sid, sent_at, delivered_at, to_number_key, error_code "
    "FROM pages WHERE id = ANY(%(ids)s) ORDER BY id FOR UPDATE"
)
# The applier's lock and the waiting callbacks in one statement: none when another applier
# holds the lock. The statement's snapshot is taken before the lock is: if the applier that
# held it committed in between, callbacks it applied may be read again; applying them again
# changes nothing (the delivery rule: a replay writes nothing, on pages locked and read by
# the next statement), and their rows are not marked again (`applied_at IS NULL` below).
WAITING_ROWS = (
    "SELECT id, provider_sid, status, error_code, page_ids, message_id FROM status_callbacks, "
    "(SELECT pg_try_advisory_xact_lock(x'5f5'::int, x'ca11'::int) AS got) AS applier "
    "WHERE applier.got AND applied_at IS NULL ORDER BY id LIMIT %(n)s"
)
# The applier's connections, as PostgreSQL's pg_stat_activity names them.
APPLIER = "svrr-callback-applier"
TRANSITION_COLUMNS = {"page_id": "uuid", "state": "text", "detail": "jsonb"}


# Where a round's statements run: an ORM session (its psycopg connection, db.driver), or, for
# a plain round, a pooled psycopg connection in a transaction (_apply_plain).
Source = AsyncSession | psycopg.AsyncConnection[Any]


async def _rows(source: Source, query: str, params: Mapping[str, object]) -> list[Any]:
    """A statement's rows (named tuples) on the source's psycopg connection."""
    pg = source if isinstance(source, psycopg.AsyncConnection) else await driver(source)
    async with pg.cursor(row_factory=namedtuple_row) as cur:
        await cur.execute(query, params, prepare=True)
        return await cur.fetchall() if cur.description else []


def _insert_json(table: str, columns: dict[str, str], param: str) -> str:
    """services.db.insert_from_json in psycopg's parameter style."""
    names = ", ".join(columns)
    spec = ", ".join(f"{name} {kind}" for name, kind in columns.items())
    return (
        f"INSERT INTO {table} ({names}) SELECT {names} "
        f"FROM jsonb_to_recordset(CAST(%({param})s AS jsonb)) AS r({spec})"
    )


@dataclass
class Batch:
    """What a batch of callbacks locked, and what it will write, in one statement at the end:
    pages changed, their transitions and events in the order they happened."""

    pages: dict[uuid.UUID, PageRow]
    messages: dict[uuid.UUID, Message]
    busy: set[uuid.UUID]
    transitions: list[dict[str, object]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    escalate: list[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=list)
    # One logger for the batch's lines: services.logs.log() makes a new lazy proxy per
    # call, which binds (and builds its logger) again on its first line; one proxy per
    # batch binds once, however many callbacks the batch logs.
    log: Any = field(default_factory=log)

    def transition(self, page_id: uuid.UUID, state: str, **detail: object) -> None:
        self.transitions.append({"page_id": page_id, "state": state, "detail": detail})


async def apply_batch(session: AsyncSession, limit: int) -> int:
    return await _apply_rows(session, await _rows(session, WAITING_ROWS, {"n": limit}))


async def _apply_rows(session: Source, waiting: list[Any]) -> int:
    if not waiting:
        return 0  # nothing waits, or another worker's applier is at it
    batch = await _lock(session, waiting)
    recorded: list[int] = []
    applied: list[int] = []
    for row in waiting:
        named = [*row.page_ids, *([row.message_id] if row.message_id else [])]
        if batch.busy.intersection(named):
            continue  # its page is held elsewhere: next round, with its page's later statuses
        if await _apply_one(session, row, batch):
            recorded.append(row.id)
        applied.append(row.id)
    await _write(session, batch, applied, recorded)
    return len(applied)


class _NeedsSession(Exception):
    """The waiting callbacks name a message or report a failure: the round is the ORM's."""


async def _plain_round(limit: int) -> int | None:
    """A round on a pooled psycopg connection, without the ORM: its count, or None when the
    waiting callbacks need the ORM.

    Why: nearly every round applies 'sent' and 'delivered' to pages, and for those the ORM
    session around its statements (made, begun, a pooled connection checked out and
    returned, committed) was most of the round's fixed cost, five rounds a second in every
    worker. A round whose waiting callbacks name a message or report a failure (messages,
    escalations and marked numbers go through the ORM's models and flows) is rolled back
    before it has written anything and run on a session instead, as before."""
    try:
        async with raw_pool(APPLIER, 2).transaction() as conn:
            return await _apply_plain(conn, limit)
    except _NeedsSession:
        return None


async def _apply_plain(conn: psycopg.AsyncConnection[Any], limit: int) -> int:
    """apply_batch on the applier's own connection, in the caller's transaction."""
    waiting = await _rows(conn, WAITING_ROWS, {"n": limit})
    if any(row.message_id is not None or row.status in FAILURE_VALUES for row in waiting):
        raise _NeedsSession  # rolled back: nothing written, the applier's lock let go
    return await _apply_rows(conn, waiting)


async def _lock(session: Source, waiting: Sequence[Any]) -> Batch:
    """Lock every page, then every message, the batch names: one statement each, id order.

    SKIP LOCKED, then one read of which skipped ids exist: those are held by another
    transaction (a claim, another applier), the rest are ids we never had.
    """
    page_ids = sorted({p for row in waiting for p in row.page_ids})
    message_ids = sorted({row.message_id for row in waiting if row.message_id})
    pages: dict[uuid.UUID, PageRow] = {}
    messages: dict[uuid.UUID, Message] = {}
    busy: set[uuid.UUID] = set()
    if page_ids:
        rows = await _rows(session, PAGE_ROW + " SKIP LOCKED", {"ids": page_ids})
        pages = {r.id: PageRow(r) for r in rows}
        if missing := [p for p in page_ids if p not in pages]:
            found = await _rows(
                session, "SELECT id FROM pages WHERE id = ANY(%(ids)s)", {"ids": missing}
            )
            busy |= {r.id for r in found}
    if message_ids:
        assert isinstance(session, AsyncSession), "a plain round names no message"
        rows_m = await session.scalars(
            select(Message)
            .where(Message.id.in_(message_ids))
            .order_by(Message.id)
            .with_for_update(skip_locked=True)
        )
        messages = {m.id: m for m in rows_m}
        if missing := [m for m in message_ids if m not in messages]:
            busy |= set(await session.scalars(select(Message.id).where(Message.id.in_(missing))))
    return Batch(pages, messages, busy)


async def _apply_one(session: Source, row: Any, batch: Batch) -> bool:
    """One callback, as the webhook applied it before: True when it changed anything."""
    status = DeliveryStatus(row.status)
    sid, error = row.provider_sid, row.error_code
    changed = False
    # Only a failure that was recorded says anything about the number: a late
    # "undelivered" after "delivered" is stale and must not mark a working phone.
    failed_numbers: set[str | None] = set()  # the numbers' lookup values
    # A bundled SMS reports for every page it carried.
    for page_id in sorted(set(row.page_ids)) if len(row.page_ids) > 1 else row.page_ids:
        page = batch.pages.get(page_id)
        if page is None:
            continue
        event = await apply_to_page(session, batch, page, sid, status, error)
        if event is not None:
            changed = True
            if status in FAILURES:
                failed_numbers.add(page.to_number_key)
                # A number that cannot receive: page the next step now, not after the wait,
                # but only while this page is the case's current one.
                batch.escalate.append((page.case_id, page.id))
        batch.log.info(
            "page.status", page_id=str(page_id), status=status.value, recorded=event is not None
        )
    msg = batch.messages.get(row.message_id) if row.message_id else None
    if msg is not None:
        assert isinstance(session, AsyncSession), "a plain round names no message"
        moved = await outbound.apply_status(session, msg, sid, status, error)
        batch.log.info(
            "message.status", message_id=str(msg.id), status=status.value, recorded=moved
        )
        if moved:
            changed = True
            failed_numbers.add(msg.to_number_key)
    if error in UNDELIVERABLE_NUMBER_ERRORS and status in NUMBER_VERDICTS:
        # A landline or a dead number: remembered, so the next incident skips it.
        assert isinstance(session, AsyncSession), "a plain round reports no failure"
        for key in sorted(k for k in failed_numbers if k is not None):
            await outbound.mark_undeliverable(session, key, error)
    return changed


async def _write(session: Source, batch: Batch, applied: list[int], recorded: list[int]) -> None:
    """The batch's pages, transitions, events and callbacks, in one statement (one
    data-modifying CTE per table), then the escalations its failures call for."""
    changed = [p for p in batch.pages.values() if p.changed]
    parts: list[str] = []
    params: dict[str, object] = {}
    if changed:
        parts.append(
            "moved AS (UPDATE pages AS p SET state = v.state, provider_sid = v.sid, "
            "sent_at = v.sent_at, delivered_at = v.delivered_at, error_code = v.error_code "
            "FROM jsonb_to_recordset(CAST(%(pages)s AS jsonb)) AS v(id uuid, state text, "
            "sid text, sent_at timestamptz, delivered_at timestamptz, error_code int) "
            "WHERE p.id = v.id)"
        )
        params["pages"] = rows_json(
            [
                {
                    "id": p.id,
                    "state": p.state,
                    "sid": p.provider_sid,
                    "sent_at": p.sent_at,
                    "delivered_at": p.delivered_at,
                    "error_code": p.error_code,
                }
                for p in changed
            ]
        )
    if batch.transitions:
        parts.append(f"moves AS ({_insert_json('page_transitions', TRANSITION_COLUMNS, 't')})")
        params["t"] = rows_json(batch.transitions)
    if batch.events:
        parts.append(f"events AS ({_insert_json('outbox', outbox.COLUMNS, 'e')})")
        params["e"] = rows_json(outbox.rows(batch.events))
    if applied:
        parts.append(
            "done AS (UPDATE status_callbacks SET applied_at = now(), "
            "recorded = id = ANY(CAST(%(recorded)s AS bigint[])) "
            "WHERE id = ANY(CAST(%(applied)s AS bigint[])) AND applied_at IS NULL)"
        )
        params |= {"applied": applied, "recorded": recorded}
    if parts:
        # The relay is woken at commit, as outbox.add does it.
        wake = f"SELECT pg_notify('{outbox.CHANNEL}', '')" if batch.events else "SELECT 1"
        await _rows(session, f"WITH {', '.join(parts)} {wake}", params)
    if batch.escalate:
        assert isinstance(session, AsyncSession), "a plain round reports no failure"
    for case_id, page_id in batch.escalate:
        await flows.escalate_now(session, case_id, page_id)
    batch.transitions, batch.events, batch.escalate = [], [], []
    for p in changed:
        p.changed = False


# --- the rule, for one locked page ------------------------------------------------------------


FAILED_BEFORE = (
    "SELECT 1 FROM page_transitions WHERE page_id = %(p)s "
    "AND state = ANY(CAST(%(states)s AS text[])) LIMIT 1"
)
FAILURE_VALUES = [s.value for s in FAILURES]


async def page_delivery(session: Source, page: PageRow) -> Delivery:
    """How far the page's SMS got. An answered page no longer shows it in its state, so a
    failure recorded before the answer is read from its history."""
    if page.state in FAILED_STATES:
        return Delivery(page.state)
    if page.delivered_at is not None or page.state == PageState.delivered:
        return Delivery.delivered
    if page.state in ANSWERED:
        if await _rows(session, FAILED_BEFORE, {"p": page.id, "states": FAILURE_VALUES}):
            return Delivery.failed
    return Delivery.sent if page.sent_at is not None else Delivery.none


async def apply_to_page(
    session: Source,
    batch: Batch,
    page: PageRow,
    sid: str,
    status: DeliveryStatus,
    error_code: int | None,
) -> PageStatusChanged | None:
    """Record a delivery status on a page the batch has locked, if it moves the page forward
    (delivery.advance); a replayed, late or out-of-order status writes nothing and returns
    None, so nothing reacts to it. What it writes waits in `batch` for _write."""
    if page.sent_at is not None and page.provider_sid != sid:
        log().warning("page.status_sid_mismatch", page_id=str(page.id))
        return None
    new = advance(await page_delivery(session, page), status)
    if new is None:
        return None
    page.changed = True
    if page.sent_at is None:
        # The callback proves Twilio took the message: record it, whatever the worker knew
        # (as paging.record_sent does, reconciled).
        page.provider_sid = sid
        page.sent_at = clock.now()
        if page.state in (PageState.requested, PageState.sending):
            page.state = PageState.sent
        batch.transition(page.id, PageState.sent, sid=sid, reconciled=True)
        batch.events.append(
            PageSent(page_id=page.id, case_id=page.case_id, provider_sid=sid, reconciled=True)
        )
    to_state = DELIVERY_TO_STATE.get(new)
    if to_state is None:
        # 'queued'/'sent': Twilio has it, which was recorded (now or before). Half of all
        # callbacks are these.
        return None
    if page.state not in ANSWERED:
        page.state = to_state
    if to_state == PageState.delivered:
        page.delivered_at = clock.now()
    else:
        page.error_code = error_code
    batch.transition(page.id, status, error_code=error_code)
    event = PageStatusChanged(
        page_id=page.id,
        case_id=page.case_id,
        provider_sid=sid,
        status=status,
        error_code=error_code,
    )
    batch.events.append(event)
    return event


async def record_status(
    session: AsyncSession,
    page_id: uuid.UUID,
    sid: str,
    status: DeliveryStatus,
    error_code: int | None,
) -> PageStatusChanged | None:
    """apply_to_page for one page by id, locking it first and writing at once (tests, and
    any caller that holds a single status rather than a batch)."""
    rows = await _rows(session, PAGE_ROW, {"ids": [page_id]})
    if not rows:
        return None
    page = PageRow(rows[0])
    batch = Batch({page.id: page}, {}, set())
    event = await apply_to_page(session, batch, page, sid, status, error_code)
    if event is not None and status in FAILURES:
        batch.escalate.append((page.case_id, page.id))
    await _write(session, batch, [], [])
    return event


async def pending(session: AsyncSession) -> int:
    """Callbacks not applied yet (the applier's backlog, for tests and metrics)."""
    return int(
        await session.scalar(text("SELECT count(*) FROM status_callbacks WHERE applied_at IS NULL"))
        or 0
    )
