"""events.consume.take_batches on a real Faust stream (an in-process channel, no broker):
how long a batch waits, and what it holds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import faust

from events.consume import take_batches

WITHIN_S = 0.5  # long, so that a batch held for company would show


async def _run(scenario: Callable[[faust.ChannelT, list[list[int]]], Awaitable[None]]) -> None:
    # The broker is never contacted: an app's channels are in-process queues. Flow control is
    # resumed as a started worker resumes it once it has its partitions.
    app = faust.App("take-batches-test", broker="kafka://127.0.0.1:1")
    app.flow_control.resume()
    channel = app.channel()
    batches: list[list[int]] = []

    async def consume() -> None:
        async for batch in take_batches(app.stream(channel), 100, WITHIN_S):
            batches.append(list(batch))

    task = asyncio.ensure_future(consume())
    try:
        await asyncio.sleep(0.02)
        await scenario(channel, batches)
    finally:
        task.cancel()


async def _until(batches: list[list[int]], values: int) -> None:
    async with asyncio.timeout(5):
        while sum(map(len, batches)) < values:
            await asyncio.sleep(0.001)


def test_a_lone_value_is_not_held_back_waiting_for_company() -> None:
    waited: list[float] = []

    async def scenario(channel: faust.ChannelT, batches: list[list[int]]) -> None:
        started = time.monotonic()
        await channel.send(value=1)
        await _until(batches, 1)
        waited.append(time.monotonic() - started)

    asyncio.run(_run(scenario))
    assert waited[0] < WITHIN_S / 5


def test_values_already_delivered_are_one_batch() -> None:
    async def scenario(channel: faust.ChannelT, batches: list[list[int]]) -> None:
        for value in range(10):
            await channel.send(value=value)
        await _until(batches, 10)
        assert batches == [list(range(10))]

    asyncio.run(_run(scenario))


def test_values_arriving_while_a_batch_is_consumed_are_the_next_batch() -> None:
    async def scenario(channel: faust.ChannelT, batches: list[list[int]]) -> None:
        await channel.send(value=0)
        await _until(batches, 1)
        for value in range(1, 6):
            await channel.send(value=value)
        await _until(batches, 6)
        await channel.send(value=6)
        await _until(batches, 7)
        assert batches == [[0], [1, 2, 3, 4, 5], [6]]

    asyncio.run(_run(scenario))
