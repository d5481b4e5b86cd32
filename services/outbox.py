"""Transactional outbox: how a state change and its Kafka event never come apart.

Why: the API must not answer "accepted" for an incident that can still be lost, and a broker
outage must delay publishing, never drop it. So every event is first a row written in the same
transaction as the state it describes; the relay publishes rows in id order and marks them.

A crash between publishing and marking publishes a row twice; every consumer is idempotent on
the state keys (incident id, case id + attempt, provider sid), so a duplicate event is a no-op.
Only one relay publishes at a time (a PostgreSQL advisory lock), so per-key order holds even
with the API and the worker both running one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import datetime
from typing import Any

import psycopg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder
from sqlalchemy import BigInteger, DateTime, Index, String, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from schemas.events import Event, IncidentReported, SmsReceived
from schemas.topics import topic_name, topics
from services import clock
from services.db import (
    Base,
    array_literal,
    connect_args,
    insert_rows,
    keyset_batch,
    libpq_url,
)
from services.logs import log
from services.metrics import RELAYED

CHANNEL = "svrr_outbox"
# The NOTIFY payload of a commit whose events the pipeline waits for (the worker consumes
# them: an incident to page for, a reply to act on). The relay reads those at once; the
# other events (notifications of work already done) may wait up to RELAY_GAP_S so that the
# commits of a page share a batch.
URGENT = "urgent"
URGENT_EVENTS: tuple[type[Event], ...] = (IncidentReported, SmsReceived)
RELAY_GAP_S = 0.05
RELAY_LOCK = 0x5F5_0B0C  # advisory lock key: one active relay per database
BATCH = 500
# A published row is kept as long as its topic keeps the record (the catalogue's retention.ms,
# schemas.topics): long enough to replay into a new consumer, which can go no further back on
# the topic anyway, and never longer than the broker keeps the same event (a raw feed
# record: three days). A topic the catalogue does not name (another prefix's) keeps this long.
KEEP_PUBLISHED_MS = 7 * 24 * 3600 * 1000
PURGE_EVERY_S = 600.0
# The relay's producer's partitioner (AIOKafkaProducer's default), used by _produce too.
PARTITIONER = DefaultPartitioner()


class OutboxRow(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_unpublished", "id", postgresql_where=text("published_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(80))
    key: Mapped[str] = mapped_column(String(80))
    payload: Mapped[dict[str, object]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


COLUMNS = {"topic": "text", "key": "text", "payload": "jsonb"}


def rows(events: list[Event]) -> list[dict[str, object]]:
    return [
        {"topic": topic_name(type(e)), "key": e.key, "payload": e.model_dump(mode="json")}
        for e in events
    ]


async def add(session: AsyncSession, *events: Event) -> None:
    """Queue events inside the caller's transaction; NOTIFY wakes the relay at commit."""
    await add_many(session, list(events))


async def add_many(session: AsyncSession, events: list[Event]) -> None:
    """Queue events with one statement, in the caller's transaction, at once: rows take
    their ids (the relay's order) in the order events are queued, however they are queued."""
    if not events:
        return
    await insert_rows(session, "outbox", COLUMNS, rows(events))
    # One NOTIFY of each kind per transaction is enough: it is delivered at commit.
    kind = URGENT if any(isinstance(e, URGENT_EVENTS) for e in events) else ""
    notified: set[str] = session.info.setdefault("outbox_notified", set())
    if kind not in notified:
        await session.execute(
            text(f"NOTIFY {CHANNEL}, '{kind}'") if kind else text(f"NOTIFY {CHANNEL}")
        )
        notified.add(kind)


# The relay's statements, on its own autocommit connection (prepared after a few runs).
NEXT_BATCH = (
    "SELECT id, topic, key, payload FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT %s"
)
# Ids go as an array literal (db.array_literal): psycopg's dumping of a list costs a few times its
# text's, per statement.
MARK_PUBLISHED = "UPDATE outbox SET published_at = now() WHERE id = ANY(%s::bigint[])"
# The last batch's mark and the next read in one statement: a data-modifying WITH runs
# whether or not the query reads it, and the read's snapshot is taken before the mark, so
# the rows being marked are left out by id.
MARK_AND_NEXT = (
    "WITH marked AS (UPDATE outbox SET published_at = now() "
    "WHERE id = ANY(%(done)s::bigint[])) "
    "SELECT id, topic, key, payload FROM outbox WHERE published_at IS NULL "
    "AND id <> ALL(%(done)s::bigint[]) ORDER BY id LIMIT %(limit)s"
)
# How long a published batch may stay unmarked waiting for the next read to mark it. At a
# steady rate a page's commits come milliseconds apart, so the next read nearly always
# comes first (one statement a batch instead of two); in a quiet spell the mark goes
# alone after this. A relay lost meanwhile leaves the batch to be published again by the
# next one, as a crash between publishing and marking always did (consumers are
# idempotent), within this window instead of a round trip's.
MARK_WITHIN_S = 0.05
# One bounded batch of published rows past their topic's retention, walked in id order
# (services.db.keyset_batch: SKIP LOCKED, so services.retention may run it too, from any
# process, beside the relay).
PURGE_BATCH = keyset_batch(
    "outbox",
    "t.published_at IS NOT NULL AND t.published_at < CAST(%(at)s AS timestamptz) - "
    "make_interval(secs => COALESCE((CAST(%(keep_ms)s AS jsonb) ->> t.topic)::bigint, "
    "%(default_ms)s) / 1000.0)",
    key="bigint",
)


