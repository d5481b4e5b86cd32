"""Abuse limits on the real store (services/limits.py): 429 with Retry-After per caller and
nothing written for it, another caller unaffected, Twilio's status callbacks never limited,
and a loop with an auto-responder on a number we do not know that ends, in this process and
through the live stack's worker and stand-in.

The request limits are set small here (the defaults are far above a test's pace); the cap
on answers to an unknown number is the shipped default (3 a day).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from twilio.request_validator import RequestValidator

from services import api_lanes, limits
from services.config import get_settings
from services.db import transaction
from services.identity import tokens
from services.identity.models import Role
from tests.integration.sealed import lookup, opened
from tests.integration.test_api_lanes import lanes
from tests.integration.test_flows import messages, q, reply
from tests.integration.test_intake import good as incident
from tests.stack import TOKEN, TWILIO_TOKEN, Stack, eventually

SMALL = {
    "INTAKE_BURST": "3",
    "INTAKE_PER_SECOND": "1",
    "UNKNOWN_CREDENTIALS_BURST": "3",
    "UNKNOWN_CREDENTIALS_PER_MINUTE": "6",
    "SMS_PER_SENDER_BURST": "3",
    "SMS_PER_SENDER_PER_MINUTE": "6",
}
OUR_NUMBER = "+15005550006"
MARK = "SMd1"  # the start of the sids these tests send


@pytest.fixture
def small_limits(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Limits a test can reach, with fresh buckets; the run's own settings back afterwards."""
    for name, value in SMALL.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    limits.reset()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()
    limits.reset()


async def new_token(role: Role) -> str:
    """A token of this test's own: its bucket starts full whatever ran before."""
    async with transaction() as session:
        _, token = await tokens.issue(session, f"limits {role.value}", role, None)
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def count(db: Engine, sql: str, **params: object) -> int:
    return int(q(db, sql, **params)[0][0])


def client_at(address: str) -> httpx.AsyncClient:
    """The API in-process, seen as coming from `address`."""
    from services.api import app

    transport = httpx.ASGITransport(app=app, client=(address, 41000))
    return httpx.AsyncClient(transport=transport, base_url="http://api")


# --- intake per token ---------------------------------------------------------------------


@pytest.mark.parametrize("lane", [True, False], ids=["fast-lane", "full-app"])
async def test_a_token_over_its_intake_limit_gets_429_and_another_token_does_not(
    client: httpx.AsyncClient, db: Engine, small_limits: None, lane: bool
) -> None:
    hot, other = await new_token(Role.risk_manager), await new_token(Role.risk_manager)
    api_lanes.ENABLED = lane
    try:
        taken = lanes().taken
        for _ in range(3):
            r = await client.post("/incidents", json=incident(), headers=bearer(hot))
            assert r.status_code == 202, r.text
        assert (lanes().taken - taken == 3) is lane
        before = count(db, "SELECT count(*) FROM incidents")
        refused = await client.post("/incidents", json=incident(), headers=bearer(hot))
        assert refused.status_code == 429, refused.text
        assert refused.headers["retry-after"] == "1"  # one request at 1/s
        assert count(db, "SELECT count(*) FROM incidents") == before  # nothing written
        # Another integration is unaffected by the first one's flood.
        r = await client.post("/incidents", json=incident(), headers=bearer(other))
        assert r.status_code == 202, r.text
        # Retry-After is honest: after it, the hot token is admitted again.
        await asyncio.sleep(int(refused.headers["retry-after"]) + 0.05)
        r = await client.post("/incidents", json=incident(), headers=bearer(hot))
        assert r.status_code == 202, r.text
    finally:
        api_lanes.ENABLED = True


