"""A worker batch holding one incident twice (a feed's join publishes it again with the
newcomers; Kafka may deliver an event twice) is one incident with everyone named."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from schemas.events import HarmLevel, IncidentReported, IncidentType
from services.incidents.involvement import one_per_incident


def reported(incident_id: uuid.UUID, *staff: str, harm: HarmLevel = HarmLevel.unknown):
    return IncidentReported(
        incident_id=incident_id,
        occurred_at=datetime(2026, 11, 30, 2, 10, tzinfo=UTC),
        unit="ICU",
        event_type=IncidentType.code_blue,
        harm_level=harm,
        staff_ids=list(staff),
    )


def test_copies_of_one_incident_become_one_with_every_clinician_once() -> None:
    x, y = uuid.uuid4(), uuid.uuid4()
    first = reported(x, "A", "B")
    batch = [first, reported(y, "Q"), first, reported(x, "B", "C", harm=HarmLevel.death)]
    merged = one_per_incident(batch)
    assert [(m.incident_id, m.staff_ids) for m in merged] == [(x, ["A", "B", "C"]), (y, ["Q"])]
    assert merged[0].harm_level is HarmLevel.death  # the latest copy's fields


def test_a_batch_without_copies_is_unchanged() -> None:
    batch = [reported(uuid.uuid4(), "A"), reported(uuid.uuid4(), "B")]
    assert one_per_incident(batch) == batch
