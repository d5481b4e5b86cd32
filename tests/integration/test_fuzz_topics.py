"""Every topic's contract, fuzzed with records that are not the contract: each one ends as a
dead letter with its reason, and the agent takes the good record after it.

Generated records (tests below draw them): bytes that are not JSON or not UTF-8, JSON that is
not an object, the contract's own record cut short, with a field dropped, a field of the
wrong type (numbers, lists, objects, NUL bytes, 5,000 characters), an extra field, another
schema_version. Only records the contract refuses are kept (the property is about those).

Three topics have an agent here (events.app): incident-reported (the worker's hot path,
events.consume.handle_batch over services.incidents.agents.open_and_page), sms-received (the
reply agent, events.consume.consume over services.cases.agents.apply_reply) and the raw feed
topic (services.feeds.raw_topic: read, then take; its dead letters are FeedRecordRejected on
a topic of their own, never the bytes). Each is driven in process through its real handling
path, a batch of bad records and one good record at a time, and once more end to end through
Kafka and the stack's worker. The other contracts have no consumer in this product (they
carry notifications and the audit trail): their records go through events.consume.decode,
what any consumer here would run first.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.engine import Engine

from events.consume import consume, decode, handle_batch
from schemas.events import (
    CONTRACTS,
    Event,
    FeedIncidentReported,
    HarmLevel,
    IncidentReported,
    IncidentType,
    SmsReceived,
)
from schemas.topics import topic_name
from services.config import get_settings
from services.paging.views import storable_text
from tests.integration.fuzzing import fuzz_report, fuzz_settings, tally
from tests.integration.test_flows import stored_reply
from tests.integration.wards import Ward, make_ward, unused_numbers
from tests.stack import Stack, eventually

__all__ = ["fuzz_report"]
pytestmark = [pytest.mark.fuzz, pytest.mark.usefixtures("fuzz_report")]

# Measured on the 2-core VM: an in-process batch (1-4 bad records and a good one) costs about
# 30-60 ms; the decode-only contracts about 2 ms a record.
BATCHES = 60
DECODE_EXAMPLES = 40
# Records produced per topic in the Kafka test (bad ones; one good after them).
OVER_KAFKA = 40

U = uuid.UUID("00000000-0000-4000-8000-000000000001")
NOW = "2026-11-30T12:00:00+00:00"
# One valid record per contract, the starting point of the malformed ones.
VALID: dict[str, dict[str, Any]] = {
    "IncidentReported": {
        "incident_id": str(U),
        "occurred_at": NOW,
        "unit": "ICU",
        "event_type": "code_blue",
        "harm_level": "severe",
        "staff_ids": ["N1001"],
    },
    "SupportNeeded": {"case_id": str(U), "incident_id": str(U), "staff_id": "N1001"},
    "InvolvementProposed": {"incident_id": str(U), "staff_ids": ["N1001"]},
    "InvolvementDecided": {"incident_id": str(U), "staff_id": "N1001", "decision": "confirmed"},
    "GroupDebriefProposed": {
        "debrief_id": str(U),
        "incident_id": str(U),
        "staff_count": 6,
        "unit_count": 2,
    },
    "PageRequested": {"page_id": str(U), "case_id": str(U), "attempt": 1, "reason": "first"},
    "PageSent": {"page_id": str(U), "case_id": str(U), "provider_sid": "SM" + "a" * 32},
    "PageStatusChanged": {
        "page_id": str(U),
        "case_id": str(U),
        "provider_sid": "SM" + "a" * 32,
        "status": "delivered",
    },
    "SmsReceived": {"sms_id": str(U), "provider_sid": "SM" + "a" * 32, "sender": "0" * 64},
    "PageAnswered": {
        "page_id": str(U),
        "case_id": str(U),
        "answer": "accepted",
        "sms_id": str(U),
    },
    "CaseStateChanged": {
        "case_id": str(U),
        "from_state": "identified",
        "to_state": "peer_paged",
        "reason": "paged",
    },
    "FeedIncidentReported": {
        "record_id": "r-1",
        "feed": "engine",
        "occurred_at": NOW,
        "unit": "ICU",
        "event_type": "unexpected_death",
        "harm_level": "death",
        "staff": [{"value": "N1001"}],
    },
    "FeedRecordRejected": {
        "source_topic": "svrr.feed-incident-reported.v1",
        "partition": 0,
        "offset": 0,
        "sha256": "0" * 64,
        "size": 1,
        "reason": "schema",
        "problems": [{"where": "record", "why": "refused"}],
    },
}


def _valid(contract: type[Event]) -> dict[str, Any]:
    return VALID[contract.__name__] | {"event": contract.__name__}


def test_every_contract_has_a_valid_record() -> None:
    """The starting points are the contract (else every 'malformed' record would be so for
    the wrong reason), and every contract has one."""
    assert {c.__name__ for c in CONTRACTS} == set(VALID)
    for contract in CONTRACTS:
        contract.model_validate_json(json.dumps(_valid(contract)))


SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
WRONG = st.one_of(
    SCALAR,
    st.lists(SCALAR, max_size=3),
    st.dictionaries(st.text(max_size=5), SCALAR, max_size=3),
    st.text(max_size=20).map(lambda t: t + "\x00"),
    st.sampled_from(["x" * 5000, "\ud800", "9" * 400, "", " ", "null", "+1555", str(U)]),
)


def refused(contract: type[Event], raw: bytes) -> bool:
    try:
        contract.model_validate_json(raw)
    except ValidationError:
        return True
    return False


@st.composite
def malformed(draw: st.DrawFn, contract: type[Event]) -> bytes:
    """A record the contract refuses."""
    base = _valid(contract)
    kind = draw(
        st.sampled_from(["bytes", "json", "cut", "drop", "retype", "extra", "version", "deep"])
    )
    if kind == "bytes":
        raw = draw(st.binary(max_size=300))
    elif kind == "json":
        raw = json.dumps(draw(st.one_of(SCALAR, st.lists(WRONG, max_size=4)))).encode()
    elif kind == "cut":
        whole = json.dumps(base).encode()
        raw = whole[: draw(st.integers(min_value=0, max_value=len(whole) - 1))]
    elif kind == "deep":
        raw = b"[" * draw(st.integers(min_value=100, max_value=200_000))
    else:
        record = dict(base)
        key = draw(st.sampled_from(sorted(record)))
        if kind == "drop":
            del record[key]
        elif kind == "retype":
            record[key] = draw(WRONG)
        elif kind == "extra":
            record[draw(st.text(min_size=1, max_size=12).filter(lambda k: k not in base))] = draw(
                WRONG
            )
        else:
            record["schema_version"] = draw(st.integers() | WRONG)
        raw = json.dumps(record).encode("utf-8", "surrogatepass")
    assume(refused(contract, raw))
    return raw


def dead_letters(db: Engine, topic: str, raw: bytes) -> list[str]:
    with db.connect() as conn:
        rows = conn.execute(
            text("SELECT reason FROM dead_letters WHERE topic = :t AND payload = :p"),
            {"t": topic, "p": raw},
        ).all()
    return [r[0] for r in rows]


def letters_for(db: Engine, topic: str, raws: Sequence[bytes]) -> dict[bytes, list[str]]:
    return {raw: dead_letters(db, topic, raw) for raw in set(raws)}


def assert_one_more_letter_each(
    db: Engine, topic: str, raws: Sequence[bytes], before: dict[bytes, list[str]]
) -> None:
    """Each bad record is one more dead letter of its topic, with its bytes and the reason."""
    for raw in set(raws):
        after = dead_letters(db, topic, raw)
        added = len(after) - len(before[raw])
        assert added == raws.count(raw), (raw[:80], before[raw], after)
        assert set(after) == {"schema validation"}, after


# --- incident-reported: the worker's hot path -------------------------------------------------


def stored_incident(db: Engine, unit: str, staff: list[str]) -> IncidentReported:
    """An incident as the API stores it (the event names a row), for the agent to take."""
    event = IncidentReported(
        incident_id=uuid.uuid4(),
        occurred_at=datetime.now(UTC),
        unit=unit,
        event_type="other",
        harm_level="none",
        staff_ids=staff,
    )
    with db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO incidents (id, request_hash, occurred_at, unit, event_type, "
                "harm_level, staff_ids) VALUES (:i, 'fuzz', now(), :u, 'other', 'none', :s)"
            ),
            {"i": event.incident_id, "s": staff, "u": unit},
        )
    return event


@pytest.fixture(scope="module")
def ward(db: Engine) -> Ward:
    return make_ward(db, "Fz", 1)


def recording(
    handle: Callable[[list[Any]], Any], seen: list[uuid.UUID]
) -> Callable[[list[Any]], Any]:
    """The real handler, noting which events reached it (never a bad record)."""

    async def handler(events: list[Any]) -> None:
        seen.extend(e.event_id for e in events)
        await handle(events)

    handler.__name__ = getattr(handle, "__name__", "handler")
    return handler


@fuzz_settings(BATCHES)
@given(bad=st.lists(malformed(IncidentReported), min_size=1, max_size=4), where=st.integers(0, 4))
async def test_fuzz_incident_reported_dead_letters_and_takes_the_next(
    db: Engine, ward: Ward, bad: list[bytes], where: int
) -> None:
    from services.incidents.agents import open_and_page

    # Staff nobody has: the incident is taken (involvement identifies no one) without
    # paging anybody, so the fuzz costs no peer any load.
    good = stored_incident(db, ward.unit, [f"GHOST{ward.tag.upper()}"])
    batch = list(bad)
    batch.insert(min(where, len(batch)), good.to_bytes())
    before = letters_for(db, IncidentReported.topic, bad)
    seen: list[uuid.UUID] = []
    outcomes = await handle_batch(IncidentReported, batch, recording(open_and_page, seen))
    assert sorted(outcomes) == sorted(["dead_letter"] * len(bad) + ["done"]), outcomes
    assert seen == [good.event_id]
    assert_one_more_letter_each(db, IncidentReported.topic, bad, before)
    tally["records"] += len(batch)
    tally["dead letters"] += len(bad)


# --- sms-received: the reply agent, one record at a time --------------------------------------


async def stored_sms(db: Engine, body: str = "STOP") -> SmsReceived:
    """An inbound SMS as the webhook stores it, from a number nobody has, not yet handled;
    the event that names it is the test's to deliver."""
    with db.connect() as conn:
        (number,) = unused_numbers(conn, 1)
    return await stored_reply(number, body)


