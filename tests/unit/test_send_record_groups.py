"""The sender's record of sids: batches sent within RECORD_GROUP_S share one statement, a
failure reaches every batch of the group, and a batch's Background slot is free once its
SMS are out, before its record."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from services import clock
from services.cases.dispatch import Bundle, NewPage
from services.paging import sending


def bundle() -> Bundle:
    page = NewPage(uuid.uuid4(), uuid.uuid4(), "+15550100000", "1", "P1", "page")
    return Bundle("+15550100000", "page", (page,), clock.now())


@pytest.fixture
def sent_ok(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    sent: list[str] = []

    async def send_claimed(to: str, body: str, *_: object) -> sending.Outcome:
        sent.append(to)
        return sending.Outcome("sent", f"SM{len(sent)}")

    monkeypatch.setattr(sending, "send_claimed", send_claimed)
    monkeypatch.setattr(sending, "recorder", sending.Recorder())
    return sent


def test_batches_sent_together_are_recorded_with_one_statement(
    monkeypatch: pytest.MonkeyPatch, sent_ok: list[str]
) -> None:
    calls: list[list[object]] = []

    async def record(items: list[object], _stale: float) -> None:
        calls.append(list(items))

    monkeypatch.setattr(sending, "record", record)

    async def run() -> None:
        a, b = bundle(), bundle()
        await asyncio.gather(sending.send_new([a]), sending.send_new([b]))
        await asyncio.sleep(sending.RECORD_GROUP_S * 2)
        await sending.send_new([bundle()])  # after the window: a group of its own

    asyncio.run(run())
    assert [len(c) for c in calls] == [2, 1]


def test_a_failed_record_fails_every_batch_of_its_group(
    monkeypatch: pytest.MonkeyPatch, sent_ok: list[str]
) -> None:
    async def record(items: list[object], _stale: float) -> None:
        raise OSError("store unreachable")

    monkeypatch.setattr(sending, "record", record)

    async def run() -> list[object]:
        return await asyncio.gather(
            sending.send_new([bundle()]), sending.send_new([bundle()]), return_exceptions=True
        )

    results = asyncio.run(run())
    assert [type(r) for r in results] == [OSError, OSError]


def test_a_batch_frees_its_background_slot_once_its_sms_are_out(
    monkeypatch: pytest.MonkeyPatch, sent_ok: list[str]
) -> None:
    """One slot: the second batch's SMS go out while the first batch's record still waits."""
    release = asyncio.Event()
    recorded: list[int] = []

    async def record(items: list[object], _stale: float) -> None:
        await release.wait()
        recorded.append(len(items))

    monkeypatch.setattr(sending, "record", record)

    async def run() -> None:
        background = sending.Background(in_flight=1)
        await background.start([bundle()])
        await asyncio.wait_for(background.start([bundle()]), 5.0)  # not held by the record
        async with asyncio.timeout(5):  # the sends' own time: a loaded machine is slow
            while len(sent_ok) < 2:
                await asyncio.sleep(0.005)
        assert recorded == []
        release.set()
        await background.drain()

    asyncio.run(run())
    assert sum(recorded) == 2
