"""Twilio's status callbacks: the webhook stores one row, the applier applies them in sets.

What must hold whatever batch a callback lands in: a replayed, late or out-of-order status
changes nothing (the same rule as when each request applied its own, services/paging/
delivery.py); a batch naming many pages applies every one, in one transaction; a page that
another transaction holds keeps its callbacks waiting, in their order, instead of stalling
the batch. A live worker (the session's stack) runs the same applier on the same rows, so
these tests wait for "nothing left waiting" rather than count what one call applied.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from twilio.request_validator import RequestValidator

from schemas.events import DeliveryStatus
from services.cases.models import Message
from services.config import get_settings
from services.db import RawPool, transaction
from services.paging import callbacks
from services.paging.models import Page, StatusCallback, SupportCase
from services.paging.views import WEBHOOK_CONNECTIONS
from tests.integration.test_agents import stored_incident
from tests.integration.test_db_pool import drop_connections
from tests.integration.test_flows import q
from tests.stack import TWILIO_TOKEN

S = DeliveryStatus


async def apply_all(timeout: float = 15.0) -> None:
    """Every stored callback applied: by this process now, or by a live worker's applier
    (which may hold some of them when we look: then we wait for its commit)."""
    deadline = time.monotonic() + timeout
    while True:
        await callbacks.apply_pending()
        async with transaction() as session:
            if await callbacks.pending(session) == 0:
                return
        assert time.monotonic() < deadline, "status callbacks still waiting"
        await asyncio.sleep(0.05)


def sid() -> str:
    return "SM" + uuid.uuid4().hex


def fake_number() -> str:
    """Nobody's number: a failure recorded for it marks no staff record."""
    return f"+1555018{uuid.uuid4().int % 10000:04d}"


async def new_pages(db: Engine, n: int, *, sent: bool = True) -> list[Page]:
    """n pages of one new case, each with its own SMS: 'sent' with a sid, or claimed and
    not yet recorded (no sid), as a worker holds a page while Twilio answers."""
    incident = stored_incident(db, ["N1103"], unit="5W")
    now = datetime.now(UTC)
    async with transaction() as session:
        case = SupportCase(incident_id=incident.incident_id, staff_id="N1103", state="closed")
        session.add(case)
        await session.flush()
        pages = [
            Page(
                case_id=case.id,
                attempt=i + 1,
                to_number=fake_number(),
                reply_code=str(i + 1),
                reason="status callback test",
                state="sent" if sent else "sending",
                provider_sid=sid() if sent else None,
                sent_at=now if sent else None,
                claimed_at=now,
            )
            for i in range(n)
        ]
        session.add_all(pages)
    return pages


async def store(*rows: tuple[str, DeliveryStatus, list[uuid.UUID], int | None]) -> None:
    """Callbacks as the webhook stores them, all committed at once (one set for an applier)."""
    async with transaction() as session:
        session.add_all(
            StatusCallback(provider_sid=s, status=st.value, error_code=code, page_ids=ids)
            for s, st, ids, code in rows
        )


def page_state(db: Engine, page: Page) -> tuple[object, ...]:
    return q(db, "SELECT state, provider_sid, error_code FROM pages WHERE id = :p", p=page.id)[0]


def transitions(db: Engine, page: Page) -> list[object]:
    rows = q(db, "SELECT state FROM page_transitions WHERE page_id = :p ORDER BY id", p=page.id)
    return [r[0] for r in rows]


def events(db: Engine, page: Page) -> int:
    return len(
        q(
            db,
            "SELECT 1 FROM outbox WHERE topic LIKE '%page-status-changed%' "
            "AND payload->>'page_id' = :p",
            p=str(page.id),
        )
    )


def recorded(db: Engine, provider_sid: str) -> list[object]:
    """Whether each stored callback for the sid changed anything, in arrival order."""
    rows = q(
        db,
        "SELECT recorded FROM status_callbacks WHERE provider_sid = :s ORDER BY id",
        s=provider_sid,
    )
    return [r[0] for r in rows]


