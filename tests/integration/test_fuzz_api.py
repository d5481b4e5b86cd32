"""Every API route, fuzzed from the app's own OpenAPI document with each role's token.

schemathesis draws each operation's requests from the document the coordinator's token gets
at /openapi.json: values the schema allows (positive) and values it refuses (negative: wrong
types, missing fields, bytes that are not JSON), sent in process through ASGI to the real
app on this run's database. Each is sent as one of the four integration roles or with no
token; the role is drawn with a bias to the roles the route admits, where the code behind
the guard runs. Every answer must:
- never be a 5xx;
- carry no stack trace and no SQL (tests/integration/fuzzing.py says what counts);
- be refused (403, or 400/422 for a body FastAPI cannot read before the guard runs) for a
  role the route does not name, and 401 without a token;
- conform to the document where it says anything: its content type and body schema for a
  documented status, and a negative request refused with a 4xx (schemathesis's checks).
Status codes the document does not list (401, 403, 404, 409, 413) are not a failure here:
FastAPI documents only a route's success and 422, and the role matrix
(tests/integration/test_route_roles.py) pins the refusals.

Why in process, not against the stack's API: a request costs a few milliseconds, so the
bound below buys thousands of requests in about two minutes on two cores; and the API's
answers do not depend on the worker.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import schemathesis
from hypothesis import given
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
)
from sqlalchemy import text
from sqlalchemy.engine import Engine

from services.api import app, openapi_document
from services.db import transaction
from services.identity import tokens
from services.identity.models import Role
from tests.integration.fuzzing import fuzz_report, fuzz_settings, leaks, tally
from tests.integration.wards import make_ward
from tests.stack import FEED_TOKEN, TOKEN
from tests.unit.test_route_roles import _routes

__all__ = ["fuzz_report"]
pytestmark = [pytest.mark.fuzz, pytest.mark.usefixtures("fuzz_report")]

# The same document /openapi.json serves (test_the_fuzzed_document_is_the_served_one).
DOCUMENT = openapi_document()
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)

# Not fuzzed from the document, and why:
EXCLUDED = {
    # Twilio signs its forms (X-Twilio-Signature over the URL and every field); schemathesis
    # cannot, so every request would stop at the 403 before any code ran. Fuzzed with
    # properly signed generated forms instead: test_fuzz_webhooks.py, test_webhooks.py.
    ("POST", "/twilio/status"),
    ("POST", "/twilio/sms"),
    # Directory imports replace the hospital's directory from a CSV export the document does
    # not describe (the route reads the raw body): nothing to draw a body from, and a
    # generated call with allow_mass_deactivation could empty the seed directory every later
    # test of the run pages from. Their refusals are tested in test_directory.py.
    ("POST", "/admin/units/import"),
    ("POST", "/admin/staff/import"),
    ("POST", "/admin/shifts/import"),
    ("POST", "/admin/peers/import"),
}
# Real ids not put in these paths: a peer made from the fuzz's own clinicians could be
# chosen for another test's case; a confirmed involvement opens a case and pages a peer;
# an action on a case changes another test's case.
OWN_IDS_NOT_USED = {
    ("PUT", "/admin/peers/{staff_id}", "staff_id"),
    ("POST", "/incidents/{incident_id}/involvement/{staff_id}", "staff_id"),
    ("POST", "/admin/cases/{case_id}/actions", "case_id"),
}
# The feed routes read their raw body too (FHIR JSON, a report, a code-team webhook, CSV):
# they stay in, fuzzed on their path, query and headers with an empty body, which must be
# refused with a 4xx; their bodies are fuzzed by the adapters' own tests.

ROLES = {method_path[:2]: method_path[2] for method_path in _routes()}
OPERATIONS = sorted(
    (method.upper(), path)
    for path, ops in DOCUMENT["paths"].items()
    for method in ops
    if (method.upper(), path) not in EXCLUDED
)

# About 2,400 requests, about a minute on the 2-core VM (20-30 ms a request with
# schemathesis drawing it). Write routes get more: their code is longer.
READ_EXAMPLES = 60
WRITE_EXAMPLES = 120

# Refusals a role outside a route's roles may get: 403 from the role check; 400 or 422 when
# FastAPI could not read the body at all (it decodes and parses a body before the route's
# dependencies run; the Gatekeeper has already refused a missing or unknown token by then).
REFUSED = {400, 403, 422}


def _negative_possible(method: str, path: str) -> bool:
    """An operation with no parameter and no body has no request the schema refuses."""
    op = DOCUMENT["paths"][path][method.lower()]
    return bool(op.get("parameters") or op.get("requestBody"))


def _cases(method: str, path: str) -> st.SearchStrategy[schemathesis.Case]:
    operation = SCHEMA[path][method]
    modes = [GenerationMode.POSITIVE]
    if _negative_possible(method, path):
        modes.append(GenerationMode.NEGATIVE)
    return st.one_of(*(operation.as_strategy(generation_mode=m) for m in modes))


CASES = {op: _cases(*op) for op in OPERATIONS}


@pytest.fixture(scope="module")
async def role_tokens(db: Engine) -> AsyncIterator[dict[Role, str]]:
    """A token per integration role: the environment's three, and an admin token issued
    here as the route matrix does (no environment variable names one)."""
    async with transaction() as session:
        _, admin = await tokens.issue(session, "fuzz admin", Role.admin, None)
    yield {
        Role.risk_manager: TOKEN,
        Role.coordinator: "test-admin-token",
        Role.feed: FEED_TOKEN,
        Role.admin: admin,
    }


@pytest.fixture(scope="module", autouse=True)
def policies_restored(db: Engine) -> Iterator[None]:
    """The escalation policies as they were before the fuzz: PUT /admin/escalation-policies
    creates or replaces a policy by name and site, and every later test of the run escalates
    by the seed's (no other table the fuzz can write is read by another test)."""
    with db.connect() as conn:
        before = conn.execute(
            text("SELECT coalesce(jsonb_agg(to_jsonb(p)), '[]') FROM escalation_policies p")
        ).scalar()
    yield
    with db.begin() as conn:
        conn.execute(text("DELETE FROM escalation_policies"))
        conn.execute(
            text(
                "INSERT INTO escalation_policies SELECT * FROM "
                "jsonb_populate_recordset(NULL::escalation_policies, CAST(:rows AS jsonb))"
            ),
            {"rows": json.dumps(before)},
        )
        after = conn.execute(
            text("SELECT coalesce(jsonb_agg(to_jsonb(p)), '[]') FROM escalation_policies p")
        ).scalar()
    assert sorted(after, key=str) == sorted(before, key=str)


