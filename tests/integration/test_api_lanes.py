"""The fast lanes (services/api_lanes.py) answer exactly what the full app answers.

Every request below is sent twice, once with the lanes on and once with them off (the full
app: Gatekeeper, CSRF guard, router, FastAPI's dependencies), and the two answers must be
the same: status, headers and body (an incident's new id aside), and the same rows written
(incidents, events, audit rows, stored callbacks). The plain requests must have been taken
by a lane, so the comparison is never between the full app and itself.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from twilio.request_validator import RequestValidator

from services import api_lanes
from services.config import get_settings
from services.db import transaction
from services.identity import tokens
from services.identity.models import Role
from tests.integration.test_db_pool import drop_connections
from tests.integration.test_intake import good as incident
from tests.stack import TOKEN, TWILIO_TOKEN

AUTH = {"Authorization": f"Bearer {TOKEN}"}
MARK = "SMfa57"  # the start of every sid these tests send
COORDINATOR = {"Authorization": "Bearer test-admin-token"}


def lanes() -> api_lanes.FastLanes:
    from services.api import app

    if app.middleware_stack is None:
        app.middleware_stack = app.build_middleware_stack()
    layer: object = app.middleware_stack
    while not isinstance(layer, api_lanes.FastLanes):
        layer = layer.app  # type: ignore[attr-defined]
    return layer


@pytest.fixture(scope="module")
async def admin_token(db: Engine) -> str:
    async with transaction() as session:
        _, token = await tokens.issue(session, "lanes admin", Role.admin, None)
    return token


@pytest.fixture
async def both(client: httpx.AsyncClient) -> AsyncIterator[Callable[..., object]]:
    async def send(make: Callable[[], dict[str, object]]) -> list[tuple[httpx.Response, bool]]:
        out = []
        for on in (True, False):
            api_lanes.ENABLED = on
            before = lanes().taken
            try:
                r = await client.request(**make())  # type: ignore[arg-type]
            finally:
                api_lanes.ENABLED = True
            out.append((r, lanes().taken > before))
        return out

    yield send


def counts(db: Engine) -> dict[str, int]:
    """Rows only these requests write (the live stack, if running, writes events and stores
    Twilio's callbacks meanwhile: its callbacks' sids do not start with MARK)."""
    with db.connect() as conn:
        return {
            t: int(conn.execute(text(q)).scalar() or 0)
            for t, q in {
                "incidents": "SELECT count(*) FROM incidents",
                "events": "SELECT count(*) FROM outbox "
                "WHERE payload->>'event' = 'IncidentReported'",
                "audit": "SELECT count(*) FROM audit_log WHERE action = 'api POST /incidents'",
                "callbacks": "SELECT count(*) FROM status_callbacks "
                f"WHERE provider_sid LIKE '{MARK}%'",
            }.items()
        }


def same_answer(a: httpx.Response, b: httpx.Response) -> None:
    assert a.status_code == b.status_code, (a.text, b.text)
    assert a.headers.multi_items() == b.headers.multi_items()
    body_a, body_b = a.content, b.content
    if a.headers.get("content-type") == "application/json":
        ja, jb = json.loads(body_a), json.loads(body_b)
        if isinstance(ja, dict) and "incident_id" in ja and ja.get("created"):
            ja["incident_id"] = jb["incident_id"] = "new"  # a new incident each time
        assert ja == jb
    assert len(body_a) == len(body_b) and (a.status_code in (200, 202) or body_a == body_b)


async def compare(
    both: Callable[..., object], db: Engine, make: Callable[[], dict[str, object]], taken: bool
) -> httpx.Response:
    before = counts(db)
    (on, took), (off, _) = await both(make)  # type: ignore[misc]
    after = counts(db)
    same_answer(on, off)
    assert took is taken, "the lane should have taken this request" if taken else "declined"
    # Whatever one write, the other wrote as much (each ran once).
    written = {k: after[k] - before[k] for k in after}
    assert all(v % 2 == 0 for v in written.values()), written
    return on


# --- POST /incidents ---------------------------------------------------------------------------


def post_incident(
    body: object = None, headers: dict[str, str] | None = None, raw: bytes | None = None
) -> Callable[[], dict[str, object]]:
    def make() -> dict[str, object]:
        content = raw if raw is not None else json.dumps(body if body is not None else incident())
        h = {"content-type": "application/json", **AUTH, **(headers or {})}
        return {"method": "POST", "url": "/incidents", "content": content, "headers": h}

    return make


def key() -> str:
    return str(uuid.uuid4())  # opaque: never refused as looking like PHI


async def test_a_plain_incident_is_taken_and_answered_alike(both, db: Engine) -> None:
    r = await compare(both, db, post_incident(), taken=True)
    assert r.status_code == 202 and r.json()["created"] is True
    await compare(both, db, post_incident(headers=COORDINATOR), taken=True)
    await compare(
        both,
        db,
        post_incident(headers={"content-type": "application/json; charset=utf-8"}),
        taken=True,
    )


async def test_keys_replays_and_refusals_answer_alike(both, db: Engine) -> None:
    def keyed() -> dict[str, object]:
        return post_incident(incident(incident_key=key()))()

    await compare(both, db, keyed, taken=True)
    # A replay of one request (the same key and body): 200 with the same incident.
    fixed = incident(incident_key=key())
    await both(post_incident(fixed))  # stored by the first of the two
    r = await compare(both, db, post_incident(fixed), taken=True)
    assert r.status_code == 200 and r.json()["created"] is False
    # The same key with another incident: 409, and no audit row (nothing was accepted).
    other = {**fixed, "harm_level": "mild"}
    r = await compare(both, db, post_incident(other), taken=True)
    assert r.status_code == 409
    # Idempotency-Key: the header as the key, a mismatch, a key that breaks the rules.
    await compare(both, db, lambda: post_incident(headers={"Idempotency-Key": key()})(), taken=True)
    r = await compare(
        both,
        db,
        post_incident(incident(incident_key=key()), {"Idempotency-Key": key()}),
        taken=True,
    )
    assert r.status_code == 422
    r = await compare(both, db, post_incident(headers={"Idempotency-Key": "x"}), taken=True)
    assert r.status_code == 422
    # The directory: an unknown staff id, an unknown unit.
    r = await compare(both, db, post_incident(incident(staff_ids=["N1001", "ZZ999"])), True)
    assert r.status_code == 422 and "staff_ids[1]" in r.text and "ZZ999" not in r.text
    r = await compare(both, db, post_incident(incident(unit="NOPE")), taken=True)
    assert r.status_code == 422


@pytest.mark.parametrize(
    "make",
    [
        post_incident(incident(narrative="what happened")),  # a field that is refused
        post_incident(incident(staff_ids=[])),
        post_incident(incident(unit="MRN 12345")),
        post_incident(raw=b"{not json"),
        post_incident(raw=b"[1, 2]"),
        post_incident(raw=b""),
        post_incident(headers={"content-type": "text/plain"}),
        post_incident(headers={"Authorization": "Bearer nope"}),
        post_incident(headers={"Authorization": "Basic abc"}),
    ],
)
async def test_what_the_lane_declines_gets_the_full_apps_answer(both, db: Engine, make) -> None:
    r = await compare(both, db, make, taken=False)
    assert r.status_code >= 400


async def test_a_role_the_route_refuses_is_declined(both, db: Engine, admin_token: str) -> None:
    r = await compare(
        both, db, post_incident(headers={"Authorization": f"Bearer {admin_token}"}), False
    )
    assert r.status_code == 403


async def test_no_token_and_an_oversized_body_are_declined(both, db: Engine) -> None:
    def anonymous() -> dict[str, object]:
        made = post_incident()()
        made["headers"] = {"content-type": "application/json"}
        return made

    assert (await compare(both, db, anonymous, taken=False)).status_code == 401
    huge = post_incident(raw=b'{"x": "' + b"a" * (1024 * 1024 + 10) + b'"}')
    assert (await compare(both, db, huge, taken=False)).status_code == 413


# --- POST /twilio/status -----------------------------------------------------------------------


def callback(
    query: str | None = None,
    form: dict[str, str] | None = None,
    *,
    sign: bool = True,
    body: bytes | None = None,
    ctype: str = "application/x-www-form-urlencoded",
) -> Callable[[], dict[str, object]]:
    def make() -> dict[str, object]:
        q = query if query is not None else f"page={uuid.uuid4()}"
        f = form or {"MessageSid": sid(), "MessageStatus": "delivered"}
        path = "/twilio/status" + (f"?{q}" if q else "")
        url = get_settings().public_base_url.rstrip("/") + path
        headers = {"content-type": ctype}
        if sign:
            signature = RequestValidator(TWILIO_TOKEN).compute_signature(url, f)
            headers["X-Twilio-Signature"] = signature
        content = body if body is not None else urlencode(f).encode()
        return {"method": "POST", "url": path, "content": content, "headers": headers}

    return make


def sid() -> str:
    return MARK + uuid.uuid4().hex[4:]


async def test_a_signed_callback_is_taken_and_answered_alike(both, db: Engine) -> None:
    r = await compare(both, db, callback(), taken=True)
    assert r.status_code == 204 and r.content == b""
    pages = ",".join(str(uuid.uuid4()) for _ in range(3))
    await compare(both, db, callback(f"pages={pages}"), taken=True)
    await compare(both, db, callback(f"message={uuid.uuid4()}"), taken=True)
    failed = {"MessageSid": sid(), "MessageStatus": "undelivered", "ErrorCode": "30003"}
    await compare(both, db, callback(form=failed), taken=True)
    upper = str(uuid.uuid4()).upper()
    await compare(both, db, callback(f"page={upper}"), taken=True)
    full = {
        "MessageSid": sid(),
        "MessageStatus": "sent",
        "AccountSid": "AC" + "ab" * 16,
        "To": "+15550000000",
        "From": "+15551230000",
        "ApiVersion": "2010-04-01",
        "SmsStatus": "sent",
    }
    await compare(both, db, callback(form=full), taken=True)
    # Percent-encoded text is still a plain form: the same values as Starlette decodes them.
    odd = {"MessageSid": sid(), "MessageStatus": "failed", "ErrorCode": "\u00b2"}
    await compare(both, db, callback(form=odd), taken=True)
    spaced = {"MessageSid": sid(), "MessageStatus": "sent", "Body": "caf\u00e9 + a&b=c"}
    await compare(both, db, callback(form=spaced), taken=True)


@pytest.mark.parametrize(
    "make",
    [
        callback(sign=False),
        callback(form={"MessageSid": sid(), "MessageStatus": "exploded"}),
        callback(form={"MessageSid": "SM123", "MessageStatus": "sent"}),
        callback(""),
        callback("pages=not-a-page"),
        callback("page=not-a-uuid"),
        callback("page="),
        callback(f"page={uuid.uuid4()}&extra=1"),
        callback(f"page={uuid.uuid4()}&page={uuid.uuid4()}"),
        callback(body=b"MessageSid=SM1&MessageStatus=sent"),  # signed for another form
        callback(ctype="text/plain"),
    ],
)
async def test_what_the_callback_lane_declines_gets_the_full_apps_answer(
    both, db: Engine, make
) -> None:
    await compare(both, db, make, taken=False)


async def test_a_multipart_callback_is_declined(both, db: Engine) -> None:
    def multipart() -> dict[str, object]:
        made = callback()()
        path = str(made["url"])
        form = {"MessageSid": sid(), "MessageStatus": "sent"}
        url = get_settings().public_base_url.rstrip("/") + path
        sig = RequestValidator(TWILIO_TOKEN).compute_signature(url, form)
        return {
            "method": "POST",
            "url": path,
            "files": {k: (None, v) for k, v in form.items()},
            "headers": {"X-Twilio-Signature": sig},
        }

    await compare(both, db, multipart, taken=False)


async def test_a_dropped_intake_connection_is_replaced_and_nothing_runs_twice(
    client: httpx.AsyncClient, db: Engine
) -> None:
    """The intake's raw connections are not pinged: one PostgreSQL dropped is found dropped
    before the statement is sent on it (services.db.looks_dropped), and the incident is
    stored once."""
    from services.incidents.views import INTAKE_CONNECTIONS

    r = await client.post("/incidents", json=incident(), headers=AUTH)  # a pooled connection
    assert r.status_code == 202, r.text
    assert await drop_connections(db, INTAKE_CONNECTIONS)
    before = counts(db)
    r = await client.post("/incidents", json=incident(), headers=AUTH)
    assert r.status_code == 202, r.text
    after = counts(db)
    assert (after["incidents"] - before["incidents"], after["audit"] - before["audit"]) == (1, 1)
