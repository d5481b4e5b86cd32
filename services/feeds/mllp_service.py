"""`svrr feed mllp`: the HL7 v2 feed as a service, an ACK only for what the store holds.

Why the ACK waits for the commit: an interface engine that gets AA forgets the message. A
death message ACKed before its incident was committed would be lost to a crash or a store
outage in between, so a message that names an incident (a trigger) is answered only once
its transaction committed, and a failure of the store closes the connection without an
answer: the engine resends it later, as MLLP senders do, and the store's unique source
record (source, feed, MSH-10) makes the resend harmless. A refused message is answered AE
or AR only once its refusal (the problems, and the PHI-free part kept for replay by
services.feeds.redact_hl7) is committed too: a NAK tells the sender a person must look,
and the row is where that person looks.

Why most messages never reach the store: an ADT feed is mostly admissions, transfers and
updates that are no trigger. They are read, ACKed at once and only counted; the count goes
to the feed's heartbeat about once a second (BEAT_S), one statement for all of them, so the
console still sees a feed that is alive but quiet on deaths.

Why group commit: MLLP is one message at a time per connection, and an engine opens several
connections for throughput. Messages that need the store and arrive while a transaction is
running share the next one (GroupCommit: it takes what is already queued, with no timer;
a lone message goes at once), so a burst costs a transaction per batch, not per message.

Why reading is narrowed: on 2 cores shared with the worker, PostgreSQL and Kafka, the
service must ACK a thousand messages a second, and python-hl7 takes every field of every
segment apart. So only the segments the adapter reads are parsed (narrowed), a message no
trigger rule can match is read from its header alone (no_trigger), and an AA is filled in
from the one its header got before (AcceptTemplates): each gives the answer the adapter and
hl7_ack would give for the whole message (tests/unit/test_feeds_mllp_service.py compares
them), for a sixth of the CPU of an update that is no death (benchmarks/mllp.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

import hl7
import prometheus_client
import psycopg
import uvloop
from hl7.util import generate_message_control_id
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from services import clock, logs
from services.config import Settings, get_settings
from services.db import TRANSIENT, async_engine, transaction
from services.feeds import hl7_ack, hl7v2, intake, redact_hl7
from services.feeds.config import FeedSettings, UnknownFeed, load_feeds
from services.feeds.hl7v2 import DEFAULT_TRIGGERS, AckCode, Hl7Refused, Hl7Triggers
from services.feeds.mllp import MllpListener
from services.feeds.record import FeedRecord, Problem, Source
from services.logs import log
from services.outbox import Relay

# The store cannot answer: no ACK, the sender resends. (A deadlock or serialisation failure
# is an OperationalError too, but one PostgreSQL asks us to run again: TRANSIENT.)
OUTAGE = (OperationalError, InterfaceError, OSError, psycopg.OperationalError)
# A transaction holds at most this many messages; more waiting are the next batch.
MAX_BATCH = 500
# How often the count of messages that needed no transaction goes to the heartbeat.
BEAT_S = 1.0
# How long a stop waits for the transaction in flight before closing connections.
DRAIN_S = 10.0
# Tries of a batch that PostgreSQL aborted to break a deadlock.
ATTEMPTS = 3
NOT_TAKEN = "could not be taken here; kept for replay"


class Closing(RuntimeError):
    """The service is stopping: a message that arrives now is not answered (its sender
    resends it to the next instance) rather than half taken."""


@dataclass(eq=False)
class _Work:
    """One message waiting for the store: its records (a trigger) or its problems (refused)."""

    records: Sequence[FeedRecord] = ()
    problems: Sequence[Problem] = ()
    kept: dict[str, Any] | None = None
    done: asyncio.Future[bool] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    def answer(self, taken: bool) -> None:
        if not self.done.done():  # its connection may have gone meanwhile
            self.done.set_result(taken)

    def fail(self, exc: BaseException) -> None:
        if not self.done.done():
            self.done.set_exception(exc)

    @property
    def key(self) -> str | None:
        """Two messages of one record never share a transaction (the second one updates the
        row the first one made)."""
        return self.records[0].record_id if self.records else None


class GroupCommit:
    """Messages from every connection, taken or refused in shared transactions.

    One transaction at a time: the messages that arrived while it ran are the next batch.
    `submit` returns True once the message is committed, False when it could not be taken
    for a reason a resend cannot fix (it was then kept as a refusal, for replay); it raises
    when the store is unreachable, so the connection closes without an ACK."""

    def __init__(self, feed: FeedSettings, max_batch: int = MAX_BATCH) -> None:
        self.feed = feed
        self.max_batch = max_batch
        self._queue: asyncio.Queue[_Work] = asyncio.Queue()
        self._held: list[_Work] = []
        self._busy = False
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        self.committed = 0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for work in self._drain():
            work.fail(Closing())

    def idle(self) -> bool:
        return not self._busy and self._queue.empty() and not self._held

    async def submit(self, work: _Work) -> bool:
        self._queue.put_nowait(work)
        return await work.done

    def _drain(self) -> list[_Work]:
        out, self._held = self._held, []
        while not self._queue.empty():
            out.append(self._queue.get_nowait())
        return out

    def _next_batch(self, first: _Work | None) -> list[_Work]:
        """What is waiting now, up to max_batch, one message per record; the rest waits."""
        waiting = ([first] if first else []) + self._drain()
        batch: list[_Work] = []
        keys: set[str] = set()
        for work in waiting:
            key = work.key
            if len(batch) >= self.max_batch or (key is not None and key in keys):
                self._held.append(work)
                continue
            if key is not None:
                keys.add(key)
            batch.append(work)
        return batch

    async def _run(self) -> None:
        while True:
            first = None if self._held else await self._queue.get()
            batch = self._next_batch(first)
            self._busy = True
            try:
                await self._commit_batch(batch)
            finally:
                self._busy = False

    async def _commit_batch(self, batch: list[_Work]) -> None:
        try:
            await _attempts(lambda: self._write(batch))
        except OUTAGE as exc:
            log().warning("mllp.store_unreachable", messages=len(batch), error=type(exc).__name__)
            for work in batch:
                work.fail(exc)
            return
        except Exception as exc:
            if len(batch) > 1:  # find the message at fault; the others are taken
                log().warning("mllp.batch_failed_one_by_one", messages=len(batch))
                for work in batch:
                    await self._commit_batch([work])
                return
            await self._not_taken(batch[0], exc)
            return
        self.batches += 1
        self.committed += len(batch)
        for work in batch:
            work.answer(True)

    async def _write(self, batch: list[_Work]) -> None:
        at = clock.now()
        records = [r for work in batch for r in work.records]
        async with transaction() as session:
            if records:
                taken = await intake.take(session, records, self.feed, at=at)
                for t in taken:
                    log().debug(
                        "mllp.taken",
                        record_id=t.record_id,
                        disposition=str(t.disposition),
                        incident_id=str(t.incident_id) if t.incident_id else None,
                    )
            for work in batch:
                if work.problems:
                    await intake.refuse(session, self.feed, work.problems, kept=work.kept, at=at)

    async def _not_taken(self, work: _Work, exc: Exception) -> None:
        """A message the store refuses alone, for a reason a resend cannot fix (a bug, a
        constraint): kept as a refusal for replay, and answered AE, so the feed goes on."""
        log().error("mllp.not_taken", error=type(exc).__name__, feed=self.feed.feed)
        problems = [*work.problems, Problem("message", f"{NOT_TAKEN} ({type(exc).__name__})")]
        try:
            async with transaction() as session:
                await intake.refuse(session, self.feed, problems, kept=work.kept, at=clock.now())
        except Exception as again:  # nothing kept: no answer, the sender resends
            work.fail(again)
            return
        work.answer(False)


async def _attempts(step: Any) -> None:
    for attempt in range(1, ATTEMPTS + 1):
        try:
            await step()
            return
        except DBAPIError as exc:
            if not isinstance(exc.orig, TRANSIENT) or attempt == ATTEMPTS:
                raise
            log().warning("mllp.retry", attempt=attempt, error=type(exc.orig).__name__)


class Heartbeat:
    """Counts the messages that needed no transaction and tells the feed's heartbeat about
    once a second; a count that could not be written is added to the next one."""

    def __init__(self, feed: FeedSettings, every: float = BEAT_S) -> None:
        self.feed = feed
        self.every = every
        self.received = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            await self.flush()

    async def flush(self) -> None:
        count, self.received = self.received, 0
        if not count:
            return
        try:
            async with transaction() as session:
                await intake.beat(session, self.feed, at=clock.now(), received=count)
        except Exception as exc:
            self.received += count
            log().warning("mllp.beat_failed", error=type(exc).__name__, waiting=self.received)


class MllpService:
    """One HL7 v2 feed on one port: read, take or refuse, answer."""

    def __init__(
        self,
        feed: FeedSettings,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        staff_system: str | None = None,
        triggers: Hl7Triggers = DEFAULT_TRIGGERS,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self.feed = feed
        self.zone: tzinfo = feed.zone
        self.staff_system = staff_system
        self.triggers = triggers
        self.wanted = _wanted(triggers)
        self.commits = GroupCommit(feed, max_batch)
        self.heartbeat = Heartbeat(feed)
        self.listener = MllpListener(self.handle, host=host, port=port)
        self.closing = False

    async def start(self) -> tuple[str, int]:
        self.commits.start()
        self.heartbeat.start()
        return await self.listener.start()

    async def stop(self) -> None:
        """Refuse new messages, let the transaction in flight finish and its messages be
        answered, then close. Committed is not yet answered: the connections' tasks still
        have to write the ACKs, and closing them in that gap left a taken message without
        its ACK (the sender resent it elsewhere)."""
        self.closing = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DRAIN_S
        while (not self.commits.idle() or self.listener.answering()) and loop.time() < deadline:
            await asyncio.sleep(0.02)
        await self.listener.close()
        await self.commits.stop()
        await self.heartbeat.stop()

    async def handle(self, block: bytes) -> bytes:
        """The answer to one MLLP block; raises (no answer) when it cannot be stored."""
        if self.closing:
            raise Closing()
        got = receive(
            block,
            feed=self.feed.feed,
            triggers=self.triggers,
            wanted=self.wanted,
            zone=self.zone,
            staff_system=self.staff_system,
        )
        if got.records:
            if not await self.commits.submit(_Work(records=got.records)):
                return _not_taken(block)
            return got.ack
        if got.problems:
            kept = redact_hl7.kept(block, triggers=self.triggers)
            if not await self.commits.submit(_Work(problems=got.problems, kept=kept)):
                return _not_taken(block)
            log().info("mllp.refused", feed=self.feed.feed, code=got.code.value)
            return got.ack
        self.heartbeat.received += 1
        return got.ack


# The segments services.feeds.hl7v2.read looks at (see its docstring): the header, the
# event, the visit, its clinicians' ROL segments, and IN1 only as where the visit's ROL
# segments end; a site's trigger rules add theirs (_wanted).
READ_SEGMENTS = frozenset({"MSH", "EVN", "PV1", "ROL"})
ROLES_END = "IN1"


def _wanted(triggers: Hl7Triggers) -> frozenset[str]:
    named = {rule.path()[0] for rule in triggers.rules if rule.field is not None}
    return READ_SEGMENTS | named


def narrowed(block: bytes, wanted: frozenset[str], encoding: str = "utf-8") -> str | None:
    """The message with only the segments the adapter reads, in their order (IN1 kept
    without its fields, as the end of the visit's ROL segments), or None when the block is
    not plainly one message (not text, no MSH first, a batch): then it is read whole, to be
    refused exactly.

    Why: parsing is most of a message's cost, and python-hl7 takes every field of every
    segment apart; an ADT message is mostly the patient (PID, PD1, NK1, GT1, IN1-IN3, DG1,
    OBX, AL1), none of which the adapter reads. Dropping those lines first gives the same
    record, the same problems and the same ACK (tests/unit/test_feeds_mllp_service*.py
    compares both ways on every sample), for a fraction of the work, and the patient's
    fields are never even taken apart."""
    try:
        text = block.decode(encoding)
    except UnicodeDecodeError:
        return None
    lines = [line for line in text.replace("\r\n", "\r").replace("\n", "\r").split("\r") if line]
    if not lines:
        return None
    first = lines[0].lstrip()
    if len(first) < 4 or not first.startswith("MSH"):
        return None
    sep = first[3]
    kept = [first]
    for line in lines[1:]:
        name = line.split(sep, 1)[0]
        if name == "MSH":
            return None  # two messages in one block: refused as a whole
        if name in wanted:
            kept.append(line)
        elif name == ROLES_END:  # its fields dropped; still a segment (a bare name is not)
            kept.append(ROLES_END + sep if sep in line else ROLES_END)
    return "\r".join(kept)


def receive(
    block: bytes,
    *,
    feed: str,
    triggers: Hl7Triggers,
    wanted: frozenset[str],
    zone: tzinfo,
    staff_system: str | None,
) -> hl7_ack.Received:
    """hl7_ack.receive on the narrowed message, parsed once for the record and the ACK; a
    message that certainly holds no trigger value is read as its header alone (no_trigger)."""
    text = narrowed(block, wanted)
    if text is None:
        return hl7_ack.receive(
            block, feed=feed, triggers=triggers, zone=zone, staff_system=staff_system
        )
    header = no_trigger(text, triggers)
    if header is not None:
        got = _read(header, feed, triggers, zone, staff_system)
        # Only a plain "no trigger" is taken from the header alone; anything else (a
        # refusal, or a record after all) is read again from the whole narrowed message.
        if got is not None and got.code is AckCode.accept and not got.records:
            return got
    got = _read(text, feed, triggers, zone, staff_system)
    if got is None:
        return hl7_ack.receive(
            block, feed=feed, triggers=triggers, zone=zone, staff_system=staff_system
        )
    return got


def _read(
    text: str, feed: str, triggers: Hl7Triggers, zone: tzinfo, staff_system: str | None
) -> hl7_ack.Received | None:
    """read() and ack() on one parse of `text`; None when it does not parse."""
    try:
        message = hl7v2.parse(text, "utf-8")
    except Hl7Refused:
        return None
    try:
        records = hl7v2.read(
            message, feed=feed, triggers=triggers, zone=zone, staff_system=staff_system
        )
    except Hl7Refused as refused:
        code, problems = refused.ack_code, list(refused.problems)
        reply = hl7_ack.ack(message, code, problems)
        return hl7_ack.Received([], code, str(reply).encode("utf-8", "replace"), problems)
    return hl7_ack.Received(records, AckCode.accept, ACCEPTS.ack(text, message))


class AcceptTemplates:
    """AA for a message, from the AA an earlier message with the same header got.

    Why: building the ACK (python-hl7's create_ack: a new message, field by field, then
    rendered) cost as much as reading a message that is no trigger. An AA depends on the
    message's header only, but for its own time (MSH-7), its own control id (MSH-10) and
    the control id it answers (MSA-2): a feed sends the same header (systems, type, event,
    processing id, version) over and over. So the first AA for a header is made by
    hl7_ack.ack and kept with those three places marked, and later ones fill them in, the
    time and id as the library makes them. Whatever else hl7_ack puts in an AA is in the
    kept one; tests compare both ways on every sample."""

    MARKS = ("\x01", "\x02", "\x03")
    LIMIT = 1024

    def __init__(self) -> None:
        self._kept: dict[str, tuple[str, str, str, str] | None] = {}

    def ack(self, text: str, message: hl7.Message) -> bytes:
        header = text.split("\r", 1)[0]
        fields = header.split(header[3])
        if len(fields) < 11 or any(m in header for m in self.MARKS):
            return self._made(message)
        key = header[3].join(fields[:6] + fields[7:9] + fields[10:])
        if key not in self._kept:
            if len(self._kept) >= self.LIMIT:
                self._kept.clear()
            self._kept[key] = self._template(message)
        parts = self._kept[key]
        if parts is None:
            return self._made(message)
        now = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
        filled = f"{parts[0]}{now}{parts[1]}{generate_message_control_id()}{parts[2]}"
        return f"{filled}{fields[9]}{parts[3]}".encode("utf-8", "replace")

    @staticmethod
    def _made(message: hl7.Message) -> bytes:
        return str(hl7_ack.ack(message, AckCode.accept)).encode("utf-8", "replace")

    def _template(self, message: hl7.Message) -> tuple[str, str, str, str] | None:
        """hl7_ack's AA with the three places marked; None if they cannot be found once
        each, in order (then every AA for this header is made whole)."""
        reply = hl7_ack.ack(message, AckCode.accept)
        time_mark, id_mark, answer_mark = self.MARKS
        reply.segment("MSH").assign_field(time_mark, 7)
        reply.segment("MSH").assign_field(id_mark, 10)
        reply.segment("MSA").assign_field(answer_mark, 2)
        rendered = str(reply)
        if any(rendered.count(m) != 1 for m in self.MARKS):
            return None
        head, rest = rendered.split(time_mark)
        middle, rest = rest.split(id_mark)
        if answer_mark not in rest:
            return None
        before, after = rest.split(answer_mark)
        return head, middle, before, after


ACCEPTS = AcceptTemplates()


def no_trigger(text: str, triggers: Hl7Triggers) -> str | None:
    """The narrowed message with every rule's segment emptied (present, no fields), when no
    rule's field can hold one of its values; None when one may, or when this cannot tell.

    Why: most of an ADT feed is updates whose PV1-36 says nothing (an A08 is of a type the
    death rule reads), and parsing PV1's 45-odd fields is most of what reading one costs.
    Reading the header, the event and the emptied segments gives the same answer for such
    a message: read() looks at MSH-9/10/11 and EVN-1, then at each rule's field, and stops
    there when none holds a value of the rule. The check here errs one way only: it says
    "none" when the field's text, split as the library splits it, holds no value of the
    rule, and gives up (None) on an escape sequence, a rule on MSH or a rule without a
    field (the type alone is then the trigger); receive() reads the whole narrowed message
    again whenever the header alone gives anything but a plain AA without records."""
    if any(rule.field is None for rule in triggers.rules):
        return None
    lines = text.split("\r")
    header = lines[0]
    sep = header[3]
    encoding = header[4:].split(sep, 1)[0]
    if len(encoding) < 4 or len(set(encoding[:4] + sep)) < 5:
        return None
    comp, rep, esc, sub = encoding[:4]
    fields: dict[str, list[tuple[int, int, frozenset[str]]]] = {}
    for rule in triggers.rules:
        seg, field_no, component = rule.path()
        if seg == "MSH":
            return None
        fields.setdefault(seg, []).append((field_no, component, rule.values))
    out = [header]
    for line in lines[1:]:
        name = line.split(sep, 1)[0]
        rules = fields.get(name)
        if rules is None:
            if name == "EVN":
                out.append(line)
            continue
        parts = line.split(sep)
        for field_no, component, values in rules:
            raw = parts[field_no] if field_no < len(parts) else ""
            if esc in raw:
                return None
            for repetition in raw.split(rep):
                components = repetition.split(comp)
                value = components[component - 1] if component <= len(components) else ""
                if value.split(sub, 1)[0].strip() in values:
                    return None
        out.append(name + sep)
    return "\r".join(out)


def _not_taken(block: bytes) -> bytes:
    reply = hl7_ack.ack(block, AckCode.error, [Problem("message", NOT_TAKEN)])
    return str(reply).encode("utf-8", "replace")


def main(args: argparse.Namespace, settings: Settings | None = None) -> int:
    """Serve until SIGTERM or SIGINT; exit status 2 when the feed is not configured."""
    settings = settings or get_settings()
    try:
        feed = load_feeds().get(Source.hl7v2, args.feed)
    except UnknownFeed:
        print(f"svrr feed mllp: no hl7v2 feed named {args.feed!r} is configured", file=sys.stderr)
        return 2
    logs.configure(settings.log_format, settings.log_level)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        service = MllpService(
            feed,
            host=args.host,
            port=args.port,
            staff_system=args.staff_system or feed.staff_system,
            triggers=feed.hl7_triggers,
            max_batch=args.max_batch,
        )
        # Events this process stores (an incident) reach Kafka even when the API and the
        # worker are down; one relay is active at a time (services.outbox).
        relay = Relay(settings.database_url, settings.kafka_bootstrap_servers, name="mllp")
        if args.metrics_port:
            # The feed's counters (records by disposition, refusals) live in this process.
            prometheus_client.start_http_server(args.metrics_port, addr=args.host)
        relaying = loop.create_task(relay.run())
        try:
            host, port = await service.start()
            # A banner whatever the log level: supervisors and the test stack wait for it.
            print(f"svrr feed mllp: ready on {host}:{port}", file=sys.stderr, flush=True)
            await stop.wait()
            log().info("mllp.stopping", feed=feed.feed)
            await service.stop()
        finally:
            relay.stop()
            with contextlib.suppress(asyncio.CancelledError):
                await relaying
            await async_engine().dispose()

    uvloop.run(serve())
    return 0