@pytest.fixture(scope="module")
async def real_ids(db: Engine) -> dict[str, list[str]]:
    """Ids that exist, of the fuzz's own where a call may change them: its own unit and
    clinicians (tests.integration.wards), schedule and incident (stored without an outbox
    event, so nobody is paged). A random uuid or staff id only reaches the 404; half the
    allowed requests put one of these in the path instead, so the fuzzed query and body
    reach the code behind the lookup."""
    ward = make_ward(db, "Fa", 2)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        made = await client.post(
            "/admin/schedules",
            json={"name": f"fuzz {ward.tag}", "time_zone": "America/New_York"},
            headers={"Authorization": "Bearer test-admin-token"},
        )
    assert made.status_code == 201, made.text
    incident = uuid.uuid4()
    with db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO incidents (id, request_hash, occurred_at, unit, event_type, "
                "harm_level, staff_ids) VALUES (:i, 'fuzz', now(), :u, 'other', 'none', :s)"
            ),
            {"i": incident, "u": ward.unit, "s": list(ward.staff)},
        )
        cases = [str(r[0]) for r in conn.execute(text("SELECT id FROM support_cases LIMIT 3"))]
    return {
        "staff_id": list(ward.staff),
        "schedule_id": [str(made.json()["id"])],
        "incident_id": [str(incident)],
        "case_id": cases,
    }


def _as_httpx(case: schemathesis.Case) -> tuple[dict[str, object], str]:
    """schemathesis's request (made for `requests`) as httpx arguments, and what was sent
    as text (for telling an echo of the caller's own text from a leak)."""
    kw = case.as_transport_kwargs(base_url="http://api")
    out: dict[str, object] = {
        "method": kw["method"],
        "url": kw["url"],
        "headers": {k: v for k, v in kw.get("headers", {}).items() if k != "Connection"},
        "params": kw.get("params") or None,
        "cookies": kw.get("cookies") or None,
    }
    sent = str(kw["url"]) + json.dumps(kw.get("params") or {}, default=str)
    if "json" in kw:
        out["content"] = json.dumps(kw["json"]).encode()
        sent += json.dumps(kw["json"])
    elif "data" in kw:
        data = kw["data"]
        if isinstance(data, bytes | str):
            out["content"] = data
            sent += data.decode(errors="replace") if isinstance(data, bytes) else data
        else:
            out["data"] = data
            sent += json.dumps(data, default=str)
    return out, sent


