"""Staff directory, shift roster and peer roster: imports all or nothing, reports that name
every bad row, and the coordinator's single-record routes.

Every staff import here is a full export of the seeded demo staff plus a synthetic hospital
on units of its own (SYN*): other tests keep the seeded people they rely on, active and
unchanged, and no incident on a seeded unit meets a synthetic shift or peer.
"""

from __future__ import annotations

import csv
import io
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from services.api import app
from services.db import transaction
from services.people.models import Shift, Staff
from tests.stack import TOKEN

ADMIN = {"Authorization": "Bearer test-admin-token"}
SEED = Path(__file__).resolve().parents[2] / "services" / "seed"
STAFF_HEADER = [
    "staff_id",
    "display_name",
    "discipline",
    "role",
    "home_unit",
    "mobile",
    "language",
    "tier1_lead",
    "opted_out",
]
SYN_UNITS = [f"SYN{i:02d}" for i in range(10)]
DISCIPLINE_SPELLINGS = ["RN", "nurse", "Registered Nurse", "physician", "MD", "rt", "LPN"]
TOTAL = 5000


def _csv(rows: list[list[str]], header: list[str] = STAFF_HEADER) -> bytes:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return out.getvalue().encode()


def _seed_staff() -> list[list[str]]:
    with (SEED / "staff.csv").open(newline="") as fh:
        return [row for row in csv.reader(fh)][1:]


def _synthetic(i: int) -> list[str]:
    # National format without a country code: read in the default region (US).
    return [
        f"Z{i:05d}",
        f"Synthetic Person {i}",
        DISCIPLINE_SPELLINGS[i % len(DISCIPLINE_SPELLINGS)],
        "staff",
        SYN_UNITS[i % len(SYN_UNITS)],
        f"(555) {300 + i // 10000:03d}-{i % 10000:04d}",
        "en",
        "",
        "",
    ]


def _e164(i: int) -> str:
    return f"+1555{300 + i // 10000:03d}{i % 10000:04d}"


def roster() -> list[list[str]]:
    """The fixed full export: the seeded staff first, then synthetic staff up to TOTAL."""
    seed = _seed_staff()
    return seed + [_synthetic(i) for i in range(TOTAL - len(seed))]


@pytest.fixture
async def api(db: Engine) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://svrr.test") as client:
        yield client


async def _post(client: httpx.AsyncClient, kind: str, body: bytes) -> httpx.Response:
    return await client.post(
        f"/admin/{kind}/import", content=body, headers={**ADMIN, "Content-Type": "text/csv"}
    )


@pytest.fixture
async def units(api: httpx.AsyncClient) -> None:
    rows = [[u, f"Synthetic {u}", "syn", "America/New_York"] for u in SYN_UNITS]
    r = await _post(api, "units", _csv(rows, ["code", "name", "site", "time_zone"]))
    assert r.status_code == 200, r.text


async def _staff_count() -> int:
    async with transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(Staff)) or 0)


async def test_units_import_reports_bad_rows(api: httpx.AsyncClient) -> None:
    body = _csv(
        [
            ["SYNX1", "Ward X1", "main", "America/New_York"],
            ["SYNX2", "Ward X2", "main", "Mars/Olympus_Mons"],
            ["SYNX1", "Ward X1 again", "main", "Europe/London"],
            ["SYNX3", "", "main", "UTC"],
        ],
        ["code", "name", "site", "time_zone"],
    )
    r = await _post(api, "units", body)
    assert r.status_code == 422
    report = r.json()
    assert report["applied"] is False
    got = {(x["line"], x["id"]): x["reason"] for x in report["rejected"]}
    assert set(got) == {(3, "SYNX2"), (4, "SYNX1"), (5, "SYNX3")}
    assert "unknown time zone 'Mars/Olympus_Mons'" in got[(3, "SYNX2")]
    assert got[(4, "SYNX1")] == "duplicate unit SYNX1 (also line 2)"
    assert got[(5, "SYNX3")] == "missing field: name"
    r = await api.get("/admin/staff/N1001", headers=ADMIN)
    assert r.status_code == 200

    r = await _post(api, "units", b"code,name,time_zone,colour\nA,B,UTC,red\n")
    assert r.status_code == 422
    assert r.json()["rejected"] == [{"line": 1, "id": None, "reason": "unknown column: colour"}]


