"""The raw topic's reading (services.feeds.raw_topic): a good record becomes a kafka
FeedRecord of its configured feed; a bad one a dead letter that says where and why, where it
was and a hash of its bytes, and never anything the producer wrote in it."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from schemas.events import FeedIncidentReported, HarmLevel, IncidentType
from services.feeds.config import parse_feeds
from services.feeds.raw_topic import OTHER_FIELD, Bad, Good, Raw, read, unique_runs
from services.feeds.record import Source, StaffRef
from tests.unit import feeds as feed_checks

FEEDS = parse_feeds("kafka:\n  engine:\n  lab:\nhl7v2:\n  adt:\n")
PHI = ("HARTLEY", "MRN483920", "1947-03-12", "Margaret")


def body(**changes: Any) -> dict[str, Any]:
    return {
        "record_id": "ENG-1",
        "feed": "engine",
        "occurred_at": "2026-11-30T03:40:00+00:00",
        "unit": "4E",
        "event_type": "unexpected_death",
        "harm_level": "death",
        "raw_event": "DEATH",
        "staff": [{"value": "N1001"}, {"value": "E77", "system": "urn:engine", "role": "RN"}],
    } | changes


def raw(value: dict[str, Any] | bytes, offset: int = 7) -> Raw:
    data = value if isinstance(value, bytes) else json.dumps(value).encode()
    return Raw(data, "svrr.feed-incident-reported.v1", 3, offset)


def test_a_good_record_is_a_kafka_feed_record_of_its_feed() -> None:
    got = read(raw(body()), FEEDS)
    assert isinstance(got, Good)
    assert got.feed.feed == "engine" and got.feed.source is Source.kafka
    r = got.record
    assert (r.source, r.feed, r.record_id, r.unit) == (Source.kafka, "engine", "ENG-1", "4E")
    assert r.occurred_at == datetime(2026, 11, 30, 3, 40, tzinfo=UTC)
    assert (r.event_type, r.harm_level, r.raw_event) == (
        IncidentType.unexpected_death,
        HarmLevel.death,
        "DEATH",
    )
    assert r.staff == (
        StaffRef(value="N1001"),
        StaffRef(value="E77", system="urn:engine", role="RN"),
    )


def test_the_envelope_is_optional_for_a_producer_and_checked_when_given() -> None:
    assert isinstance(read(raw(body(schema_version=1)), FEEDS), Good)
    got = read(raw(body(schema_version=2)), FEEDS)
    assert isinstance(got, Bad) and got.rejected.problems[0].where == "schema_version"


def test_a_record_failing_the_schema_says_where_and_why_and_nothing_it_held() -> None:
    value = body(
        harm_level="Margaret HARTLEY",
        occurred_at="1947-03-12",
        patient_mrn="MRN483920",
        staff=[{"value": "N1001", "name": "HARTLEY"}, {"value": ""}],
    )
    value["HARTLEY"] = "x"  # even a field's name may be the producer's text
    got = read(raw(value), FEEDS)
    assert isinstance(got, Bad)
    letter = got.rejected
    assert letter.reason == "schema"
    where = sorted(p.where for p in letter.problems)
    assert where == sorted(
        [
            "occurred_at",
            "harm_level",
            "staff.0." + OTHER_FIELD,
            "staff.1.value",
            OTHER_FIELD,
            OTHER_FIELD,
        ]
    )
    feed_checks.assert_no_phi(letter.model_dump_json(), PHI)
    assert got.feed is not None and got.feed.feed == "engine"  # counted against its feed


def test_a_dead_letter_names_the_place_and_hash_of_the_bytes() -> None:
    data = b'{"feed": "engine", "note": "HARTLEY"'
    got = read(Raw(data, "t", 5, 1234), FEEDS)
    assert isinstance(got, Bad)
    letter = got.rejected
    assert (letter.source_topic, letter.partition, letter.offset) == ("t", 5, 1234)
    assert letter.sha256 == hashlib.sha256(data).hexdigest() and letter.size == len(data)
    assert letter.problems[0].why.startswith("Invalid JSON")
    assert got.feed is None  # no feed could be read from it
    feed_checks.assert_no_phi(letter.model_dump_json(), PHI)


@pytest.mark.parametrize("feed", ["elsewhere", "adt"])
def test_a_feed_not_configured_for_kafka_is_refused_by_name(feed: str) -> None:
    got = read(raw(body(feed=feed)), FEEDS)
    assert isinstance(got, Bad)
    assert got.rejected.reason == "feed" and got.rejected.problems[0].where == "feed"
    assert got.feed is None


def test_not_an_object_and_an_empty_record_are_dead_letters() -> None:
    deep = b'{"feed": "engine", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    for data in (b"[]", b"", b"null", "\u00e9".encode("latin-1"), deep):
        got = read(Raw(data, "t", 0, 0), FEEDS)
        assert isinstance(got, Bad) and got.rejected.reason == "schema", data


def test_a_redelivery_in_one_batch_goes_in_the_next_transaction() -> None:
    items = [
        read(raw(body(record_id=r), offset=n), FEEDS)
        for n, r in enumerate(["A", "B", "A", "C", "B", "A"])
    ]
    items.insert(2, read(raw(b"{}"), FEEDS))
    runs = unique_runs(items)
    ids = [[i.record.record_id if isinstance(i, Good) else "bad" for i in run] for run in runs]
    assert ids == [["A", "B", "bad"], ["A", "C", "B"], ["A"]]
    assert sum(len(r) for r in runs) == len(items)


def test_the_contract_has_no_field_for_a_patient_and_forbids_any_other() -> None:
    assert "staff" in FeedIncidentReported.model_fields
    with pytest.raises(ValueError):
        FeedIncidentReported.model_validate(body(patient="x"))


def test_the_sample_records_read_as_documented() -> None:
    good = read(raw(feed_checks.sample("kafka", "incident.json")), FEEDS)
    assert isinstance(good, Good)
    assert good.record.record_id == "ENG-2026-0412" and good.record.raw_harm == "I"
    assert [s.value for s in good.record.staff] == ["N1001", "P2001"]
    bad = read(raw(feed_checks.sample("kafka", "bad_incident.json")), FEEDS)
    assert isinstance(bad, Bad) and bad.rejected.reason == "schema"
    assert {p.where for p in bad.rejected.problems} == {
        "occurred_at",
        "harm_level",
        OTHER_FIELD,
        f"staff.0.{OTHER_FIELD}",
    }
    details = ("QUIMBY", "ROSE", "MRN900417", "1952-07-04", "Alex Rivera", "fatal")
    feed_checks.assert_no_phi(bad.rejected.model_dump_json(), details)
