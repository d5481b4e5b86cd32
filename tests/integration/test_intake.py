"""The intake API and CLI: who may log an incident, and what every bad input gets."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.stack import ROOT, TOKEN

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def good(**over: object) -> dict[str, object]:
    body: dict[str, object] = {
        "occurred_at": datetime.now(UTC).isoformat(),
        "unit": "4E",
        "event_type": "code_blue",
        "harm_level": "severe",
        "staff_ids": ["N1001"],
    }
    return body | over


async def test_token_required(client: httpx.AsyncClient) -> None:
    assert (await client.post("/incidents", json=good())).status_code == 401
    bad = {"Authorization": "Bearer nope"}
    assert (await client.post("/incidents", json=good(), headers=bad)).status_code == 401
    assert (await client.get("/healthz")).status_code == 401


async def test_accepted_incident_is_stored_with_its_event(
    client: httpx.AsyncClient, db: Engine
) -> None:
    r = await client.post("/incidents", json=good(reporter_ref="IR-2026-0412"), headers=AUTH)
    assert r.status_code == 202, r.text
    incident_id = r.json()["incident_id"]
    with db.connect() as conn:
        stored = conn.execute(
            text("SELECT unit FROM incidents WHERE id = :i"), {"i": incident_id}
        ).scalar()
        events = (
            conn.execute(text("SELECT payload FROM outbox WHERE key = :i"), {"i": incident_id})
            .scalars()
            .all()
        )
    assert stored == "4E"
    assert len(events) == 1 and events[0]["event"] == "IncidentReported"
    status = await client.get(f"/incidents/{incident_id}", headers=AUTH)
    assert status.status_code == 200 and set(status.json()) == {
        "incident_id",
        "received_at",
        "staff_involved",
        "support_offered_to",
        "group_debrief",
    }


@pytest.mark.parametrize(
    ("over", "field", "says"),
    [
        ({"unit": "MRN 12345"}, "unit", "patient identifier"),
        ({"reporter_ref": "born 03/04/1961"}, "reporter_ref", "date of birth"),
        ({"reporter_ref": "case 00123456"}, "reporter_ref", "medical record number"),
        ({"patient_name": "Jane Doe"}, "patient_name", "no patient details"),
        ({"narrative": "what happened"}, "narrative", "no patient details"),
        ({"event_type": "bad_day"}, "event_type", "Input should be"),
        ({"harm_level": "catastrophic"}, "harm_level", "Input should be"),
        ({"staff_ids": []}, "staff_ids", "at least 1"),
        ({"staff_ids": ["N1001", "N1001"]}, "staff_ids", "listed twice"),
        ({"staff_ids": ["N1001", "bad id!"]}, "staff_ids.1", "pattern"),
        ({"staff_ids": ["N1001", "ZZ999"]}, "staff_ids", "not active staff of the directory"),
        ({"staff_ids": ["N1001", "JaneSmith"]}, "staff_ids", "staff_ids[1]"),
        # A tester's finding: both were accepted with 202 and stored.
        ({"unit": "Mrs Jane Smith"}, "unit", "not a unit of the directory"),
        ({"reporter_ref": "Jane Smith"}, "reporter_ref", "looks like a name"),
        ({"reporter_ref": "Smith"}, "reporter_ref", "incident-report number"),
        ({"reporter_ref": "Jane-2"}, "reporter_ref", "incident-report number"),
        ({"reporter_ref": "IR-2026-Jane"}, "reporter_ref", "incident-report number"),
        ({"occurred_at": "2026-01-01T10:00:00"}, "occurred_at", "timezone"),
        (
            {"occurred_at": (datetime.now(UTC) + timedelta(hours=2)).isoformat()},
            "occurred_at",
            "future",
        ),
        ({"incident_key": "short"}, "incident_key", "at least 8"),
        ({"incident_key": "mrn-00412345"}, "incident_key", "patient identifier"),
    ],
)
async def test_bad_input_gets_a_message_per_field(
    client: httpx.AsyncClient, over: dict[str, object], field: str, says: str
) -> None:
    r = await client.post("/incidents", json=good(**over), headers=AUTH)
    assert r.status_code == 422, r.text
    fields = r.json().get("fields") or r.json()["detail"]["fields"]
    assert field in fields, fields
    assert says in fields[field]
    # The refusal never echoes what was sent.
    assert "Jane" not in r.text and "1961" not in r.text and "ZZ999" not in r.text
    assert "Smith" not in r.text and '"input"' not in r.text


@pytest.mark.parametrize("ref", ["IR-2026-0412", "RL2026-118", "DATIX-10423-B", "2026-118"])
async def test_incident_report_numbers_are_accepted(client: httpx.AsyncClient, ref: str) -> None:
    r = await client.post("/incidents", json=good(reporter_ref=ref), headers=AUTH)
    assert r.status_code == 202, r.text


async def test_no_refusal_echoes_its_input(client: httpx.AsyncClient) -> None:
    """FastAPI's own 422 carries `input`; ours never does, on any route."""
    admin = {"Authorization": "Bearer test-admin-token"}
    marker = "Jane Smith 03/04/1961"
    answers = [
        await client.post("/incidents", json=good(unit={"name": marker}), headers=AUTH),
        await client.post("/incidents", json=good(staff_ids=[marker]), headers=AUTH),
        await client.put("/admin/peers/N1001", json={"max_open_cases": marker}, headers=admin),
        await client.post("/admin/schedules", json={"name": 7, "x": marker}, headers=admin),
        await client.put("/admin/escalation-policies/P", json={"steps": marker}, headers=admin),
        await client.post(
            f"/admin/cases/{uuid.uuid4()}/actions", json={"action": marker}, headers=admin
        ),
    ]
    for r in answers:
        assert r.status_code == 422, (r.request.url, r.text)
        assert "Jane" not in r.text and "1961" not in r.text and '"input"' not in r.text, r.text