async def test_5000_staff_with_20_bad_rows_rejected_whole_then_fixed_applies(
    api: httpx.AsyncClient, units: None
) -> None:
    good = roster()
    bad = [list(r) for r in good]
    expected: dict[int, tuple[str, str]] = {}  # line -> (id, reason fragment)

    def spoil(index: int, column: str, value: str, reason: str) -> None:
        bad[index][STAFF_HEADER.index(column)] = value
        expected[index + 2] = (bad[index][0], reason)

    for k, number in enumerate(["12345", "not a number", "+44 20 7946 0000", "+1555 0101 0011 9"]):
        spoil(100 + k * 997, "mobile", number, "bad mobile number")
    for k in range(4):
        spoil(200 + k * 991, "home_unit", "7Q", "unknown unit 7Q")
    for k in range(4):
        first = 50 + k
        spoil(4000 + k * 211, "staff_id", good[first][0], "")
        expected[4000 + k * 211 + 2] = (
            good[first][0],
            f"duplicate staff_id {good[first][0]} (also line {first + 2})",
        )
    for k in range(4):
        spoil(300 + k * 1013, "display_name", "", "missing field: display_name")
    for k in range(4):
        spoil(400 + k * 1009, "discipline", "astronaut", "unknown discipline 'astronaut'")
    assert len(expected) == 20
    before = await _staff_count()

    started = time.monotonic()
    r = await _post(api, "staff", _csv(bad))
    rejected_in = time.monotonic() - started
    assert r.status_code == 422, r.text
    report = r.json()
    assert report["applied"] is False and report["rows"] == TOTAL
    assert report["added"] == report["updated"] == report["deactivated"] == 0
    got = {x["line"]: (x["id"], x["reason"]) for x in report["rejected"]}
    assert set(got) == set(expected)
    for line, (sid, fragment) in expected.items():
        assert got[line][0] == sid
        assert fragment in got[line][1], (line, got[line])
    assert await _staff_count() == before
    r = await api.get("/admin/staff/Z00000", headers=ADMIN)
    assert r.status_code == 404

    # A full export deactivates whoever it leaves out: active staff that other tests made
    # (peers of their own, say) are counted, not assumed absent.
    in_file = {row[0] for row in good}
    async with transaction() as session:
        active = set(await session.scalars(select(Staff.staff_id).where(Staff.active)))
    left_out = len(active - in_file)
    started = time.monotonic()
    r = await _post(api, "staff", _csv(good))
    applied_in = time.monotonic() - started
    assert r.status_code == 200, r.text
    report = r.json()
    seeded = len(_seed_staff())
    assert report["applied"] is True and report["rejected"] == []
    assert (report["added"], report["unchanged"]) == (TOTAL - seeded, seeded)
    assert (report["updated"], report["deactivated"]) == (0, left_out)
    assert await _staff_count() == before + TOTAL - seeded
    r = await api.get("/admin/staff/Z00008", headers=ADMIN)
    assert r.json()["mobile"] == _e164(8)
    assert r.json()["discipline"] == "RN"  # "Registered Nurse"
    print(f"5,000-row staff import: rejected in {rejected_in:.2f} s, applied in {applied_in:.2f} s")
    assert rejected_in < 5 and applied_in < 5


async def test_reimport_updates_one_number_keeps_opt_out_and_deactivates_the_absent(
    api: httpx.AsyncClient, units: None
) -> None:
    good = roster()
    assert (await _post(api, "staff", _csv(good))).status_code == 200
    r = await api.put("/admin/staff/Z00020/opt-out", headers=ADMIN, json={"opted_out": True})
    assert r.status_code == 200 and r.json()["changed"] is True

    changed = [list(row) for row in good]
    index = next(i for i, row in enumerate(changed) if row[0] == "Z00010")
    changed[index][STAFF_HEADER.index("mobile")] = "555 399 0010"
    r = await _post(api, "staff", _csv(changed))
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["added"], report["updated"], report["deactivated"]) == (0, 1, 0)
    assert report["unchanged"] == TOTAL - 1
    staff = (await api.get("/admin/staff/Z00010", headers=ADMIN)).json()
    assert staff["mobile"] == "+15553990010"
    # A blank opted_out keeps the choice made through the coordinator.
    assert (await api.get("/admin/staff/Z00020", headers=ADMIN)).json()["opted_out"] is True

    missing = [row for row in changed if row[0] != "Z00030"]
    r = await _post(api, "staff", _csv(missing))
    assert r.status_code == 200, r.text
    assert (r.json()["deactivated"], r.json()["unchanged"]) == (1, TOTAL - 1)
    gone = (await api.get("/admin/staff/Z00030", headers=ADMIN)).json()
    assert gone["active"] is False
    assert (await api.get("/admin/staff/N1001", headers=ADMIN)).json()["active"] is True

    # Back in the export (with the old number again): active again.
    r = await _post(api, "staff", _csv(good))
    assert (r.json()["updated"], r.json()["deactivated"]) == (2, 0)
    assert (await api.get("/admin/staff/Z00030", headers=ADMIN)).json()["active"] is True