async def test_a_feed_over_its_limit_is_told_in_fhir_and_writes_nothing(
    client: httpx.AsyncClient, db: Engine, small_limits: None
) -> None:
    feed, other = await new_token(Role.feed), await new_token(Role.feed)
    fhir = {"Content-Type": "application/fhir+json", **bearer(feed)}
    for _ in range(3):  # admitted (and refused as no FHIR resource: still intake spent)
        r = await client.post("/fhir/AdverseEvent", content=b"{not json", headers=fhir)
        assert r.status_code == 400, r.text
    refusals = count(db, "SELECT count(*) FROM feed_refusals")
    refused = await client.post("/fhir/AdverseEvent", content=b"{not json", headers=fhir)
    assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
    assert refused.headers["content-type"] == "application/fhir+json"
    outcome = refused.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "throttled"
    assert count(db, "SELECT count(*) FROM feed_refusals") == refusals
    # The same token's allowance covers every feed route; plain JSON off the FHIR paths.
    r = await client.post("/feeds/code-blue/code-team", json={}, headers=bearer(feed))
    assert r.status_code == 429 and r.json()["detail"].startswith("too many requests")
    # Another feed's token is admitted (and gets the route's own answer).
    other_fhir = {"Content-Type": "application/fhir+json", **bearer(other)}
    r = await client.post("/fhir/AdverseEvent", content=b"{not json", headers=other_fhir)
    assert r.status_code == 400


# --- anything without a known token, per source address ------------------------------------


async def test_made_up_tokens_are_limited_per_address(
    client: httpx.AsyncClient, small_limits: None
) -> None:
    async with client_at("10.66.0.1") as flood, client_at("10.66.0.2") as neighbour:
        for _ in range(3):
            r = await flood.post("/incidents", json=incident(), headers=bearer(tokens.new_token()))
            assert r.status_code == 401
        r = await flood.post("/incidents", json=incident(), headers=bearer(tokens.new_token()))
        assert r.status_code == 429 and r.headers["retry-after"] == "10"  # 6 a minute
        assert (await flood.get("/healthz")).status_code == 429  # no token at all: the same
        # Another address is unaffected.
        r = await neighbour.post("/incidents", json=incident(), headers=bearer("svrr_nope"))
        assert r.status_code == 401
        # A token this process knows (looked up a moment ago, from anywhere) still passes
        # from the flooded address: an integration behind the same NAT keeps working.
        assert (await client.get("/healthz", headers=bearer(TOKEN))).status_code == 200
        r = await flood.post("/incidents", json=incident(), headers=bearer(TOKEN))
        assert r.status_code == 202, r.text


# --- Twilio's webhooks --------------------------------------------------------------------


def sid() -> str:
    return MARK + uuid.uuid4().hex[2:]


async def signed_post(client: httpx.AsyncClient, path: str, form: dict[str, str]) -> httpx.Response:
    """POST a form signed exactly as Twilio signs it (our public URL, query included)."""
    url = get_settings().public_base_url.rstrip("/") + path
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(url, form)
    headers = {
        "X-Twilio-Signature": signature,
        "Content-Type": "application/x-www-form-urlencoded",
    }
    return await client.post(path, content=urlencode(form).encode(), headers=headers)


def stored_sms(db: Engine, provider_sid: str) -> int:
    return count(db, "SELECT count(*) FROM inbound_sms WHERE provider_sid = :s", s=provider_sid)


def unknown_number() -> str:
    return f"+1555066{uuid.uuid4().int % 10**4:04d}"


async def test_inbound_sms_over_the_senders_limit_is_429_unless_it_signals_crisis(
    client: httpx.AsyncClient, db: Engine, small_limits: None
) -> None:
    hot, other = unknown_number(), unknown_number()

    async def sms(sender: str, body: str) -> tuple[httpx.Response, str]:
        message = sid()
        form = {"MessageSid": message, "From": sender, "To": OUR_NUMBER, "Body": body}
        return await signed_post(client, "/twilio/sms", form), message

    for _ in range(3):
        r, message = await sms(hot, "hello?")
        assert r.status_code == 200 and stored_sms(db, message) == 1
    r, message = await sms(hot, "hello?")
    assert r.status_code == 429 and r.headers["retry-after"] == "10"
    assert stored_sms(db, message) == 0
    assert hot not in r.text
    r, message = await sms(other, "hello?")
    assert r.status_code == 200 and stored_sms(db, message) == 1
    # Over the limit, a message that signals crisis is kept: the crisis rule outranks it.
    r, message = await sms(hot, "I can't do this anymore, I want to end it all")
    assert r.status_code == 200 and stored_sms(db, message) == 1
    # Over the limit, Twilio's second delivery of a message we hold is answered as the first
    # was, never refused: a 429 there would read as the sender's reply not arriving.
    again = {"MessageSid": message, "From": hot, "To": OUR_NUMBER, "Body": "again"}
    r = await signed_post(client, "/twilio/sms", again)
    assert r.status_code == 200 and stored_sms(db, message) == 1
    # Under the limit, redeliveries cost the sender nothing: after two copies of each of its
    # first messages, a fresh sender still has its whole allowance (3) for new ones.
    fresh = unknown_number()
    first, held = await sms(fresh, "hello?")
    copy = {"MessageSid": held, "From": fresh, "To": OUR_NUMBER, "Body": "hello?"}
    for _ in range(2):
        assert (await signed_post(client, "/twilio/sms", copy)).status_code == 200
    for _ in range(2):
        r, message = await sms(fresh, "hello?")
        assert r.status_code == 200 and stored_sms(db, message) == 1


