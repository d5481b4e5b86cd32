"""The raw topic on the real stack: a hospital engine's records on
svrr.feed-incident-reported.v1, read by the worker's agent (services.feeds.raw_topic). A bad
record lands on the dead-letter topic with where and why, its place and its hash but not its
bytes, is counted as a refusal of the feed it claimed, and the agent goes on to take the next
record of the same partition, which becomes an incident and pages."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.engine import Engine

from schemas.events import FeedIncidentReported, FeedRecordRejected
from schemas.topics import topic_name
from services.config import get_settings
from tests.integration.test_feeds_mllp import pages_sent
from tests.integration.wards import Ward, make_ward
from tests.stack import Stack, eventually

# Patient-like details a producer might put in a record: not the sample files' (the
# end-to-end PHI scan reads every topic, and the raw topic is input: it holds what was sent).
PHI = ("QUIMBY", "MRN900417", "19520704")


@pytest.fixture
def ward(db: Engine) -> Ward:
    return make_ward(db, "Rw", 2)


def record(w: Ward, record_id: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "record_id": record_id,
        "feed": "engine",
        "occurred_at": datetime.now(UTC).isoformat(),
        "unit": w.unit,
        "event_type": "unexpected_death",
        "harm_level": "death",
        "raw_event": "DEATH",
        "staff": [{"value": s, "role": "attending"} for s in w.staff],
    }
    return body | changes


async def produce(key: str, *values: bytes) -> list[tuple[int, int]]:
    """Send the values in order under one key (one partition); their (partition, offset)."""
    producer = AIOKafkaProducer(bootstrap_servers=get_settings().kafka_bootstrap_servers)
    await producer.start()
    try:
        out = []
        for value in values:
            meta = await producer.send_and_wait(
                topic_name(FeedIncidentReported), value, key=key.encode()
            )
            out.append((meta.partition, meta.offset))
        return out
    finally:
        await producer.stop()


async def dead_letters(wanted: set[str], timeout: float = 30) -> dict[str, bytes]:
    """The dead letters whose sha256 is wanted, as the bytes on the DLQ topic."""
    consumer = AIOKafkaConsumer(
        topic_name(FeedRecordRejected),
        bootstrap_servers=get_settings().kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await consumer.start()
    found: dict[str, bytes] = {}

    async def probe() -> bool:
        batches = await consumer.getmany(timeout_ms=500)
        for messages in batches.values():
            for m in messages:
                sha = json.loads(m.value)["sha256"]
                if sha in wanted:
                    found[sha] = m.value
        return set(found) == wanted

    try:
        await eventually(probe, timeout, "the dead letters", every=0.01)
    finally:
        await consumer.stop()
    return found


def stored(db: Engine, record_id: str) -> dict[str, object] | None:
    with db.connect() as conn:
        row = conn.execute(
            text(
                "SELECT status, incident_id FROM feed_records "
                "WHERE source = 'kafka' AND feed = 'engine' AND record_id = :r"
            ),
            {"r": record_id},
        ).first()
    return dict(row._mapping) if row else None


def refusals(db: Engine, since: datetime) -> list[dict[str, Any]]:
    with db.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT problems, kept FROM feed_refusals "
                "WHERE source = 'kafka' AND feed = 'engine' AND received_at >= :since"
            ),
            {"since": since},
        ).all()
    return [dict(r._mapping) for r in rows]


async def test_a_bad_record_is_a_dead_letter_with_its_reason_and_the_next_is_taken(
    stack: Stack, db: Engine, ward: Ward
) -> None:
    key = f"K-{ward.tag}"
    since = datetime.now(UTC)
    bad = json.dumps(
        record(ward, f"bad-{ward.tag}", harm_level="fatal", patient_name="QUIMBY MRN900417")
    ).encode()
    not_json = b'{"feed": "engine", "patient": "QUIMBY 19520704"'
    unknown_feed = json.dumps(record(ward, f"nofeed-{ward.tag}", feed="elsewhere")).encode()
    good_id = f"good-{ward.tag}"
    good = json.dumps(record(ward, good_id)).encode()
    places = await produce(key, bad, not_json, unknown_feed, good)

    shas = {hashlib.sha256(v).hexdigest(): (v, at) for v, at in zip(
        (bad, not_json, unknown_feed), places, strict=False
    )}  # fmt: skip
    letters = await dead_letters(set(shas))
    for sha, raw in letters.items():
        letter = FeedRecordRejected.model_validate_json(raw)
        value, (partition, offset) = shas[sha]
        assert (letter.partition, letter.offset, letter.size) == (partition, offset, len(value))
        assert letter.source_topic == topic_name(FeedIncidentReported)
        assert not [p for p in PHI if p.encode() in raw], "a dead letter carries the payload"
    by_sha = {s: FeedRecordRejected.model_validate_json(r) for s, r in letters.items()}
    bad_letter = by_sha[hashlib.sha256(bad).hexdigest()]
    assert bad_letter.reason == "schema"
    assert {p.where for p in bad_letter.problems} == {"harm_level", "<unexpected field>"}
    assert by_sha[hashlib.sha256(not_json).hexdigest()].reason == "schema"
    assert by_sha[hashlib.sha256(unknown_feed).hexdigest()].reason == "feed"

    # The agent went on: the record after them on the same partition is taken and pages.
    row = await eventually(lambda: stored(db, good_id), 30, "the good record taken")
    assert row["status"] == "started"
    await eventually(lambda: pages_sent(db, row["incident_id"]) == 2, 30, "both paged")
    # The record that named a configured feed counts against it (the one not JSON and the
    # one naming no such feed cannot); nothing of it is kept: its bytes stay on the
    # producer's topic, and the dead letter says where.
    (refusal,) = refusals(db, since)
    assert refusal["kept"] is None
    assert {p["where"] for p in refusal["problems"]} == {"harm_level", "<unexpected field>"}
    assert not [p for p in PHI if p in json.dumps(refusal)]
    assert stored(db, f"bad-{ward.tag}") is None and stored(db, f"nofeed-{ward.tag}") is None
