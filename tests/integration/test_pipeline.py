"""End to end on the real stack: an incident POSTed becomes an SMS at the stand-in."""

from __future__ import annotations

import os
import subprocess
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.integration.sealed import opened
from tests.stack import ROOT, Stack, leaked, wait_for


def incident(staff: list[str], key: str | None = None) -> dict[str, object]:
    body: dict[str, object] = {
        "occurred_at": datetime.now(UTC).isoformat(),
        "unit": "4E",
        "event_type": "unexpected_death",
        "harm_level": "death",
        "staff_ids": staff,
    }
    if key:
        body["incident_key"] = key
    return body


def pages_of(db: Engine, incident_id: str) -> list[dict[str, object]]:
    with db.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT p.id, p.state, p.provider_sid, p.to_number, p.reason FROM pages p "
                "JOIN support_cases c ON c.id = p.case_id WHERE c.incident_id = :i"
            ),
            {"i": incident_id},
        ).mappings()
        return [dict(r) | {"to_number": opened(r["to_number"], "pages.to_number")} for r in rows]


def sms_for_page(stack: Stack, page_id: object) -> list[dict[str, object]]:
    msgs = httpx.get(f"{stack.standin_url}/_standin/messages").json()
    return [m for m in msgs if f"page={page_id}" in (m.get("status_callback") or "")]


def test_incident_becomes_sms_and_reply_is_recorded(stack: Stack, db: Engine) -> None:
    with stack.client() as c:
        r = c.post("/incidents", json=incident(["N1001", "P2001"]))
    assert r.status_code == 202, r.text
    incident_id = r.json()["incident_id"]

    pages = wait_for(lambda: (p := pages_of(db, incident_id)) and len(p) == 2 and p, 20, "pages")
    for page in pages:
        msgs = wait_for(lambda page=page: sms_for_page(stack, page["id"]), 20, "sms at stand-in")
        assert len(msgs) == 1
        body = str(msgs[0]["body"])
        # Minimum necessary: no unit, no event, no name of the affected clinician.
        assert leaked(body, ("4E", "death", "Alex", "Rivera", "Jordan")) == []
        assert msgs[0]["to"] == page["to_number"]
    # Delivery callbacks are signed by the stand-in and accepted by our webhook.
    wait_for(
        lambda: all(p["state"] == "delivered" for p in pages_of(db, incident_id)), 20, "delivered"
    )
    # Neither peer was involved in the event.
    involved_numbers = {"+15550101001", "+15550102001"}
    assert not involved_numbers & {p["to_number"] for p in pages}

    first = pages[0]
    code = wait_for(lambda: sms_for_page(stack, first["id"]), 5, "sms")[0]["body"]
    reply = str(code).split("Reply ")[1].split(" ")[0]  # e.g. "1A"
    r = httpx.post(
        f"{stack.standin_url}/_standin/inbound",
        json={"from": first["to_number"], "to": "+15005550006", "body": reply.lower() + "!"},
    )
    assert r.json()["status"] == 200
    wait_for(
        lambda: any(
            p["id"] == first["id"] and p["state"] == "accepted" for p in pages_of(db, incident_id)
        ),
        20,
        "page accepted",
    )
    with db.connect() as conn:
        states = (
            conn.execute(
                text("SELECT state FROM page_transitions WHERE page_id = :p ORDER BY id"),
                {"p": first["id"]},
            )
            .scalars()
            .all()
        )
    assert states[:3] == ["requested", "sending", "sent"]
    assert states[-1] == "accepted" and "delivered" in states


def test_forged_or_unsigned_webhook_is_refused(stack: Stack, db: Engine) -> None:
    marker = f"YES {uuid.uuid4().hex[:8]}"  # a body only this test sends
    for option in ({"sign": False}, {"signature": "bm90IGEgc2lnbmF0dXJl"}):
        r = httpx.post(
            f"{stack.standin_url}/_standin/inbound",
            json={"from": "+15550101101", "to": "+15005550006", "body": marker, **option},
        )
        assert r.json()["status"] == 403, r.text
    # A direct POST with no signature at all.
    r = httpx.post(f"{stack.api_url}/twilio/sms", data={"From": "+15550101101", "Body": marker})
    assert r.status_code == 403
    # Nothing was stored from any of them.
    with db.connect() as conn:
        stored = conn.execute(text("SELECT body FROM inbound_sms")).scalars().all()
    assert marker not in {opened(b, "inbound_sms.body") for b in stored}


def test_same_incident_key_twice_gives_one_page(stack: Stack, db: Engine) -> None:
    key = str(uuid.uuid4())
    body = incident(["N1002"], key)
    with stack.client() as c:
        first = c.post("/incidents", json=body)
        second = c.post("/incidents", json=body)
        other = c.post("/incidents", json=body | {"harm_level": "mild"})
    assert first.status_code == 202 and second.status_code == 200
    assert first.json()["incident_id"] == second.json()["incident_id"]
    assert other.status_code == 409
    incident_id = first.json()["incident_id"]
    pages = wait_for(lambda: pages_of(db, incident_id), 20, "page")
    wait_for(lambda: sms_for_page(stack, pages[0]["id"]), 20, "sms")
    with db.connect() as conn:
        published = conn.execute(
            text("SELECT count(*) FROM outbox WHERE key = :k AND topic LIKE '%incident-reported%'"),
            {"k": incident_id},
        ).scalar()
    assert published == 1
    assert len(pages_of(db, incident_id)) == 1
    assert len(sms_for_page(stack, pages[0]["id"])) == 1


@pytest.mark.disruptive
def test_broker_outage_delays_but_never_drops(stack: Stack, db: Engine) -> None:
    stop = os.environ.get("KAFKA_STOP_CMD", f"bash {ROOT}/deploy/kafka.sh stop")
    start = os.environ.get("KAFKA_START_CMD", f"bash {ROOT}/deploy/kafka.sh start")
    subprocess.run(stop, shell=True, check=True, capture_output=True)
    try:
        with stack.client() as c:
            r = c.post("/incidents", json=incident(["R3001"]))
        assert r.status_code == 202, r.text
        incident_id = r.json()["incident_id"]
        with db.connect() as conn:
            pending = conn.execute(
                text("SELECT count(*) FROM outbox WHERE key = :k AND published_at IS NULL"),
                {"k": incident_id},
            ).scalar()
        assert pending == 1  # stored, waiting for the broker
    finally:
        subprocess.run(start, shell=True, check=True, capture_output=True)
    pages = wait_for(lambda: pages_of(db, incident_id), 120, "page after broker is back", 0.5)
    msgs = wait_for(lambda: sms_for_page(stack, pages[0]["id"]), 60, "sms after outage", 0.5)
    assert len(msgs) == 1
