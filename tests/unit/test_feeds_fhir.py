"""The FHIR AdverseEvent adapter on the sample files: records read, refusals told, no PHI."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import partial

import pytest

from schemas.events import HarmLevel, IncidentType
from services.feeds import fhir
from services.feeds.fhir import FhirFeed, FhirProblem, FhirVersion, IssueCode
from services.feeds.mapfile import MappingInvalid
from services.feeds.record import FeedRefused, Source, StaffRef
from tests.unit import feeds

SAMPLES = feeds.SAMPLES / "fhir"
STAFF = "https://hospital.example.org/staff-id"
UNITS = "https://hospital.example.org/units"
FEED = FhirFeed("ehr", unit_system=UNITS, staff_systems=(STAFF,))

# Every patient detail planted in the PHI samples (made up).
PHI = (
    "Margaret",
    "Okonkwo",
    "Baines",
    "88231907",
    "1947-03-12",
    "Larkspur",
    "Fairhaven",
    "02719",
    "555-0147",
    "555-0199",
    "Daniel",
    "55102934",
    "pat-okonkwo",
    "Ana Reyes",
)

sample = partial(feeds.sample, "fhir")
assert_no_phi = partial(feeds.assert_no_phi, phi=PHI)


def refused(body: bytes | str | dict, **kwargs) -> list[FhirProblem]:
    with pytest.raises(FeedRefused) as caught:
        fhir.read(body, kwargs.pop("feed", FEED), **kwargs)
    return caught.value.problems  # type: ignore[return-value]


def where(problems: list) -> list[str]:
    return [p.where for p in problems]


# --- good samples ----------------------------------------------------------------------------


def test_r4_single_with_contained_staff_and_location() -> None:
    (record,) = fhir.read(sample("r4_adverse_event_death.json"), FEED)
    assert record.source is Source.fhir and record.feed == "ehr"
    assert record.record_id == "ae-r4-0001"
    assert record.occurred_at == datetime(2026, 11, 28, 8, 40, tzinfo=UTC)
    assert record.unit == "ICU-4E"  # the identifier in the configured system, not the name
    assert record.harm_level is HarmLevel.death
    assert record.raw_harm == (
        "http://terminology.hl7.org/CodeSystem/adverse-event-seriousness|SeriousResultsInDeath"
    )
    assert record.event_type is IncidentType.medication_error
    assert (
        record.raw_event
        == "http://terminology.hl7.org/CodeSystem/adverse-event-category|wrong-dose"
    )
    # The preferred system wins over the NPI; a PractitionerRole names its Practitioner and
    # gives its role; the Device is not staff.
    assert record.staff == (
        StaffRef(value="N4411", system=STAFF, role="contributor"),
        StaffRef(value="D2077", system=STAFF, role="doctor"),
    )


def test_r4b_transaction_bundle_resolves_by_full_url_and_relative_reference() -> None:
    (record,) = fhir.read(sample("r4b_bundle_transaction.json"), FEED)
    assert record.record_id == "https://hospital.example.org/ae|AE-2026-0412"
    assert record.event_type is IncidentType.code_blue
    assert record.raw_event == "http://snomed.info/sct|410429000"
    assert record.harm_level is HarmLevel.moderate
    assert record.unit == "3W"
    assert [s.value for s in record.staff] == ["N7781", "R0901"]


def test_r5_single_participants_keep_their_function() -> None:
    (record,) = fhir.read(sample("r5_adverse_event_death.json"), FEED)
    assert record.record_id == "ae-r5-0042"
    assert record.event_type is IncidentType.unexpected_death
    assert record.harm_level is HarmLevel.death
    assert record.raw_harm == "http://snomed.info/sct|405535005"
    assert record.unit == "5N"  # no identifier in the unit system: the Location's name
    assert record.staff == (
        StaffRef(value="N1001", system=STAFF, role="PART"),
        StaffRef(value="N1002", system=STAFF, role="WIT"),  # a logical reference
    )


def test_r5_batch_bundle_skips_entered_in_error() -> None:
    records = fhir.read(sample("r5_bundle_batch.json"), FEED)
    assert [r.record_id for r in records] == ["ae-r5-0100"]
    (record,) = records
    assert record.occurred_at == datetime(2026, 11, 30, 7, 0, tzinfo=UTC)  # period start
    assert record.event_type is IncidentType.medication_error
    assert record.harm_level is HarmLevel.unknown and record.raw_harm is None
    # The PractitionerRole's practitioner is a logical reference; the function is the role.
    assert record.staff == (StaffRef(value="P3303", system=STAFF, role="PART"),)


def test_reads_a_parsed_dict_and_str_as_well_as_bytes() -> None:
    body = sample("r5_adverse_event_death.json")
    assert fhir.read(json.loads(body), FEED) == fhir.read(body.decode(), FEED)


def test_without_configured_systems_the_first_identifier_and_the_name_are_used() -> None:
    (record,) = fhir.read(sample("r4_adverse_event_death.json"), FhirFeed("plain"))
    assert record.unit == "4E"
    assert record.staff[0] == StaffRef(
        value="1234567893", system="http://hl7.org/fhir/sid/us-npi", role="contributor"
    )


def test_potential_event_is_no_harm() -> None:
    body = json.loads(sample("r4_adverse_event_death.json"))
    body["actuality"] = "potential"
    (record,) = fhir.read(body, FEED)
    assert record.harm_level is HarmLevel.none
    assert record.raw_harm == "http://hl7.org/fhir/adverse-event-actuality|potential"


def test_no_event_code_falls_back_on_harm() -> None:
    body = json.loads(sample("r4_adverse_event_death.json"))
    del body["category"]
    (record,) = fhir.read(body, FEED)
    assert record.event_type is IncidentType.unexpected_death
    body["outcome"] = {"coding": [{"code": "resolved"}]}
    del body["seriousness"]
    body["severity"]["coding"][0]["code"] = "mild"
    (record,) = fhir.read(body, FEED)
    assert (record.event_type, record.harm_level) == (IncidentType.other, HarmLevel.mild)


# --- versions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("application/fhir+json; fhirVersion=4.0", "4.0"),
        ('application/fhir+json;charset=utf-8; fhirVersion="5.0"', "5.0"),
        ("application/fhir+json", None),
        (None, None),
    ],
)
def test_version_from_content_type(content_type: str | None, expected: str | None) -> None:
    assert fhir.version_from_content_type(content_type) == expected


@pytest.mark.parametrize(
    ("hint", "version"),
    [("4.0", FhirVersion.r4), ("4.0.1", FhirVersion.r4), ("4.3.0", FhirVersion.r4b)]
    + [("5.0", FhirVersion.r5), ("3.0", None), ("R5", None)],
)
def test_parse_version(hint: str, version: FhirVersion | None) -> None:
    assert fhir.parse_version(hint) is version


def test_version_hint_wins_over_the_elements() -> None:
    # R4 elements read as R5: the library says which elements R5 does not have.
    problems = refused(sample("r4_adverse_event_death.json"), fhir_version="5.0")
    assert "AdverseEvent.contributor" in where(problems)
    assert all("R5" in p.why for p in problems if p.where == "AdverseEvent.contributor")
    assert fhir.read(sample("r4_adverse_event_death.json"), FEED, fhir_version="4.0")


def test_unknown_version_hint_is_not_supported() -> None:
    (problem,) = refused(sample("r4_adverse_event_death.json"), fhir_version="3.0")
    assert (problem.where, problem.code) == ("fhirVersion", IssueCode.not_supported)


def test_mixed_versions_are_refused() -> None:
    (problem,) = refused(sample("mixed_versions.json"))
    assert problem.where == "AdverseEvent" and "fhirVersion" in problem.why


# --- refusals --------------------------------------------------------------------------------


def test_not_json() -> None:
    (problem,) = refused(sample("not_json.txt"))
    assert problem.where == "body" and "not JSON" in problem.why


def test_xml_and_non_objects() -> None:
    assert (
        refused(b"<AdverseEvent xmlns='http://hl7.org/fhir'/>")[0].code is IssueCode.not_supported
    )
    assert refused(b"[1, 2]")[0].why == "must be a JSON object (a FHIR resource)"
    assert refused(b"\xff\xfe")[0].why == "is not UTF-8 text"


def test_wrong_resource_type_and_endpoint() -> None:
    (problem,) = refused(sample("wrong_resource_type.json"))
    assert (problem.where, problem.code) == ("resourceType", IssueCode.not_supported)
    (problem,) = refused(sample("r4b_bundle_transaction.json"), expect="AdverseEvent")
    assert problem.why == "must be AdverseEvent at this endpoint"


def test_every_validation_problem_at_once_in_the_senders_numbering() -> None:
    problems = refused(sample("bundle_bad_entries.json"))
    # The Patient (entry 0) is dropped unread; the numbering is still the sender's.
    assert where(problems) == [
        "Bundle.entry[1].resource.subject",
        "Bundle.entry[2].resource.contributor[0].bogus",
        "Bundle.entry[2].resource.date",
    ]
    assert [p.code for p in problems] == [IssueCode.required, IssueCode.invalid, IssueCode.invalid]


def test_every_mapping_problem_at_once() -> None:
    problems = refused(sample("many_problems_r4.json"))
    assert {p.where: p.code for p in problems} == {
        "AdverseEvent.actuality": IssueCode.invalid,
        "AdverseEvent.id": IssueCode.required,
        "AdverseEvent.date": IssueCode.invalid,  # a day, no time and offset
        "AdverseEvent.contributor[0]": IssueCode.required,  # not contained, not in a Bundle
        "AdverseEvent.contributor[1]": IssueCode.required,  # a display name only
        "AdverseEvent.contributor[2]": IssueCode.required,  # a Practitioner with no identifier
    }


def test_bundle_types_and_empty_bundles() -> None:
    (problem,) = refused(sample("bundle_searchset.json"))
    assert (problem.where, problem.code) == ("Bundle.type", IssueCode.not_supported)
    (problem,) = refused({"resourceType": "Bundle", "type": "collection", "entry": []})
    assert problem.where == "Bundle.entry"


def test_r5_status_must_be_a_known_code() -> None:
    body = json.loads(sample("r5_adverse_event_death.json"))
    body["status"] = "finished"
    (problem,) = refused(body)
    assert problem.where == "AdverseEvent.status"


def test_missing_time() -> None:
    body = json.loads(sample("r5_adverse_event_death.json"))
    del body["occurrenceDateTime"]
    (problem,) = refused(body)
    assert (problem.where, problem.code) == ("AdverseEvent.occurrence[x]", IssueCode.required)


# --- OperationOutcome ------------------------------------------------------------------------


def test_operation_outcome_has_one_issue_per_problem() -> None:
    problems = refused(sample("bundle_bad_entries.json"))
    outcome = fhir.operation_outcome(problems)
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0] == {
        "severity": "error",
        "code": "required",
        "diagnostics": "is required and missing",
        "expression": ["Bundle.entry[1].resource.subject"],
    }
    assert len(outcome["issue"]) == len(problems)
    # R4-compatible: the R4B model reads it.
    from fhir.resources.R4B.operationoutcome import OperationOutcome

    OperationOutcome.model_validate(outcome)


def test_operation_outcome_of_plain_problems_is_invalid() -> None:
    from services.feeds.record import Problem

    (issue,) = fhir.operation_outcome([Problem("row 4, column harm", "unknown code")])["issue"]
    assert issue["code"] == "invalid" and issue["expression"] == ["row 4, column harm"]


# --- the mapping file ------------------------------------------------------------------------


def test_shipped_mapping_loads() -> None:
    codes = fhir.shipped_mapping()
    outcome = "http://terminology.hl7.org/CodeSystem/adverse-event-outcome"
    assert codes.harm[(outcome, "fatal")] is HarmLevel.death
    assert codes.harm[("http://snomed.info/sct", "405535005")] is HarmLevel.death


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("harm:\n  http://x:\n    a: deadly\n", "line 3, harm.http://x.a: not a harm level"),
        ("event:\n  http://x:\n    a: death\n", "line 3, event.http://x.a: not an event type"),
        ("when_no_event_code:\n  fatal: unexpected_death\n", "line 2, when_no_event_code.fatal"),
        ("event: {}\nharms: {}\n", "line 2, harms: unknown section"),
        ("harm:\n  http://x: [fatal]\n", "line 2, harm.http://x: must be a mapping"),
        ("harm: [\n", "not YAML"),
        (
            "harm:\n  http://x:\n    a: mild\n    'a': severe\n",
            "line 4, harm.http://x.a: the same key",
        ),
    ],
)
def test_mapping_refuses_what_it_cannot_use_with_the_line(text: str, named: str) -> None:
    with pytest.raises(MappingInvalid) as caught:
        fhir.load_mapping(text, origin="local.yaml")
    assert named in str(caught.value) and str(caught.value).startswith("local.yaml")


def test_mapping_codes_are_kept_as_written() -> None:
    codes = fhir.load_mapping("harm:\n  http://x:\n    405535005: death\n    yes: mild\n")
    assert set(codes.harm) == {("http://x", "405535005"), ("http://x", "yes")}


def test_a_hospital_mapping_is_used() -> None:
    codes = fhir.load_mapping(
        "event:\n  http://terminology.hl7.org/CodeSystem/adverse-event-category:\n"
        "    wrong-dose: serious_safety_event\n"
        "harm:\n  http://snomed.info/sct:\n    405535005: death\n"
    )
    feed = FhirFeed("local", mapping=codes)
    (record,) = fhir.read(sample("r4_adverse_event_death.json"), feed)
    assert record.event_type is IncidentType.serious_safety_event
    assert record.harm_level is HarmLevel.unknown  # the R4 codes are not in this mapping


# --- patient data stops here -----------------------------------------------------------------


def test_phi_sample_gives_records_without_phi() -> None:
    records = fhir.read(sample("phi_r4_bundle.json"), FEED)
    (record,) = records
    assert record.harm_level is HarmLevel.death and record.unit == "6S"
    # The patient named as a contributor is not staff and not read.
    assert record.staff == (StaffRef(value="N5150", system=STAFF, role="contributor"),)
    assert_no_phi(repr(records))


@pytest.mark.parametrize("name", ["phi_r5_malformed.json", "phi_r5_unresolved.json"])
def test_phi_sample_refusals_carry_no_phi(name: str) -> None:
    with pytest.raises(FeedRefused) as caught:
        fhir.read(sample(name), FEED)
    assert caught.value.problems
    assert_no_phi(str(caught.value))
    assert_no_phi(repr(caught.value.problems))
    assert_no_phi(json.dumps(fhir.operation_outcome(caught.value.problems)))


def test_phi_refusal_names_where_the_patient_identifier_was() -> None:
    problems = refused(sample("phi_r5_unresolved.json"))
    # An identifier with no type may be the patient's: refused, never kept as staff.
    assert "AdverseEvent.participant[1].actor.type" in where(problems)
    assert "AdverseEvent.participant[0].actor" not in where(problems)  # the contained Patient


def test_library_messages_quoting_the_input_are_replaced() -> None:
    body = json.loads(sample("r4b_bundle_transaction.json"))
    body["entry"].append(88231907)
    problems = refused(body)
    assert where(problems) == ["Bundle.entry[4]"]
    assert_no_phi(str(FeedRefused(problems)))


def test_a_byte_order_mark_is_not_an_error() -> None:
    body = "\ufeff".encode() + sample("r5_adverse_event_death.json")
    assert fhir.read(body, FEED) == fhir.read(sample("r5_adverse_event_death.json"), FEED)


@pytest.mark.parametrize(
    ("elements", "version"),
    [
        ({"status": "completed", "participant": []}, FhirVersion.r5),
        ({"_status": {"extension": []}}, FhirVersion.r5),
        ({"outcome": [{}]}, FhirVersion.r5),
        ({"contributor": [], "outcome": {}}, FhirVersion.r4),
        ({"actuality": "actual", "seriousness": {}}, FhirVersion.r4),  # R5 requires status
        ({"status": "completed", "date": "2026-11-30"}, None),
    ],
)
def test_detect_version(elements: dict, version: FhirVersion | None) -> None:
    assert fhir.detect_version({"resourceType": "AdverseEvent", **elements}) is version


def test_a_practitioner_role_names_its_practitioner_by_logical_reference_in_contained() -> None:
    body = json.loads(sample("r4_adverse_event_death.json"))
    role = body["contained"][3]
    role["practitioner"] = {"type": "Practitioner", "identifier": {"system": STAFF, "value": "D9"}}
    role["identifier"] = [{"system": "https://hospital.example.org/roles", "value": "ROLE-1"}]
    (record,) = fhir.read(body, FEED)
    assert record.staff[1] == StaffRef(value="D9", system=STAFF, role="doctor")


def test_an_unreadable_unit_is_none_not_a_refusal() -> None:
    body = json.loads(sample("r5_adverse_event_death.json"))
    body["contained"][0]["name"] = "Ward of the east wing, second floor, beds 1-40"
    (record,) = fhir.read(body, FEED)
    assert record.unit is None
    del body["location"]
    (record,) = fhir.read(body, FEED)
    assert record.unit is None


def test_a_senders_own_key_is_not_repeated() -> None:
    problems = refused(sample("phi_r5_malformed.json"))
    assert "AdverseEvent.mrn" in where(problems)  # shaped like an element: named
    assert "AdverseEvent.?" in where(problems)  # anything else: not repeated
