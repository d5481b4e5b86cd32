"""Straight to Kafka: incidents a hospital's integration engine produces to the raw topic.

Why a topic of its own (svrr.feed-incident-reported.v1, schemas.events.FeedIncidentReported)
rather than IncidentReported: the engine has none of our ids and must not need them. It
names its own record, the feed it speaks for and its clinicians in its own identifier
systems, and this agent takes each record through the same intake as every other feed
(services.feeds.intake.take, Source.kafka): staff resolved, trigger rules, one incident per
event across feeds, the coordinator asked when the rules say so.

Why a dead-letter topic (svrr.feed-incident-reported.dlq.v1, FeedRecordRejected) and not the
dead_letters table: the producer's team must see what it sent wrong without access to our
store. A dead letter says where the record is (topic, partition, offset), a SHA-256 of its
bytes and every problem in the schema's terms, never the payload: a record that failed
validation may carry a patient's details in any field, so its bytes stay on the raw topic
only, for the topic's short retention. A record that names a configured feed is also
counted as a refusal of that feed (feed_refusals), so the console shows a producer going
wrong beside the other feeds; nothing of it is kept there (`kept` NULL: its bytes are the
producer's, on its topic, and the dead letter says where), so a replay reports it as
nothing kept.

Why through the outbox: the dead letters and the records taken from one batch commit in one
transaction before the batch's offsets are acknowledged, so a crash in between delivers the
batch again and a record is neither lost nor dead-lettered twice (take is idempotent on the
record id; a redelivered bad record is written again only if the first commit did not
happen). The agent never stops on a bad record: it is a dead letter, and the next is read.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass

import faust
from pydantic import ValidationError

from events.app import app
from events.consume import persistently, take_batches
from schemas.events import (
    FeedIncidentReported,
    FeedProblem,
    FeedRecordRejected,
    FeedStaffRef,
)
from schemas.topics import topic_name
from services import clock, outbox
from services.db import transaction
from services.feeds import intake
from services.feeds.config import Feeds, FeedSettings, UnknownFeed, load_feeds
from services.feeds.record import FeedRecord, Problem, Source, StaffRef
from services.logs import log

BATCH = 200
WITHIN_S = 0.004
MAX_PROBLEMS = 50
# Names the schema's own fields; any other key in a problem's path (an unexpected field the
# producer sent, whose name could be anything) is shown as this instead.
OTHER_FIELD = "<unexpected field>"
_KNOWN = frozenset(FeedIncidentReported.model_fields) | frozenset(FeedStaffRef.model_fields)


@dataclass(frozen=True)
class Raw:
    """One record as read, with where it was read from."""

    value: bytes
    topic: str
    partition: int
    offset: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.value).hexdigest()


@dataclass(frozen=True)
class Good:
    raw: Raw
    record: FeedRecord
    feed: FeedSettings


@dataclass(frozen=True)
class Bad:
    """A dead letter, and the configured feed it claimed to come from (if any), which then
    counts it as a refusal too."""

    rejected: FeedRecordRejected
    feed: FeedSettings | None


def problems_of(exc: ValidationError) -> list[FeedProblem]:
    """Pydantic's errors as where/why, never with the input, and with keys the schema does
    not know replaced (OTHER_FIELD): an extra field's name is the producer's text."""
    out: list[FeedProblem] = []
    for e in exc.errors(include_url=False, include_context=False, include_input=False):
        where = ".".join(
            str(p) if isinstance(p, int) or p in _KNOWN else OTHER_FIELD for p in e["loc"]
        )
        why = "not a field of FeedIncidentReported" if e["type"] == "extra_forbidden" else e["msg"]
        out.append(FeedProblem(where=where[:200] or "record", why=str(why)[:300]))
    return out[:MAX_PROBLEMS]


def read(raw: Raw, feeds: Feeds) -> Good | Bad:
    """One raw record: a FeedRecord for the intake, or a dead letter saying why not."""
    try:
        event = FeedIncidentReported.model_validate_json(raw.value)
    except ValidationError as exc:
        return Bad(rejected(raw, "schema", problems_of(exc)), _claimed_feed(raw, feeds))
    try:
        feed = feeds.get(Source.kafka, event.feed)
    except UnknownFeed:
        why = "no kafka feed of this name is configured (feeds.yaml)"
        return Bad(rejected(raw, "feed", [FeedProblem(where="feed", why=why)]), None)
    return Good(raw, to_record(event), feed)


def to_record(event: FeedIncidentReported) -> FeedRecord:
    return FeedRecord(
        source=Source.kafka,
        feed=event.feed,
        record_id=event.record_id,
        occurred_at=event.occurred_at,
        unit=event.unit,
        event_type=event.event_type,
        harm_level=event.harm_level,
        raw_event=event.raw_event,
        raw_harm=event.raw_harm,
        staff=tuple(StaffRef(value=s.value, system=s.system, role=s.role) for s in event.staff),
    )


def rejected(raw: Raw, reason: str, problems: Sequence[FeedProblem]) -> FeedRecordRejected:
    return FeedRecordRejected(
        source_topic=raw.topic,
        partition=raw.partition,
        offset=raw.offset,
        sha256=raw.sha256,
        size=len(raw.value),
        reason=reason,  # type: ignore[arg-type]
        problems=list(problems)[:MAX_PROBLEMS] or [FeedProblem(where="record", why="refused")],
    )


def _claimed_feed(raw: Raw, feeds: Feeds) -> FeedSettings | None:
    """The configured feed a record that failed the schema says it is from, if its `feed`
    is readable: the refusal then counts against that feed."""
    try:
        claimed = json.loads(raw.value)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested past Python's stack
        return None
    name = claimed.get("feed") if isinstance(claimed, dict) else None
    if not isinstance(name, str):
        return None
    try:
        return feeds.get(Source.kafka, name)
    except UnknownFeed:
        return None


def unique_runs(items: Sequence[Good | Bad]) -> list[list[Good | Bad]]:
    """Consecutive runs with one record per (feed, record id) each: a redelivery in the same
    batch goes in the next transaction, after the first is taken."""
    runs: list[list[Good | Bad]] = [[]]
    seen: set[tuple[str, str]] = set()
    for item in items:
        if isinstance(item, Good):
            key = (item.feed.feed, item.record.record_id)
            if key in seen:
                runs.append([])
                seen = set()
            seen.add(key)
        runs[-1].append(item)
    return [r for r in runs if r]


async def store(items: Sequence[Good | Bad]) -> None:
    """One transaction: the good records through the intake, feed by feed; the dead letters
    into the outbox; refusals for the feeds that are configured."""
    at = clock.now()
    by_feed: dict[str, tuple[FeedSettings, list[FeedRecord]]] = {}
    for item in items:
        if isinstance(item, Good):
            by_feed.setdefault(item.feed.feed, (item.feed, []))[1].append(item.record)
    async with transaction() as session:
        for feed, records in by_feed.values():
            await intake.take(session, records, feed, at=at)
        bad = [item for item in items if isinstance(item, Bad)]
        for item in bad:
            if item.feed is not None:
                problems = [Problem(p.where, p.why) for p in item.rejected.problems]
                await intake.refuse(session, item.feed, problems, kept=None, at=at)
        await outbox.add_many(session, [item.rejected for item in bad])


async def take(items: Sequence[Good | Bad]) -> None:
    """Store a batch; if it fails for a reason retrying cannot fix, one record at a time,
    so that only the record at fault becomes a dead letter (reason `failed`)."""
    for run in unique_runs(items):
        await _take_run(run)


async def _take_run(items: Sequence[Good | Bad]) -> None:
    try:
        await persistently(lambda: store(items), "feed-incident-reported")
        return
    except Exception as exc:
        if len(items) > 1:
            log().warning("raw_feed.batch_failed_one_by_one", records=len(items))
            for item in items:
                await _take_run([item])
            return
        (item,) = items
        if isinstance(item, Good):
            log().error("raw_feed.not_taken", error=type(exc).__name__, offset=item.raw.offset)
            why = f"the store refused it ({type(exc).__name__}); read it again from the topic"
            letter = rejected(item.raw, "failed", [FeedProblem(where="record", why=why)])
            await _take_run([Bad(letter, item.feed)])
        elif item.feed is not None:  # the refusal row failed: the dead letter alone
            log().error("raw_feed.refusal_failed", error=type(exc).__name__)
            await _take_run([Bad(item.rejected, None)])
        else:  # nothing more to drop: its coordinates stay in the log
            log().error(
                "raw_feed.dead_letter_failed",
                error=type(exc).__name__,
                partition=item.rejected.partition,
                offset=item.rejected.offset,
            )


def logged(items: Iterable[Good | Bad]) -> None:
    for item in items:
        if isinstance(item, Bad):
            r = item.rejected
            log().warning(
                "raw_feed.dead_letter",
                reason=r.reason,
                partition=r.partition,
                offset=r.offset,
                sha256=r.sha256[:16],
                problems=len(r.problems),
            )


raw_topic = app.topic(
    topic_name(FeedIncidentReported), value_serializer="raw", key_serializer="raw"
)
_feeds: Feeds | None = None


def feeds() -> Feeds:
    """The feeds configuration, read once per process (SVRR_FEEDS or the shipped file)."""
    global _feeds
    if _feeds is None:
        _feeds = load_feeds()
    return _feeds


@app.agent(raw_topic)
async def take_raw_feed(stream: faust.StreamT[bytes]) -> AsyncIterator[int]:
    """Whatever has arrived is one batch (events.consume.take_batches); each record is
    read with its partition and offset, for the dead letter that may have to name them."""

    def located(value: bytes) -> Raw:
        event = stream.current_event
        assert event is not None
        message = event.message
        return Raw(value, message.topic, message.partition, message.offset)

    stream.add_processor(located)
    async for batch in take_batches(stream, BATCH, WITHIN_S):
        raws: list[Raw] = batch  # type: ignore[assignment]
        items = [read(raw, feeds()) for raw in raws]
        logged(items)
        await take(items)
        yield len(items)