seen: dict[tuple[str, str], Counter[str]] = {}

# What a write route stores, counted before and after each request it refuses: a refusal
# leaves none of it (no partial write). Rows only the API writes while the fuzz runs (the
# stack's worker and engine write cases, pages and the outbox for other tests' incidents).
STORED_BY = {
    ("POST", "/incidents"): "SELECT count(*) FROM incidents",
    ("POST", "/admin/schedules"): "SELECT count(*) FROM schedules",
    ("PUT", "/admin/schedules/{schedule_id}/rotations"): (
        "SELECT (SELECT count(*) FROM rotations) * 1000000 "
        "+ (SELECT count(*) FROM rotation_participants)"
    ),
    ("POST", "/admin/schedules/{schedule_id}/overrides"): (
        "SELECT count(*) FROM schedule_overrides"
    ),
    ("PUT", "/admin/escalation-policies/{name}"): "SELECT count(*) FROM escalation_policies",
    ("PUT", "/admin/peers/{staff_id}"): "SELECT count(*) FROM peer_supporters",
    ("POST", "/feeds/reporting/{feed}"): "SELECT count(*) FROM incidents",
    ("POST", "/feeds/code-blue/{feed}"): "SELECT count(*) FROM incidents",
    ("POST", "/fhir/AdverseEvent"): "SELECT count(*) FROM incidents",
    ("POST", "/fhir"): "SELECT count(*) FROM incidents",
}


async def _stored(method: str, path: str) -> int | None:
    query = STORED_BY.get((method, path))
    if query is None:
        return None
    async with transaction() as session:
        return int(await session.scalar(text(query)) or 0)


async def _fuzz(
    client: httpx.AsyncClient,
    role_tokens: dict[Role, str],
    real_ids: dict[str, list[str]],
    method: str,
    path: str,
    data: st.DataObject,
) -> None:
    """One drawn request to one operation, as one drawn caller, and what its answer must be."""
    allowed = ROLES[(method, path)]
    assert allowed, f"{method} {path} has no role check; the route matrix should have failed"
    case = data.draw(CASES[(method, path)], label="case")
    if case.meta is not None and case.meta.generation.mode is GenerationMode.POSITIVE:
        for name in list(case.path_parameters or {}):
            known = real_ids.get(name) if (method, path, name) not in OWN_IDS_NOT_USED else None
            if known and data.draw(st.booleans(), label=f"a real {name}"):
                case.path_parameters[name] = data.draw(st.sampled_from(known), label=name)
    role = data.draw(
        st.one_of(
            st.sampled_from(sorted(allowed, key=lambda r: r.value)), st.sampled_from([*Role, None])
        ),
        label="role",
    )
    request, sent = _as_httpx(case)
    headers = dict(request.pop("headers"))  # type: ignore[call-overload]
    token = role_tokens.get(role) if role is not None else None
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    before = await _stored(method, path)
    r = await client.request(headers=headers, **request)  # type: ignore[arg-type]
    # What a failure names: the request as curl, without the token; the caller's role.
    who = f"{role.value if role else 'no token'}: {case.as_curl_command()}"
    seen.setdefault((method, path), Counter())[f"{r.status_code // 100}xx"] += 1
    tally["requests"] += 1
    tally[f"answers {r.status_code // 100}xx"] += 1
    assert r.status_code < 500, (who, r.status_code, r.text[:500])
    found = leaks(r.text, sent)
    assert not found, (who, r.status_code, found, r.text[:500])
    if r.status_code >= 400 and before is not None:
        assert await _stored(method, path) == before, (who, r.status_code, "a partial write")
        tally["refused writes checked"] += 1
    if token is None:
        assert r.status_code == 401, (who, r.status_code, r.text[:300])
        return
    if role not in allowed:
        assert r.status_code in REFUSED, (who, r.status_code, r.text[:300])
        return
    case.validate_response(
        r,
        checks=[
            not_a_server_error,
            content_type_conformance,
            response_schema_conformance,
            negative_data_rejection,
        ],
    )


READS = [op for op in OPERATIONS if op[0] == "GET"]
WRITES = [op for op in OPERATIONS if op[0] != "GET"]


@pytest.mark.parametrize(("method", "path"), READS, ids=[f"{m} {p}" for m, p in READS])
@fuzz_settings(READ_EXAMPLES)
@given(data=st.data())
async def test_fuzz_read(
    client: httpx.AsyncClient,
    role_tokens: dict[Role, str],
    real_ids: dict[str, list[str]],
    method: str,
    path: str,
    data: st.DataObject,
) -> None:
    await _fuzz(client, role_tokens, real_ids, method, path, data)


