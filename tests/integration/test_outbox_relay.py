"""The outbox relay (services/outbox.py): every committed event reaches Kafka in id order,
promptly, from one relay at a time.

A database of its own (migrated here) and a topic of its own: the stack's relays and
consumers never see these rows, so the relay under test leads and its output is all there is.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import psycopg
import pytest
from aiokafka import AIOKafkaConsumer
from kafka.admin import KafkaAdminClient, NewTopic
from sqlalchemy import text
from sqlalchemy.engine import Engine

from services import outbox
from services.outbox import Relay


@pytest.fixture(scope="module")
def relay_db() -> Iterator[str]:
    from services.cli import migrate

    url = os.environ["DATABASE_URL"]
    base, name = url.rsplit("/", 1)
    own = f"{name}_relay"
    admin = url.replace("+psycopg", "")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{own}"')
        conn.execute(f'CREATE DATABASE "{own}"')
    migrate(f"{base}/{own}")
    yield f"{base}/{own}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{own}" WITH (FORCE)')


@pytest.fixture(scope="module")
def topic() -> Iterator[str]:
    name = f"{os.environ.get('SVRR_TOPIC_PREFIX', '')}relaytest.{uuid.uuid4().hex[:6]}"
    admin = KafkaAdminClient(bootstrap_servers=os.environ["KAFKA_BOOTSTRAP_SERVERS"])
    admin.create_topics([NewTopic(name, num_partitions=3, replication_factor=1)])
    yield name
    admin.delete_topics([name])
    admin.close()


@pytest.fixture
async def relay(relay_db: str) -> AsyncIterator[Relay]:
    r = Relay(relay_db, os.environ["KAFKA_BOOTSTRAP_SERVERS"], name="test")
    task = asyncio.create_task(r.run())
    yield r
    r.stop()
    await asyncio.wait_for(task, 15)


def commit(url: str, topic: str, keys: list[str], urgent: bool = False) -> None:
    """One transaction's events, as outbox.add_many queues them (the NOTIFY included)."""
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        for k in keys:
            payload = json.dumps({"event": "Test", "key": k, "n": [1, 2], "text": "é"})
            conn.execute(
                "INSERT INTO outbox (topic, key, payload) VALUES (%s, %s, %s::jsonb)",
                (topic, k, payload),
            )
        conn.execute(f"NOTIFY {outbox.CHANNEL}, '{outbox.URGENT if urgent else ''}'")


def unpublished(url: str) -> int:
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        row = conn.execute("SELECT count(*) FROM outbox WHERE published_at IS NULL").fetchone()
    return int(row[0]) if row else 0


async def until(check, timeout: float = 10.0) -> float:  # type: ignore[no-untyped-def]
    t0 = time.monotonic()
    while not check():
        assert time.monotonic() - t0 < timeout, "timed out"
        await asyncio.sleep(0.005)
    return time.monotonic() - t0


async def consume(topic: str, n: int) -> list[tuple[int, bytes, bytes]]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=os.environ["KAFKA_BOOTSTRAP_SERVERS"],
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    out: list[tuple[int, bytes, bytes]] = []
    try:
        deadline = time.monotonic() + 20
        while len(out) < n and time.monotonic() < deadline:
            got = await consumer.getmany(timeout_ms=500)
            for part, records in got.items():
                out += [(part.partition, r.key or b"", r.value or b"") for r in records]
    finally:
        await consumer.stop()
    return out


async def test_every_commit_is_published_promptly_in_order(
    relay: Relay, relay_db: str, topic: str
) -> None:
    await until(lambda: relay.batches >= 0 and unpublished(relay_db) == 0)
    start = relay.published
    keys = [f"k{i % 7}" for i in range(120)]
    # Commits a few milliseconds apart: many land while a batch is being published, and
    # each must wake the next round, not wait for the relay's one-second timeout.
    for i in range(0, len(keys), 3):
        await asyncio.to_thread(commit, relay_db, topic, keys[i : i + 3])
        await asyncio.sleep(0.002)
    worst = await until(lambda: relay.published - start >= len(keys))
    assert worst < 2.0
    assert unpublished(relay_db) == 0
    got = await consume(topic, len(keys))
    assert len(got) >= len(keys)
    # Per key, the order they were committed in (one key, one partition).
    by_key: dict[bytes, list[bytes]] = {}
    for _part, key, value in got:
        by_key.setdefault(key, []).append(value)
    first = json.loads(got[0][2])
    assert first["text"] == "é" and b", " not in got[0][2]  # compact JSON, as before
    assert sorted(by_key) == sorted({k.encode() for k in keys})


