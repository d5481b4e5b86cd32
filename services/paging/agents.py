"""The worker's sweeps: one cheap look at the store, then only the sweeps with work to do.

The sweeps (each runs as before, one round at a time, when the look says it has work):

- status callbacks (every 0.2 s): Twilio's callbacks, stored by the webhook as one row each,
  applied to their pages and messages in sets (services/paging/callbacks.py). Every worker
  runs it; an advisory lock lets one apply at a time.
- pages (every 0.5 s): pages written `requested` and claims gone stale. Pages a batch writes
  are born claimed and sent by it at once. Pages written one at a time (a coordinator's
  "reassign", a peer who passes, a reply that moves a case on) are left `requested`; this
  sweep sends them within about two seconds (a person's action, where a second or two does
  not matter; younger pages are left to whoever wrote them). A claim that went stale (its
  worker died mid-send) is reconciled against the provider's log before any resend.
- messages (every 0.5 s): queued SMS that are due, and their stale claims
  (services.cases.agents.send_messages).
- unpaged cases (every 0.5 s): cases opened outside the incident path
  (services.cases.agents.page_unpaged_cases).

Why one look: idle, the four timers each took a pooled connection (a ping), a transaction
and a query, 17 round trips a second: ~4% of a core in each worker with nothing to do, and
at 5 incidents/s 12% of the worker's CPU. Now one timer asks one question with one
statement on a connection of its own (prepared by psycopg after a few runs): "is there a
callback waiting?" every 0.2 s, and every 0.5 s also "a page, a message or a case due?",
with the same conditions the sweeps select by, so a sweep runs exactly when it would have
found something, within its own interval as before.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

import psycopg
from sqlalchemy.exc import DBAPIError

from events.app import app, settings
from events.consume import persistently
from services import clock
from services.cases import agents as case_sweeps
from services.db import raw_pool, transaction
from services.logs import log
from services.paging import callbacks, sending
from services.paging import service as paging

REQUESTED_AFTER_S = 2.0
TICK_S = 0.2  # the status callbacks' interval
SWEEP_S = 0.5  # the pages', messages' and unpaged cases' interval

WAITING_CALLBACK = "EXISTS (SELECT 1 FROM status_callbacks WHERE applied_at IS NULL)"
LOOK_CALLBACKS = f"SELECT {WAITING_CALLBACK}, false, false, false"
# The conditions of paging.due_pages, outbound.due and case_sweeps.page_unpaged_cases.
LOOK_ALL = (
    f"SELECT {WAITING_CALLBACK}, "
    "EXISTS (SELECT 1 FROM pages WHERE (state = 'requested' AND requested_at < %(requested)s) "
    "OR (state = 'sending' AND claimed_at < %(stale)s)), "
    "EXISTS (SELECT 1 FROM messages WHERE (state = 'queued' AND not_before <= %(now)s) "
    "OR (state = 'sending' AND claimed_at < %(stale)s)), "
    "EXISTS (SELECT 1 FROM support_cases WHERE state = 'identified' AND created_at < %(opened)s)"
)


class Look:
    """The look on one autocommit connection of its own (a RawPool of one): no ping, no
    BEGIN; a dropped connection is replaced before the next look."""

    def __init__(self) -> None:
        self._last_sweeps = 0.0

    async def __call__(self) -> tuple[bool, bool, bool, bool]:
        """(callbacks, pages, messages, cases): which sweeps have work now."""
        pool = raw_pool("svrr-worker-look", max_size=1)
        t = time.monotonic()
        if t - self._last_sweeps >= SWEEP_S - 0.01:
            now = clock.now()
            rows = await pool.fetch(
                LOOK_ALL,
                {
                    "requested": now - timedelta(seconds=REQUESTED_AFTER_S),
                    "stale": now - timedelta(seconds=settings.sending_stale_seconds),
                    "now": now,
                    "opened": now - case_sweeps.UNPAGED_AFTER,
                },
            )
            self._last_sweeps = t
        else:
            rows = await pool.fetch(LOOK_CALLBACKS, ())
        ((callbacks_waiting, pages, messages, cases),) = rows
        return bool(callbacks_waiting), bool(pages), bool(messages), bool(cases)


look = Look()
# The sweep of each kind in flight (one at a time per kind, as each timer ran before): a
# sweep that waits on Twilio does not hold back the callbacks.
running: dict[str, asyncio.Task[None]] = {}


def start(kind: str, sweep: Callable[[], Awaitable[None]]) -> None:
    if kind in running:
        return
    task = asyncio.create_task(sweep(), name=f"sweep-{kind}")
    running[kind] = task
    task.add_done_callback(lambda t: _done(kind, t))


def _done(kind: str, task: asyncio.Task[None]) -> None:
    running.pop(kind, None)
    if not task.cancelled() and (exc := task.exception()) is not None:
        log().error("sweep.failed", sweep=kind, error=type(exc).__name__, exc_info=exc)


@app.timer(interval=TICK_S)
async def sweeps() -> None:
    try:
        waiting, pages, messages, cases = await look()
    except (psycopg.Error, OSError) as exc:
        log().warning("sweep.store_unavailable", error=type(exc).__name__)
        return
    if waiting:
        start("callbacks", apply_status_callbacks)
    if pages:
        start("pages", sweep_pages)
    if messages:
        start("messages", case_sweeps.send_messages)
    if cases:
        start("cases", case_sweeps.page_unpaged_cases)


async def sweep_pages() -> None:
    try:
        async with transaction() as session:
            due = await paging.due_pages(
                session, stale_after=settings.sending_stale_seconds, older_than=REQUESTED_AFTER_S
            )
    except (DBAPIError, OSError) as exc:
        log().warning("sweep.store_unavailable", error=type(exc).__name__)
        return
    if due:
        await persistently(lambda: sending.deliver_pages(due), "sweep_deliver")


async def apply_status_callbacks() -> None:
    try:
        while await callbacks.apply_waiting() == callbacks.BATCH:
            pass  # a full batch: more may be waiting
    except (DBAPIError, psycopg.Error, OSError) as exc:
        log().warning("callbacks.store_unavailable", error=type(exc).__name__)