async def test_tier1_leads_from_the_staff_file(api: httpx.AsyncClient, units: None) -> None:
    good = roster()
    lead = STAFF_HEADER.index("tier1_lead")
    two = [list(row) for row in good]
    two[20][lead] = two[30][lead] = "Y"  # synthetic 9 and 19: both on SYN09
    r = await _post(api, "staff", _csv(two))
    assert r.status_code == 422
    [rej] = r.json()["rejected"]
    assert rej["line"] == 32 and rej["id"] == two[30][0]
    assert rej["reason"] == f"second tier1_lead for unit SYN09 ({two[20][0]}, line 22)"

    one = [list(row) for row in good]
    one[20][lead] = "Y"
    r = await _post(api, "staff", _csv(one))
    assert r.status_code == 200, r.text
    assert (await api.get(f"/admin/staff/{one[20][0]}", headers=ADMIN)).json()["tier1_lead"]
    assert (await api.get("/admin/staff/N1000", headers=ADMIN)).json()["tier1_lead"] is True


async def test_shifts_in_local_time_across_dst(api: httpx.AsyncClient, units: None) -> None:
    header = ["staff_id", "unit", "starts_at", "ends_at"]
    good = [
        ["Z00001", "SYN01", "2026-03-08T00:00", "2026-03-08T08:00"],  # EST -> EDT: 7 h
        ["Z00002", "SYN01", "2026-11-01T00:00", "2026-11-01T08:00"],  # EDT -> EST: 9 h
        ["Z00003", "SYN01", "2026-11-01T01:30-05:00", "2026-11-01T07:00"],  # offset given
        ["Z00004", "SYN02", "2026-07-01 19:00", "2026-07-02T07:00:00Z"],
    ]
    bad = [
        ["Z00005", "SYN01", "2026-03-08T02:30", "2026-03-08T10:00"],
        ["Z00006", "SYN01", "2026-11-01T01:30", "2026-11-01T09:00"],
        ["Z00007", "SYN01", "2026-07-01T19:00", "2026-07-01T07:00"],
        ["Z00007", "SYN01", "2026-07-03T07:00", "2026-07-04T09:00"],
        ["NOBODY", "SYN01", "2026-07-01T07:00", "2026-07-01T19:00"],
        ["Z00008", "7Q", "2026-07-01T07:00", "2026-07-01T19:00"],
        ["Z00009", "SYN01", "July 1st", "2026-07-01T19:00"],
    ]
    r = await _post(api, "shifts", _csv(good + bad, header))
    assert r.status_code == 422
    got = {x["line"]: x["reason"] for x in r.json()["rejected"]}
    assert sorted(got) == list(range(6, 13))
    assert got[6].startswith("starts_at 2026-03-08T02:30 does not exist in America/New_York")
    assert got[7].startswith("starts_at 2026-11-01T01:30 happens twice in America/New_York")
    assert "-04:00 or -05:00" in got[7]
    assert got[8] == "ends before it starts"
    assert got[9] == "longer than 24 hours (26 h)"
    assert got[10] == "unknown staff id NOBODY"
    assert got[11] == "unknown unit 7Q"
    assert got[12].startswith("bad starts_at 'July 1st'")
    async with transaction() as session:
        assert not (await session.scalars(select(Shift).where(Shift.unit == "SYN01"))).all()

    r = await _post(api, "shifts", _csv(good, header))
    assert r.status_code == 200, r.text
    assert r.json()["added"] == 4
    async with transaction() as session:
        stored = {
            s.staff_id: (s.starts_at, s.ends_at)
            for s in await session.scalars(select(Shift).where(Shift.unit.in_(["SYN01", "SYN02"])))
        }
    utc = lambda *a: datetime(*a, tzinfo=UTC)  # noqa: E731
    assert stored["Z00001"] == (utc(2026, 3, 8, 5), utc(2026, 3, 8, 12))
    assert stored["Z00002"] == (utc(2026, 11, 1, 4), utc(2026, 11, 1, 13))
    assert stored["Z00003"] == (utc(2026, 11, 1, 6, 30), utc(2026, 11, 1, 12))
    assert stored["Z00004"] == (utc(2026, 7, 1, 23), utc(2026, 7, 2, 7))

    moved = [list(row) for row in good]
    moved[0][3] = "2026-03-08T09:00"
    r = await _post(api, "shifts", _csv(moved, header))
    assert (r.json()["added"], r.json()["updated"], r.json()["unchanged"]) == (0, 1, 3)