def handled(db: Engine, sms_id: uuid.UUID) -> bool:
    with db.connect() as conn:
        at = conn.execute(
            text("SELECT handled_at FROM inbound_sms WHERE id = :i"), {"i": sms_id}
        ).scalar()
    return at is not None


async def _stream(raws: Sequence[bytes]) -> AsyncIterator[bytes]:
    for raw in raws:
        yield raw


@fuzz_settings(BATCHES)
@given(bad=st.lists(malformed(SmsReceived), min_size=1, max_size=4), where=st.integers(0, 4))
async def test_fuzz_sms_received_dead_letters_and_takes_the_next(
    db: Engine, bad: list[bytes], where: int
) -> None:
    from services.cases.agents import apply_reply

    good = await stored_sms(db)
    records = list(bad)
    records.insert(min(where, len(records)), good.to_bytes())
    before = letters_for(db, SmsReceived.topic, bad)
    seen: list[uuid.UUID] = []

    async def noting(sms: SmsReceived) -> None:
        seen.append(sms.event_id)
        await apply_reply(sms)

    outcomes = [o async for o in consume(_stream(records), SmsReceived, noting)]
    assert sorted(outcomes) == sorted(["dead_letter"] * len(bad) + ["done"]), outcomes
    assert seen == [good.event_id]
    assert handled(db, good.sms_id)  # a STOP from a stranger: recorded, handled
    assert_one_more_letter_each(db, SmsReceived.topic, bad, before)
    tally["records"] += len(records)
    tally["dead letters"] += len(bad)


