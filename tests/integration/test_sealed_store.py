"""Phone numbers and what people write are sealed in the store (services/sealing.py).

A dump of the database, a backup or a read-only role must show neither. So a case is
followed through the services' own writes (dispatch's set-based pages, the message queue,
the webhook's insert of a reply, STOP), and then every row of every table is read as text
and searched for the numbers and the reply, as a dump would be. The columns' own test is
that the services still read them: every other integration test.
"""

from __future__ import annotations

import secrets
import uuid

import httpx
from sqlalchemy import text
from sqlalchemy.engine import Engine

from services.cases.answers import stop_number
from services.config import get_settings
from services.db import transaction
from tests.integration.sealed import lookup, opened
from tests.integration.test_flows import CLINICIAN_NUMBER, accepted_by_peer, open_case
from tests.integration.test_webhooks import post
from tests.stack import leaked


def store_text(db: Engine) -> dict[str, str]:
    """Every table's rows as text, as a dump shows them (the outbox's events included: the
    inbound SMS's is a claim check, naming the row)."""
    with db.connect() as conn:
        tables = conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
        ).scalars()
        return {
            table: "\n".join(conn.execute(text(f'SELECT t::text FROM "{table}" AS t')).scalars())
            for table in list(tables)
        }


async def test_the_store_holds_no_number_and_no_reply_in_the_clear(
    db: Engine, client: httpx.AsyncClient
) -> None:
    case = await open_case(db)  # pages to a peer, the offer queued to the clinician
    peer_number = await accepted_by_peer(db, case)
    stranger = f"+1555{secrets.randbelow(10**7):07d}"  # a number no other test writes
    words = f"sealed store check {uuid.uuid4().hex[:8]}: I keep seeing it"
    form = {
        "MessageSid": "SM" + uuid.uuid4().hex,
        "From": stranger,
        "To": "+15005550006",
        "Body": words,
    }
    assert (await post(client, "/twilio/sms", form)).status_code == 200
    async with transaction() as session:
        await stop_number(session, stranger)

    # Written, and readable by whoever holds the keys.
    with db.connect() as conn:
        stored = conn.execute(
            text("SELECT from_number, body FROM inbound_sms WHERE provider_sid = :s"),
            {"s": form["MessageSid"]},
        ).one()
        stop = conn.execute(
            text("SELECT number FROM sms_opt_outs WHERE number_key = :k"), {"k": lookup(stranger)}
        ).scalar_one()
    assert opened(stored.from_number, "inbound_sms.from_number") == stranger
    assert opened(stored.body, "inbound_sms.body") == words
    assert opened(stop, "sms_opt_outs.number") == stranger

    numbers = {CLINICIAN_NUMBER, peer_number, stranger, get_settings().coordinator_number}
    needles = sorted(numbers | {n.removeprefix("+") for n in numbers} | {words})
    found = {t: hits for t, rows in store_text(db).items() if (hits := leaked(rows, needles))}
    assert found == {}