async def test_forged_forms_do_not_spend_a_real_senders_allowance(
    client: httpx.AsyncClient, db: Engine, small_limits: None
) -> None:
    """The sender is counted only once Twilio's signature is checked: anyone can post a
    form naming a peer's number, and must not be able to silence that peer's replies."""
    peer = unknown_number()
    for _ in range(20):
        form = {"MessageSid": sid(), "From": peer, "To": OUR_NUMBER, "Body": "YES"}
        headers = {
            "X-Twilio-Signature": "forged",
            "Content-Type": "application/x-www-form-urlencoded",
        }
        r = await client.post("/twilio/sms", content=urlencode(form).encode(), headers=headers)
        assert r.status_code == 403
    message = sid()
    form = {"MessageSid": message, "From": peer, "To": OUR_NUMBER, "Body": "YES"}
    r = await signed_post(client, "/twilio/sms", form)
    assert r.status_code == 200 and stored_sms(db, message) == 1


async def test_status_callbacks_are_never_limited(
    client: httpx.AsyncClient, db: Engine, small_limits: None
) -> None:
    """However many arrive from one address, for one page, with every limit spent: Twilio
    does not retry a refused status callback, and a lost failure would stall a case."""
    async with client_at("10.66.0.9") as twilio:
        for _ in range(4):  # the address's allowance for requests without a token, spent
            await twilio.get("/healthz")
        assert (await twilio.get("/healthz")).status_code == 429
        page = uuid.uuid4()
        for n in range(60):
            api_lanes.ENABLED = n % 3 != 0  # the lane, and the full app behind it
            try:
                form = {"MessageSid": sid(), "MessageStatus": "delivered"}
                r = await signed_post(twilio, f"/twilio/status?page={page}", form)
            finally:
                api_lanes.ENABLED = True
            # 204: stored (a callback is answered only once its insert has committed).
            assert r.status_code == 204, (n, r.text)


# --- answers to a number we do not know ----------------------------------------------------


def answers(db: Engine, number: str) -> list[str]:
    return [kind for kind, _ in messages(db, to=number)]


async def auto_responder(db: Engine, number: str, body: str, rounds: int = 20) -> list[str]:
    """A phone that answers every SMS it gets with `body`, as an out-of-office does, and
    writes first: what handle_sms did with each of its messages, until we fell silent (or
    `rounds` messages, a loop that did not end)."""
    done = []
    for _ in range(rounds):
        before = len(answers(db, number))
        done.append(await reply(db, number, body))
        if len(answers(db, number)) == before:
            break  # nothing sent to it: nothing for it to answer
    return done


async def test_a_loop_with_an_auto_responder_ends_at_the_cap(db: Engine) -> None:
    number = unknown_number()
    done = await auto_responder(db, number, "Auto-reply: I am out of the office until Monday")
    assert done == ["help", "help", "help", "unanswered"]
    assert answers(db, number) == ["help"] * 3
    # It stays ended: whatever the phone sends, and whoever handles it (the count is in the
    # store, so every worker and a restarted one read the same).
    assert await reply(db, number, "Auto-reply: I am out of the office until Monday") == (
        "unanswered"
    )
    assert len(answers(db, number)) == 3
    # Once the window has passed (the answers aged by a day), the number is answered again.
    with db.begin() as conn:
        conn.execute(
            text(
                "UPDATE messages SET created_at = created_at - interval '25 hours' "
                "WHERE to_number_key = :n"
            ),
            {"n": lookup(number)},
        )
    assert await reply(db, number, "hello again") == "help"
    assert len(answers(db, number)) == 4


