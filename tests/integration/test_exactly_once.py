"""A crash at any point neither loses a page nor sends it twice."""

from __future__ import annotations

import asyncio
import signal
import uuid

import httpx
from sqlalchemy import text
from sqlalchemy.engine import Engine

from notifiers.sms import SmsSender
from schemas.events import DeliveryStatus
from services.cases import outreach
from services.config import get_settings
from services.db import transaction
from services.incidents import involvement
from services.paging import callbacks, sending
from services.paging import service as paging
from tests.integration.sealed import lookup, opened
from tests.integration.test_agents import stored_incident
from tests.integration.test_pipeline import incident, pages_of, sms_for_page
from tests.stack import Stack, eventually, wait_for


async def new_claimed_page(db: Engine, staff_id: str) -> paging.Claim:
    """A page claimed for sending, in one transaction, as a worker would hold it."""
    event = stored_incident(db, [staff_id])
    async with transaction() as session:
        (need,) = await involvement.identify(session, event, group_threshold=5)
        req = await outreach.start_outreach(session, need, get_settings())
        assert req is not None
        claim = await paging.claim(session, req.page_id, stale_after=3)
    assert claim is not None
    return claim


def messages_to(stack: Stack, to: str, body: str) -> list[dict[str, object]]:
    msgs = httpx.get(f"{stack.standin_url}/_standin/messages", params={"to": to}).json()
    return [m for m in msgs if m["body"] == body]


async def test_worker_dies_after_twilio_took_the_page(stack: Stack, db: Engine) -> None:
    claim = await new_claimed_page(db, "N1002")
    # Earlier tests may have paged this peer with the same text (codes restart at 1 once a
    # number has no open page): count only what this test sends.
    before = len(messages_to(stack, claim.to_number, claim.body))
    sender = SmsSender(get_settings())
    try:
        # Twilio accepts the page ... and the worker dies before recording the sid.
        sent = await sender.send(claim.to_number, claim.body, status_callback=None)
    finally:
        await sender.close()
    await asyncio.sleep(3.2)  # the claim goes stale
    await sending.deliver(claim.page_id)  # whoever picks it up next (here, or the sweep)

    def recorded() -> object:
        with db.connect() as conn:
            return conn.execute(
                text("SELECT provider_sid FROM pages WHERE id = :p"), {"p": claim.page_id}
            ).scalar()

    assert await eventually(recorded, 15, "sid recorded") == sent.sid
    assert len(messages_to(stack, claim.to_number, claim.body)) == before + 1  # not twice
    with db.connect() as conn:
        detail = conn.execute(
            text("SELECT detail FROM page_transitions WHERE page_id = :p AND state = 'sent'"),
            {"p": claim.page_id},
        ).scalar_one()
    assert detail["reconciled"] is True


async def test_status_callback_before_the_sender_records(db: Engine) -> None:
    claim = await new_claimed_page(db, "R3001")
    async with transaction() as session:
        await callbacks.record_status(
            session, claim.page_id, "SMearly", DeliveryStatus.delivered, None
        )
    async with transaction() as session:
        late = await paging.record_sent(session, claim.page_id, "SMearly")
    assert late is None  # recorded once, by the callback
    with db.connect() as conn:
        state, sid = conn.execute(
            text("SELECT state, provider_sid FROM pages WHERE id = :p"), {"p": claim.page_id}
        ).one()
        sent_events = conn.execute(
            text(
                "SELECT count(*) FROM outbox WHERE topic LIKE '%page-sent%' "
                "AND payload->>'page_id' = :p"
            ),
            {"p": str(claim.page_id)},
        ).scalar()
    assert (state, sid, sent_events) == ("delivered", "SMearly", 1)


async def test_recording_sends_writes_each_page_once_with_its_transition_and_event(
    db: Engine,
) -> None:
    """The sender's record (one statement for a batch): each page sent, one 'sent'
    transition and one PageSent event; a page a callback recorded first is left alone."""
    first = await new_claimed_page(db, "N1001")
    early = await new_claimed_page(db, "N1002")
    async with transaction() as session:
        await callbacks.record_status(session, early.page_id, "SMcb", DeliveryStatus.sent, None)
    async with transaction() as session:
        n = await paging.record_sent_many(
            session,
            [
                (first.page_id, first.case_id, "SMone", False),
                (early.page_id, early.case_id, "SMtwo", True),
            ],
        )
    assert n == 1
    with db.connect() as conn:

        def one(sql: str, page: uuid.UUID) -> list[tuple[object, ...]]:
            return [tuple(r) for r in conn.execute(text(sql), {"p": page}).all()]

        assert one("SELECT state, provider_sid FROM pages WHERE id = :p", first.page_id) == [
            ("sent", "SMone")
        ]
        assert one("SELECT provider_sid FROM pages WHERE id = :p", early.page_id) == [("SMcb",)]
        sent = "SELECT detail FROM page_transitions WHERE page_id = :p AND state = 'sent'"
        assert one(sent, first.page_id) == [({"sid": "SMone", "reconciled": False},)]
        assert len(one(sent, early.page_id)) == 1  # the callback's only
        events = (
            "SELECT key, payload->>'provider_sid' FROM outbox WHERE topic LIKE '%page-sent%' "
            "AND payload->>'page_id' = CAST(:p AS text)"
        )
        assert one(events, first.page_id) == [(str(first.case_id), "SMone")]
        assert one(events, early.page_id) == [(str(early.case_id), "SMcb")]


async def test_a_fresh_claim_is_not_taken_twice(db: Engine) -> None:
    claim = await new_claimed_page(db, "N1001")
    async with transaction() as session:
        assert await paging.claim(session, claim.page_id, stale_after=3) is None