async def test_each_key_keeps_its_partition_and_its_order(
    relay: Relay, relay_db: str, topic: str
) -> None:
    """The relay queues a batch's records a partition at a time (outbox._produce): each key
    goes where the producer's own partitioner sends it (as send() did, record by record),
    and a key's records arrive in the order they were committed, across batches and in
    batches larger than one record batch holds."""
    from aiokafka.partitioner import murmur2

    await until(lambda: unpublished(relay_db) == 0)
    start = relay.published
    big = "x" * 3000  # five records fill a 16 KB record batch
    keys = [f"order{i % 5}" for i in range(60)]

    def commit_numbered() -> None:
        with psycopg.connect(relay_db.replace("+psycopg", "")) as conn:
            for i, k in enumerate(keys):
                payload = json.dumps({"key": k, "seq": i, "pad": big})
                conn.execute(
                    "INSERT INTO outbox (topic, key, payload) VALUES (%s, %s, %s::jsonb)",
                    (topic, k, payload),
                )
                if i % 20 == 19:
                    conn.commit()
            conn.execute(f"NOTIFY {outbox.CHANNEL}")

    await asyncio.to_thread(commit_numbered)
    await until(lambda: relay.published - start >= len(keys))
    got = [r for r in await consume(topic, 10_000) if r[1].startswith(b"order")]
    seqs: dict[bytes, list[int]] = {}
    for part, key, value in got:
        assert part == (murmur2(key) & 0x7FFFFFFF) % 3, key  # the default partitioner's
        seqs.setdefault(key, []).append(json.loads(value)["seq"])
    assert sorted(seqs) == sorted({k.encode() for k in keys})
    for key, seq in seqs.items():
        assert seq == sorted(seq) and len(seq) == keys.count(key.decode()), key


async def test_a_batch_is_marked_by_the_next_read(relay_db: str, topic: str) -> None:
    """One statement a batch: the read of a batch marks the one before (MARK_AND_NEXT),
    leaves it out although its snapshot still shows it unpublished, and a batch nothing
    follows is marked alone (Relay._mark)."""
    from aiokafka import AIOKafkaProducer

    relay = Relay(relay_db, os.environ["KAFKA_BOOTSTRAP_SERVERS"], name="direct")
    producer = AIOKafkaProducer(bootstrap_servers=os.environ["KAFKA_BOOTSTRAP_SERVERS"])
    await producer.start()
    conn = await psycopg.AsyncConnection.connect(relay_db.replace("+psycopg", ""), autocommit=True)
    statements: list[str] = []
    real = conn.execute

    async def counted(query, *args, **kwargs):  # type: ignore[no-untyped-def]
        statements.append(query)
        return await real(query, *args, **kwargs)

    conn.execute = counted  # type: ignore[method-assign]
    try:
        await conn.execute("UPDATE outbox SET published_at = now() WHERE published_at IS NULL")
        await asyncio.to_thread(commit, relay_db, topic, ["m1", "m2"])
        first = await relay.publish_batch(conn, producer, [])
        assert len(first) == 2 and unpublished(relay_db) == 2  # published, not yet marked
        await asyncio.to_thread(commit, relay_db, topic, ["m3"])
        statements.clear()
        second = await relay.publish_batch(conn, producer, first)
        assert statements == [outbox.MARK_AND_NEXT]
        assert len(second) == 1 and second[0] not in first
        assert unpublished(relay_db) == 1 and relay.published == 2
        assert await relay.publish_batch(conn, producer, []) == second  # not marked yet
        await relay._mark(conn, second)
        assert unpublished(relay_db) == 0 and relay.published == 3
    finally:
        await conn.close()
        await producer.stop()