async def test_a_crisis_past_the_cap_gets_the_crisis_line_once_and_the_coordinator_always(
    db: Engine,
) -> None:
    number = unknown_number()
    coordinator = get_settings().coordinator_number
    for _ in range(3):
        assert await reply(db, number, "hello?") == "help"
    assert await reply(db, number, "hello?") == "unanswered"
    told = len(messages(db, to=coordinator))
    crisis = "I can't go on, I want to end it all"
    assert await reply(db, number, crisis) == "crisis"
    assert answers(db, number) == ["help"] * 3 + ["crisis_reply"]
    # An auto-responder echoing crisis words gets no more: the loop ends here too; the
    # coordinator hears of every one of them (a human looks).
    assert await reply(db, number, crisis) == "crisis"
    assert answers(db, number) == ["help"] * 3 + ["crisis_reply"]
    assert len(messages(db, to=coordinator)) == told + 2


async def test_a_known_number_gets_more_help_but_a_loop_with_it_ends_too(db: Engine) -> None:
    """A staff member's number is not held to the stranger's cap of 3 answers, but help texts
    to any number stop at HELP_ANSWERS_PER_NUMBER a day: a clinician's or peer's own
    auto-responder is never understood, and each of its messages got the help text, which
    it answered, for ever (the cap was for unknown numbers only)."""
    staff_number = str(
        opened(
            str(
                q(
                    db,
                    "SELECT s.mobile_e164 FROM staff s WHERE s.active AND NOT s.opted_out "
                    "AND s.undeliverable_code IS NULL AND s.mobile_e164 IS NOT NULL "
                    "AND NOT EXISTS (SELECT 1 FROM support_cases c WHERE c.staff_id = s.staff_id) "
                    "AND NOT EXISTS (SELECT 1 FROM pages p WHERE p.to_number_key = s.mobile_key) "
                    "AND NOT EXISTS "
                    "(SELECT 1 FROM messages m WHERE m.to_number_key = s.mobile_key) "
                    "AND NOT EXISTS "
                    "(SELECT 1 FROM sms_opt_outs o WHERE o.number_key = s.mobile_key) "
                    "ORDER BY s.staff_id LIMIT 1",
                )[0][0]
            ),
            "staff.mobile_e164",
        )
    )
    done = await auto_responder(db, staff_number, "which ward is it", rounds=8)
    assert done == ["help"] * 5 + ["unanswered"]
    assert answers(db, staff_number) == ["help"] * 5


# --- the same loop through the live stack: the worker answers, the stand-in auto-replies ----


@pytest.fixture
async def autoreplies(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.standin_url, timeout=10) as standin:
        yield standin
        await standin.delete("/_standin/autoreply")


async def test_the_loop_ends_through_the_worker_and_the_stand_in(
    stack: Stack, db: Engine, autoreplies: httpx.AsyncClient
) -> None:
    number = unknown_number()
    rule = {"number": number, "body": "Out of office. Reply URGENT for help.", "delay": 0.2}
    assert (await autoreplies.post("/_standin/autoreply", json=rule | {"once": False})).is_success
    first = {"from": number, "to": OUR_NUMBER, "body": "hi, who is this?"}
    assert (await autoreplies.post("/_standin/inbound", json=first)).json()["status"] == 200

    def sent_to() -> list[dict[str, object]]:
        got = httpx.get(f"{stack.standin_url}/_standin/messages", params={"to": number})
        return list(got.json())

    await eventually(lambda: len(sent_to()) >= 3, 60, "three answers at the stand-in")
    # Quiet: no fourth answer however long the auto-responder waits for one.
    await eventually(
        lambda: (
            count(
                db, "SELECT count(*) FROM inbound_sms WHERE from_number_key = :n", n=lookup(number)
            )
            == 4
        ),
        30,
        "the auto-responder's third answer stored",
    )
    await eventually(
        lambda: (
            count(
                db,
                "SELECT count(*) FROM inbound_sms WHERE from_number_key = :n "
                "AND handled_at IS NULL",
                n=lookup(number),
            )
            == 0
        ),
        30,
        "every message from the number handled",
    )
    await asyncio.sleep(3)
    assert len(sent_to()) == 3
    assert answers(db, number) == ["help"] * 3
    assert (
        count(db, "SELECT count(*) FROM inbound_sms WHERE from_number_key = :n", n=lookup(number))
        == 4
    )
    # The worker counted in the store: this process, another one, agrees.
    assert await reply(db, number, "Out of office. Reply URGENT for help.") == "unanswered"
