"""The Faust agents, driven with Faust's own test tooling against the real store."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.engine import Engine

from schemas.events import IncidentReported
from services.incidents.agents import identify_staff, sends
from tests.integration.sealed import opened
from tests.stack import Stack, eventually


def stored_incident(db: Engine, staff: list[str], unit: str = "ICU") -> IncidentReported:
    event = IncidentReported(
        incident_id=uuid.uuid4(),
        occurred_at=datetime.now(UTC),
        unit=unit,
        event_type="failed_resuscitation",
        harm_level="death",
        staff_ids=staff,
    )
    with db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO incidents (id, request_hash, occurred_at, unit, event_type, "
                "harm_level, staff_ids) VALUES (:i, 'x', now(), :u, 'failed_resuscitation', "
                "'death', :s)"
            ),
            {"i": event.incident_id, "s": staff, "u": unit},
        )
    return event


def count(db: Engine, sql: str, **params: object) -> int:
    with db.connect() as conn:
        return int(conn.execute(text(sql), params).scalar() or 0)


async def test_identify_staff_opens_one_case_per_known_clinician_once(
    stack: Stack, db: Engine
) -> None:
    # identify_staff pages straight through, so the stand-in must be there to take it.
    incident = stored_incident(db, ["N1001", "R3001", "GHOST01"])
    dead_before = count(db, "SELECT count(*) FROM dead_letters")
    async with identify_staff.test_context() as agent:
        await agent.put(incident.to_bytes())
        await agent.put(incident.to_bytes())  # Kafka redelivers after a crash
        await agent.put(b'{"event": "IncidentReported", "patient": "x"}')
    await sends.drain()  # the batch's SMS, sent after its commit
    cases = count(
        db, "SELECT count(*) FROM support_cases WHERE incident_id = :i", i=incident.incident_id
    )
    assert cases == 2  # the unknown id is logged, not invented
    needed = count(
        db,
        "SELECT count(*) FROM outbox WHERE topic LIKE '%support-needed%' "
        "AND payload->>'incident_id' = :i",
        i=str(incident.incident_id),
    )
    assert needed == 2  # one SupportNeeded each, none for the replay

    def sent() -> int:
        return count(
            db,
            "SELECT count(*) FROM pages p JOIN support_cases c ON c.id = p.case_id "
            "WHERE c.incident_id = :i AND p.provider_sid IS NOT NULL",
            i=incident.incident_id,
        )

    # Paged and sent without another trip through Kafka; the stack's live worker gets the
    # events too and may do it first. Either way: one page per case, each sent once.
    await eventually(lambda: sent() == 2, 15, "both pages sent", 0.2)
    pages = count(
        db,
        "SELECT count(*) FROM pages p JOIN support_cases c ON c.id = p.case_id "
        "WHERE c.incident_id = :i",
        i=incident.incident_id,
    )
    assert pages == 2
    assert count(db, "SELECT count(*) FROM dead_letters") == dead_before + 1


async def test_nobody_involved_is_paged_as_a_peer(stack: Stack, db: Engine) -> None:
    # Every peer in the seed is involved: the coordinator must be paged, not nobody.
    on_call = ["N1101", "N1102", "P2101", "C4101", "N1103"]
    incident = stored_incident(db, ["N1001", *on_call])
    async with identify_staff.test_context() as agent:
        await agent.put(incident.to_bytes())
        await agent.put(incident.to_bytes())  # redelivered: still one page
    await sends.drain()
    with db.connect() as conn:
        case_id = conn.execute(
            text("SELECT id FROM support_cases WHERE incident_id = :i AND staff_id = 'N1001'"),
            {"i": incident.incident_id},
        ).scalar_one()
    with db.connect() as conn:
        pages = conn.execute(
            text("SELECT peer_staff_id, to_number, reason FROM pages WHERE case_id = :c"),
            {"c": case_id},
        ).all()
    assert len(pages) == 1
    assert pages[0].peer_staff_id is None
    assert opened(pages[0].to_number, "pages.to_number") == "+15550009999"  # the coordinator
    assert pages[0].reason.startswith("no peer available (")
    assert "involved in this incident" in pages[0].reason
