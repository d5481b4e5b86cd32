"""Code blue and rapid-response activations: the webhook body read as a FeedRecord.

The samples carry a made-up patient and notes beside the activation; none of it may reach
a record or a refusal.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from zoneinfo import ZoneInfo

from schemas.events import HarmLevel, IncidentType
from services.feeds.codeblue import from_webhook
from services.feeds.record import Source, StaffRef
from tests.unit import feeds

FEED = "code-team-pager"

PHI = [
    "Tobias", "Quenneville", "00593120", "1961-07-02", "5W-12", "Ferncliff", "VF arrest",
    "ROSC", "Achterberg", "Philippa", "Drummond", "4471", "Augustin", "Pelletier", "00123987",
    "1977-04-04", "Foundry", "Bed 12",
]  # fmt: skip

sample = partial(feeds.sample, "codeblue")
assert_no_phi = partial(feeds.assert_no_phi, phi=PHI)
refusal = partial(feeds.refusal, phi=PHI)


def test_code_blue_with_its_team_and_nothing_of_the_patient():
    [record] = from_webhook(sample("code_blue.json"), feed=FEED)
    assert record.source is Source.code_blue and record.feed == FEED
    assert record.record_id == "CB-2026-0412"
    assert record.event_type is IncidentType.code_blue
    assert record.harm_level is HarmLevel.unknown  # an activation says nothing of harm
    assert (record.raw_event, record.raw_harm) == ("Code Blue", None)
    assert record.unit == "5W"
    assert record.occurred_at == datetime(2026, 11, 28, 8, 12, tzinfo=UTC)
    assert record.staff == (
        StaffRef(value="n-1003"),  # sent twice, kept once
        StaffRef(value="p-2002", role="team_leader"),
        StaffRef(value="r-0042", role="airway"),
    )
    assert_no_phi(repr(record))


def test_rapid_response_with_employee_numbers_and_a_local_time():
    refused = refusal(lambda: from_webhook(sample("rapid_response.json"), feed=FEED))
    assert [p.where for p in refused.problems] == ["activated_at"]  # no offset, no zone

    [record] = from_webhook(
        sample("rapid_response.json"),
        feed=FEED,
        staff_system="urn:example:employee",
        default_zone=ZoneInfo("America/New_York"),
    )
    assert record.event_type is IncidentType.rapid_response
    assert record.raw_event == "RRT"
    assert record.occurred_at == datetime(2026, 11, 29, 19, 2, 30, tzinfo=UTC)
    assert [(s.value, s.system) for s in record.staff] == [
        ("E104522", "urn:example:employee"),
        ("E100871", "urn:example:employee"),
    ]
    assert_no_phi(repr(record))


def test_activation_full_of_patient_data_is_refused_with_every_problem_and_none_of_it():
    refused = refusal(lambda: from_webhook(sample("malformed.json"), feed=FEED))
    assert [p.where for p in refused.problems] == [
        "activation_id",
        "unit",
        "activated_at",
        "team[0].id",
        "team[1].id",
        "team[2]",
        "kind",
    ]
    assert refused.problems[0].why == "missing"
    assert refused.problems[4].why == "missing"
    assert refused.problems[-1].why.startswith("not an activation this feed knows")


def test_unknown_kind_alone_is_refused():
    body = {
        "activation_id": "A1",
        "kind": "fire alarm",
        "unit": "4E",
        "activated_at": "2026-11-30T01:00Z",
    }
    refused = refusal(lambda: from_webhook(body, feed=FEED))
    assert [p.where for p in refused.problems] == ["kind"]


def test_team_without_a_system_must_be_our_staff_ids():
    body = {
        "activation_id": "A2",
        "kind": "MET",
        "unit": "ICU-2",
        "activated_at": "2026-11-30T01:00:00+00:00",
        "team": ["n-1", "x" * 40],
    }
    refused = refusal(lambda: from_webhook(body, feed=FEED))
    assert [p.where for p in refused.problems] == ["team[1].id"]
    [record] = from_webhook(body, feed=FEED, staff_system="urn:badge")
    assert len(record.staff) == 2 and record.event_type is IncidentType.rapid_response
    [record] = from_webhook({**body, "team": []}, feed=FEED)
    assert record.staff == ()


def test_body_that_is_not_one_json_object_is_refused_without_its_content():
    refused = refusal(lambda: from_webhook(b'{"patient": "Tobias Quenneville"', feed=FEED))
    assert refused.problems[0].where.startswith("body line 1")
    refused = refusal(lambda: from_webhook(b'[{"patient": "Tobias Quenneville"}]', feed=FEED))
    assert [p.where for p in refused.problems] == ["body"]


def test_kept_text_holds_no_control_characters():
    body = {
        "activation_id": "A3\nforged log line",
        "kind": "code blue",
        "unit": "4E",
        "activated_at": "2026-11-30T01:00:00+00:00",
        "team": [{"id": "n-1", "role": "le\rad"}, "n-1"],
    }
    refused = refusal(lambda: from_webhook(body, feed=FEED))
    assert [(p.where, p.why) for p in refused.problems] == [
        ("activation_id", "holds a line break or control character"),
        ("team[0].role", "holds a line break or control character"),
    ]
