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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from notifiers.sms import (
    UNDELIVERABLE_NUMBER_ERRORS,
    PermanentSendError,
    SmsSender,
    TransientSendError,
)
from services import clock
from services.cases import flows, outbound
from services.cases.dispatch import Bundle as NewBundle
from services.config import get_settings
from services.db import transaction
from services.logs import log, mask_number
from services.metrics import MESSAGES, PAGES, SEND_SECONDS
from services.paging import service as paging
from services.sealing import keyring_of

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


def _callback(page_ids: list[uuid.UUID]) -> str:
    """A lone page's callback names it; a bundle's names all its pages."""
    if len(page_ids) > 1:
        return status_callback_url("pages", ",".join(str(i) for i in page_ids))
    return status_callback_url("page", page_ids[0])


async def _send_bundle(bundle: paging.Bundle) -> Outcome:
    callback = _callback([c.page_id for c in bundle.claims])
    return await send_claimed(
        bundle.to_number, bundle.body, bundle.since, bundle.reclaimed, callback
    )


async def _record(sent: list[tuple[paging.Bundle, Outcome]], stale_after: float) -> None:
    await record(
        [([(c.page_id, c.case_id) for c in b.claims], b.to_number, out) for b, out in sent],
        stale_after,
    )


Sent = tuple[list[tuple[uuid.UUID, uuid.UUID]], str, Outcome]  # (page, case) ids, number


async def record(sent: list[Sent], stale_after: float) -> None:
    """Every SMS's outcome for its pages, in one transaction: the sids with one statement
    (alone, in autocommit, when there is nothing else); a refusal or a retry page by page
    (few). Then each outcome logged and counted."""
    if not sent:
        return
    ok = [
        (p, c, str(out.sid), out.result == "reconciled")
        for ps, _, out in sent
        if out.result in ("sent", "reconciled")
        for p, c in ps
    ]
    others = [item for item in sent if item[2].result not in ("sent", "reconciled")]
    if not others:
        # Nearly always: only sids to record, one statement, a transaction by itself.
        await paging.record_sent_alone(ok)
    else:
        await _record_with_failures(ok, others, stale_after)
    for pages, to_number, out in sent:
        PAGES.labels(out.result).inc(len(pages))
        log().info(
            f"page.{out.result}",
            page_ids=[str(p) for p, _ in pages],
            case_ids=[str(c) for _, c in pages],
            sid=out.sid,
            error_code=out.error_code,
            to=mask_number(to_number),
        )


async def _record_with_failures(
    ok: list[tuple[uuid.UUID, uuid.UUID, str, bool]], others: list[Sent], stale_after: float
) -> None:
    """The sids, the refusals and the retries of a batch together, in one transaction."""
    async with transaction() as session:
        await paging.record_sent_many(session, ok)
        locked = await paging.lock_pages(session, [p for pages, _, _ in others for p, _ in pages])
        for pages, to_number, out in others:
            for page_id, case_id in pages:
                if out.result == "failed":
                    await paging.record_failed(session, page_id, out.error_code, locked)
                    await flows.escalate_now(session, case_id, page_id)
                else:
                    await paging.release(session, page_id, out.error, stale_after)
            if out.result == "failed" and out.error_code in UNDELIVERABLE_NUMBER_ERRORS:
                # The next incident must not page this number first again.
                key = keyring_of(session).lookup(to_number)
                await outbound.mark_undeliverable(session, key, out.error_code)


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
                key = keyring_of(session).lookup(claim.to_number)
                await outbound.mark_undeliverable(session, key, out.error_code)
        else:
            await outbound.release(session, message_id, settings.sending_stale_seconds)
    MESSAGES.labels(out.result).inc()
    log().info(
        f"message.{out.result}",
        message_id=str(message_id),
        case_id=str(claim.case_id) if claim.case_id else None,
        sid=out.sid,
    )


async def send_new(bundles: list[NewBundle], on_sent: Callable[[], None] | None = None) -> None:
    """Send pages born claimed by this process (its transaction committed them), several
    at once, then record every outcome: sids only (nearly always) together with other
    batches' (`recorder`), anything else at once in one transaction. `on_sent` is called
    once the SMS are out, before the record (Background frees its slot there).

    A crash before the record leaves claims that go stale and are reconciled against the
    provider's log by the sweep, like any other.
    """
    if not bundles:
        return
    stale_after = get_settings().sending_stale_seconds
    gate = asyncio.Semaphore(SEND_CONCURRENCY)

    async def one(b: NewBundle) -> Outcome | None:
        callback = _callback([p.page_id for p in b.pages])
        async with gate:
            if _too_late(b.since, stale_after):
                return None
            return await send_claimed(b.to_number, b.body, b.since, False, callback)

    outcomes = await asyncio.gather(*(one(b) for b in bundles))
    late = [b for b, out in zip(bundles, outcomes, strict=True) if out is None]
    if late:
        log().warning(
            "pages.claim_too_old_left_for_sweep",
            count=sum(len(b.pages) for b in late),
            page_ids=[str(p.page_id) for b in late for p in b.pages][:20],
        )
    sent = [
        ([(p.page_id, p.case_id) for p in b.pages], b.to_number, out)
        for b, out in zip(bundles, outcomes, strict=True)
        if out is not None
    ]
    if on_sent is not None:
        on_sent()
    if not sent:
        return
    if all(out.result in ("sent", "reconciled") for _, _, out in sent):
        await recorder.record(sent, stale_after)
    else:
        await record(sent, stale_after)


