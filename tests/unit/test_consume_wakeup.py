"""events.consume._Wakeup: the one-future wait take_batches uses instead of mode's waits."""

from __future__ import annotations

import asyncio
import time

from events.consume import _Wakeup


def test_set_wakes_the_waiter_before_its_timeout() -> None:
    async def run() -> float:
        wakeup = _Wakeup()
        asyncio.get_running_loop().call_later(0.01, wakeup.set)
        t = time.monotonic()
        await wakeup.wait(5.0)
        return time.monotonic() - t

    assert asyncio.run(run()) < 1.0


def test_the_timeout_ends_a_wait_nobody_sets() -> None:
    async def run() -> float:
        t = time.monotonic()
        await _Wakeup().wait(0.05)
        return time.monotonic() - t

    assert 0.04 <= asyncio.run(run()) < 1.0


def test_a_set_with_nobody_waiting_is_not_kept_for_the_next_wait() -> None:
    """take_batches looks at its buffer before it waits; a stale set must not cut a later
    batch's wait for company short."""

    async def run() -> float:
        wakeup = _Wakeup()
        wakeup.set()
        t = time.monotonic()
        await wakeup.wait(0.05)
        return time.monotonic() - t

    assert asyncio.run(run()) >= 0.04


def test_a_cancelled_wait_leaves_no_waiter_behind() -> None:
    async def run() -> None:
        wakeup = _Wakeup()
        task = asyncio.ensure_future(wakeup.wait(None))
        await asyncio.sleep(0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert wakeup._waiter is None
        wakeup.set()  # nothing to wake, nothing raised

    asyncio.run(run())