# --- the raw feed topic: dead letters on a topic of their own -------------------------------

_offsets = iter(range(10**9, 2 * 10**9))


def feed_record(ward: Ward, record_id: str) -> bytes:
    return json.dumps(
        {
            "record_id": record_id,
            "feed": "engine",
            "occurred_at": datetime.now(UTC).isoformat(),
            "unit": ward.unit,
            "event_type": "unexpected_death",
            "harm_level": "death",
            "staff": [{"value": f"GHOST{ward.tag.upper()}"}],
        }
    ).encode()


def feed_record_stored(db: Engine, record_id: str) -> bool:
    with db.connect() as conn:
        row = conn.execute(
            text(
                "SELECT 1 FROM feed_records WHERE source = 'kafka' AND feed = 'engine' "
                "AND record_id = :r"
            ),
            {"r": record_id},
        ).first()
    return row is not None


def feed_letters(db: Engine, shas: Sequence[str]) -> dict[str, list[str]]:
    """FeedRecordRejected events in the outbox, by the sha256 they name: their reasons."""
    with db.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT payload->>'sha256', payload->>'reason' FROM outbox "
                "WHERE topic = :t AND payload->>'sha256' = ANY(:s)"
            ),
            {"t": topic_name_of("FeedRecordRejected"), "s": list(shas)},
        ).all()
    out: dict[str, list[str]] = {s: [] for s in shas}
    for sha, reason in rows:
        out[sha].append(reason)
    return out


