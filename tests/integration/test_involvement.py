"""Who was involved: named staff are contacted, staff on shift are proposed and confirmed."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import text
from sqlalchemy.engine import Engine

from services.db import transaction
from services.incidents import involvement
from tests.integration.test_agents import count, stored_incident
from tests.stack import ROOT, TOKEN

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def on_shift(db: Engine, staff: list[str], unit: str = "ICU") -> None:
    now = datetime.now(UTC)
    with db.begin() as conn:
        for sid in staff:
            conn.execute(
                text(
                    "INSERT INTO shifts (staff_id, unit, starts_at, ends_at) "
                    "VALUES (:s, :u, :a, :b) ON CONFLICT DO NOTHING"
                ),
                {"s": sid, "u": unit, "a": now - timedelta(hours=3), "b": now + timedelta(hours=9)},
            )


async def test_named_contacted_on_shift_proposed(db: Engine) -> None:
    on_shift(db, ["N1100", "R3001"])  # both on shift on ICU; the report names R3001 only
    incident = stored_incident(db, ["R3001"])
    async with transaction() as session:
        needs = await involvement.identify(session, incident, group_threshold=5)
    assert [n.staff_id for n in needs] == ["R3001"]
    async with transaction() as session:
        rows = await involvement.listing(session, incident.incident_id)
    assert {(r["staff_id"], r["source"], r["status"]) for r in rows} == {
        ("R3001", "named", "confirmed"),
        ("N1100", "on_shift", "proposed"),
    }
    # Replayed: nothing new.
    async with transaction() as session:
        assert await involvement.identify(session, incident, group_threshold=5) == []
    cases = count(
        db, "SELECT count(*) FROM support_cases WHERE incident_id = :i", i=incident.incident_id
    )
    assert cases == 1  # the proposal is not contacted


async def test_confirm_and_remove_over_http(db: Engine, client: httpx.AsyncClient) -> None:
    on_shift(db, ["N1100", "N1101"])
    incident = stored_incident(db, ["R3001"])
    async with transaction() as session:
        await involvement.identify(session, incident, group_threshold=5)
    base = f"/incidents/{incident.incident_id}/involvement"
    listed = await client.get(base, headers=AUTH)
    assert listed.status_code == 200
    assert {r["staff_id"] for r in listed.json()["staff"]} >= {"N1100", "N1101", "R3001"}

    ok = await client.post(f"{base}/N1100", json={"decision": "confirm"}, headers=AUTH)
    assert ok.json() == {
        "staff_id": "N1100",
        "status": "confirmed",
        "changed": True,
        "outreach_started": True,
    }
    again = await client.post(f"{base}/N1100", json={"decision": "confirm"}, headers=AUTH)
    assert again.json()["changed"] is False and again.json()["outreach_started"] is False
    late = await client.post(f"{base}/N1100", json={"decision": "remove"}, headers=AUTH)
    assert late.status_code == 409

    removed = await client.post(f"{base}/N1101", json={"decision": "remove"}, headers=AUTH)
    assert removed.json()["status"] == "removed"
    unknown = await client.post(f"{base}/P2101", json={"decision": "confirm"}, headers=AUTH)
    assert unknown.status_code == 404
    bad = await client.post(f"{base}/N1101", json={"decision": "maybe"}, headers=AUTH)
    assert bad.status_code == 422 and "decision" in bad.json()["fields"]
    missing = await client.get(f"/incidents/{uuid.uuid4()}/involvement", headers=AUTH)
    assert missing.status_code == 404

    staff_with_cases = {
        r[0]
        for r in db.connect().execute(
            text("SELECT staff_id FROM support_cases WHERE incident_id = :i"),
            {"i": incident.incident_id},
        )
    }
    assert staff_with_cases == {"R3001", "N1100"}  # never the removed proposal


async def test_group_debrief_for_many_staff_or_several_units(
    db: Engine, client: httpx.AsyncClient
) -> None:
    # On 5W nobody is on shift in these tests, so only the named staff count.
    several_units = stored_incident(db, ["N1001", "R3001"], unit="5W")  # from 4E and ICU
    one_unit = stored_incident(db, ["N1001", "N1002"], unit="5W")  # both from 4E
    async with transaction() as session:
        await involvement.identify(session, several_units, group_threshold=5)
        await involvement.identify(session, one_unit, group_threshold=5)
    big = stored_incident(db, ["N1001", "N1002", "N1000", "P2001"], unit="5W")
    async with transaction() as session:
        await involvement.identify(session, big, group_threshold=3)

    def debrief(incident_id: uuid.UUID) -> int:
        return count(
            db, "SELECT count(*) FROM group_debriefs WHERE incident_id = :i", i=incident_id
        )

    assert debrief(several_units.incident_id) == 1
    assert debrief(one_unit.incident_id) == 0
    assert debrief(big.incident_id) == 1
    r = await client.get(f"/incidents/{several_units.incident_id}", headers=AUTH)
    assert r.json()["group_debrief"] == "proposed"


async def test_cli_review(db: Engine) -> None:
    on_shift(db, ["N1100"])
    incident = stored_incident(db, ["R3001"])
    async with transaction() as session:
        await involvement.identify(session, incident, group_threshold=5)
    svrr = [sys.executable, "-m", "services.cli", "involvement", str(incident.incident_id)]
    listed = subprocess.run(svrr, cwd=ROOT, capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    assert "N1100      on_shift  proposed" in listed.stdout
    removed = subprocess.run([*svrr, "remove", "N1100"], cwd=ROOT, capture_output=True, text=True)
    assert (removed.returncode, removed.stdout.strip()) == (0, "N1100: removed")
    named = subprocess.run([*svrr, "remove", "R3001"], cwd=ROOT, capture_output=True, text=True)
    assert named.returncode == 2 and "outreach has begun" in named.stderr
