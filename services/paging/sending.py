"""Where a page is sent: through Twilio (notifiers.sms), then the sid recorded.

Pages born claimed (services.cases.dispatch: a batch's first pages, escalations) go out with
`send_new`: a batch's SMS several at once, their outcomes recorded in one transaction.
Pages written `requested` (one at a time, by a person's action or a reply) and claims gone
stale are claimed here first (`deliver_pages`).

Why the claim is committed before the request leaves: Twilio has no idempotency key, so the store
must say "this page is being sent" before the request leaves. If the worker dies after Twilio
took the message but before the sid was stored, the claim goes stale; whoever takes it next
asks Twilio's message log first and records what it finds instead of paging twice. A status
callback (which names the page) records the sid too, whichever arrives first.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from notifiers.sms import (
    UNDELIVERABLE_NUMBER_ERRORS,
    PermanentSendError,
    SmsSender,
    TransientSendError,
)
from services.cases import flows, outbound
from services.cases.dispatch import Bundle as NewBundle
from services.cases.dispatch import NewPage
from services.config import get_settings
from services.db import transaction
from services.logs import log, mask_number
from services.metrics import MESSAGES, PAGES, SEND_SECONDS
from services.paging import service as paging

_sender: SmsSender | None = None
# Twilio answers in tens of milliseconds: one at a time would cap a burst at ~50 pages/s;
# bounded, so a burst cannot exhaust sockets or flood the provider.
SEND_CONCURRENCY = 32


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


def status_callback_url(kind: str, item_id: uuid.UUID | str) -> str:
    """Callbacks name what they are about, so they can record the sid even if we could not."""
    return f"{get_settings().public_base_url.rstrip('/')}/twilio/status?{kind}={item_id}"


@dataclass(frozen=True)
class Outcome:
    result: Literal["sent", "reconciled", "failed", "retry"]
    sid: str | None = None
    error_code: int | None = None
    error: str = ""


async def send_claimed(
    to: str, body: str, since: datetime, reclaimed: bool, callback: str
) -> Outcome:
    """Send what a claim holds; after a stale claim, ask the provider's log first.

    A transient failure is tried once more at once, as a stale claim would be (the log
    first, so a request that did get through is not sent twice). Why: the commonest one is a
    pooled connection the server closed while idle; waiting for the sweep would make that
    page tens of seconds late.
    """
    for again in (False, True):
        try:
            if reclaimed or again:
                sid = await sender().find_sent(to, body, since)
                if sid is not None:
                    return Outcome("reconciled", sid)
            with SEND_SECONDS.time():
                sent = await sender().send(to, body, callback)
        except PermanentSendError as exc:
            return Outcome("failed", error_code=exc.code)
        except TransientSendError as exc:
            if again:
                return Outcome("retry", error=str(exc))
            log().info("send.retrying_at_once", error=str(exc))
            continue
        return Outcome("sent", sent.sid)
    raise AssertionError("unreachable: the second pass always returns")


async def deliver(page_id: uuid.UUID) -> None:
    await deliver_pages([page_id])


async def deliver_pages(page_ids: list[uuid.UUID]) -> None:
    """Claim, bundle per phone, send the bundles (several at once), record every page.

    The outcomes are recorded together in one transaction after the batch's sends: the SMS
    are out by then, so recording is off the critical path, and one transaction for the
    batch costs a fraction of one per bundle. A crash before it leaves stale claims, which
    are reconciled against the provider's log like any other.
    """
    settings = get_settings()
    async with transaction() as session:
        bundles = await paging.claim_bundles(session, page_ids, settings.sending_stale_seconds)
    if not bundles:
        return
    gate = asyncio.Semaphore(SEND_CONCURRENCY)

    async def one(bundle: paging.Bundle) -> Outcome:
        async with gate:
            return await _send_bundle(bundle)

    outcomes = await asyncio.gather(*(one(b) for b in bundles))
    await _record(list(zip(bundles, outcomes, strict=True)), settings.sending_stale_seconds)


async def _send_bundle(bundle: paging.Bundle) -> Outcome:
    ids = [c.page_id for c in bundle.claims]
    callback = (
        status_callback_url("pages", ",".join(str(i) for i in ids))
        if len(ids) > 1
        else status_callback_url("page", ids[0])
    )
    return await send_claimed(
        bundle.to_number, bundle.body, bundle.since, bundle.reclaimed, callback
    )


async def _record(sent: list[tuple[paging.Bundle, Outcome]], stale_after: float) -> None:
    async with transaction() as session:
        await paging.lock_pages(session, [c.page_id for b, _ in sent for c in b.claims])
        for bundle, out in sent:
            for c in bundle.claims:
                if out.result in ("sent", "reconciled"):
                    assert out.sid is not None
                    await paging.record_sent(
                        session, c.page_id, out.sid, out.result == "reconciled"
                    )
                elif out.result == "failed":
                    await paging.record_failed(session, c.page_id, out.error_code)
                    await flows.escalate_now(session, c.case_id, c.page_id)
                else:
                    await paging.release(session, c.page_id, out.error, stale_after)
            if out.result == "failed" and out.error_code in UNDELIVERABLE_NUMBER_ERRORS:
                # The next incident must not page this number first again.
                await outbound.mark_undeliverable(session, bundle.to_number, out.error_code)
    for bundle, out in sent:
        PAGES.labels(out.result).inc(len(bundle.claims))
        log().info(
            f"page.{out.result}",
            page_ids=[str(c.page_id) for c in bundle.claims],
            case_ids=[str(c.case_id) for c in bundle.claims],
            sid=out.sid,
            error_code=out.error_code,
            to=mask_number(bundle.to_number),
        )


async def deliver_message(message_id: uuid.UUID) -> None:
    """The same discipline for every SMS that is not a page."""
    settings = get_settings()
    async with transaction() as session:
        claim = await outbound.claim(session, message_id, settings.sending_stale_seconds)
    if claim is None:
        return
    out = await send_claimed(
        claim.to_number,
        claim.body,
        claim.created_at,
        claim.reclaimed,
        status_callback_url("message", message_id),
    )
    async with transaction() as session:
        if out.result in ("sent", "reconciled"):
            assert out.sid is not None
            await outbound.record_sent(session, message_id, out.sid)
        elif out.result == "failed":
            await outbound.record_failed(session, message_id, out.error_code)
            if out.error_code in UNDELIVERABLE_NUMBER_ERRORS:
                await outbound.mark_undeliverable(session, claim.to_number, out.error_code)
        else:
            await outbound.release(session, message_id, settings.sending_stale_seconds)
    MESSAGES.labels(out.result).inc()
    log().info(
        f"message.{out.result}",
        message_id=str(message_id),
        case_id=str(claim.case_id) if claim.case_id else None,
        sid=out.sid,
    )


async def send_new(bundles: list[NewBundle]) -> None:
    """Send pages born claimed by this process (its transaction committed them), several
    at once, then record every outcome in one transaction.

    A crash before the record leaves claims that go stale and are reconciled against the
    provider's log by the sweep, like any other.
    """
    if not bundles:
        return
    gate = asyncio.Semaphore(SEND_CONCURRENCY)

    async def one(b: NewBundle) -> Outcome:
        ids = [p.page_id for p in b.pages]
        callback = (
            status_callback_url("pages", ",".join(str(i) for i in ids))
            if len(ids) > 1
            else status_callback_url("page", ids[0])
        )
        async with gate:
            return await send_claimed(b.to_number, b.body, b.since, False, callback)

    outcomes = await asyncio.gather(*(one(b) for b in bundles))
    await record_new(list(zip(bundles, outcomes, strict=True)))


async def record_new(sent: list[tuple[NewBundle, Outcome]]) -> None:
    """Every page that went out with one statement; a refusal or a retry page by page (few)."""
    settings = get_settings()
    ok = [(p, out) for b, out in sent if out.result in ("sent", "reconciled") for p in b.pages]
    others = [(b, out) for b, out in sent if out.result not in ("sent", "reconciled")]
    async with transaction() as session:
        await paging.record_sent_many(
            session,
            [(p.page_id, str(out.sid), out.result == "reconciled") for p, out in ok],
        )
        if others:
            await paging.lock_pages(session, [p.page_id for b, _ in others for p in b.pages])
        for b, out in others:
            for p in b.pages:
                if out.result == "failed":
                    await paging.record_failed(session, p.page_id, out.error_code)
                    await flows.escalate_now(session, p.case_id, p.page_id)
                else:
                    await paging.release(
                        session, p.page_id, out.error, settings.sending_stale_seconds
                    )
            if out.result == "failed" and out.error_code in UNDELIVERABLE_NUMBER_ERRORS:
                await outbound.mark_undeliverable(session, b.to_number, out.error_code)
    for b, out in sent:
        _log_outcome(b.pages, b.to_number, out)


def _log_outcome(pages: tuple[NewPage, ...], to_number: str, out: Outcome) -> None:
    PAGES.labels(out.result).inc(len(pages))
    log().info(
        f"page.{out.result}",
        page_ids=[str(p.page_id) for p in pages],
        case_ids=[str(p.case_id) for p in pages],
        sid=out.sid,
        error_code=out.error_code,
        to=mask_number(to_number),
    )