async def test_a_single_commit_is_published_without_waiting_for_the_timeout(
    relay: Relay, relay_db: str, topic: str
) -> None:
    await until(lambda: unpublished(relay_db) == 0)
    for _ in range(5):
        await asyncio.sleep(0.3)
        start = relay.published
        await asyncio.to_thread(commit, relay_db, topic, ["solo"])
        took = await until(lambda start=start: relay.published > start)
        assert took < 0.5  # the NOTIFY woke it: the relay's timeout is a whole second


async def test_urgent_commits_are_read_at_once_others_may_wait_to_share_a_batch(
    relay: Relay, relay_db: str, topic: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An incident's event (or a reply's) is what the worker waits for: read at once. The
    other events of a page may wait up to RELAY_GAP_S after the last read (2 s here, so the
    test can see it) and are read with the next urgent commit, in one batch."""
    monkeypatch.setattr(outbox, "RELAY_GAP_S", 2.0)
    await until(lambda: unpublished(relay_db) == 0)
    await asyncio.sleep(2.2)  # the relay's last read is more than a gap ago
    start, batches = relay.published, relay.batches
    await asyncio.to_thread(commit, relay_db, topic, ["first"])  # after a quiet spell: at once
    await until(lambda: relay.published > start, timeout=0.5)
    start = relay.published
    await asyncio.to_thread(commit, relay_db, topic, ["later", "later"])
    await asyncio.sleep(0.5)
    assert relay.published == start  # within the gap: waits for company
    await asyncio.to_thread(commit, relay_db, topic, ["incident"], urgent=True)
    took = await until(lambda: relay.published >= start + 3, timeout=1.0)
    assert took < 0.5 and relay.batches == batches + 2  # the urgent one took the others along
    await until(lambda: unpublished(relay_db) == 0)


async def test_add_many_notifies_urgent_events_as_urgent(db: Engine) -> None:
    from datetime import UTC, datetime

    from schemas.events import IncidentReported
    from services.db import transaction

    assert IncidentReported in outbox.URGENT_EVENTS
    seen: list[str] = []
    async with transaction() as session:
        await session.execute(text("LISTEN probe"))  # harmless: a statement to start
        event = IncidentReported(
            incident_id=uuid.uuid4(),
            occurred_at=datetime.now(UTC),
            unit="4E",
            event_type="code_blue",
            harm_level="severe",
            staff_ids=["N1001"],
        )
        statements: list[str] = []
        real = session.execute

        async def spy(stmt, *a, **k):  # type: ignore[no-untyped-def]
            statements.append(str(stmt))
            return await real(stmt, *a, **k)

        session.execute = spy  # type: ignore[method-assign]
        await outbox.add(session, event)
        await outbox.add(session, event)  # one NOTIFY per kind and transaction
        seen = [s for s in statements if "NOTIFY" in s]
        await session.rollback()
    assert seen == [f"NOTIFY {outbox.CHANNEL}, '{outbox.URGENT}'"]


async def test_one_relay_at_a_time_and_a_standby_takes_over(
    relay: Relay, relay_db: str, topic: str
) -> None:
    await asyncio.to_thread(commit, relay_db, topic, ["lead"])
    await until(lambda: relay.published >= 1)  # it leads: the standby cannot take the lock
    standby = Relay(relay_db, os.environ["KAFKA_BOOTSTRAP_SERVERS"], name="standby")
    task = asyncio.create_task(standby.run())
    try:
        await asyncio.sleep(1.5)
        await asyncio.to_thread(commit, relay_db, topic, ["a", "b"])
        await until(lambda: unpublished(relay_db) == 0)
        assert standby.published == 0
        relay.stop()  # the leader goes away: its lock with it
        await asyncio.to_thread(commit, relay_db, topic, ["c"])
        await until(lambda: standby.published == 1, timeout=15)
        assert unpublished(relay_db) == 0
    finally:
        standby.stop()
        await asyncio.wait_for(task, 15)
