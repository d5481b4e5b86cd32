"""What a refused record keeps for replay: no patient detail from the PHI samples, and enough
of what the adapter reads that the kept part, fed back, gives the same record."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC
from typing import Any

import pytest

from services.feeds import codeblue, fhir, redact, reporting
from services.feeds.record import FeedRefused, Problem
from services.feeds.reporting_mapping import default_mapping
from tests.unit import feeds
from tests.unit.test_feeds_codeblue import PHI as CODEBLUE_PHI
from tests.unit.test_feeds_fhir import FEED as FHIR_FEED
from tests.unit.test_feeds_fhir import PHI as FHIR_PHI
from tests.unit.test_feeds_reporting import PHI as REPORTING_PHI

FHIR_SAMPLES = sorted(p.name for p in (feeds.SAMPLES / "fhir").glob("*.json"))


def problems_of(call: Any) -> list[Problem]:
    try:
        call()
    except FeedRefused as refused:
        return refused.problems
    return []


def dumped(kept: redact.Kept) -> str:
    return json.dumps(kept, ensure_ascii=False)


# --- FHIR -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", FHIR_SAMPLES)
def test_fhir_kept_holds_no_patient_detail(name: str) -> None:
    body = feeds.sample("fhir", name)
    problems = problems_of(lambda: fhir.read(body, FHIR_FEED))
    kept = redact.fhir_kept(body, problems)
    feeds.assert_no_phi(dumped(kept), FHIR_PHI)
    if json.loads(body).get("resourceType") in ("AdverseEvent", "Bundle"):
        assert kept is not None and kept["format"] == "fhir"
    else:
        assert kept is None  # nothing of another resource is read


@pytest.mark.parametrize(
    "name", ["phi_r5_malformed.json", "phi_r5_unresolved.json", "phi_r4_bundle.json"]
)
def test_fhir_phi_samples_are_full_of_what_kept_leaves_out(name: str) -> None:
    """The scan above would pass on an empty list: each sample does carry the details."""
    assert len(feeds.phi_in(feeds.sample("fhir", name).decode(), FHIR_PHI)) >= 5


@pytest.mark.parametrize(
    "name",
    [
        "r4_adverse_event_death.json",
        "r5_adverse_event_death.json",
        "r4b_bundle_transaction.json",
        "r5_bundle_batch.json",
        "phi_r4_bundle.json",
    ],
)
def test_fhir_kept_reads_back_as_the_same_records(name: str) -> None:
    """The whitelist holds everything the adapter reads: nothing it needs is cut."""
    body = feeds.sample("fhir", name)
    records = fhir.read(body, FHIR_FEED)
    kept = redact.fhir_kept(body, [])
    assert kept is not None
    assert fhir.read(kept["body"], FHIR_FEED) == records
    assert records  # a sample that gives nothing would prove nothing


def test_fhir_kept_is_none_for_what_cannot_be_read() -> None:
    assert redact.fhir_kept(b"not json {", []) is None
    assert redact.fhir_kept(b"[1, 2]", []) is None
    assert redact.fhir_kept(b'{"resourceType": "Patient", "id": "p1"}', []) is None
    assert redact.fhir_kept(b"\xff\xfe", []) is None


def test_fhir_references_to_anyone_but_staff_and_places_are_dropped_even_unnamed() -> None:
    """No problem names these (the adapter skips a Patient silently), so the whitelist
    alone must drop them."""
    event = {
        "resourceType": "AdverseEvent",
        "id": "ae-1",
        "actuality": "actual",
        "date": "2026-11-28T03:40:00Z",
        "detected": "1947-03-12",
        "contributor": [
            {"type": "Patient", "identifier": {"value": "MRN88231907"}},
            {"reference": "Patient/pat-okonkwo"},
            {"reference": "RelatedPerson/x", "display": "Daniel"},
            {"reference": "Practitioner/elsewhere-1"},
            {"type": "Practitioner", "identifier": {"system": "urn:s", "value": "N1001"}},
        ],
        "location": {"reference": "#pt"},
        "contained": [{"resourceType": "Patient", "id": "pt", "name": [{"family": "Baines"}]}],
    }
    kept = redact.fhir_kept(json.dumps(event), [])
    assert kept is not None
    assert kept["body"]["contributor"] == [
        {"type": "Practitioner", "identifier": {"system": "urn:s", "value": "N1001"}}
    ]
    assert "detected" not in kept["body"]  # a bare date is a birth date's shape
    assert "location" not in kept["body"] and "contained" not in kept["body"]
    feeds.assert_no_phi(dumped(kept), ["MRN88231907", "pat-okonkwo", "Daniel", "Baines"])


def test_fhir_element_a_problem_names_is_dropped_and_its_siblings_kept() -> None:
    body = feeds.sample("fhir", "phi_r5_unresolved.json")
    problems = problems_of(lambda: fhir.read(body, FHIR_FEED))
    wheres = {p.where for p in problems}
    assert "AdverseEvent.participant[1].actor.type" in wheres  # no `type` was sent
    kept = redact.fhir_kept(body, problems)
    assert kept is not None
    # The actor that lacked a type went with its participant; the event's id stayed.
    assert kept["body"]["id"] == "ae-phi-0003"
    assert "participant" not in kept["body"] or all(
        "MRN" not in json.dumps(p) for p in kept["body"]["participant"]
    )


def test_fhir_kept_for_one_entry_of_a_bundle_holds_that_event_alone() -> None:
    body = feeds.sample("fhir", "r5_bundle_batch.json")
    bundle = json.loads(body)
    events = [
        i for i, e in enumerate(bundle["entry"]) if e["resource"]["resourceType"] == "AdverseEvent"
    ]
    assert len(events) >= 2
    kept = redact.fhir_kept(body, [], entry=events[1], version="5.0")
    assert kept is not None and kept["fhir_version"] == "5.0"
    kept_events = [
        e for e in kept["body"]["entry"] if e["resource"]["resourceType"] == "AdverseEvent"
    ]
    assert [e["resource"]["id"] for e in kept_events] == [
        bundle["entry"][events[1]]["resource"]["id"]
    ]


def test_segments_reads_the_adapters_places() -> None:
    assert redact.segments("Bundle.entry[2].resource.contributor[0].bogus") == (
        "Bundle",
        "entry",
        2,
        "resource",
        "contributor",
        0,
        "bogus",
    )
    assert redact.segments("team[1].id") == ("team", 1, "id")


# --- the incident-reporting system ----------------------------------------------------------


@pytest.mark.parametrize("name", ["webhook_malformed.json", "webhook_medication.json"])
def test_reporting_webhook_kept_holds_no_patient_detail(name: str) -> None:
    body = feeds.sample("reporting", name)
    problems = problems_of(lambda: reporting.from_webhook(body, feed="f"))
    assert len(feeds.phi_in(body.decode(), REPORTING_PHI)) >= 3
    kept = redact.reporting_kept(body, problems, default_mapping())
    feeds.assert_no_phi(dumped(kept), REPORTING_PHI)


def test_reporting_webhook_malformed_keeps_only_what_the_adapter_did_not_refuse() -> None:
    body = feeds.sample("reporting", "webhook_malformed.json")
    problems = problems_of(lambda: reporting.from_webhook(body, feed="f"))
    kept = redact.reporting_kept(body, problems, default_mapping())
    # Unit, event type and every staff entry were refused and are dropped; the scale is a
    # known one. The time (no offset) and the harm code the mapping lacks are refused too,
    # but kept in their shapes: a hospital fixes those in its settings and replays.
    assert kept == {
        "format": "json",
        "body": {"occurred_at": "2026-11-29 17:05", "harm_scale": "NCC MERP", "harm": "J"},
    }


@pytest.mark.parametrize(
    ("field", "value", "kept"),
    [
        ("occurred_at", "2026-11-29T17:05:00", True),
        ("occurred_at", "1939-12-25", False),  # a bare date: a birth date's shape
        ("occurred_at", "Christmas night", False),
        ("harm", "Z", True),
        ("harm", "SAC2", True),
        ("harm", "Emily", False),  # a first name is no code
        ("harm", "Tobias Quenneville", False),
        ("harm", "00977311", False),
    ],
)
def test_a_refused_time_or_harm_code_is_kept_only_in_its_shape(
    field: str, value: str, kept: bool
) -> None:
    body = {
        "report_id": "IR-1",
        "occurred_at": "2026-11-29T17:05:00Z",
        "unit": "4E",
        "event_type": "medication",
        "harm_scale": "NCC MERP",
        "harm": "F",
        "staff": "N1001",
    } | {field: value}
    problems = [Problem(field, "refused")]
    out = redact.reporting_kept(body, problems, default_mapping())
    assert out is not None
    assert (out["body"].get(field) == value) is kept


@pytest.mark.parametrize("name", ["webhook_medication.json", "webhook_death_ahrq.json"])
def test_reporting_webhook_kept_reads_back_as_the_same_record(name: str) -> None:
    body = feeds.sample("reporting", name)
    kept = redact.reporting_kept(body, [], default_mapping())
    assert kept is not None
    assert reporting.from_webhook(kept["body"], feed="f") == reporting.from_webhook(body, feed="f")


def test_reporting_webhook_staff_named_by_a_problem_is_dropped_alone() -> None:
    body = {
        "report_id": "IR-1",
        "occurred_at": "2026-11-28T02:40:00Z",
        "event_type": "fall",
        "staff": ["n-1", "Jane Smith", {"id": "p-2", "role": "rn", "name": "Dr Who"}],
    }
    problems = problems_of(lambda: reporting.from_webhook(body, feed="f"))
    assert [p.where for p in problems] == ["staff[1]"]
    kept = redact.reporting_kept(body, problems, default_mapping())
    assert kept is not None
    assert kept["body"]["staff"] == ["n-1", {"id": "p-2", "role": "rn"}]


def test_reporting_harm_scale_sent_without_a_code_is_kept_only_when_known() -> None:
    """The adapter reads a scale only beside a code: alone it is never checked."""
    body = {"report_id": "IR-1", "harm_scale": "Margaret Okonkwo"}
    assert redact.reporting_kept(body, [], default_mapping()) == {
        "format": "json",
        "body": {"report_id": "IR-1"},
    }


def test_csv_rows_keep_no_patient_detail_and_a_misaligned_row_keeps_nothing() -> None:
    data = feeds.sample("reporting", "export.csv")
    result = reporting.from_csv(data, feed="f")
    kept = redact.csv_kept(data, result.problems, default_mapping())
    refused_rows = {int(p.where.split(",")[0].split()[1]) for p in result.problems}
    assert set(kept) == refused_rows and len(refused_rows) >= 5
    feeds.assert_no_phi(dumped(kept), REPORTING_PHI)
    assert kept[10] is None  # too few cells: a cell may have moved into a column we read
    row6 = kept[6]
    assert row6 is not None
    # "Ingrid Halvorsen;n-1005": the name refused as id 1 is gone, n-1005 is kept.
    assert row6["cells"]["staff"] == "n-1005" and row6["row"] == 6


def test_csv_kept_row_reads_back_once_its_cause_is_fixed() -> None:
    data = feeds.sample("reporting", "export.csv")
    result = reporting.from_csv(data, feed="f")
    kept = redact.csv_kept(data, result.problems, default_mapping())
    row7 = kept[7]  # a date without a time of day: dropped, the rest kept
    assert row7 is not None and "occurred_at" not in row7["cells"]
    cells = {**row7["cells"], "occurred_at": "2026-11-06T10:00:00Z"}
    replay = ",".join(cells) + "\n" + ",".join(cells.values()) + "\n"
    again = reporting.from_csv(replay, feed="f")
    assert again.problems == [] and [r.record_id for r in again.records] == ["IR-2026-0506"]


def test_csv_kept_is_none_for_a_file_that_cannot_be_read() -> None:
    assert redact.csv_kept(b"\xff\xfe\x00", [Problem("byte 0", "x")], default_mapping()) == {}
    header_only = [Problem("row 1, column report_id", "missing from the header")]
    assert redact.csv_kept("a,b\n1,2\n", header_only, default_mapping()) == {}


# --- code blue ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["malformed.json", "code_blue.json", "rapid_response.json"])
def test_code_blue_kept_holds_no_patient_detail(name: str) -> None:
    body = feeds.sample("codeblue", name)
    problems = problems_of(lambda: codeblue.from_webhook(body, feed="f"))
    kept = redact.code_blue_kept(body, problems)
    feeds.assert_no_phi(dumped(kept), CODEBLUE_PHI)


def test_code_blue_malformed_keeps_only_the_valid_team_member() -> None:
    body = feeds.sample("codeblue", "malformed.json")
    problems = problems_of(lambda: codeblue.from_webhook(body, feed="f"))
    assert redact.code_blue_kept(body, problems) == {"format": "json", "body": {"team": ["n-1013"]}}


def test_code_blue_kept_replays_once_a_zone_is_configured() -> None:
    """The rapid-response sample has no UTC offset: refused without a zone, replayable."""
    body = feeds.sample("codeblue", "rapid_response.json")
    problems = problems_of(lambda: codeblue.from_webhook(body, feed="f"))
    assert [p.where for p in problems] == ["activated_at"]
    kept = redact.code_blue_kept(body, problems)
    assert kept is not None and "activated_at" not in kept["body"]
    fixed = {**kept["body"], "activated_at": "2026-11-29T14:02:30"}
    [record] = codeblue.from_webhook(fixed, feed="f", default_zone=UTC)
    assert record.record_id == "RRT-88121" and len(record.staff) == 2


def test_code_blue_kind_is_kept_only_when_known() -> None:
    body = {"activation_id": "CB-1", "kind": "Augustin arrested", "unit": "5W"}
    problems = problems_of(lambda: codeblue.from_webhook(body, feed="f"))
    kept = redact.code_blue_kept(body, problems)
    assert kept is not None and "kind" not in kept["body"]
    # Even with no problem naming it (a caller that passed none), an unknown kind goes.
    assert "kind" not in (redact.code_blue_kept(body, []) or {})["body"]


def test_mapping_change_does_not_widen_what_is_kept() -> None:
    """A mapping whose staff ids are employee numbers still keeps ids only."""
    mapping = replace(default_mapping(), staff_system="urn:emp")
    body = {"report_id": "IR-9", "staff": "E100; Jane Smith"}
    problems = problems_of(lambda: reporting.from_webhook(body, feed="f", mapping=mapping))
    kept = redact.reporting_kept(body, problems, mapping)
    assert kept is not None and kept["body"]["staff"] == "E100"


def test_a_harm_code_on_a_scale_nobody_knows_is_not_kept() -> None:
    """The adapter refuses the scale and never looks at the code sent with it."""
    body = {"report_id": "IR-1", "harm_scale": "Braden", "harm": "Margaret Okonkwo"}
    problems = problems_of(lambda: reporting.from_webhook(body, feed="f"))
    assert "harm" not in {p.where for p in problems}  # so rule 2 alone would keep it
    kept = redact.reporting_kept(body, problems, default_mapping())
    assert kept is not None and set(kept["body"]) == {"report_id"}
    data = feeds.sample("reporting", "export.csv")
    result = reporting.from_csv(data, feed="f")
    row12 = redact.csv_kept(data, result.problems, default_mapping())[12]
    assert row12 is not None and not {"harm", "harm_scale"} & set(row12["cells"])


def test_an_event_missing_a_required_element_is_kept_without_it() -> None:
    """`subject is required and missing` is about the entry's resource as a whole: the
    rest of the event is what a replay needs."""
    body = feeds.sample("fhir", "bundle_bad_entries.json")
    problems = problems_of(lambda: fhir.read(body, FHIR_FEED))
    assert "Bundle.entry[1].resource.subject" in {p.where for p in problems}
    kept = redact.fhir_kept(body, problems, entry=1)
    assert kept is not None
    events = [
        e["resource"]
        for e in kept["body"]["entry"]
        if e["resource"]["resourceType"] == "AdverseEvent"
    ]
    original = json.loads(body)["entry"][1]["resource"]
    assert [e.get("id") for e in events] == [original.get("id")]
    assert events[0]["subject"] == redact.SUBJECT_NOT_KEPT
