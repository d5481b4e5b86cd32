"""How every agent reads its topic: decode a contract, run a store step, never lose an event.

A step that fails because the store is unreachable (or PostgreSQL aborted the transaction to
break a deadlock) is retried in place, the partition waiting, rather than skipped. Anything
else (an event that fails validation, a constraint the code broke) can never succeed by
retrying: it goes to the dead-letter table with the reason, and the agent moves on.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar, cast

import faust
from mode.utils.aiter import aiter
from mode.utils.futures import notify
from pydantic import ValidationError
from sqlalchemy.exc import InterfaceError, OperationalError

from schemas.events import Event
from services.deadletter import Unprocessable, store_dead_letter
from services.logs import log

E = TypeVar("E", bound=Event)
T = TypeVar("T")
# The store is down or busy: waiting helps. (psycopg's deadlock and serialization failures
# are OperationalErrors: the transaction is simply tried again.)
RETRYABLE = (OperationalError, InterfaceError, OSError)


async def persistently(step: Callable[[], Awaitable[object]], what: str) -> None:
    """Retry a store step until the database answers: a page waits, it is never dropped."""
    delay = 0.2
    while True:
        try:
            await step()
            return
        except RETRYABLE as exc:
            log().warning("store.retry", step=what, error=type(exc).__name__, backoff_s=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


async def dead_letter(topic: str, raw: bytes, reason: str) -> None:
    await persistently(lambda: store_dead_letter(topic, raw, reason), "dead_letter")


async def decode(contract: type[E], raws: Sequence[bytes]) -> tuple[list[tuple[E, bytes]], int]:
    """The valid events of a batch (with their bytes), and how many went to dead letters."""
    good: list[tuple[E, bytes]] = []
    bad = 0
    for raw in raws:
        try:
            good.append((contract.model_validate_json(raw), raw))
        except ValidationError as exc:
            log().error("event.invalid", topic=contract.topic, errors=exc.error_count())
            await dead_letter(contract.topic, raw, "schema validation")
            bad += 1
    return good, bad


async def handle_batch(
    contract: type[E],
    raws: Sequence[bytes],
    handle: Callable[[list[E]], Awaitable[object]],
) -> list[str]:
    """Run `handle` on a batch's valid events; if it fails for a reason retrying cannot fix,
    run them one at a time so only the event at fault becomes a dead letter.

    Returns how each event ended ("done" or "dead_letter"), for the agent to yield.
    """
    good, bad = await decode(contract, raws)
    outcomes = ["dead_letter"] * bad
    if not good:
        return outcomes
    try:
        await persistently(lambda: handle([e for e, _ in good]), contract.topic)
        return outcomes + ["done"] * len(good)
    except Exception as exc:
        if len(good) == 1:
            event, raw = good[0]
            if isinstance(exc, Unprocessable):
                log().error("event.unprocessable", topic=contract.topic, reason=str(exc))
                reason = f"{_name(handle)}: {exc}"
            else:
                log().exception("event.failed", topic=contract.topic, event_id=str(event.event_id))
                reason = f"{_name(handle)}: {type(exc).__name__}"
            await dead_letter(contract.topic, raw, reason[:200])
            return outcomes + ["dead_letter"]
        log().warning("batch.failed_one_by_one", topic=contract.topic, size=len(good))
    for _event, raw in good:
        outcomes += await handle_batch(contract, [raw], handle)
    return outcomes


async def consume(
    stream: AsyncIterable[bytes], contract: type[E], handle: Callable[[E], Awaitable[object]]
) -> AsyncIterator[str]:
    """One event at a time (replies: each is a conversation's next step, in order)."""

    async def one(events: list[E]) -> None:
        for event in events:
            await handle(event)

    one.__name__ = _name(handle)
    async for raw in stream:
        for outcome in await handle_batch(contract, [raw], one):
            yield outcome


def _name(f: Callable[..., object]) -> str:
    return getattr(f, "__name__", type(f).__name__)


class _Wakeup:
    """One waiter at a time on a plain future, woken by `set` or by its timeout.

    Why not mode's Service.wait_for_stopped (what take_batches used): each call builds
    three tasks (the awaited event, the service's stopped and crashed events) and an
    asyncio.wait, then cancels what did not fire. Two waits a batch made that a few percent
    of the worker's CPU at a steady rate, where batches hold one incident each."""

    def __init__(self) -> None:
        self._waiter: asyncio.Future[None] | None = None

    def set(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self, timeout: float | None) -> None:
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        timer = loop.call_later(timeout, _wake, waiter) if timeout is not None else None
        try:
            await waiter
        finally:
            if timer is not None:
                timer.cancel()
            self._waiter = None


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


async def take_batches(
    stream: faust.StreamT[T], max_: int, within: float
) -> AsyncIterator[list[T]]:
    """Faust's `stream.take(max_, within)`, but idle without a timer and without making a
    lone value wait for company that is not coming.

    Why: `take` waits for a full buffer with `within` as its timeout, so it wakes every
    `within` seconds (4 ms: 250 times a second) whether anything arrived or not, a few
    percent of an idle worker's CPU, and a lone incident waits the whole `within` before
    its transaction starts (4 ms of every page's latency at a steady rate). Here the wait
    for the first value has no timeout, and a batch ends as soon as nothing more is waiting
    on the stream's channel (natural batching): at a trickle a value goes at once, in a
    burst the values that arrived while the previous batch was written are the next batch.
    `within` still bounds how long a batch waits for values already on their way. The waits
    are on one plain future (_Wakeup); the stream's stop is watched by one task for the
    whole iteration, not by new ones at every wait.

    The same contract as `take`: at most `max_` values per batch, the stream's events
    acknowledged only after the batch was consumed (the loop body returned), values that
    arrive while a batch is consumed wait for the next one. It uses the hooks `take` itself
    uses (a processor, the passive stream).
    """
    buffer: list[T] = []
    events: list[faust.types.EventT] = []
    wakeup = _Wakeup()
    consumed = asyncio.Event()
    consuming: asyncio.Future[None] | None = None
    impl = cast(Any, stream)

    def waiting() -> bool:
        """Values delivered to the stream's channel and not yet in the buffer."""
        return not impl.channel.empty()

    async def add_to_buffer(value: T) -> T:
        nonlocal consuming
        if consuming is not None:
            try:
                await consuming
            finally:
                consuming = None
        buffer.append(value)
        event = impl.current_event
        if event is None:
            raise RuntimeError("take_batches found current_event is None")
        events.append(event)
        if len(buffer) == 1 or len(buffer) >= max_ or not waiting():
            # The first value starts a batch; a full buffer, or nothing more on its way,
            # ends the batch's wait.
            wakeup.set()
        if len(buffer) >= max_:
            consumed.clear()
            await impl.wait(consumed)
        return value

    impl.enable_acks = False  # acknowledged below, once consumed
    impl.add_processor(add_to_buffer)
    impl._enable_passive(aiter(impl.channel))
    # The stream stopping (or crashing) ends the iteration, as wait_for_stopped did.
    stopped = impl.loop.create_task(impl.wait())
    stopped.add_done_callback(lambda _: wakeup.set())
    try:
        while not impl.should_stop and not stopped.done():
            if not buffer:
                await wakeup.wait(None)
                continue
            if len(buffer) < max_ and waiting():
                await wakeup.wait(within)
            consuming = impl.loop.create_future()
            try:
                yield list(buffer)
            finally:
                buffer.clear()
                for event in events:
                    await impl.ack(event)
                events.clear()
                notify(consuming)
                consumed.set()
    finally:
        stopped.cancel()
