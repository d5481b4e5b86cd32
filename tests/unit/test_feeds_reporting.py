"""The incident-reporting system's adapter: the mapping file, the webhook, the CSV export.

Every sample carries made-up patients (names, record numbers, birth dates, addresses,
narratives); the records and refusals made from them must hold none of it.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from functools import partial

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.events import HarmLevel, IncidentType
from services.feeds.mapfile import MappingInvalid
from services.feeds.record import FeedRefused, Problem, Source, StaffRef
from services.feeds.reporting import from_csv, from_webhook
from services.feeds.reporting_mapping import default_mapping, load_mapping
from tests.unit import feeds

SAMPLES = feeds.SAMPLES / "reporting"
FEED = "risk-system"

# Every patient detail (and narrative word) the samples carry.
PHI = [
    "Eleanor", "Whitfield", "00482913", "1948-03-14", "Larkspur", "Millbrook", "heparin",
    "Achterberg", "77120455", "Tobias", "Quenneville", "00593120", "1961-07-02", "Ferncliff",
    "Priya", "Marguerite", "Osei", "Lindqvist", "00977311", "1939-12-25", "Quarry", "Eastwick",
    "potassium", "Henrik", "Albescu", "00110042", "Odalys", "Brennan", "swab", "Ingrid",
    "Halvorsen", "Cassius", "Wembley", "Philippa", "Drummond", "Leopold", "Farquharson",
    "00880023", "Rosalind", "Achebe", "00991876", "Tannery", "Augustin", "Pelletier",
    "00123987", "Foundry", "naloxone", "theatre", "Ffion", "Llewellyn", "943 476 5919",
    "Séverine", "Plessis", "485 777 3456", "café", "sedation", "struck",
]  # fmt: skip

sample = partial(feeds.sample, "reporting")
assert_no_phi = partial(feeds.assert_no_phi, phi=PHI)
refusal = partial(feeds.refusal, phi=PHI)


def wheres(refused: FeedRefused | list[Problem]) -> list[str]:
    problems = refused.problems if isinstance(refused, FeedRefused) else refused
    return [p.where for p in problems]


# --- the mapping file ----------------------------------------------------------------------


def test_shipped_mapping_reads_ncc_merp_categories_a_to_i():
    ncc = default_mapping().scales["ncc merp"].codes
    assert {c: ncc[c.casefold()] for c in "ABCDEFGHI"} == {
        "A": HarmLevel.none,  # no error: circumstances that could cause one
        "B": HarmLevel.none,  # error, did not reach the patient
        "C": HarmLevel.none,  # reached the patient, no harm
        "D": HarmLevel.none,  # monitoring needed to rule out harm
        "E": HarmLevel.mild,  # temporary harm, intervention
        "F": HarmLevel.moderate,  # temporary harm, hospitalization
        "G": HarmLevel.severe,  # permanent harm
        "H": HarmLevel.severe,  # intervention to sustain life
        "I": HarmLevel.death,
    }


def test_shipped_mapping_reads_the_ahrq_harm_scale_as_our_levels():
    m = default_mapping()
    ahrq = m.scales["ahrq"].codes
    assert m.default_harm_scale is m.scales["ahrq"]
    assert m.scales["ahrq common formats"] is m.scales["ahrq"]
    assert {ahrq[c] for c in ("death", "severe harm", "moderate harm", "mild harm", "no harm")} == {
        HarmLevel.death,
        HarmLevel.severe,
        HarmLevel.moderate,
        HarmLevel.mild,
        HarmLevel.none,
    }
    assert ahrq["unknown"] is HarmLevel.unknown
    assert m.event_types["medication or other substance"] is IncidentType.medication_error
    assert m.unknown_event_type is IncidentType.other


def test_mapping_with_unknown_targets_is_refused_with_every_line():
    with pytest.raises(MappingInvalid) as caught:
        load_mapping(SAMPLES / "mapping_unknown_targets.yaml")
    problems = caught.value.problems
    lines = [p.where.split(",")[0] for p in problems]
    assert lines == [
        "mapping_unknown_targets.yaml line 7",  # severe harm -> catastrophic
        "mapping_unknown_targets.yaml line 9",  # Mild_Harm: the same key as line 8
        "mapping_unknown_targets.yaml line 12",  # medication -> med_error
        "mapping_unknown_targets.yaml line 13",  # unknown_event_type: ignore
        "mapping_unknown_targets.yaml line 14",  # colour: not a setting
    ]
    assert "not a harm level" in problems[0].why
    assert "same key as line 8" in problems[1].why
    assert "not an event type" in problems[2].why and "refuse" in problems[3].why
    assert "not a setting" in problems[4].why


def test_mapping_that_is_not_yaml_names_its_line():
    with pytest.raises(MappingInvalid) as caught:
        load_mapping("version: 1\nharm_scales:\n  AHRQ: [death\nevent_types: {}\n")
    [problem] = caught.value.problems
    assert problem.where.startswith("reporting.yaml line ")
    assert problem.why.startswith("not YAML")


def test_mapping_needs_its_sections_and_a_real_default_scale_and_zone():
    with pytest.raises(MappingInvalid) as caught:
        load_mapping("version: 2\ndefault_harm_scale: Braden\ntimezone: Mars/Olympus\n")
    whys = {p.where.split(", ")[1]: p.why for p in caught.value.problems}
    assert set(whys) == {
        "harm_scales",
        "event_types",
        "version",
        "timezone",
        "default_harm_scale",
    }
    assert whys["harm_scales"] == "missing"


def test_yaml_one_one_booleans_stay_codes():
    """`N: none` and `no: none` would load as False keys with yaml.safe_load."""
    m = load_mapping(
        "version: 1\nharm_scales:\n  Y/N:\n    codes: {N: none, Y: severe, no: none}\n"
        "event_types: {on: other}\n"
    )
    assert m.scales["y/n"].codes == {"n": HarmLevel.none, "y": HarmLevel.severe, "no": "none"}
    assert m.event_types == {"on": IncidentType.other}


# --- the webhook ---------------------------------------------------------------------------


def test_webhook_medication_error_on_the_ncc_merp_index():
    [record] = from_webhook(sample("webhook_medication.json"), feed=FEED)
    assert record.source is Source.reporting and record.feed == FEED
    assert record.record_id == "IR-2026-0412"
    assert record.occurred_at == datetime(2026, 11, 28, 7, 40, tzinfo=UTC)
    assert record.unit == "4E"
    assert record.event_type is IncidentType.medication_error
    assert record.harm_level is HarmLevel.moderate
    assert record.raw_event == "Medication or Other Substance"
    assert record.raw_harm == "NCC MERP:F"
    assert record.staff == (
        StaffRef(value="n-2231"),
        StaffRef(value="p-0917", role="prescriber"),
    )
    assert_no_phi(repr(record))


def test_webhook_death_on_the_ahrq_scale_with_staff_as_one_text():
    [record] = from_webhook(sample("webhook_death_ahrq.json").decode(), feed=FEED)
    assert record.event_type is IncidentType.unexpected_death
    assert record.harm_level is HarmLevel.death
    assert record.raw_harm == "AHRQ:Death"  # the scale as the mapping names it
    assert [s.value for s in record.staff] == ["n-3310", "r-0042"]  # the repeat once
    assert_no_phi(repr(record))


def test_webhook_full_of_patient_data_is_refused_with_every_problem_and_none_of_it():
    refused = refusal(lambda: from_webhook(sample("webhook_malformed.json"), feed=FEED))
    assert wheres(refused) == [
        "report_id",
        "occurred_at",
        "unit",
        "event_type",
        "harm",
        "staff[0]",
        "staff[1]",
        "staff[2]",
        "staff[3]",
    ]
    assert refused.problems[0].why == "missing"
    assert "no UTC offset" in refused.problems[1].why
    assert "not a description" in refused.problems[3].why
    assert "NCC MERP" in refused.problems[4].why


def test_webhook_harm_code_may_name_its_scale_and_missing_harm_is_unknown():
    body = {
        "report_id": 4412,
        "occurred_at": "2026-11-30T10:00:00+01:00",
        "event_type": "Medication",
        "harm": "ncc_merp: i",
    }
    [record] = from_webhook(body, feed=FEED)
    assert record.record_id == "4412" and record.unit is None
    assert (record.harm_level, record.raw_harm) == (HarmLevel.death, "NCC MERP:i")
    [record] = from_webhook({**body, "harm": " "}, feed=FEED)
    assert (record.harm_level, record.raw_harm) == (HarmLevel.unknown, None)


def test_webhook_refuses_a_harm_scale_it_does_not_know():
    body = {
        "report_id": "IR-1",
        "occurred_at": "2026-11-30T10:00:00Z",
        "event_type": "fall",
        "harm_scale": "Braden",
        "harm": "12",
    }
    refused = refusal(lambda: from_webhook(body, feed=FEED))
    assert wheres(refused) == ["harm_scale"]


def test_webhook_unknown_event_type_is_other_with_its_raw_code_unless_refused():
    body = {"report_id": "IR-9", "occurred_at": "2026-11-30T10:00:00Z", "event_type": "Elopement"}
    [record] = from_webhook(body, feed=FEED)
    assert (record.event_type, record.raw_event) == (IncidentType.other, "Elopement")
    strict = load_mapping(
        "version: 1\nunknown_event_type: refuse\nharm_scales: {}\nevent_types: {fall: other}\n"
    )
    refused = refusal(lambda: from_webhook(body, feed=FEED, mapping=strict))
    assert wheres(refused) == ["event_type"]


def test_webhook_fields_and_zone_come_from_the_mapping():
    custom = load_mapping(
        "version: 1\ntimezone: America/Chicago\nstaff_system: urn:emp\n"
        "harm_scales: {AHRQ: {codes: {death: death}}}\ndefault_harm_scale: AHRQ\n"
        "event_types: {death: unexpected_death}\n"
        "json: {report_id: report.number, occurred_at: report.when, event_type: report.kind,"
        " harm: report.outcome, staff: people, staff_id: employee, staff_role: as}\n"
    )
    body = {
        "report": {"number": "R7", "when": "2026-07-01 09:00", "kind": "Death", "outcome": "DEATH"},
        "people": [{"employee": "E100", "as": "attending", "name": "Eleanor Whitfield"}],
    }
    [record] = from_webhook(body, feed=FEED, mapping=custom)
    assert record.occurred_at == datetime(2026, 7, 1, 14, 0, tzinfo=UTC)  # CDT, UTC-5
    assert record.staff == (StaffRef(value="E100", system="urn:emp", role="attending"),)
    assert_no_phi(repr(record))


def test_webhook_that_is_not_a_json_object_is_refused_without_its_content():
    refused = refusal(lambda: from_webhook(b'{"patient": "Eleanor Whitfield", ', feed=FEED))
    assert refused.problems[0].where.startswith("body line 1, column")
    assert refused.problems[0].why.startswith("not JSON")
    assert wheres(refusal(lambda: from_webhook(b'["Eleanor Whitfield"]', feed=FEED))) == ["body"]
    assert wheres(refusal(lambda: from_webhook(b"\xff\xfe", feed=FEED)))[0].startswith("body")


def test_webhook_refuses_a_date_without_a_time():
    body = {"report_id": "IR-9", "occurred_at": "2026-11-30", "event_type": "fall"}
    refused = refusal(lambda: from_webhook(body, feed=FEED))
    assert [(p.where, p.why) for p in refused.problems] == [
        ("occurred_at", "a date without a time of day")
    ]


# --- the CSV export ------------------------------------------------------------------------


def test_export_reads_the_good_rows_and_refuses_each_bad_one_by_row_and_column():
    result = from_csv(sample("export.csv"), feed=FEED)
    got = {
        r.record_id: (r.event_type, r.harm_level, r.raw_event, r.raw_harm, r.unit)
        for r in result.records
    }
    assert got == {
        "IR-2026-0501": (
            IncidentType.medication_error,
            HarmLevel.mild,
            "Medication",
            "NCC MERP:E",
            "4E",
        ),
        "IR-2026-0502": (IncidentType.other, HarmLevel.severe, "Fall", "AHRQ:Severe harm", "5W"),
        "IR-2026-0503": (
            IncidentType.medication_error,
            HarmLevel.death,
            "medication",
            "NCC MERP:I",
            "ICU-2",
        ),
        "IR-2026-0507": (IncidentType.other, HarmLevel.none, "Elopement", "AHRQ:No harm", None),
        "IR-2026-0509": (
            IncidentType.violence_against_staff,
            HarmLevel.unknown,
            "Workplace Violence",
            None,
            "ED",
        ),
    }
    assert result.records[1].staff == tuple(
        StaffRef(value=v) for v in ("n-1003", "n-1004", "a-0099")
    )
    assert result.records[0].occurred_at == datetime(2026, 11, 2, 13, 15, tzinfo=UTC)
    assert wheres(result.problems) == [
        "row 5, column harm",  # NCC MERP has no J
        "row 6, column staff, id 1",  # a name where a staff id belongs
        "row 7, column occurred_at",  # a date alone
        "row 9, column report_id",  # row 2 sent again
        "row 10",  # a cut-off row
        "row 12, column harm_scale",  # a scale the mapping does not have
    ]
    assert result.problems[3].why == "the same report number as row 2"
    assert result.problems[4].why == "4 fields where the header has 13"
    assert (result.rows, result.refused_rows) == (11, 6)
    assert_no_phi(repr(result))


def test_export_without_a_required_column_is_refused_as_a_whole():
    refused = refusal(lambda: from_csv(sample("export_missing_columns.csv"), feed=FEED))
    assert wheres(refused) == ["row 1, column occurred_at", "row 1, column event_type"]


def test_export_in_a_hospitals_own_format_through_its_mapping():
    mapping = load_mapping(SAMPLES / "mapping_custom.yaml")
    result = from_csv(sample("export_custom.csv"), feed=FEED, mapping=mapping)
    by_id = {r.record_id: r for r in result.records}
    assert list(by_id) == ["W1234", "W1235", "W1237"]
    first = by_id["W1234"]
    assert first.occurred_at == datetime(2026, 11, 3, 14, 30, tzinfo=UTC)  # GMT
    assert (first.event_type, first.harm_level, first.raw_harm) == (
        IncidentType.medication_error,
        HarmLevel.mild,
        "NRLS:Low",
    )
    assert first.unit == "Ward 7"
    assert first.staff == (
        StaffRef(value="E104522", system="urn:example:hospital:employee-number"),
        StaffRef(value="E100871", system="urn:example:hospital:employee-number"),
    )
    assert by_id["W1235"].harm_level is HarmLevel.death
    assert by_id["W1237"].occurred_at == datetime(2026, 7, 6, 10, 15, tzinfo=UTC)  # BST
    assert by_id["W1237"].event_type is IncidentType.violence_against_staff
    # "Complaint" is not in that hospital's mapping, which refuses unknown types.
    assert wheres(result.problems) == ["row 4, column Type"]
    assert_no_phi(repr(result))


def test_export_in_the_wrong_encoding_is_refused_without_its_content():
    refused = refusal(lambda: from_csv(sample("export_custom.csv"), feed=FEED))
    assert refused.problems[0].why == "not utf-8-sig text (csv.encoding)"


def test_export_with_a_spreadsheet_bom_and_only_a_header():
    data = "\ufeffReport_ID,Occurred_At,Event_Type\n"
    for body in (data, data.encode()):
        result = from_csv(body, feed=FEED)
        assert (result.records, result.problems, result.rows) == ([], [], 0)
    assert wheres(refusal(lambda: from_csv(b"", feed=FEED))) == ["row 1"]


def test_webhook_names_each_person_once_and_keeps_their_role():
    body = {
        "report_id": "IR-10",
        "occurred_at": "2026-11-30T10:00:00Z",
        "event_type": "fall",
        "staff": ["n-1", {"id": "n-2"}, {"id": "n-1", "role": "reporter"}, {"id": "n-2"}],
    }
    [record] = from_webhook(body, feed=FEED)
    assert record.staff == (StaffRef(value="n-1", role="reporter"), StaffRef(value="n-2"))


def test_kept_text_holds_no_control_characters():
    body = {
        "report_id": "IR-11\nforged log line",
        "occurred_at": "2026-11-30T10:00:00Z",
        "event_type": "fall\t",  # trailing whitespace is trimmed, not refused
        "harm": "death\x1b[31m",
        "staff": [{"id": "n-1", "role": "lead\r\nx"}],
    }
    refused = refusal(lambda: from_webhook(body, feed=FEED))
    assert [p.where for p in refused.problems] == ["report_id", "harm", "staff[0]"]


def test_export_row_split_by_an_unquoted_delimiter_is_refused_with_a_hint():
    data = (
        "report_id,occurred_at,event_type,narrative\n"
        "IR-1,2026-11-30T10:00:00Z,fall,Eleanor Whitfield, found on the floor\n"
        'IR-2,2026-11-30T11:00:00Z,fall,"Tobias Quenneville, found on the floor"\n'
    )
    result = from_csv(data, feed=FEED)
    assert [r.record_id for r in result.records] == ["IR-2"]
    [problem] = result.problems
    assert (problem.where, problem.why) == (
        "row 2",
        "5 fields where the header has 4 (a text cell holding ',' unquoted?)",
    )
    assert_no_phi(repr(result))


# Free text as a narrative or patient cell may hold it: any character, line breaks and the
# delimiter and quotes included. The marker makes a leak findable whatever the text is.
free_text = st.text(min_size=1, max_size=80).map(lambda t: f"QZX{t}QZX")


@settings(max_examples=60, deadline=None)
@given(narrative=free_text, patient=free_text, bad_harm=st.booleans())
def test_export_never_carries_a_narrative_or_patient_cell(narrative, patient, bad_harm):
    rows = [
        ["report_id", "patient", "occurred_at", "event_type", "harm", "staff", "narrative"],
        [
            "IR-1",
            patient,
            "2026-11-30T10:00:00Z",
            "fall",
            "J" if bad_harm else "death",
            "n-1",
            narrative,
        ],
    ]
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    result = from_csv(out.getvalue().encode(), feed=FEED)
    assert len(result.records) + len(result.problems) == 1
    assert "QZX" not in repr(result)