def topic_name_of(contract_name: str) -> str:
    (contract,) = [c for c in CONTRACTS if c.__name__ == contract_name]
    return topic_name(contract)


@fuzz_settings(BATCHES)
@given(bad=st.lists(malformed(FeedIncidentReported), min_size=1, max_size=4))
async def test_fuzz_raw_feed_dead_letters_and_takes_the_next(
    db: Engine, ward: Ward, bad: list[bytes]
) -> None:
    from services.feeds.raw_topic import Raw, feeds, read, take

    record_id = f"fuzz-{uuid.uuid4().hex}"
    raws = [Raw(v, topic_name(FeedIncidentReported), 0, next(_offsets)) for v in bad]
    raws.append(Raw(feed_record(ward, record_id), topic_name(FeedIncidentReported), 0, 0))
    await take([read(raw, feeds()) for raw in raws])
    assert feed_record_stored(db, record_id)
    letters = feed_letters(db, [r.sha256 for r in raws[:-1]])
    for raw in raws[:-1]:
        reasons = letters[raw.sha256]
        assert reasons and set(reasons) <= {"schema", "feed"}, (raw.value[:80], reasons)
        # Never the bytes: a refused record may hold a patient's details anywhere.
    payloads = _letter_payloads(db, [r.sha256 for r in raws[:-1]])
    for raw in raws[:-1]:
        if len(raw.value) >= 8:
            assert all(raw.value.decode(errors="ignore") not in p for p in payloads)
    tally["records"] += len(raws)
    tally["dead letters"] += len(bad)


def _letter_payloads(db: Engine, shas: Sequence[str]) -> list[str]:
    with db.connect() as conn:
        return [
            str(r[0])
            for r in conn.execute(
                text(
                    "SELECT payload::text FROM outbox WHERE topic = :t "
                    "AND payload->>'sha256' = ANY(:s)"
                ),
                {"t": topic_name_of("FeedRecordRejected"), "s": list(shas)},
            ).all()
        ]