async def test_the_webhook_writes_one_row_in_one_statement(
    client: httpx.AsyncClient, db: Engine
) -> None:
    (page,) = await new_pages(db, 1)
    path = f"/twilio/status?page={page.id}"
    form = {"MessageSid": str(page.provider_sid), "MessageStatus": "delivered"}
    url = get_settings().public_base_url.rstrip("/") + path
    headers = {"X-Twilio-Signature": RequestValidator(TWILIO_TOKEN).compute_signature(url, form)}
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    raw: list[str] = []
    fetch = RawPool.fetch

    async def counted(self: RawPool, query: str, *args: object, **kw: object) -> object:
        raw.append(query)
        return await fetch(self, query, *args, **kw)  # type: ignore[arg-type]

    # On the class: every engine of this process, the API's own and any derived from it;
    # and the raw connections the webhook writes through (services.db.RawPool).
    event.listen(Engine, "before_cursor_execute", seen)
    RawPool.fetch = counted  # type: ignore[method-assign]
    try:
        r = await client.post(path, data=form, headers=headers)
    finally:
        event.remove(Engine, "before_cursor_execute", seen)
        RawPool.fetch = fetch  # type: ignore[method-assign]
    assert r.status_code == 204, r.text
    assert statements == []
    assert len(raw) == 1 and raw[0].startswith("INSERT INTO status_callbacks")
    stored = q(
        db,
        "SELECT status, page_ids, message_id FROM status_callbacks WHERE provider_sid = :s",
        s=page.provider_sid,
    )
    assert stored == [("delivered", [page.id], None)]
    await apply_all()
    assert page_state(db, page)[0] == "delivered"


async def test_a_set_naming_many_pages_applies_every_one_in_one_transaction(db: Engine) -> None:
    pages = await new_pages(db, 40)
    # The last two pages went out as one bundled SMS: one callback names both.
    bundle = pages[-2:]
    bundle[1].provider_sid = bundle[0].provider_sid
    with db.begin() as conn:
        conn.execute(
            text("UPDATE pages SET provider_sid = :s WHERE id = :p"),
            {"s": bundle[0].provider_sid, "p": bundle[1].id},
        )
    rows = [(str(p.provider_sid), S.delivered, [p.id], None) for p in pages[:-2]]
    await store(*rows, (str(bundle[0].provider_sid), S.delivered, [p.id for p in bundle], None))
    await apply_all()
    for page in pages:
        assert page_state(db, page) == ("delivered", page.provider_sid, None)
        assert transitions(db, page) == ["delivered"] and events(db, page) == 1
    sids = list({str(p.provider_sid) for p in pages})
    applied = q(
        db,
        "SELECT count(*), count(DISTINCT applied_at), bool_and(recorded) "
        "FROM status_callbacks WHERE provider_sid = ANY(:s)",
        s=sids,
    )
    # applied_at is the transaction's now(): one value, one transaction.
    assert applied == [(39, 1, True)]


async def test_replayed_late_and_out_of_order_statuses_in_one_set_change_nothing(
    db: Engine,
) -> None:
    (page,) = await new_pages(db, 1)
    s = str(page.provider_sid)
    await store(
        (s, S.delivered, [page.id], None),
        (s, S.delivered, [page.id], None),  # Twilio's retry of the same status
        (s, S.sent, [page.id], None),  # an earlier status, arriving late
        (s, S.undelivered, [page.id], 30006),  # a failure after delivery: stale
        (s, S.queued, [page.id], None),
        (s, S.failed, [page.id], 30003),
    )
    await apply_all()
    assert page_state(db, page) == ("delivered", s, None)
    assert transitions(db, page) == ["delivered"] and events(db, page) == 1
    assert recorded(db, s) == [True, False, False, False, False, False]
    # ... and in a later set, a replay of the failure is as stale.
    await store((s, S.undelivered, [page.id], 30006))
    await apply_all()
    assert page_state(db, page) == ("delivered", s, None)
    assert transitions(db, page) == ["delivered"] and events(db, page) == 1


async def test_delivered_before_the_worker_recorded_the_send(db: Engine) -> None:
    """The callback proves Twilio took the message: the page is recorded sent (reconciled)
    and delivered, once; the 'sent' that arrives after it in the same set changes nothing."""
    (page,) = await new_pages(db, 1, sent=False)
    s = sid()
    await store((s, S.delivered, [page.id], None), (s, S.sent, [page.id], None))
    await apply_all()
    assert page_state(db, page) == ("delivered", s, None)
    assert transitions(db, page) == ["sent", "delivered"]
    assert recorded(db, s) == [True, False]