async def test_a_token_is_checked_before_the_body_is_parsed(client: httpx.AsyncClient) -> None:
    """Malformed JSON without a token was 422: the body was parsed before auth."""
    broken = b'{"unit": '
    headers = {"Content-Type": "application/json"}
    assert (await client.post("/incidents", content=broken, headers=headers)).status_code == 401
    bad = headers | {"Authorization": "Bearer nope"}
    assert (await client.post("/incidents", content=broken, headers=bad)).status_code == 401
    ok = headers | AUTH
    assert (await client.post("/incidents", content=broken, headers=ok)).status_code == 422


async def test_bodies_over_the_cap_are_refused_unread(client: httpx.AsyncClient) -> None:
    from services.auth import API_BODY_LIMIT, TWILIO_BODY_LIMIT

    big = b"x" * (API_BODY_LIMIT + 1)
    r = await client.post("/incidents", content=big, headers=AUTH)
    assert r.status_code == 413

    async def chunked() -> AsyncIterator[bytes]:
        for _ in range(API_BODY_LIMIT // 65536 + 2):
            yield b"x" * 65536

    r = await client.post("/incidents", content=chunked(), headers=AUTH)
    assert r.status_code == 413 and "content-length" not in r.request.headers
    # Twilio's routes: no signature, no parsing (403 whatever the size); signed but huge: 413.
    form = b"Body=" + b"x" * (TWILIO_BODY_LIMIT + 1)
    form_type = {"Content-Type": "application/x-www-form-urlencoded"}
    assert (await client.post("/twilio/sms", content=form, headers=form_type)).status_code == 403
    signed = form_type | {"X-Twilio-Signature": "anything"}
    assert (await client.post("/twilio/sms", content=form, headers=signed)).status_code == 413


async def test_schema_and_docs_need_the_admin_token(client: httpx.AsyncClient) -> None:
    admin = {"Authorization": "Bearer test-admin-token"}
    for path in ("/openapi.json", "/docs", "/redoc"):
        assert (await client.get(path)).status_code == 401, path
    assert (await client.get("/openapi.json", headers=AUTH)).status_code == 403
    schema = await client.get("/openapi.json", headers=admin)
    assert schema.status_code == 200 and "/incidents" in schema.json()["paths"]
    for path in ("/docs", "/redoc"):  # no public UI: it would fetch the schema without a token
        assert (await client.get(path, headers=admin)).status_code == 404, path


async def test_missing_fields_are_each_named(client: httpx.AsyncClient) -> None:
    r = await client.post("/incidents", json={}, headers=AUTH)
    assert r.status_code == 422
    assert set(r.json()["fields"]) == {
        "occurred_at",
        "unit",
        "event_type",
        "harm_level",
        "staff_ids",
    }


async def test_idempotency_key_header(client: httpx.AsyncClient, db: Engine) -> None:
    # Letters only: a uuid sometimes holds six digits in a row, which is refused (below).
    key = "key-" + uuid.uuid4().hex.translate(str.maketrans("0123456789", "ghijklmnop"))
    body = good()
    first = await client.post("/incidents", json=body, headers=AUTH | {"Idempotency-Key": key})
    again = await client.post("/incidents", json=body, headers=AUTH | {"Idempotency-Key": key})
    assert (first.status_code, again.status_code) == (202, 200)
    assert first.json()["incident_id"] == again.json()["incident_id"]
    clash = await client.post(
        "/incidents",
        json=body | {"incident_key": "another-key-1"},
        headers=AUTH | {"Idempotency-Key": key},
    )
    assert clash.status_code == 422


async def test_idempotency_key_header_meets_the_incident_key_rules(
    client: httpx.AsyncClient, db: Engine
) -> None:
    r = await client.post(
        "/incidents", json=good(), headers=AUTH | {"Idempotency-Key": "key-12345678"}
    )
    assert r.status_code == 422  # not a 500: the header is the caller's input
    assert "patient details must not be sent" in r.json()["detail"]["fields"]["Idempotency-Key"]


def test_cli_uses_the_same_rules(db: Engine) -> None:
    run = [
        sys.executable,
        "-m",
        "services.cli",
        "incident",
        "--unit",
        "4E",
        "--event-type",
        "code_blue",
        "--harm-level",
        "severe",
    ]
    ok = subprocess.run([*run, "--staff", "N1001"], cwd=ROOT, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert '"created": true' in ok.stdout
    bad = subprocess.run(
        [*run, "--staff", "N1001", "ZZ9", "--reporter-ref", "MRN 777"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2
    assert "reporter_ref: names a patient identifier" in bad.stderr
    unknown = subprocess.run([*run, "--staff", "ZZ9"], cwd=ROOT, capture_output=True, text=True)
    assert unknown.returncode == 2 and "unknown staff ids: ZZ9" in unknown.stderr


async def test_metrics_count_incidents(client: httpx.AsyncClient) -> None:
    await client.post("/incidents", json=good(), headers=AUTH)
    r = await client.get("/metrics", headers=AUTH)
    assert r.status_code == 200
    assert 'svrr_incidents_total{outcome="accepted"}' in r.text


@pytest.mark.parametrize(
    "values",
    [["N1001"], ["NULL", "null"], ['a"b', "c\\d", "x,y", "{z}", " s ", ""], ["é", "N.1-2_3"]],
)
def test_array_literals_are_the_values_the_lists_were(db: Engine, values: list[str]) -> None:
    """The intake's staff ids and the relay's ids go to PostgreSQL as array literals
    (services.db.array_literal, as every batch statement's arrays), where psycopg sent
    lists: the server reads back the very values, NULL a string, a quote or a backslash
    its character."""
    from services.db import array_literal

    with db.connect() as conn:
        row = conn.exec_driver_sql(
            "SELECT CAST(%(t)s AS varchar(32)[]), CAST(%(i)s AS bigint[])",
            {"t": array_literal(values), "i": array_literal([1, 2**40])},
        ).one()
    assert list(row[0]) == values
    assert list(row[1]) == [1, 2**40]
