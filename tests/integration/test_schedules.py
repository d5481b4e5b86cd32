"""On-call schedules through the store: the admin API, the CLI and the query matching runs
for every incident (the pure rules across daylight-saving changes and overrides are in
tests/unit/test_schedules.py)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import datetime

import httpx
import pytest
from sqlalchemy.engine import Engine

from tests.stack import ROOT, TOKEN
from tests.unit.test_schedules import LONDON, NY, z

# --------------------------------------------------------------------------- API and DB

ADMIN = {"Authorization": "Bearer test-admin-token"}
RISK = {"Authorization": f"Bearer {TOKEN}"}
PEERS = ["N1101", "N1102"]


async def _schedule(client: httpx.AsyncClient, zone: str = NY) -> str:
    name = f"test {uuid.uuid4().hex[:8]}"
    r = await client.post("/admin/schedules", json={"name": name, "time_zone": zone}, headers=ADMIN)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def rotation(**over: object) -> dict[str, object]:
    body: dict[str, object] = {
        "name": "RN",
        "kind": "daily",
        "start_local": "2026-01-05T07:00:00",
        "participants": PEERS,
    }
    return body | over


def fields(r: httpx.Response) -> dict[str, str]:
    body = r.json()
    return body.get("fields") or body["detail"]["fields"]


async def test_admin_routes_refuse_risk_management(client: httpx.AsyncClient) -> None:
    r = await client.get("/admin/schedules/on-call", headers=RISK)
    assert r.status_code == 403
    r = await client.post("/admin/schedules", json={"name": "x", "time_zone": NY}, headers=RISK)
    assert r.status_code == 403
    assert (await client.get("/admin/schedules/on-call")).status_code == 401


async def test_create_set_rotations_override_and_ask_who_is_on_call(
    client: httpx.AsyncClient,
) -> None:
    sid = await _schedule(client)
    r = await client.put(
        f"/admin/schedules/{sid}/rotations",
        json={
            "rotations": [
                rotation(),
                rotation(name="Chaplain", kind="custom", shift_hours=12, participants=["C4101"]),
            ]
        },
        headers=ADMIN,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert [x["name"] for x in body["rotations"]] == ["Chaplain", "RN"]
    assert body["rotations"][1]["shift_hours"] == 24
    assert [p["staff_id"] for p in body["rotations"][1]["participants"]] == PEERS

    # 2026-12-01 07:00 EST is turn 330 of the RN rotation: N1101 (even).
    at = "2026-12-01T15:00:00Z"
    r = await client.get("/admin/schedules/on-call", params={"at": at}, headers=ADMIN)
    assert r.status_code == 200, r.text
    people = {p["staff_id"]: p for p in r.json()["on_call"]}
    name = (await client.get(f"/admin/schedules/{sid}", headers=ADMIN)).json()["name"]
    assert name in people["N1101"]["schedules"]
    assert name in people["C4101"]["schedules"]
    assert name not in people.get("N1102", {"schedules": []})["schedules"]
    turns = [t for t in r.json()["rotations"] if t["schedule"] == name]
    rn = next(t for t in turns if t["rotation"] == "RN")
    assert rn["staff_id"] == "N1101"
    assert rn["turn_ends_at"] == "2026-12-02T12:00:00+00:00"
    assert rn["turn_ends_local"] == "2026-12-02T07:00:00-05:00"

    r = await client.post(
        f"/admin/schedules/{sid}/overrides",
        json={
            "starts_at": "2026-12-01T14:00:00Z",
            "ends_at": "2026-12-01T18:00:00Z",
            "add_staff_id": "N1102",
            "remove_staff_id": "N1101",
        },
        headers=ADMIN,
    )
    assert r.status_code == 201, r.text
    oid = r.json()["id"]
    r = await client.get("/admin/schedules/on-call", params={"at": at}, headers=ADMIN)
    people = {p["staff_id"]: p for p in r.json()["on_call"]}
    assert name in people["N1102"]["schedules"]
    assert name not in people.get("N1101", {"schedules": []})["schedules"]

    r = await client.get(
        f"/admin/schedules/{sid}/shifts",
        params={"start": "2026-12-01T12:00:00Z", "end": "2026-12-02T12:00:00Z"},
        headers=ADMIN,
    )
    assert r.status_code == 200, r.text
    rn_spans = [
        (s["staff_id"], s["starts_at"], s["ends_at"])
        for s in r.json()["shifts"]
        if s["staff_id"] != "C4101"
    ]
    assert rn_spans == [
        ("N1101", "2026-12-01T12:00:00+00:00", "2026-12-01T14:00:00+00:00"),
        ("N1102", "2026-12-01T14:00:00+00:00", "2026-12-01T18:00:00+00:00"),
        ("N1101", "2026-12-01T18:00:00+00:00", "2026-12-02T12:00:00+00:00"),
    ]

    r = await client.delete(f"/admin/schedules/{sid}/overrides/{oid}", headers=ADMIN)
    assert r.status_code == 204
    r = await client.delete(f"/admin/schedules/{sid}/overrides/{oid}", headers=ADMIN)
    assert r.status_code == 404
    assert (await client.get(f"/admin/schedules/{sid}", headers=ADMIN)).json()["overrides"] == []


async def test_schedule_validation(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/admin/schedules", json={"name": "x", "time_zone": "Mars/Olympus"}, headers=ADMIN
    )
    assert r.status_code == 422
    assert "unknown time zone" in fields(r)["time_zone"]
    r = await client.post(
        "/admin/schedules", json={"name": "x", "time_zone": "localtime"}, headers=ADMIN
    )
    assert r.status_code == 422
    sid = await _schedule(client)
    name = (await client.get(f"/admin/schedules/{sid}", headers=ADMIN)).json()["name"]
    r = await client.post("/admin/schedules", json={"name": name, "time_zone": NY}, headers=ADMIN)
    assert r.status_code == 409
    assert "exists already" in fields(r)["name"]
    missing = uuid.uuid4()
    assert (await client.get(f"/admin/schedules/{missing}", headers=ADMIN)).status_code == 404
    r = await client.put(
        f"/admin/schedules/{missing}/rotations", json={"rotations": [rotation()]}, headers=ADMIN
    )
    assert r.status_code == 404


async def test_rotation_validation_writes_nothing(client: httpx.AsyncClient) -> None:
    sid = await _schedule(client)
    url = f"/admin/schedules/{sid}/rotations"
    assert (await client.put(url, json={"rotations": [rotation()]}, headers=ADMIN)).is_success

    async def refused(*rotations: dict[str, object]) -> dict[str, str]:
        r = await client.put(url, json={"rotations": list(rotations)}, headers=ADMIN)
        assert r.status_code == 422, r.text
        return fields(r)

    got = await refused(rotation(name="ok"), rotation(name="bad", participants=["N1101", "ZZ999"]))
    assert got == {"rotations.1.participants": "unknown staff ZZ999"}
    got = await refused(rotation(participants=["N1001"]))  # a nurse, not a peer supporter
    assert "N1001 is not a peer supporter" in got["rotations.0.participants"]
    got = await refused(rotation(kind="daily", shift_hours=12))
    assert "every 24 h" in next(iter(got.values()))
    got = await refused(rotation(kind="weekly", shift_hours=24))
    assert "every 168 h" in next(iter(got.values()))
    got = await refused(rotation(kind="custom", shift_hours=400))
    assert "1 to 336" in next(iter(got.values()))
    got = await refused(rotation(kind="custom"))
    assert "shift_hours" in next(iter(got.values()))
    got = await refused(rotation(start_local="2026-01-05T07:00:00-05:00"))
    assert "without an offset" in next(iter(got.values()))
    got = await refused(rotation(), rotation())
    assert "repeated" in next(iter(got.values()))
    got = await refused(rotation(participants=[]))
    assert got

    # Every refusal left the first set untouched.
    rotations = (await client.get(f"/admin/schedules/{sid}", headers=ADMIN)).json()["rotations"]
    assert [(r["name"], [p["staff_id"] for p in r["participants"]]) for r in rotations] == [
        ("RN", PEERS)
    ]

    # Expired training is a warning, not a refusal: it can be renewed before the turn.
    r = await client.put(url, json={"rotations": [rotation(participants=["N1103"])]}, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert any(w.startswith("N1103: peer training expired") for w in r.json()["warnings"])


async def test_override_validation(client: httpx.AsyncClient) -> None:
    sid = await _schedule(client)
    url = f"/admin/schedules/{sid}/overrides"

    def body(**over: object) -> dict[str, object]:
        return {
            "starts_at": "2026-12-01T14:00:00Z",
            "ends_at": "2026-12-01T18:00:00Z",
            "add_staff_id": "N1102",
        } | over

    async def refused(b: dict[str, object]) -> str:
        r = await client.post(url, json=b, headers=ADMIN)
        assert r.status_code == 422, r.text
        return " ".join(fields(r).values())

    assert "after starts_at" in await refused(body(ends_at="2026-12-01T13:00:00Z"))
    assert "after starts_at" in await refused(body(ends_at="2026-12-01T14:00:00Z"))
    assert "31 days" in await refused(body(ends_at="2027-01-01T14:00:01Z"))
    assert "add_staff_id, remove_staff_id or both" in await refused(body(add_staff_id=None))
    assert "same person" in await refused(body(remove_staff_id="N1102"))
    assert "unknown staff ZZ999" in await refused(body(add_staff_id="ZZ999"))
    assert "unknown staff ZZ998" in await refused(body(remove_staff_id="ZZ998"))
    assert "not a peer supporter" in await refused(body(add_staff_id="N1001"))
    assert "timezone" in await refused(body(starts_at="2026-12-01T14:00:00"))
    r = await client.post(url, json=body(ends_at="2027-01-01T14:00:00Z"), headers=ADMIN)
    assert r.status_code == 201, r.text  # exactly 31 days
    # Excusing someone who is not a peer (or has left) is allowed: they only need to exist.
    r = await client.post(url, json=body(add_staff_id=None, remove_staff_id="N1001"), headers=ADMIN)
    assert r.status_code == 201, r.text
    r = await client.post(f"/admin/schedules/{uuid.uuid4()}/overrides", json=body(), headers=ADMIN)
    assert r.status_code == 404


async def test_query_time_validation(client: httpx.AsyncClient) -> None:
    r = await client.get(
        "/admin/schedules/on-call", params={"at": "2026-12-01T15:00:00"}, headers=ADMIN
    )
    assert r.status_code == 422
    assert "offset" in fields(r)["at"]
    r = await client.get("/admin/schedules/on-call", headers=ADMIN)
    assert r.status_code == 200
    sid = await _schedule(client)
    r = await client.get(
        f"/admin/schedules/{sid}/shifts",
        params={"start": "2026-12-01T00:00:00Z", "end": "2027-01-01T00:00:01Z"},
        headers=ADMIN,
    )
    assert r.status_code == 422
    assert "31 days" in fields(r)["end"]
    r = await client.get(
        f"/admin/schedules/{sid}/shifts",
        params={"start": "2026-12-02T00:00:00Z", "end": "2026-12-01T00:00:00Z"},
        headers=ADMIN,
    )
    assert r.status_code == 422
    r = await client.get(f"/admin/schedules/{sid}/shifts", headers=ADMIN)
    assert r.status_code == 200 and r.json()["shifts"] == []


async def test_on_call_staff_across_schedules(client: httpx.AsyncClient) -> None:
    from services.db import transaction
    from services.schedules.demo import DEMO_SCHEDULE, seed_schedule
    from services.schedules.service import on_call_staff

    async with transaction() as session:
        await seed_schedule(session)  # idempotent: `svrr seed` has run it already
        await seed_schedule(session)
    sid = await _schedule(client, LONDON)
    name = (await client.get(f"/admin/schedules/{sid}", headers=ADMIN)).json()["name"]
    r = await client.put(
        f"/admin/schedules/{sid}/rotations",
        json={"rotations": [rotation(participants=["C4101"])]},
        headers=ADMIN,
    )
    assert r.status_code == 200, r.text
    at = z(2026, 12, 1, 15)
    async with transaction() as session:
        who = await on_call_staff(session, at)
    assert DEMO_SCHEDULE in who["C4101"] and name in who["C4101"]
    assert DEMO_SCHEDULE in who["P2101"]
    demo = {s for s, names in who.items() if DEMO_SCHEDULE in names}
    assert len(demo) == 3 and len(demo & {"N1101", "N1102"}) == 1
    with pytest.raises(ValueError):
        async with transaction() as session:
            await on_call_staff(session, datetime(2026, 12, 1, 15))


def test_cli_on_call_and_schedule_show(db: Engine) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "services.cli", "on-call", "--at", "2026-12-01T15:00:00Z"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    assert "P2101" in out.stdout and "Peer support on call" in out.stdout
    assert "Peer support on call / RN:" in out.stdout
    out = subprocess.run(
        [sys.executable, "-m", "services.cli", "schedule", "show", "Peer support on call"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    assert "America/New_York" in out.stdout and "N1101" in out.stdout
    out = subprocess.run(
        [sys.executable, "-m", "services.cli", "schedule", "show", "No such schedule"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert out.returncode == 2 and "no schedule named" in out.stderr