@pytest.mark.parametrize(("method", "path"), WRITES, ids=[f"{m} {p}" for m, p in WRITES])
@fuzz_settings(WRITE_EXAMPLES)
@given(data=st.data())
async def test_fuzz_write(
    client: httpx.AsyncClient,
    role_tokens: dict[Role, str],
    real_ids: dict[str, list[str]],
    method: str,
    path: str,
    data: st.DataObject,
) -> None:
    await _fuzz(client, role_tokens, real_ids, method, path, data)


def test_every_operation_was_fuzzed() -> None:
    """Each operation got requests past the guard (the bound reached, not zero): a strategy
    that could draw nothing, or a token that stopped working, fails here rather than
    passing in silence. Runs after the fuzz tests above (file order)."""
    # An operation with nothing to draw (no parameter, no body) has one request per caller.
    least = {op: 10 if _negative_possible(*op) else 5 for op in OPERATIONS}
    thin = {f"{m} {p}": dict(c) for (m, p), c in seen.items() if sum(c.values()) < least[(m, p)]}
    missing = [f"{m} {p}" for m, p in OPERATIONS if (m, p) not in seen]
    assert not missing and not thin, (missing, thin)
    for (m, p), c in sorted(seen.items()):
        print(f"{m} {p}: {dict(c)}")


async def test_the_fuzzed_document_is_the_served_one(client: httpx.AsyncClient, db: Engine) -> None:
    """The document fuzzed above is what the coordinator's token gets at /openapi.json (and
    no other role gets it)."""
    served = await client.get("/openapi.json", headers={"Authorization": "Bearer test-admin-token"})
    assert served.status_code == 200
    assert served.json() == json.loads(json.dumps(DOCUMENT))
    refused = await client.get("/openapi.json", headers={"Authorization": f"Bearer {TOKEN}"})
    assert refused.status_code == 403
    tally["requests"] += 2


# --- what the fuzz found, pinned one by one (each failed before its fix) ---------------------


async def test_a_routes_own_refusal_is_what_the_document_says_a_422_is(
    client: httpx.AsyncClient, db: Engine
) -> None:
    """services/api.py: the document said every 422 was FastAPI's HTTPValidationError
    ({"detail": [...]}); a route's own refusal is {"detail": {"fields": ...}}, the
    validation handler's {"error", "fields"}. Both must read as the document says."""
    admin = {"Authorization": "Bearer test-admin-token"}
    operation = SCHEMA["/admin/cases"]["GET"]
    own = operation.Case(query={"state": "bogus"})
    r = await client.get("/admin/cases", params={"state": "bogus"}, headers=admin)
    assert r.status_code == 422 and r.json()["detail"]["fields"]["state"]
    own.validate_response(r, checks=[response_schema_conformance])
    handler = operation.Case(query={"limit": "many"})
    r = await client.get("/admin/cases", params={"limit": "many"}, headers=admin)
    assert r.status_code == 422 and r.json()["fields"]
    handler.validate_response(r, checks=[response_schema_conformance])


async def test_metrics_are_documented_as_the_text_they_are(
    client: httpx.AsyncClient, db: Engine
) -> None:
    """services/health.py: /metrics was documented as application/json."""
    r = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    SCHEMA["/metrics"]["GET"].Case().validate_response(r, checks=[content_type_conformance])


@pytest.mark.parametrize(
    "query",
    [
        "/admin/schedules/on-call?at=0",
        "/admin/schedules/on-call?at=2026",
        "/admin/schedules/on-call?at=1764504000.5",
        "/admin/schedules/{schedule}/shifts?start=0",
        "/admin/schedules/{schedule}/shifts?end=86400",
    ],
)
async def test_a_number_is_not_a_time(
    client: httpx.AsyncClient, real_ids: dict[str, list[str]], query: str
) -> None:
    """services/schedules/views.py: pydantic reads a bare number as seconds since 1970, so
    `on-call?at=0` answered for January 1970 (the document says a date-time)."""
    admin = {"Authorization": "Bearer test-admin-token"}
    url = query.format(schedule=real_ids["schedule_id"][0])
    r = await client.get(url, headers=admin)
    assert r.status_code == 422, r.text
    name = url.rsplit("?", 1)[1].split("=")[0]
    assert "year-month-dayThh:mm:ssZ" in r.json()["fields"][f"query.{name}"]
    soon = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    fine = url.split("=")[0] + "=" + soon
    ok = await client.get(fine, headers=admin)
    assert ok.status_code == 200, (fine, ok.text)
