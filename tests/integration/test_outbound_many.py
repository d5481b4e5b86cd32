"""A batch's messages queued in one statement (outbound.enqueue_many), under enqueue()'s
rules: one pending message per dedupe key, and a number that may not be texted dropped
unless the message is one the rule exempts (a coordinator's, a crisis reply: STOP only)."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from services import clock
from services.cases import outbound
from services.cases.models import Message
from services.db import transaction


def _number() -> str:
    return "+1555" + str(uuid.uuid4().int)[:7]


async def _queued(numbers: list[str]) -> list[tuple[str, str, str, int]]:
    async with transaction() as session:
        rows = await session.execute(
            select(Message.to_number, Message.kind, Message.body, Message.priority)
            .where(Message.to_number_key.in_(numbers))  # the Lookup type hashes each
            .order_by(Message.to_number_key)
        )
        return [tuple(r) for r in rows]


async def test_a_batch_is_queued_once_with_enqueues_rules(db):
    ok, stopped, bad = _number(), _number(), _number()
    tricky = 'Hi, "lead" {3} of your team\\NULL, ok?'
    batch = [
        outbound.Outgoing("tier1_prompt", ok, tricky, dedupe="i1"),
        outbound.Outgoing("tier1_prompt", stopped, "never", dedupe="i1"),
        outbound.Outgoing("tier1_prompt", bad, "never", dedupe="i1"),
        outbound.Outgoing("coordinator", bad, "the coordinator's still goes", dedupe="c1"),
        outbound.Outgoing("coordinator", stopped, "STOP holds for everyone", dedupe="c1"),
    ]
    blocked = {stopped: outbound.Unreachable.stop, bad: outbound.Unreachable.undeliverable}
    for _ in range(2):  # a redelivered batch queues nothing new
        async with transaction() as session:
            queued = await outbound.enqueue_many(session, batch, blocked, clock.now())
        assert queued in (2, 0)
    rows = await _queued([ok, stopped, bad])
    assert sorted(rows) == sorted(
        [
            (ok, "tier1_prompt", tricky, int(outbound.Priority.bulk)),
            (bad, "coordinator", "the coordinator's still goes", int(outbound.Priority.urgent)),
        ]
    ), rows


async def test_the_same_message_by_enqueue_and_enqueue_many_is_one(db):
    number = _number()
    async with transaction() as session:
        first = await outbound.enqueue(
            session, kind="tier1_prompt", to_number=number, body="b", dedupe="x"
        )
        again = await outbound.enqueue_many(
            session, [outbound.Outgoing("tier1_prompt", number, "b", dedupe="x")], {}, clock.now()
        )
    assert first is not None and again == 0
    assert len(await _queued([number])) == 1