def test_worker_killed_then_restarted_sends_once(stack: Stack, db: Engine) -> None:
    stack.worker.stop(signal.SIGKILL)
    try:
        with stack.client() as c:
            r = c.post("/incidents", json=incident(["P2001"], str(uuid.uuid4())))
        assert r.status_code == 202
    finally:
        stack.start_worker()
    incident_id = r.json()["incident_id"]
    pages = wait_for(lambda: pages_of(db, incident_id), 60, "page after restart", 0.2)
    wait_for(lambda: sms_for_page(stack, pages[0]["id"]), 30, "sms after restart", 0.2)
    assert len(sms_for_page(stack, pages[0]["id"])) == 1


async def test_deadline_that_fell_due_while_the_engine_was_down_fires_once(
    stack: Stack, db: Engine
) -> None:
    from tests.integration.test_flows import open_case, pages, q

    # Deadlines are fired by the engine (`svrr engine`), not the worker: both are killed, so
    # nothing can fire or send while the page's five minutes run out.
    assert stack.engine is not None
    stack.engine.stop(signal.SIGKILL)
    stack.worker.stop(signal.SIGKILL)
    try:
        case = await open_case(db)
        with db.begin() as conn:  # five minutes pass with nobody answering, and no worker
            conn.execute(
                text(
                    "UPDATE deadlines SET due_at = now() - interval '1 minute' "
                    "WHERE case_id = :c AND fired_at IS NULL"
                ),
                {"c": case.id},
            )
    finally:
        await stack.worker.start_ready_async(60)
        await stack.engine.start_ready_async(30)
    escalated = await eventually(
        lambda: len(pages(db, case)) == 2, 60, "escalation after restart", 0.2
    )
    assert escalated
    page_ids = [r[0] for r in q(db, "SELECT id FROM pages WHERE case_id = :c", c=case.id)]
    for page_id in page_ids:
        await eventually(lambda page_id=page_id: sms_for_page(stack, page_id), 30, "sms", 0.2)
        assert len(sms_for_page(stack, page_id)) == 1
    fired = q(
        db,
        "SELECT count(*) FROM deadlines WHERE case_id = :c AND fired_at IS NOT NULL",
        c=case.id,
    )[0][0]
    assert fired == 1
    assert len(pages(db, case)) == 2


async def test_several_pages_to_one_peer_go_as_one_sms(stack: Stack, db: Engine) -> None:
    from tests.integration.test_reimport import unsent_page

    ids = [unsent_page(db, "C4101", code) for code in ("71", "72", "73")]
    await sending.deliver_pages(ids)
    with db.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT provider_sid, sent_body, to_number, state, error_code FROM pages "
                "WHERE id = ANY(:i)"
            ),
            {"i": ids},
        ).all()
        history = conn.execute(
            text("SELECT state, detail FROM page_transitions WHERE page_id = ANY(:i) ORDER BY id"),
            {"i": ids},
        ).all()
    sids = {r[0] for r in rows}
    assert len(sids) == 1 and None not in sids, (rows, history)  # one SMS carried all three
    body = str(opened(rows[0][1], "pages.sent_body"))
    assert "71, 72, 73" in body and "71A/72A/73A" in body
    sent = messages_to(stack, str(opened(rows[0][2], "pages.to_number")), body)
    assert len(sent) == 1
    # The delivery callback reports for every page the SMS carried.
    await eventually(
        lambda: all(
            r[0] == "delivered"
            for r in db.connect().execute(
                text("SELECT state FROM pages WHERE id = ANY(:i)"), {"i": ids}
            )
        ),
        20,
        "all bundled pages delivered",
    )


async def test_undeliverable_page_escalates_at_once(stack: Stack, db: Engine) -> None:
    from tests.integration.test_flows import open_case, pages

    # Every peer's number is a landline: the first page comes back undelivered.
    peer_numbers = ["+15550101101", "+15550101102", "+15550104101", "+15550102101"]
    for number in peer_numbers:
        httpx.post(
            f"{stack.standin_url}/_standin/numbers",
            json={"number": number, "delivery": "undelivered", "error_code": 30006},
        ).raise_for_status()
    case = None
    try:
        case = await open_case(db)  # the worker sends the first page
        await eventually(lambda: len(pages(db, case)) >= 2, 30, "escalation after undelivered", 0.2)
        first, second = pages(db, case)[:2]
        assert first[4] == "undelivered"
        assert second[1] != first[1]  # the next candidate, long before the five-minute wait
        # A landline is remembered on the person, so the next incident skips it.
        with db.connect() as conn:
            code = conn.execute(
                text("SELECT undeliverable_code FROM staff WHERE staff_id = :s"), {"s": first[1]}
            ).scalar()
        assert code == 30006
    finally:
        if case is not None:
            # Stop the escalation, and let every page already out come back undelivered,
            # before the marks are cleared: a late callback would mark a peer again.
            with db.begin() as conn:
                conn.execute(
                    text(
                        "UPDATE support_cases SET state = 'closed', closed_at = now() WHERE id = :c"
                    ),
                    {"c": case.id},
                )
                conn.execute(
                    text("UPDATE deadlines SET fired_at = now() WHERE case_id = :c"),
                    {"c": case.id},
                )
            await eventually(
                lambda: (
                    all(p[4] not in ("requested", "sending", "sent") for p in pages(db, case))
                    or None
                ),
                30,
                "the pages already out to settle",
                0.2,
            )
        httpx.delete(f"{stack.standin_url}/_standin/numbers")
        with db.begin() as conn:  # the directory gave them mobiles again, for later tests
            conn.execute(
                text(
                    "UPDATE staff SET undeliverable_code = NULL, undeliverable_at = NULL "
                    "WHERE mobile_key = ANY(:n)"
                ),
                {"n": [lookup(n) for n in peer_numbers]},
            )