# How long a batch's sids wait for other batches' before their statement. At a steady 50
# batches a second about two batches share one; in a burst, every batch in flight does.
RECORD_GROUP_S = 0.02


class _Group:
    def __init__(self, loop: asyncio.AbstractEventLoop, stale_after: float) -> None:
        self.loop = loop
        self.stale_after = stale_after
        self.sent: list[Sent] = []
        self.done: asyncio.Future[None] = loop.create_future()
        # Read once whatever happens to the waiters, so a failure is never "unretrieved".
        self.done.add_done_callback(lambda f: f.cancelled() or f.exception())


class Recorder:
    """The sids of the pages several batches sent, recorded with one statement (`record`,
    which writes sids alone in autocommit): what arrives within RECORD_GROUP_S of the
    group's first waits for the group's statement.

    Why: at a steady rate each batch holds a page or two, and its record (one round trip,
    the statement's parameters, a cold path) was the largest part of the worker's CPU per
    page after the send itself. The SMS are out before their sids wait here, so the wait is
    off the critical path (Background frees the batch's slot before it); a crash before the
    statement leaves claims that go stale and are reconciled against the provider's log
    like any other, and a status callback that records a sid first is left alone by it.
    The statement is written by a task of its own, so a waiter that is cancelled does not
    take the others' record with it.
    """

    def __init__(self) -> None:
        self._open: _Group | None = None
        self._writing: set[asyncio.Task[None]] = set()  # the loop holds tasks weakly

    async def record(self, sent: list[Sent], stale_after: float) -> None:
        loop = asyncio.get_running_loop()
        group = self._open
        if group is None or group.loop is not loop:
            group = self._open = _Group(loop, stale_after)
            loop.call_later(RECORD_GROUP_S, self._close, group)
        group.sent.extend(sent)
        await asyncio.shield(group.done)

    def _close(self, group: _Group) -> None:
        if self._open is group:
            self._open = None
        task = group.loop.create_task(self._write(group))
        self._writing.add(task)
        task.add_done_callback(self._writing.discard)

    async def _write(self, group: _Group) -> None:
        try:
            await record(group.sent, group.stale_after)
        except BaseException as exc:
            if not group.done.done():
                group.done.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
        else:
            if not group.done.done():
                group.done.set_result(None)


recorder = Recorder()


class _Slot:
    """A Background slot, freed once: when the batch's SMS are out, or when its task ends."""

    def __init__(self, slots: asyncio.Semaphore) -> None:
        self._slots: asyncio.Semaphore | None = slots

    def free(self) -> None:
        if self._slots is not None:
            self._slots.release()
            self._slots = None


def _too_late(claimed_at: datetime, stale_after: float) -> bool:
    """A claim past half its stale interval is not sent by its holder any more.

    Why: the sweep takes a claim over once it is stale and asks the provider's log before
    sending; a request its holder sends after that (its sends queued behind a saturated
    CPU) reaches Twilio after the sweep's look and pages the peer twice. The escalation
    benchmark on a saturated 2-core box did just that: claimed -> SMS p99 67 s against a
    30 s interval, 3,500 duplicate SMS. Half the interval leaves the request the other half
    (10 s timeout, 30 s interval) to reach Twilio before anyone else may look."""
    return clock.now() - claimed_at > timedelta(seconds=stale_after / 2)


class Background:
    """Sends of committed, born-claimed pages, a few batches in flight at once, so the
    caller goes on reading and writing the next batch. A failed send leaves its pages
    claimed, for the sweep; it never fails the batch that wrote them."""

    def __init__(self, in_flight: int) -> None:
        self._slots = asyncio.Semaphore(in_flight)
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, bundles: list[NewBundle]) -> None:
        if not bundles:
            return
        await self._slots.acquire()  # waits while the sends in flight are at the limit
        slot = _Slot(self._slots)
        task = asyncio.create_task(self._send(bundles, slot))
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._done(t, slot))

    async def _send(self, bundles: list[NewBundle], slot: _Slot) -> None:
        try:
            # The slot is for the batch's sends: its record (grouped with other batches',
            # milliseconds later) does not hold back the next batch's sends.
            await send_new(bundles, on_sent=slot.free)
        except Exception:
            pages = sum(len(b.pages) for b in bundles)
            log().warning("pages.left_for_sweep", count=pages, exc_info=True)

    def _done(self, task: asyncio.Task[None], slot: _Slot) -> None:
        self._tasks.discard(task)
        slot.free()  # if the sends never got that far (failed, cancelled)

    async def drain(self) -> None:
        """Wait for every send in flight (at shutdown: no committed page waits for the sweep)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
