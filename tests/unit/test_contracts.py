"""The event contracts: exported schemas match the code, and no field can carry patient data,
a phone number or what someone wrote."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from schemas.events import CONTRACTS, IncidentReported, SmsReceived
from schemas.export import OUT, path_of, render, version_of
from schemas.topics import topics

FORBIDDEN = (
    "patient",
    "mrn",
    "dob",
    "birth",
    "narrative",
    "diagnosis",
    "description",
    "phone",
    "number",  # a phone number, whatever its field is called (from_number, to_number)
    "body",  # what someone wrote in an SMS
)
SENDER = "ab" * 32  # a lookup hash: 64 hex digits


@pytest.mark.parametrize("contract", CONTRACTS, ids=lambda c: c.__name__)
def test_exported_json_schema_is_current(contract: type) -> None:
    assert path_of(contract).read_text() == render(contract), "run `python -m schemas.export`"


def test_exported_files_are_the_current_contracts_only() -> None:
    """A contract's previous version is not left beside it for an integrator to pick up."""
    assert set(OUT.glob("*.schema.json")) == {path_of(c) for c in CONTRACTS}


@pytest.mark.parametrize("contract", CONTRACTS, ids=lambda c: c.__name__)
def test_no_field_for_patient_details(contract: type) -> None:
    for name in contract.model_fields:
        assert not any(word in name.lower() for word in FORBIDDEN), name
    schema = json.loads(render(contract))
    assert schema["properties"]["schema_version"]["const"] == version_of(contract)
    assert schema["$id"].endswith(f":v{version_of(contract)}")


def test_round_trip_and_unknown_fields_refused() -> None:
    event = IncidentReported(
        incident_id=uuid.uuid4(),
        occurred_at=datetime.now(UTC),
        unit="4E",
        event_type="code_blue",
        harm_level="severe",
        staff_ids=["N1001"],
    )
    assert IncidentReported.model_validate_json(event.to_bytes()) == event
    tampered = json.loads(event.to_bytes()) | {"patient_name": "x"}
    with pytest.raises(ValidationError):
        IncidentReported.model_validate(tampered)
    with pytest.raises(ValidationError):
        IncidentReported.model_validate(json.loads(event.to_bytes()) | {"schema_version": 2})


def sms(**fields: object) -> SmsReceived:
    return SmsReceived.model_validate(
        {"sms_id": str(uuid.uuid4()), "provider_sid": "SM1", "sender": SENDER} | fields
    )


def test_sms_received_is_a_claim_check_keyed_by_the_senders_lookup_hash() -> None:
    """Version 2 names the stored row and is keyed by the lookup hash: neither the number
    nor the text travels, and one sender's replies still share a key (a partition)."""
    event = sms()
    assert event.key == SENDER
    assert event.topic == "svrr.sms-received.v2"
    assert json.loads(event.to_bytes())["schema_version"] == 2
    assert set(json.loads(event.to_bytes())) == {
        "schema_version",
        "event_id",
        "emitted_at",
        "event",
        "sms_id",
        "provider_sid",
        "sender",
    }
    assert SmsReceived.model_validate_json(event.to_bytes()) == event


@pytest.mark.parametrize(
    "sender", ["+15550100000", "15550100000", "AB" * 32, "ab" * 31, "ab" * 33, "zz" * 32, ""]
)
def test_sms_sender_must_be_a_lookup_hash_not_a_number(sender: str) -> None:
    with pytest.raises(ValidationError):
        sms(sender=sender)


def test_a_version_1_sms_record_is_refused() -> None:
    """What v1 carried (the number, the text) is refused, and so is its version: a v1 record
    is a dead letter, never a reply acted on with half its fields."""
    v1 = {"from_number": "+15550100000", "to_number": "+15005550006", "body": "YES"}
    with pytest.raises(ValidationError):
        sms(**v1)
    with pytest.raises(ValidationError):
        sms(schema_version=1)


def test_every_contract_has_its_topic() -> None:
    names = [t.name for t in topics()]
    assert len(names) == len(set(names)) == len(CONTRACTS)
    assert all(t.partitions >= 6 for t in topics())