async def test_a_page_held_elsewhere_keeps_its_statuses_waiting_in_order(db: Engine) -> None:
    held, free = await new_pages(db, 2)
    with db.connect() as conn:
        conn.execute(text("SELECT 1 FROM pages WHERE id = :p FOR UPDATE"), {"p": held.id})
        await store(
            (str(held.provider_sid), S.delivered, [held.id], None),
            (str(free.provider_sid), S.delivered, [free.id], None),
            (str(held.provider_sid), S.failed, [held.id], 30003),
        )
        # The applier does not wait for the held page: the rest of the set goes through.
        deadline = time.monotonic() + 15
        while page_state(db, free)[0] != "delivered":
            assert time.monotonic() < deadline, "the free page's callback was not applied"
            await callbacks.apply_pending()
            await asyncio.sleep(0.05)
        assert page_state(db, held)[0] == "sent"
        assert recorded(db, str(held.provider_sid)) == [None, None]  # both still waiting
        conn.rollback()
    await apply_all()
    # Applied in arrival order once released: delivered, then the stale failure.
    assert page_state(db, held) == ("delivered", held.provider_sid, None)
    assert recorded(db, str(held.provider_sid)) == [True, False]


async def test_message_statuses_are_applied_in_sets_too(db: Engine) -> None:
    s = sid()
    async with transaction() as session:
        msg = Message(
            kind="help",
            to_number=fake_number(),
            body="status set check",
            dedupe_key=f"test:{s}",
            state="sent",
            provider_sid=s,
            sent_at=datetime.now(UTC),
        )
        session.add(msg)
    async with transaction() as session:
        session.add_all(
            StatusCallback(provider_sid=s, status=st.value, error_code=code, message_id=msg.id)
            for st, code in [(S.delivered, None), (S.failed, 30008), (S.sent, None)]
        )
    await apply_all()
    state = q(db, "SELECT state, error_code FROM messages WHERE id = :m", m=msg.id)
    assert state == [("delivered", None)]
    assert recorded(db, s) == [True, False, False]


async def test_one_applier_at_a_time(db: Engine) -> None:
    """Every worker runs the applier; while one holds the applier's lock the others take
    nothing, so no two split one page's statuses between them and apply them out of order."""
    (page,) = await new_pages(db, 1)
    s = str(page.provider_sid)
    with db.connect() as conn:
        assert conn.execute(callbacks.APPLIER_LOCK).scalar() is True  # as another worker
        await store((s, S.delivered, [page.id], None))
        assert await callbacks.apply_pending() == 0
        await asyncio.sleep(0.5)  # a live worker's timer runs meanwhile, and is kept out too
        assert recorded(db, s) == [None] and page_state(db, page)[0] == "sent"
        conn.rollback()
    await apply_all()
    assert recorded(db, s) == [True] and page_state(db, page)[0] == "delivered"


async def test_a_dropped_connection_is_replaced_not_answered_500(
    client: httpx.AsyncClient, db: Engine
) -> None:
    """The webhook's pool does not ping at each checkout: a connection PostgreSQL dropped
    is found dropped and replaced before the insert is sent on it."""
    (page,) = await new_pages(db, 1)
    s = str(page.provider_sid)
    path = f"/twilio/status?page={page.id}"
    url = get_settings().public_base_url.rstrip("/") + path
    sent = {"MessageSid": s, "MessageStatus": "sent"}
    headers = {"X-Twilio-Signature": RequestValidator(TWILIO_TOKEN).compute_signature(url, sent)}
    r = await client.post(path, data=sent, headers=headers)  # a pooled connection now
    assert r.status_code == 204, r.text
    assert await drop_connections(db, WEBHOOK_CONNECTIONS)
    form = {"MessageSid": s, "MessageStatus": "delivered"}
    headers = {"X-Twilio-Signature": RequestValidator(TWILIO_TOKEN).compute_signature(url, form)}
    r = await client.post(path, data=form, headers=headers)
    assert r.status_code == 204, r.text
    await apply_all()
    assert page_state(db, page)[0] == "delivered"


