"""Sending discipline and the coordinator's case routes."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
from sqlalchemy import text
from sqlalchemy.engine import Engine

from services import clock
from services.cases import outbound
from services.db import transaction
from tests.integration.sealed import lookup, seal
from tests.integration.test_flows import accepted_by_peer, open_case, q

ADMIN = {"Authorization": "Bearer test-admin-token"}
RISK = {"Authorization": "Bearer test-token"}


async def test_one_identical_pending_message_per_number(db: Engine) -> None:
    number = f"+1555880{uuid.uuid4().int % 10000:04d}"
    async with transaction() as session:
        first = await outbound.enqueue(session, kind="help", to_number=number, body="x")
        again = await outbound.enqueue(session, kind="help", to_number=number, body="x")
    assert first is not None and again is None


async def test_rate_limit_holds_the_rest_in_order(db: Engine) -> None:
    number = f"+1555881{uuid.uuid4().int % 10000:04d}"
    with db.begin() as conn:  # six already went out in the last minute
        for i in range(outbound.RATE_PER_MINUTE):
            conn.execute(
                text(
                    "INSERT INTO messages (id, kind, to_number, to_number_key, body, dedupe_key, "
                    "state, sent_at) VALUES (:i, 'help', :n, :nk, :b, :k, 'sent', now())"
                ),
                {
                    "i": uuid.uuid4(),
                    "n": seal(number, "messages.to_number"),
                    "nk": lookup(number),
                    "b": seal("x", "messages.body"),
                    "k": f"sent-{i}-{lookup(number)}",
                },
            )
    async with transaction() as session:
        held = await outbound.enqueue(session, kind="follow_up", to_number=number, body="y")
    assert held is not None
    async with transaction() as session:
        assert await outbound.claim(session, held, stale_after=30) is None  # waits its turn
    (state, not_before) = q(db, "SELECT state, not_before FROM messages WHERE id = :i", i=held)[0]
    assert state == "queued"
    clock.advance(timedelta(minutes=2))
    try:
        async with transaction() as session:
            claimed = await outbound.claim(session, held, stale_after=30)
        assert claimed is not None and claimed.to_number == number
    finally:
        clock.reset()


async def test_policies_and_case_routes(db: Engine, client: httpx.AsyncClient) -> None:
    policy = {
        "steps": [
            {"target": "peer", "wait_minutes": 3},
            {"target": "coordinator", "wait_minutes": 10},
        ],
        "repeat": 1,
    }
    r = await client.put("/admin/escalation-policies/Night", json=policy, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert r.json()["steps"][0]["wait_minutes"] == 3
    clash = await client.put("/admin/escalation-policies/Other", json=policy, headers=ADMIN)
    assert clash.status_code == 409  # one programme default
    bad = await client.put(
        "/admin/escalation-policies/Bad",
        json={"steps": [{"target": "pager", "wait_minutes": 0}]},
        headers=ADMIN,
    )
    assert bad.status_code == 422 and "steps.0.target" in bad.json()["fields"]
    assert (await client.get("/admin/escalation-policies", headers=RISK)).status_code == 403

    case = await open_case(db)
    pending = q(db, "SELECT due_at - now() FROM deadlines WHERE case_id = :c", c=case.id)
    assert pending[0][0] <= timedelta(minutes=3, seconds=5)  # the new policy's first wait
    await accepted_by_peer(db, case)
    history = await client.get(f"/admin/cases/{case.id}", headers=ADMIN)
    assert history.status_code == 200
    body = history.json()
    assert body["state"] == "clinician_offered"
    assert [t["to"] for t in body["transitions"]][-2:] == ["peer_accepted", "clinician_offered"]
    illegal = await client.post(
        f"/admin/cases/{case.id}/actions", json={"action": "contact_made"}, headers=ADMIN
    )
    assert illegal.status_code == 409  # the clinician has not accepted yet
    tier3 = await client.post(
        f"/admin/cases/{case.id}/actions", json={"action": "tier3"}, headers=ADMIN
    )
    assert tier3.json()["state"] == "tier3_referred"
    unexplained = await client.post(
        f"/admin/cases/{case.id}/actions", json={"action": "close"}, headers=ADMIN
    )
    assert unexplained.status_code == 409  # a close carries its coded reason
    closed = await client.post(
        f"/admin/cases/{case.id}/actions",
        json={"action": "close", "close_reason": "support_given"},
        headers=ADMIN,
    )
    assert closed.json()["state"] == "closed"
    again = await client.post(
        f"/admin/cases/{case.id}/actions",
        json={"action": "close", "close_reason": "support_given"},
        headers=ADMIN,
    )
    assert again.status_code == 409  # a closed case stays closed
    with db.begin() as conn:  # leave the default policy as the other tests expect
        conn.execute(text("DELETE FROM escalation_policies"))
