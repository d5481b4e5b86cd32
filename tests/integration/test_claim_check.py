"""An inbound SMS's event is a claim check: the sender's number and what they wrote stay in the
store (inbound_sms), never in the outbox table or on the topic's log; the record's key is the
sender's lookup hash, so one sender's replies keep their order; the reply agent reads the row
it names, and a row gone (purged) is a dead letter with its reason while the agent goes on."""

from __future__ import annotations

import json
import re
import uuid

import httpx
from sqlalchemy import text
from sqlalchemy.engine import Engine

from events.consume import consume
from schemas.events import SmsReceived
from schemas.topics import topic_name
from services import limits
from tests.integration.test_flows import stored_reply
from tests.integration.test_fuzz_topics import _stream, dead_letters, handled
from tests.integration.test_outbox_relay import consume as consume_topic
from tests.integration.test_webhooks import post, sid
from tests.integration.wards import unused_numbers
from tests.stack import Stack, eventually

HEX64 = re.compile("[0-9a-f]{64}")


def sms_events(db: Engine) -> list[tuple[str, str, str]]:
    """(topic, key, payload as text) of every sms-received event in the outbox, any version."""
    with db.connect() as conn:
        rows = conn.execute(
            text("SELECT topic, key, payload::text FROM outbox WHERE topic LIKE :t ORDER BY id"),
            {"t": "%sms-received%"},
        ).all()
    return [(t, k, p) for t, k, p in rows]


def number(db: Engine) -> str:
    with db.connect() as conn:
        (found,) = unused_numbers(conn, 1)
    return found


async def test_the_outbox_holds_neither_the_number_nor_the_text(
    client: httpx.AsyncClient, db: Engine
) -> None:
    limits.reset()
    sender, other = number(db), number(db)
    body = f"claim check {uuid.uuid4().hex[:12]}: back at 6, call me"
    sids = [sid(), sid(), sid()]
    for message, frm in zip(sids, (sender, sender, other), strict=True):
        form = {"MessageSid": message, "From": frm, "To": "+15005550006", "Body": body}
        r = await post(client, "/twilio/sms", form)
        assert r.status_code == 200, r.text
    events = sms_events(db)
    for topic, key, payload in events:
        assert sender not in key + payload and other not in key + payload, (topic, key)
        assert body not in payload and "back at 6" not in payload, (topic, key)
    # Every sms-received event in the store is checked above; these are this test's own.
    ours = {ps: (t, k) for t, k, p in events if (ps := json.loads(p).get("provider_sid")) in sids}
    assert set(sids) <= set(ours)
    (first_topic, first), (_, second), (_, third) = (ours[s] for s in sids)
    assert first_topic == topic_name(SmsReceived) and first_topic.endswith(".v2")
    # The key is the sender's lookup hash: one sender's replies share it (a partition, in
    # order), another sender's differs.
    assert HEX64.fullmatch(first) and first == second != third


def published(db: Engine, provider_sid: str) -> int | None:
    """How many sms-received records this run published, once the one for `provider_sid` is
    (None before): what the topic holds, at least."""
    with db.connect() as conn:
        mine = conn.execute(
            text(
                "SELECT published_at IS NOT NULL FROM outbox "
                "WHERE topic = :t AND payload->>'provider_sid' = :s"
            ),
            {"t": topic_name(SmsReceived), "s": provider_sid},
        ).scalar()
        if not mine:
            return None
        return conn.execute(
            text("SELECT count(*) FROM outbox WHERE topic = :t AND published_at IS NOT NULL"),
            {"t": topic_name(SmsReceived)},
        ).scalar()


async def test_the_topic_holds_neither_and_the_worker_reads_the_row(
    stack: Stack, db: Engine
) -> None:
    """End to end: Twilio's webhook (the stand-in signs it), the API's outbox, the relay,
    Kafka, the worker's reply agent reading the row the record names."""
    sender = number(db)
    body = f"what is this {uuid.uuid4().hex[:12]}"
    async with httpx.AsyncClient() as c:
        r = await c.post(
            f"{stack.standin_url}/_standin/inbound",
            json={"from": sender, "to": "+15005550006", "body": body},
        )
    assert r.json()["status"] == 200, r.json()
    provider_sid = r.json()["sid"]
    n = await eventually(lambda: published(db, provider_sid), 30, "the event published")
    records = [(k, v) for _, k, v in await consume_topic(topic_name(SmsReceived), n)]
    for key, value in records:
        assert sender.encode() not in key + value and body.encode() not in value
    ((key, value),) = [(k, v) for k, v in records if provider_sid.encode() in v]
    event = SmsReceived.model_validate_json(value)
    assert key.decode() == event.sender and HEX64.fullmatch(event.sender)
    await eventually(lambda: handled(db, event.sms_id), 30, "the worker handled the SMS")


async def test_a_purged_row_is_a_dead_letter_and_the_agent_goes_on(db: Engine) -> None:
    from services.cases.agents import apply_reply

    gone = await stored_reply(number(db), "STOP")
    with db.begin() as conn:  # what a purge leaves: the event, no row
        conn.execute(text("DELETE FROM inbound_sms WHERE id = :i"), {"i": gone.sms_id})
    good = await stored_reply(number(db), "STOP")
    raws = [gone.to_bytes(), good.to_bytes()]
    outcomes = [o async for o in consume(_stream(raws), SmsReceived, apply_reply)]
    assert outcomes == ["dead_letter", "done"]
    assert dead_letters(db, SmsReceived.topic, gone.to_bytes()) == [
        f"apply_reply: inbound SMS {gone.sms_id} is not in the store (purged?)"
    ]
    assert handled(db, good.sms_id)
    # A redelivery of an SMS handled already is nothing to do, not a dead letter.
    again = [o async for o in consume(_stream([good.to_bytes()]), SmsReceived, apply_reply)]
    assert again == ["done"] and dead_letters(db, SmsReceived.topic, good.to_bytes()) == []
