"""The worker's paging timers: the page sweep, and the status callbacks' applier.

The sweep: pages written `requested` and claims gone stale, from the store.

Pages a batch writes are born claimed and sent by it at once. Pages written one at a time
(a coordinator's "reassign", a peer who passes, a reply that moves a case on) are left
`requested`; this sweep sends them within about two seconds (a person's action, where a
second or two does not matter; younger pages are left to whoever wrote them). A claim that
went stale (its worker died mid-send) is reconciled against the provider's log before any
resend.

The applier: Twilio's status callbacks, stored by the webhook as one row each, applied to
their pages and messages in sets (services/paging/callbacks.py). Every worker runs it; an
advisory lock lets one apply at a time.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError

from events.app import app, settings
from events.consume import persistently
from services.db import transaction
from services.logs import log
from services.paging import callbacks, sending
from services.paging import service as paging

REQUESTED_AFTER_S = 2.0


@app.timer(interval=0.5)
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


@app.timer(interval=0.2)
async def apply_status_callbacks() -> None:
    try:
        while await callbacks.apply_pending() == callbacks.BATCH:
            pass  # a full batch: more may be waiting
    except (DBAPIError, OSError) as exc:
        log().warning("callbacks.store_unavailable", error=type(exc).__name__)