# --- the contracts no agent here consumes: what a consumer runs first -------------------------

UNCONSUMED = [
    c for c in CONTRACTS if c not in (IncidentReported, SmsReceived, FeedIncidentReported)
]


@pytest.mark.parametrize("contract", UNCONSUMED, ids=[c.__name__ for c in UNCONSUMED])
@fuzz_settings(DECODE_EXAMPLES)
@given(data=st.data())
async def test_fuzz_every_other_contract_decodes_to_dead_letters(
    db: Engine, contract: type[Event], data: st.DataObject
) -> None:
    bad = data.draw(st.lists(malformed(contract), min_size=1, max_size=3), label="bad")
    good = json.dumps(_valid(contract) | {"event_id": str(uuid.uuid4())}).encode()
    before = letters_for(db, contract.topic, bad)
    decoded, dead = await decode(contract, [*bad, good])
    assert [raw for _, raw in decoded] == [good] and dead == len(bad)
    assert_one_more_letter_each(db, contract.topic, bad, before)
    tally["records"] += len(bad) + 1
    tally["dead letters"] += len(bad)


# --- end to end: the stack's worker reads them off Kafka --------------------------------------


def drawn(strategy: st.SearchStrategy[bytes], n: int) -> list[bytes]:
    """n records from a strategy, the same ones every run (derandomized, no I/O)."""
    out: list[bytes] = []

    @settings(fuzz_settings(n), max_examples=n)
    @given(strategy)
    def collect(raw: bytes) -> None:
        out.append(raw)

    collect()
    return out[:n]


async def produce(topic: str, key: bytes, values: Sequence[bytes]) -> None:
    """In order, under one key: one partition, so the good record is read after the bad."""
    producer = AIOKafkaProducer(
        bootstrap_servers=get_settings().kafka_bootstrap_servers, max_request_size=4 * 2**20
    )
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def test_fuzz_over_kafka_the_worker_dead_letters_and_goes_on(
    stack: Stack, db: Engine
) -> None:
    """The real agents in the stack's worker: generated bad records on each consumed topic,
    then a good one under the same key; the good one is taken, and every bad one is a dead
    letter with its reason (the worker is still reading: the good one came after)."""
    own = make_ward(db, "Fk", 1)
    key = own.tag.encode()

    bad_incidents = drawn(malformed(IncidentReported), OVER_KAFKA)
    incident = stored_incident(db, own.unit, list(own.staff))
    before_incidents = letters_for(db, IncidentReported.topic, bad_incidents)
    await produce(topic_name(IncidentReported), key, [*bad_incidents, incident.to_bytes()])

    bad_sms = drawn(malformed(SmsReceived), OVER_KAFKA)
    sms = await stored_sms(db)
    before_sms = letters_for(db, SmsReceived.topic, bad_sms)
    await produce(topic_name(SmsReceived), key, [*bad_sms, sms.to_bytes()])

    bad_feed = drawn(malformed(FeedIncidentReported), OVER_KAFKA)
    record_id = f"fuzz-kafka-{own.tag}"
    await produce(topic_name(FeedIncidentReported), key, [*bad_feed, feed_record(own, record_id)])

    def opened() -> int:
        with db.connect() as conn:
            return int(
                conn.execute(
                    text("SELECT count(*) FROM support_cases WHERE incident_id = :i"),
                    {"i": incident.incident_id},
                ).scalar()
                or 0
            )

    await eventually(lambda: opened() == 1, 60, "the good incident taken after the bad ones")
    await eventually(lambda: handled(db, sms.sms_id), 60, "the good SMS taken after the bad")
    await eventually(
        lambda: feed_record_stored(db, record_id), 60, "the good feed record taken after the bad"
    )
    assert_one_more_letter_each(db, IncidentReported.topic, bad_incidents, before_incidents)
    assert_one_more_letter_each(db, SmsReceived.topic, bad_sms, before_sms)
    shas = [hashlib.sha256(v).hexdigest() for v in bad_feed]
    letters = await _eventually_all(db, shas)
    assert all(set(r) <= {"schema", "feed"} for r in letters.values()), letters
    tally["records over Kafka"] += 3 * OVER_KAFKA + 3
    tally["dead letters over Kafka"] += 3 * OVER_KAFKA


