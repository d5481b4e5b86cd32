"""What a refused HL7 message leaves behind for replay (services.feeds.redact_hl7): nothing of
the patient, the family, the insurer or any name, and enough for the adapter to read it the
same way again."""

from __future__ import annotations

import json
from functools import partial

import pytest

from schemas.events import HarmLevel, IncidentType
from services.feeds import hl7v2
from services.feeds.hl7v2 import Hl7Refused, Hl7Rule, Hl7Triggers
from services.feeds.redact_hl7 import FORMAT, kept
from tests.unit import feeds
from tests.unit.test_feeds_hl7 import PHI as HL7_PHI

SAMPLES = sorted(p.name for p in (feeds.SAMPLES / "hl7").iterdir())
sample = partial(feeds.sample, "hl7")
# Every patient detail in the samples, and every name (clinicians' too: kept rows name
# clinicians by id only), the operator, the patient's own doctor and the insurer's contact.
PHI = (
    *HL7_PHI,
    "ROBERT",
    "MEDICARE",
    "NGUYEN",
    "ALICE",
    "PATEL",
    "OKAFOR",
    "GARCIA",
    "SOFIA",
    "WELBY",
    "P9999",
    "X7777",
    "BROKER",
    "CLERK",
    "OP77",
    "^412^",
)


@pytest.mark.parametrize("name", SAMPLES)
def test_no_patient_detail_or_name_survives(name: str) -> None:
    got = kept(sample(name))
    feeds.assert_no_phi(json.dumps(got), PHI)


@pytest.mark.parametrize("name", [n for n in SAMPLES if n.endswith(".hl7")])
def test_every_sample_keeps_its_header_and_says_what_was_left_out(name: str) -> None:
    got = kept(sample(name))
    assert got is not None and got["format"] == FORMAT
    assert got["message"].startswith("MSH|^~\\&|EPICADT|GENHOSP|SVRR|GENHOSP|")
    assert got["left_out"].get("PID") == 1


def test_the_kept_death_reads_as_the_same_record() -> None:
    for name in ("a03_death.hl7", "a08_death_v28.hl7", "a03_death_v23.hl7"):
        message = kept(sample(name))
        assert message is not None
        again = hl7v2.read(message["message"], feed="adt")
        assert again == hl7v2.read(sample(name), feed="adt"), name


def test_the_visits_clinicians_are_kept_by_id_and_the_patients_doctor_is_not() -> None:
    message = kept(sample("a03_death.hl7"))
    assert message is not None
    (record,) = hl7v2.read(message["message"], feed="adt")
    assert [s.value for s in record.staff] == ["D1001", "R2002", "C3003", "N4004", "N4005"]
    assert "ROL|2|AD|PP" not in message["message"]
    assert message["left_out"] == {"PID": 1, "NK1": 1, "DG1": 1, "OBX": 1, "IN1": 1, "ROL": 2}


@pytest.mark.parametrize(
    "name", ["bad_a03_no_pv1.hl7", "bad_a03_times.hl7", "bad_a03_no_time.hl7", "bad_v23_times.hl7"]
)
def test_a_refused_message_is_refused_again_for_the_same_reasons(name: str) -> None:
    message = kept(sample(name))
    assert message is not None
    with pytest.raises(Hl7Refused) as first:
        hl7v2.read(sample(name), feed="adt")
    with pytest.raises(Hl7Refused) as replayed:
        hl7v2.read(message["message"], feed="adt")
    assert replayed.value.problems == first.value.problems


def test_bytes_that_are_no_message_keep_nothing_unless_their_header_parses() -> None:
    assert kept(sample("bad_not_hl7.txt")) is None
    assert kept(b"\xff\xfe not text at all") is None
    header_only = kept("MSH|^~\\&|LAB|GENHOSP|SVRR||202611301200||ADT^A03|C1|P|2.5\rPID|\xff")
    assert header_only is not None
    assert header_only["message"] == "MSH|^~\\&|LAB|GENHOSP|SVRR||202611301200||ADT^A03|C1|P|2.5"


def test_a_site_trigger_field_is_kept_only_with_one_of_its_own_codes() -> None:
    rule = Hl7Rule(
        message_type="ADT",
        events=frozenset({"A08"}),
        event_type=IncidentType.serious_safety_event,
        harm_level=HarmLevel.severe,
        field="ZSE-2",
        values=frozenset({"SSE"}),
        required=False,
    )
    on_pid = Hl7Rule(
        message_type="ADT",
        events=frozenset({"A08"}),
        event_type=IncidentType.other,
        harm_level=HarmLevel.unknown,
        field="PID-8",
        values=frozenset({"F"}),
    )
    triggers = Hl7Triggers.deaths_and(rule, on_pid)
    base = sample("a01_admit.hl7").decode().replace("ADT^A01^ADT_A01", "ADT^A08^ADT_A01")
    hit = kept(base + "ZSE|1|SSE|Hartley fell in the bathroom\n", triggers=triggers)
    miss = kept(base + "ZSE|1|HARTLEY\n", triggers=triggers)
    assert hit is not None and miss is not None
    assert hit["message"].endswith("\rZSE||SSE")
    assert "ZSE" not in miss["message"] and miss["left_out"]["ZSE"] == 1
    assert "PID" not in hit["message"]
    feeds.assert_no_phi(json.dumps([hit, miss]), PHI)


def test_a_value_holding_separators_cannot_shift_the_fields_after_it() -> None:
    text = sample("a03_death.hl7").decode().replace("4E^412", "4E\\F\\X^412")
    message = kept(text)
    assert message is not None
    assert "|4E\\F\\X|" in message["message"]
    (record,) = hl7v2.read(message["message"], feed="adt")
    assert record.unit is None  # "4E|X" is no unit code, read the same way as the original
    assert hl7v2.read(text, feed="adt")[0].unit is None