async def test_a_deadlock_victim_among_the_appliers_own_statements_runs_again(
    db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The applier's own statements run on psycopg directly (callbacks._rows), so
    PostgreSQL's deadlock verdict reaches it unwrapped: it is still a transient failure,
    run again at once, not an error that leaves the round's callbacks for the next tick."""
    (page,) = await new_pages(db, 1)
    s = str(page.provider_sid)
    await store((s, S.delivered, [page.id], None))
    real = callbacks._rows
    raised: list[str] = []

    async def deadlocked_once(*args: Any) -> list[Any]:
        if not raised:
            raised.append("deadlock")
            raise psycopg.errors.DeadlockDetected("deadlock detected (injected)")
        return await real(*args)

    monkeypatch.setattr(callbacks, "_rows", deadlocked_once)
    await callbacks.apply_waiting()  # raised before the fix: DeadlockDetected escaped
    monkeypatch.setattr(callbacks, "_rows", real)
    await apply_all()
    assert raised == ["deadlock"]
    assert page_state(db, page)[0] == "delivered"


async def test_callbacks_arriving_together_are_stored_with_one_statement(
    client: httpx.AsyncClient, db: Engine
) -> None:
    """Group commit (services.paging.views.CallbackWriter): callbacks that arrive while an
    insert runs share the next one, each answered once its insert has committed."""
    from services.paging.views import callback_writer

    pages = await new_pages(db, 6)
    statuses = ["sent", "delivered"] * 3

    def signed(page: Page, status: str) -> tuple[str, dict[str, str], dict[str, str]]:
        path = f"/twilio/status?page={page.id}"
        form = {"MessageSid": str(page.provider_sid), "MessageStatus": status}
        url = get_settings().public_base_url.rstrip("/") + path
        sig = RequestValidator(TWILIO_TOKEN).compute_signature(url, form)
        return path, form, {"X-Twilio-Signature": sig}

    requests = [signed(p, s) for p, s in zip(pages, statuses, strict=True)]
    before = callback_writer.statements
    answers = await asyncio.gather(
        *(client.post(path, data=form, headers=h) for path, form, h in requests)
    )
    assert [r.status_code for r in answers] == [204] * 6
    assert callback_writer.statements - before < len(requests)  # some shared an insert
    stored = q(
        db,
        "SELECT provider_sid, status, page_ids FROM status_callbacks WHERE provider_sid = ANY(:s)",
        s=[str(p.provider_sid) for p in pages],
    )
    expected = [(p.provider_sid, s, [p.id]) for p, s in zip(pages, statuses, strict=True)]
    assert sorted(stored) == sorted(expected)
    await apply_all()
    assert [page_state(db, p)[0] for p in pages] == statuses


async def test_a_failed_insert_fails_every_callback_of_its_batch(
    client: httpx.AsyncClient, db: Engine
) -> None:
    """Nobody is told 204 for a callback that is not stored: when the batch's insert fails,
    every request in it gets the error (a 500, which Twilio retries), as one request did
    when it had its own insert."""
    import psycopg

    pages = await new_pages(db, 3)
    fetch = RawPool.fetch

    async def failing(self: RawPool, query: str, *args: object, **kw: object) -> object:
        raise psycopg.OperationalError("the server is gone")

    def post(page: Page):  # type: ignore[no-untyped-def]
        path = f"/twilio/status?page={page.id}"
        form = {"MessageSid": str(page.provider_sid), "MessageStatus": "delivered"}
        url = get_settings().public_base_url.rstrip("/") + path
        sig = RequestValidator(TWILIO_TOKEN).compute_signature(url, form)
        return client.post(path, data=form, headers={"X-Twilio-Signature": sig})

    RawPool.fetch = failing  # type: ignore[method-assign]
    try:
        outcomes = await asyncio.gather(*(post(p) for p in pages), return_exceptions=True)
    finally:
        RawPool.fetch = fetch  # type: ignore[method-assign]
    # ASGITransport re-raises what the app raised (after its 500): the error, every time.
    assert all(isinstance(o, psycopg.OperationalError) for o in outcomes), outcomes
    stored = q(
        db,
        "SELECT 1 FROM status_callbacks WHERE provider_sid = ANY(:s)",
        s=[str(p.provider_sid) for p in pages],
    )
    assert stored == []
