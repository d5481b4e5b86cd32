"""Where a page is sent: claim it, send it through Twilio, record the sid.

Why three steps with the claim committed first: Twilio has no idempotency key, so the store
must say "this page is being sent" before the request leaves. If the worker dies after Twilio
took the message but before the sid was stored, the claim goes stale; whoever takes it next
asks Twilio's message log first and records what it finds instead of paging twice. A status
callback (which names the page) records the sid too, whichever arrives first.
"""

from __future__ import annotations

import uuid

from notifiers.sms import PermanentSendError, SmsSender, TransientSendError
from services.config import get_settings
from services.db import transaction
from services.logs import log, mask_number
from services.metrics import PAGES, SEND_SECONDS
from services.paging import service as paging

_sender: SmsSender | None = None


def sender() -> SmsSender:
    global _sender
    if _sender is None:
        _sender = SmsSender(get_settings())
    return _sender


async def close() -> None:
    global _sender
    if _sender is not None:
        await _sender.close()
        _sender = None


def status_callback_url(page_id: uuid.UUID) -> str:
    return f"{get_settings().public_base_url.rstrip('/')}/twilio/status?page={page_id}"


async def deliver(page_id: uuid.UUID) -> None:
    settings = get_settings()
    async with transaction() as session:
        claim = await paging.claim(session, page_id, settings.sending_stale_seconds)
    if claim is None:
        return  # already sent, or another worker is sending it now
    bound = log().bind(page_id=str(page_id), case_id=str(claim.case_id))
    try:
        if claim.reclaimed:
            sid = await sender().find_sent(claim.to_number, claim.body, claim.requested_at)
            if sid is not None:
                async with transaction() as session:
                    await paging.record_sent(session, page_id, sid, reconciled=True)
                bound.warning("page.reconciled", sid=sid)
                PAGES.labels("reconciled").inc()
                return
        with SEND_SECONDS.time():
            sent = await sender().send(claim.to_number, claim.body, status_callback_url(page_id))
    except PermanentSendError as exc:
        async with transaction() as session:
            await paging.record_failed(session, page_id, exc.code)
        bound.error("page.failed", error_code=exc.code, to=mask_number(claim.to_number))
        PAGES.labels("failed").inc()
        return
    except TransientSendError as exc:
        async with transaction() as session:
            await paging.release(session, page_id, str(exc), settings.sending_stale_seconds)
        bound.warning("page.send_retry", error=str(exc))
        PAGES.labels("retry").inc()
        return
    async with transaction() as session:
        await paging.record_sent(session, page_id, sent.sid)
    bound.info("page.sent", sid=sent.sid, to=mask_number(claim.to_number))
    PAGES.labels("sent").inc()