async def _eventually_all(db: Engine, shas: Sequence[str]) -> dict[str, list[str]]:
    for _ in range(300):
        letters = feed_letters(db, shas)
        if all(letters.values()):
            return letters
        await asyncio.sleep(0.1)
    missing = [s for s, r in feed_letters(db, shas).items() if not r]
    raise AssertionError(f"{len(missing)} feed dead letters never written")


# --- records the contract accepts: taken, not dead letters --------------------------------

STAFF_ID = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,31}\Z")
UNIT = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9 _./-]{0,31}\Z")
AWARE = st.datetimes(
    timezones=st.timezones() | st.just(UTC),
    min_value=datetime(1, 1, 2),
    max_value=datetime(9999, 12, 30),
)


@fuzz_settings(BATCHES)
@given(
    occurred_at=AWARE,
    unit=UNIT,
    staff=st.lists(STAFF_ID, min_size=1, max_size=20),
    event_type=st.sampled_from([t.value for t in IncidentType]),
    harm_level=st.sampled_from([h.value for h in HarmLevel]),
)
async def test_fuzz_an_incident_the_contract_accepts_is_taken(
    db: Engine,
    occurred_at: datetime,
    unit: str,
    staff: list[str],
    event_type: str,
    harm_level: str,
) -> None:
    """Any record the contract accepts (extreme times and zones, odd but valid units and
    staff ids) is taken by the hot path, not dead-lettered: a dead letter there is an
    incident nobody is paged for. Staff ids are drawn, so nobody real is paged."""
    from services.incidents.agents import open_and_page

    event = IncidentReported(
        incident_id=uuid.uuid4(),
        occurred_at=occurred_at,
        unit=unit,
        event_type=event_type,
        harm_level=harm_level,
        staff_ids=[f"ZZ{s}"[:32] for s in staff],
    )
    with db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO incidents (id, request_hash, occurred_at, unit, event_type, "
                "harm_level, staff_ids) VALUES (:i, 'fuzz', :o, :u, :e, :h, :s)"
            ),
            {
                "i": event.incident_id,
                "o": event.occurred_at,
                "u": unit,
                "e": event_type,
                "h": harm_level,
                "s": event.staff_ids,
            },
        )
    outcomes = await handle_batch(IncidentReported, [event.to_bytes()], open_and_page)
    tally["records"] += 1
    assert outcomes == ["done"], (
        outcomes,
        dead_letters(db, IncidentReported.topic, event.to_bytes()),
    )


@fuzz_settings(BATCHES)
@given(
    body=st.one_of(
        st.text(max_size=200),
        st.text(min_size=1, max_size=4).map(lambda t: t * 400),
        st.sampled_from(["YES", "1A", "later 6pm", "STOP", "I can't go on", "killing it"]),
    ).map(lambda t: storable_text(t)[:1600])
)
async def test_fuzz_a_reply_the_contract_accepts_is_handled(db: Engine, body: str) -> None:
    """Any text the webhook stores goes through the reply path (read from its row, crisis
    reading first) and is handled, not dead-lettered: a dead letter there is a reply nobody
    reads."""
    from services.cases.agents import apply_reply

    event = await stored_sms(db, body)
    outcomes = [o async for o in consume(_stream([event.to_bytes()]), SmsReceived, apply_reply)]
    tally["records"] += 1
    assert outcomes == ["done"], outcomes
    assert handled(db, event.sms_id)