async def test_peers_import_and_put_validation(api: httpx.AsyncClient, units: None) -> None:
    header = ["staff_id", "trained_on", "trained_until", "supports", "languages",
              "max_open_cases", "status"]  # fmt: skip
    rows = [
        ["Z00040", "2025-01-01", "2027-01-01", "RN;nurse;rt", "EN;es", "3", "paused"],
        ["NOBODY", "2025-01-01", "2027-01-01", "", "", "2", "active"],
        ["Z00041", "2025-01-01", "2027-01-01", "", "", "11", "active"],
        ["Z00042", "2025-01-01", "2027-13-01", "", "", "2", "active"],
        ["Z00043", "2025-01-01", "2027-01-01", "astronaut", "", "2", "active"],
        ["Z00044", "2025-01-01", "2027-01-01", "", "", "2", "sleeping"],
        ["Z00046", "2026-01-01", "2025-01-01", "", "", "2", "active"],
    ]
    r = await _post(api, "peers", _csv(rows, header))
    assert r.status_code == 422
    got = {x["line"]: x["reason"] for x in r.json()["rejected"]}
    assert got[3] == "unknown staff id NOBODY"
    assert got[4] == "bad max_open_cases: 11 is not a whole number from 1 to 10"
    assert got[5] == "bad date '2027-13-01': YYYY-MM-DD expected"
    assert got[6] == "unknown discipline 'astronaut'"
    assert got[7] == "bad status: 'sleeping': active or paused expected"
    assert got[8] == "trained_until is before trained_on"
    assert 2 not in got
    assert (await api.get("/admin/staff/Z00040", headers=ADMIN)).json()["peer"] is None

    r = await _post(api, "peers", _csv(rows[:1], header))
    assert r.status_code == 200 and r.json()["added"] == 1
    peer = (await api.get("/admin/staff/Z00040", headers=ADMIN)).json()["peer"]
    assert peer["supports"] == ["RN", "respiratory_therapist"]
    assert peer["languages"] == ["en", "es"] and peer["status"] == "paused"

    body = {"trained_until": "2027-06-30", "max_open_cases": 2, "status": "paused"}
    r = await api.put("/admin/peers/NOBODY", headers=ADMIN, json=body)
    assert r.status_code == 404
    r = await api.put("/admin/peers/Z00045", headers=ADMIN, json={**body, "max_open_cases": 0})
    assert r.status_code == 422 and "max_open_cases" in r.json()["fields"]
    r = await api.put("/admin/peers/Z00045", headers=ADMIN, json={**body, "trained_until": "soon"})
    assert r.status_code == 422 and "trained_until" in r.json()["fields"]
    r = await api.put("/admin/peers/Z00045", headers=ADMIN, json={**body, "on_call": True})
    assert r.status_code == 422
    r = await api.put("/admin/peers/Z00045", headers=ADMIN, json=body)
    assert r.status_code == 201 and r.json()["status"] == "paused"
    r = await api.put("/admin/peers/Z00045", headers=ADMIN, json={**body, "max_open_cases": 4})
    assert r.status_code == 200 and r.json()["max_open_cases"] == 4
    listed = (await api.get("/admin/peers", params={"status": "paused"}, headers=ADMIN)).json()
    assert {"Z00040", "Z00045"} <= {p["staff_id"] for p in listed}
    assert "N1101" in {p["staff_id"] for p in (await api.get("/admin/peers", headers=ADMIN)).json()}

    r = await api.put("/admin/staff/NOBODY/opt-out", headers=ADMIN, json={"opted_out": True})
    assert r.status_code == 404


async def test_admin_routes_refuse_risk_management_and_oversize(api: httpx.AsyncClient) -> None:
    risk = {"Authorization": f"Bearer {TOKEN}"}
    csv_type = {"Content-Type": "text/csv"}
    for method, path in [
        ("POST", "/admin/staff/import"),
        ("POST", "/admin/peers/import"),
        ("GET", "/admin/staff/N1001"),
        ("GET", "/admin/peers"),
        ("PUT", "/admin/peers/N1101"),
        ("PUT", "/admin/staff/N1001/opt-out"),
    ]:
        r = await api.request(method, path, headers={**risk, **csv_type}, content=b"x")
        assert r.status_code == 403, (method, path)
        r = await api.request(method, path, headers=csv_type, content=b"x")
        assert r.status_code == 401, (method, path)
    r = await api.post(
        "/admin/staff/import",
        headers={**ADMIN, **csv_type},
        content=b"staff_id\n" + b"x" * (10 * 1024 * 1024),
    )
    assert r.status_code == 413
    r = await api.post("/admin/units/import", headers={**ADMIN, "Content-Type": "x/y"}, content=b"")
    assert r.status_code == 415


def test_cli_import_prints_every_rejected_row(db: Engine, tmp_path: Path) -> None:
    path = tmp_path / "units.csv"
    path.write_text("code,name,site,time_zone\nSYNC1,C1,main,Nowhere/Else\nSYNC2,,main,UTC\n")
    out = subprocess.run(
        [sys.executable, "-m", "services.cli", "import", "units", str(path)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 1
    assert f"{path}:2: SYNC1: unknown time zone 'Nowhere/Else'" in out.stderr
    assert f"{path}:3: SYNC2: missing field: name" in out.stderr
    assert "nothing applied: 2 of 2 rows rejected" in out.stderr