def purge_params(at: datetime) -> dict[str, object]:
    """PURGE_BATCH's retention per topic, from the catalogue as this process names it."""
    keep = {t.name: int(t.config["retention.ms"]) for t in topics()}
    return {"at": at, "keep_ms": json.dumps(keep), "default_ms": KEEP_PUBLISHED_MS}


# After a wake-up, how long to let more commits arrive before reading: the commits of one
# page (the incident, the worker's batch, its sends) come milliseconds apart, and each batch
# costs the relay a statement and a round of acks whatever its size.
LINGER_S = 0.0


class Relay:
    """Publishes outbox rows to Kafka. Run one in every process that writes events.

    One connection does everything: it holds the leader's advisory lock, LISTENs, reads a
    batch and marks it published, in autocommit (each statement is atomic alone). Why one:
    a relay can then only read and mark while it holds the lock; when that connection is
    lost, the lock goes with it and this relay stops at its next statement, so two relays
    never read and publish side by side (FOR UPDATE SKIP LOCKED in a transaction on a
    second connection did that before, at two more round trips a batch). A notification
    that arrives while a statement runs is kept by psycopg and wakes the next wait at once,
    so no commit waits for the next one to be published. A batch is marked by the read of
    the next one (MARK_AND_NEXT), or alone after MARK_WITHIN_S without one: one statement
    a batch at a steady rate, where a read and a mark were two.
    """

    def __init__(self, database_url: str, bootstrap_servers: str, name: str) -> None:
        self.database_url = database_url
        self.bootstrap_servers = bootstrap_servers
        self.name = name
        self.published = 0
        self.batches = 0
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Hold the leader lock and relay; on any failure back off and start over."""
        backoff = 0.2
        while not self._stopping.is_set():
            try:
                await self._lead()
                backoff = 0.2
            except (OSError, psycopg.Error, KafkaError) as exc:
                log().warning(
                    "relay.retry", relay=self.name, error=type(exc).__name__, backoff_s=backoff
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), backoff)
                backoff = min(backoff * 2, 5.0)

    async def _lead(self) -> None:
        conn = await psycopg.AsyncConnection.connect(
            libpq_url(self.database_url), autocommit=True, **connect_args("svrr-relay")
        )
        try:
            while not self._stopping.is_set():
                row = await (
                    await conn.execute("SELECT pg_try_advisory_lock(%s)", (RELAY_LOCK,))
                ).fetchone()
                if row and row[0]:
                    break
                # Another process relays; stand by and take over if it goes away.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), 1.0)
            if self._stopping.is_set():
                return
            log().info("relay.leading", relay=self.name)
            await conn.execute(f"LISTEN {CHANNEL}")
            producer = AIOKafkaProducer(
                bootstrap_servers=self.bootstrap_servers,
                acks="all",
                enable_idempotence=True,
                linger_ms=0,
                partitioner=PARTITIONER,
                request_timeout_ms=10_000,
            )
            await producer.start()
            stopping = asyncio.create_task(self._stopping.wait())
            purged_at = published_at = 0.0
            loop = asyncio.get_running_loop()
            unmarked: list[int] = []  # published, marked by the next read (MARK_WITHIN_S)
            try:
                while not self._stopping.is_set():
                    if loop.time() - purged_at > PURGE_EVERY_S:
                        await self._purge(conn)
                        purged_at = loop.time()
                    read_at = loop.time()
                    unmarked = await self.publish_batch(conn, producer, unmarked)
                    if unmarked:
                        published_at = read_at
                    if len(unmarked) == BATCH:
                        continue
                    gap_ends = published_at + RELAY_GAP_S
                    if unmarked:
                        if await self._wait(conn, stopping, gap_ends, MARK_WITHIN_S):
                            continue  # a commit: its read marks these
                        await self._mark(conn, unmarked)  # a quiet spell: alone
                        unmarked = []
                    await self._wait(conn, stopping, gap_ends)
                await self._mark(conn, unmarked)  # stopped: leave nothing to publish again
            finally:
                stopping.cancel()
                with contextlib.suppress(Exception):
                    await producer.stop()
        finally:
            await conn.close()

    async def _wait(
        self,
        conn: psycopg.AsyncConnection,
        stopping: asyncio.Task[bool],
        not_before: float,
        timeout: float = 1.0,
    ) -> bool:
        """Until a commit notifies (or one that came while the last statements ran),
        `timeout` passes, or the relay is stopped; True for a commit. A commit of urgent
        events (URGENT) is read at once; others, until `not_before` (RELAY_GAP_S after the
        last read that found rows), wait for more commits to share their batch, or for an
        urgent one. Every notification taken here is for a commit the next read sees, so
        none is left to wake an empty read; after a quiet spell the first commit is read at
        once."""
        loop = asyncio.get_running_loop()

        async def notified() -> bool:
            urgent = committed = False
            # stop_after=1 still takes every notification already received, in one go.
            async with contextlib.aclosing(conn.notifies(timeout=timeout, stop_after=1)) as first:
                async for n in first:
                    committed = True
                    urgent = urgent or n.payload == URGENT
            if not committed or urgent or (left := not_before - loop.time()) <= 0:
                return committed
            # Closed on leaving (aclosing): the generator holds the connection's lock.
            async with contextlib.aclosing(conn.notifies(timeout=left)) as more:
                async for n in more:
                    if n.payload == URGENT:
                        break
            return True

        waiting = asyncio.ensure_future(notified())
        await asyncio.wait((waiting, stopping), return_when=asyncio.FIRST_COMPLETED)
        if not waiting.done():
            waiting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiting
            return False
        committed = waiting.result()  # a lost connection ends this leadership
        if committed and LINGER_S:
            await asyncio.sleep(LINGER_S)
        return committed

    async def publish_batch(
        self, conn: psycopg.AsyncConnection, producer: AIOKafkaProducer, unmarked: list[int]
    ) -> list[int]:
        """Mark `unmarked` (the last batch, published) and publish the next batch, with one
        statement (MARK_AND_NEXT); the ids published, to be marked in turn."""
        if unmarked:
            params = {"done": array_literal(unmarked), "limit": BATCH}
            cur = await conn.execute(MARK_AND_NEXT, params, prepare=True)
            self._marked(unmarked)
        else:
            cur = await conn.execute(NEXT_BATCH, (BATCH,), prepare=True)
        rows = await cur.fetchall()
        if not rows:
            return []
        await asyncio.gather(*await _produce(producer, rows))
        self.batches += 1
        log().debug("relay.published", relay=self.name, count=len(rows))
        return [r[0] for r in rows]

    async def _purge(self, conn: psycopg.AsyncConnection) -> None:
        """Published rows past their topic's retention, BATCH at a time (each statement
        alone in autocommit), so no purge holds the relay for long."""
        params: dict[str, object] = {**purge_params(clock.now()), "limit": BATCH}
        after = "0"
        while True:
            cur = await conn.execute(PURGE_BATCH, {**params, "after": after})
            row = await cur.fetchone()
            if row is None or row[0] is None or row[1] < BATCH:
                return
            after = row[0]

    async def _mark(self, conn: psycopg.AsyncConnection, unmarked: list[int]) -> None:
        if unmarked:
            await conn.execute(MARK_PUBLISHED, (array_literal(unmarked),), prepare=True)
            self._marked(unmarked)

    def _marked(self, ids: list[int]) -> None:
        """`published` counts what is published and marked: a row counted is one no relay
        will publish again."""
        self.published += len(ids)
        RELAYED.labels(self.name).inc(len(ids))


async def _produce(
    producer: AIOKafkaProducer, rows: list[tuple[int, str, str, dict[str, object]]]
) -> list[asyncio.Future[Any]]:
    """Queue a batch's events, one record batch per partition: what send() would do a
    record at a time, without its per-record work (a metadata wait, two partition lists,
    an accumulator lookup and a future each): 0.71 -> 0.62-0.67 ms CPU for a page's six
    events on twelve partitions (in-process A/B, shared machine), more when a
    batch holds several records of one partition (a burst).

    Each record goes to the partition send() would choose (the producer's partitioner, the
    default one, over the same partition list), so a key keeps its partition whichever way
    it was published; records keep their order within a partition (appended in id order, a
    full batch queued before the next is started). A record that does not fit an empty
    batch goes through send(), which refuses what is over the producer's size limits."""
    partitions: dict[str, list[int]] = {}
    builders: dict[tuple[str, int], BatchBuilder] = {}
    futures: list[asyncio.Future[Any]] = []
    for _id, topic, key, payload in rows:
        every = partitions.get(topic)
        if every is None:
            every = partitions[topic] = list(await producer.partitions_for(topic))
        key_bytes, value = key.encode(), _encode(payload)
        partition: int = PARTITIONER(key_bytes, every, every)
        builder = builders.get((topic, partition))
        if builder is not None and _appended(builder, key_bytes, value):
            continue
        if builder is not None:  # full: queued as it is, in order, before the next one
            futures.append(await producer.send_batch(builder, topic, partition=partition))
        builder = builders[(topic, partition)] = producer.create_batch()
        if not _appended(builder, key_bytes, value):
            del builders[(topic, partition)]
            futures.append(
                await producer.send(topic, value=value, key=key_bytes, partition=partition)
            )
    for (topic, partition), builder in builders.items():
        futures.append(await producer.send_batch(builder, topic, partition=partition))
    return futures


def _appended(builder: BatchBuilder, key: bytes, value: bytes) -> bool:
    return builder.append(timestamp=None, key=key, value=value) is not None


def _encode(payload: dict[str, object]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()
