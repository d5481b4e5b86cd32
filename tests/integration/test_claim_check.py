"""An inbound SMS's event is a claim check: the sender's number and what they wrote stay in the
store (inbound_sms), never in the outbox table or on the topic's log; the record's key is the
sender's lookup hash, so one sender's replies keep their order; the reply agent reads the row
it names, and a row gone (purged) is a dead letter with its reason while the agent goes on."""

from __future__ import annotations

import importlib
import json
import re
import uuid

import httpx
import pytest
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


PURGES = {
    # What a purge can leave of an unhandled reply: the event, and no row...
    "row": (
        "DELETE FROM inbound_sms WHERE id = :i",
        "apply_reply: inbound SMS {} is not in the store (purged?)",
    ),
    # ...or the row with its text (or its number) cleared.
    "body": (
        "UPDATE inbound_sms SET body = NULL WHERE id = :i",
        "apply_reply: inbound SMS {} was purged before it was handled",
    ),
    "number": (
        "UPDATE inbound_sms SET from_number = NULL, from_number_key = NULL WHERE id = :i",
        "apply_reply: inbound SMS {} was purged before it was handled",
    ),
}


@pytest.mark.parametrize("purged", sorted(PURGES))
async def test_a_purged_reply_is_a_dead_letter_and_the_agent_goes_on(
    db: Engine, purged: str
) -> None:
    from services.cases.agents import apply_reply

    statement, reason = PURGES[purged]
    gone = await stored_reply(number(db), "STOP")
    with db.begin() as conn:
        conn.execute(text(statement), {"i": gone.sms_id})
    good = await stored_reply(number(db), "STOP")
    raws = [gone.to_bytes(), good.to_bytes()]
    outcomes = [o async for o in consume(_stream(raws), SmsReceived, apply_reply)]
    assert outcomes == ["dead_letter", "done"]
    assert dead_letters(db, SmsReceived.topic, gone.to_bytes()) == [reason.format(gone.sms_id)]
    assert handled(db, good.sms_id)
    if purged != "row":
        assert not handled(db, gone.sms_id)  # rolled back with the rest: nothing was acted on
    # A redelivery of an SMS handled already is nothing to do, not a dead letter.
    again = [o async for o in consume(_stream([good.to_bytes()]), SmsReceived, apply_reply)]
    assert again == ["done"] and dead_letters(db, SmsReceived.topic, good.to_bytes()) == []


async def test_the_upgrade_gives_unhandled_v1_replies_a_v2_event_and_forgets_v1(
    db: Engine,
) -> None:
    """Migration 0018: the v1 events (number and text in the outbox) are deleted; a reply the
    old worker never acted on gets a v2 event naming its row, once, and the agent handles it;
    a reply it did act on gets none."""
    from services.cases.agents import apply_reply

    migration = importlib.import_module("services.migrations.versions.0018_sms_received_v2")
    waiting, done = await stored_reply(number(db), "STOP"), await stored_reply(number(db), "STOP")
    v1_topic = topic_name(SmsReceived).removesuffix(".v2") + ".v1"
    with db.begin() as conn:
        conn.execute(
            text("UPDATE inbound_sms SET handled_at = now() WHERE id = :i"), {"i": done.sms_id}
        )
    # One transaction: no relay ever sees a v1 row (its topic is no longer made).
    with db.begin() as conn:
        # v1 events as the old API wrote them: published and kept, or still waiting; the
        # waiting reply's event twice (a relay's crash published it again).
        for sms, published in ((waiting, True), (waiting, False), (done, True)):
            conn.execute(
                text(
                    "INSERT INTO outbox (topic, key, payload, published_at) VALUES "
                    "(:t, :k, CAST(:p AS jsonb), CASE WHEN :pub THEN now() END)"
                ),
                {"t": v1_topic, "k": "+15550100000", "p": v1_payload(sms), "pub": published},
            )
        conn.execute(text(migration.REQUEUE))
        conn.execute(text(migration.FORGET))
        rows = conn.execute(
            text(
                "SELECT topic, key, payload FROM outbox WHERE payload->>'sms_id' IN (:w, :d) "
                "AND topic LIKE '%sms-received%'"
            ),
            {"w": str(waiting.sms_id), "d": str(done.sms_id)},
        ).all()
    ((topic, key, payload),) = rows
    event = SmsReceived.model_validate(payload)
    assert topic == topic_name(SmsReceived)
    assert (event.sms_id, event.provider_sid) == (waiting.sms_id, waiting.provider_sid)
    assert key == event.sender == waiting.sender
    outcomes = [o async for o in consume(_stream([event.to_bytes()]), SmsReceived, apply_reply)]
    assert outcomes == ["done"]
    assert handled(db, waiting.sms_id)


def v1_payload(sms: SmsReceived) -> str:
    return json.dumps(
        {
            "schema_version": 1,
            "event_id": str(uuid.uuid4()),
            "emitted_at": "2026-11-30T12:00:00+00:00",
            "event": "SmsReceived",
            "sms_id": str(sms.sms_id),
            "provider_sid": sms.provider_sid,
            "from_number": "+15550100000",
            "to_number": "+15005550006",
            "body": "STOP",
        }
    )
