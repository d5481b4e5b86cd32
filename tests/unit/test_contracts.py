"""The event contracts: exported schemas match the code, and no field can carry patient data."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from schemas.events import CONTRACTS, IncidentReported, SmsReceived
from schemas.export import OUT, render
from schemas.topics import topics

FORBIDDEN = ("patient", "mrn", "dob", "birth", "narrative", "diagnosis", "description", "phone")


@pytest.mark.parametrize("contract", CONTRACTS, ids=lambda c: c.__name__)
def test_exported_json_schema_is_current(contract: type) -> None:
    path = OUT / f"{contract.__name__}.v1.schema.json"
    assert path.read_text() == render(contract), "run `python -m schemas.export`"


@pytest.mark.parametrize("contract", CONTRACTS, ids=lambda c: c.__name__)
def test_no_field_for_patient_details(contract: type) -> None:
    for name in contract.model_fields:
        assert not any(word in name.lower() for word in FORBIDDEN), name
    schema = json.loads(render(contract))
    assert schema["properties"]["schema_version"]["const"] == 1


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


def test_sms_sender_must_be_e164() -> None:
    with pytest.raises(ValidationError):
        SmsReceived(
            sms_id=uuid.uuid4(), provider_sid="SM1", from_number="555-0100", to_number="", body=""
        )


def test_every_contract_has_its_topic() -> None:
    names = [t.name for t in topics()]
    assert len(names) == len(set(names)) == len(CONTRACTS)
    assert all(t.partitions >= 6 for t in topics())
