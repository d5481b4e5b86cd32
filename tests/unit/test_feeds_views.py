"""The feed routes' pure parts: a Bundle read entry by entry, the answers' shapes and
statuses, and no patient detail in any of them. The routes themselves, on the store, are in
tests/integration/test_feeds_routes.py."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from starlette.requests import Request

from services.feeds import fhir
from services.feeds.intake import Disposition, Taken
from services.feeds.record import FeedRefused, Problem
from services.feeds.views import (
    Refused,
    bundle_response,
    csv_row,
    feed_answer,
    fhir_refusal_status,
    media_type,
    read_body,
    read_bundle,
    taken_status,
)
from tests.unit import feeds
from tests.unit.test_feeds_fhir import PHI as FHIR_PHI

FEED = fhir.FhirFeed("ehr", staff_systems=("urn:staff",))


def event(ident: str, *, date: str = "2026-11-28T03:40:00Z", who: str = "#p") -> dict[str, Any]:
    return {
        "resourceType": "AdverseEvent",
        "id": ident,
        "actuality": "actual",
        "subject": {"reference": "Patient/x", "display": "Margaret Okonkwo-Baines"},
        "date": date,
        "outcome": {"coding": [{"code": "fatal"}]},
        "contained": [
            {
                "resourceType": "Practitioner",
                "id": "p",
                "identifier": [{"system": "urn:staff", "value": "N1001"}],
            }
        ],
        "contributor": [{"reference": who}],
    }


def bundle(kind: str, *resources: dict[str, Any]) -> bytes:
    entries = [{"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": r} for r in resources]
    return json.dumps({"resourceType": "Bundle", "type": kind, "entry": entries}).encode()


def taken(record_id: str, disposition: Disposition = Disposition.started) -> Taken:
    incident = uuid.uuid4() if disposition in (Disposition.started, Disposition.linked) else None
    return Taken(record_id, disposition, incident, "rule 1", uuid.uuid4())


# --- a Bundle, entry by entry ---------------------------------------------------------------


def test_a_bad_event_in_a_batch_holds_back_no_other() -> None:
    body = bundle(
        "batch",
        event("ae-1", date="1947-03-12"),  # a date without a time: refused
        {"resourceType": "Patient", "id": "x", "name": [{"family": "Okonkwo-Baines"}]},
        event("ae-2"),
    )
    read = read_bundle(body, FEED, None)
    assert [r.record_id for r in read.records] == ["ae-2"]
    assert read.record_entry == [2]
    assert list(read.refused) == [0]
    assert [p.where for p in read.refused[0]] == ["Bundle.entry[0].resource.date"]


def test_an_entry_refused_in_a_later_round_is_told_in_the_numbering_sent() -> None:
    """Entry 1's practitioner is malformed; once it is set aside, entry 2 (which names it)
    cannot be resolved. Entry 2's problem is read from a Bundle without entries 0 and 1,
    and must still say entry 2."""
    practitioner = {
        "resourceType": "Practitioner",
        "id": "doc",
        "identifier": [{"system": "urn:staff", "value": "N1002"}],
        "active": "not a boolean",
    }
    body = bundle(
        "collection",
        event("ae-0", date="bad"),
        practitioner,
        event("ae-2", who="Practitioner/doc"),
        event("ae-3"),
    )
    read = read_bundle(body, FEED, None)
    assert [r.record_id for r in read.records] == ["ae-3"]
    assert read.record_entry == [3]
    assert sorted(read.refused) == [0, 1, 2]
    assert all(p.where.startswith("Bundle.entry[2].") for p in read.refused[2])
    assert all(p.where.startswith("Bundle.entry[1].") for p in read.refused[1])


def test_a_transaction_is_all_or_nothing() -> None:
    body = bundle("transaction", event("ae-1", date="1947-03-12"), event("ae-2"))
    with pytest.raises(FeedRefused) as caught:
        read_bundle(body, FEED, None)
    assert [p.where for p in caught.value.problems] == ["Bundle.entry[0].resource.date"]


def test_a_problem_of_the_bundle_itself_refuses_it_whole() -> None:
    body = bundle("searchset", event("ae-1"))
    with pytest.raises(FeedRefused) as caught:
        read_bundle(body, FEED, None)
    assert [p.where for p in caught.value.problems] == ["Bundle.type"]
    with pytest.raises(FeedRefused) as caught:
        read_bundle(b"{not json", FEED, None)
    assert [p.where for p in caught.value.problems] == ["body"]


def test_entered_in_error_gives_no_record_and_the_others_line_up() -> None:
    body = feeds.sample("fhir", "r5_bundle_batch.json")
    read = read_bundle(body, FEED, None)
    assert [r.record_id for r in read.records] == ["ae-r5-0100"]
    assert read.record_entry == [0]
    answer = bundle_response(read, [taken("ae-r5-0100")])
    statuses = [e["response"]["status"] for e in answer["entry"]]
    assert statuses == ["201 Created", "200 OK", "200 OK", "200 OK"]
    assert (
        "entered-in-error" in answer["entry"][1]["response"]["outcome"]["issue"][0]["diagnostics"]
    )


def test_bundle_response_has_one_entry_per_entry_sent_in_order() -> None:
    body = bundle(
        "batch",
        event("ae-1"),
        {"resourceType": "Patient", "id": "x", "name": [{"family": "Okonkwo-Baines"}]},
        event("ae-2", date="1947-03-12"),
        event("ae-3"),
    )
    read = read_bundle(body, FEED, None)
    answer = bundle_response(read, [taken("ae-1"), taken("ae-3", Disposition.linked)])
    assert answer["resourceType"] == "Bundle" and answer["type"] == "batch-response"
    statuses = [e["response"]["status"] for e in answer["entry"]]
    assert statuses == ["201 Created", "200 OK", "422 Unprocessable Entity", "200 OK"]
    refused = answer["entry"][2]["response"]["outcome"]
    assert refused["resourceType"] == "OperationOutcome"
    assert refused["issue"][0]["expression"] == ["Bundle.entry[2].resource.date"]
    assert "incident" in answer["entry"][0]["response"]["outcome"]["issue"][0]["diagnostics"]
    feeds.assert_no_phi(json.dumps(answer), FHIR_PHI + ("1947-03-12",))


def test_phi_bundle_answer_carries_no_patient_detail() -> None:
    body = feeds.sample("fhir", "phi_r4_bundle.json")
    read = read_bundle(body, FEED, None)
    answer = bundle_response(read, [taken(r.record_id) for r in read.records])
    feeds.assert_no_phi(json.dumps(answer), FHIR_PHI)
    assert len(answer["entry"]) == 3


# --- statuses and shapes --------------------------------------------------------------------


def test_feed_answer_statuses() -> None:
    ok = feed_answer([taken("IR-1")], [])
    assert ok.status_code == 202
    assert json.loads(ok.body)["records"][0]["disposition"] == "started"
    partial = feed_answer([taken("IR-1")], [Problem("row 3, column harm", "not a code")])
    assert partial.status_code == 202
    assert json.loads(partial.body)["refused"] == [
        {"where": "row 3, column harm", "why": "not a code"}
    ]
    none = feed_answer([], [Problem("unit", "not a unit code")])
    assert none.status_code == 422 and json.loads(none.body)["records"] == []
    empty = feed_answer([], [], rows=0)
    assert empty.status_code == 202 and json.loads(empty.body)["rows"] == 0


def test_asked_record_has_no_incident() -> None:
    body = json.loads(feed_answer([taken("CB-1", Disposition.asked)], []).body)
    assert body["records"] == [{"record_id": "CB-1", "disposition": "asked", "incident_id": None}]


@pytest.mark.parametrize(
    ("disposition", "status"),
    [
        (Disposition.started, "201 Created"),
        (Disposition.joined, "201 Created"),
        (Disposition.asked, "201 Created"),
        (Disposition.linked, "200 OK"),
        (Disposition.dismissed, "200 OK"),
    ],
)
def test_a_record_received_before_is_200(disposition: Disposition, status: str) -> None:
    assert taken_status(taken("x", disposition)) == status


def test_csv_row_of_a_problem() -> None:
    assert csv_row(Problem("row 12, column harm", "x")) == 12
    assert csv_row(Problem("row 7", "x")) == 7
    assert csv_row(Problem("row 5, column staff, id 2", "x")) == 5
    assert csv_row(Problem("byte 40", "x")) is None


def test_fhir_refusal_status() -> None:
    assert fhir_refusal_status([Problem("body", "is not JSON")]) == 400
    assert fhir_refusal_status([Problem("resourceType", "must be AdverseEvent")]) == 400
    assert fhir_refusal_status([Problem("AdverseEvent.date", "gives a date")]) == 422


def test_media_type_reads_parameters_and_case() -> None:
    assert media_type("application/fhir+json; fhirVersion=4.0") == "application/fhir+json"
    assert media_type("Text/CSV; charset=utf-8") == "text/csv"
    assert media_type(None) == ""


def request(chunks: list[bytes], length: int | None = None) -> Request:
    headers = [] if length is None else [(b"content-length", str(length).encode())]
    messages = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    return Request({"type": "http", "method": "POST", "headers": headers}, receive)


async def test_read_body_counts_a_chunked_body_as_it_arrives() -> None:
    assert await read_body(request([b"ab", b"cd"]), 4) == b"abcd"
    with pytest.raises(Refused) as caught:
        await read_body(request([b"ab", b"cd", b"e"]), 4)
    assert caught.value.status == 413


async def test_read_body_refuses_a_declared_length_before_reading() -> None:
    with pytest.raises(Refused) as caught:
        await read_body(request([], length=5), 4)  # nothing to read: refused on the header
    assert caught.value.status == 413
