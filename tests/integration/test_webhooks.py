"""Twilio's webhooks take whatever a signed form holds and never answer 5xx; delivery statuses
only move forward.

A tester saw 580 answers of 500 from correctly signed but unusual forms (short-code and
WhatsApp senders, values longer than their columns, NUL bytes, ErrorCode '²', an ErrorCode
beyond 32 bits). The regressions below pin each cause; the fuzz tests keep the class closed:
arbitrary text in every field of a signed form, and a valid reply is still recorded.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.engine import Engine
from twilio.request_validator import RequestValidator

from schemas.events import DeliveryStatus
from services import limits
from services.auth import TWILIO_BODY_LIMIT
from services.cases import outbound
from services.config import get_settings
from services.db import transaction
from services.paging import callbacks, sending
from services.paging.views import storable_text
from tests.integration.sealed import lookup, opened
from tests.integration.test_exactly_once import new_claimed_page
from tests.integration.test_flows import open_case, q
from tests.integration.test_status_callbacks import apply_all
from tests.stack import TWILIO_TOKEN, Stack, eventually

# Measured on the 2-core VM: about 25 ms a request, about 15 s for both.
SMS_EXAMPLES = 300
STATUS_EXAMPLES = 400
FUZZ = settings(
    max_examples=SMS_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def sid() -> str:
    return "SM" + uuid.uuid4().hex


def signed(path: str, form: dict[str, str]) -> dict[str, str]:
    """Signed exactly as Twilio signs: our public URL (query included) and the params."""
    url = get_settings().public_base_url.rstrip("/") + path
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(url, form)
    return {"X-Twilio-Signature": signature}


async def post(client: httpx.AsyncClient, path: str, form: dict[str, str]) -> httpx.Response:
    return await client.post(path, data=form, headers=signed(path, form))


def over_the_cap(form: dict[str, str]) -> bool:
    """A form bigger than any Twilio sends: refused with 413 before it is read, by design."""
    return len(urlencode(form).encode()) > TWILIO_BODY_LIMIT


def inbound(db: Engine, provider_sid: str) -> list[tuple[object, ...]]:
    """(from, to, body) as stored for the message, the sender and the text opened (their
    lookup value checked against the sender)."""
    with db.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT from_number, from_number_key, to_number, body FROM inbound_sms "
                "WHERE provider_sid = :s"
            ),
            {"s": provider_sid},
        ).all()
    found = []
    for sealed_from, key, to, body in rows:
        sender = opened(sealed_from, "inbound_sms.from_number")
        assert sender is not None and key == lookup(sender)
        found.append((sender, to, opened(body, "inbound_sms.body")))
    return found


# --- the five causes of 500, one by one -----------------------------------------------------


@pytest.mark.parametrize(
    "sender",
    ["whatsapp:+15550109001", "12345", "ACME Clinic", "+1555010900112345678", "+1555\x000109001"],
)
async def test_a_sender_that_is_not_a_phone_is_acknowledged_and_not_stored(
    client: httpx.AsyncClient, db: Engine, sender: str
) -> None:
    message = sid()
    form = {"MessageSid": message, "From": sender, "To": "+15005550006", "Body": "YES"}
    r = await post(client, "/twilio/sms", form)
    assert r.status_code == 200, r.text
    assert "<Response>" in r.text
    assert inbound(db, message) == []


async def test_a_real_reply_with_odd_fields_is_recorded(
    client: httpx.AsyncClient, db: Engine
) -> None:
    message = sid()
    form = {
        "MessageSid": message,
        "From": "+15550109002",
        "To": "whatsapp:+15005550006" + "9" * 30,  # our side: not a phone, over 16
        "Body": "1A\x00 yes" + "x" * 2000,
        "NumMedia": "\x00" * 10,
    }
    r = await post(client, "/twilio/sms", form)
    assert r.status_code == 200, r.text
    ((from_number, to_number, body),) = inbound(db, message)
    assert (from_number, to_number) == ("+15550109002", "")
    assert body.startswith("1A yes") and len(body) == 1600


@pytest.mark.parametrize(
    "form",
    [
        {"MessageSid": "SM" + "a" * 70, "From": "+15550109003", "Body": "x"},  # over 64
        {"MessageSid": "SM\x00" + "a" * 31, "From": "+15550109003", "Body": "x"},
        {"From": "+15550109003", "Body": "x"},
    ],
)
async def test_a_form_without_a_usable_sid_is_400(
    client: httpx.AsyncClient, form: dict[str, str]
) -> None:
    r = await post(client, "/twilio/sms", form)
    assert r.status_code == 400, r.text
    assert "+15550109003" not in r.text  # names the field, never the value


@pytest.mark.parametrize("code", ["²", "9" * 12, str(2**40), "-5", "30006\x00", "३०००६"])
async def test_an_unreadable_error_code_still_records_the_failure(
    client: httpx.AsyncClient, db: Engine, code: str
) -> None:
    claim = await new_claimed_page(db, "N1103")
    message = sid()
    path = f"/twilio/status?page={claim.page_id}"
    form = {"MessageSid": message, "MessageStatus": "failed", "ErrorCode": code, "From": "x"}
    r = await post(client, path, form)
    assert r.status_code == 204, r.text
    await apply_all()
    with db.connect() as conn:
        state, error, provider_sid = conn.execute(
            text("SELECT state, error_code, provider_sid FROM pages WHERE id = :p"),
            {"p": claim.page_id},
        ).one()
    assert (state, error, provider_sid) == ("failed", None, message)


@pytest.mark.parametrize(
    "form",
    [
        {"MessageSid": "SM" + "b" * 80, "MessageStatus": "delivered"},
        {"MessageSid": sid(), "MessageStatus": "delivered\x00"},
        {"MessageSid": sid(), "MessageStatus": "exploded"},
    ],
)
async def test_a_status_form_we_cannot_use_is_400(
    client: httpx.AsyncClient, form: dict[str, str]
) -> None:
    r = await post(client, f"/twilio/status?page={uuid.uuid4()}", form)
    assert r.status_code == 400, r.text


async def test_an_unsigned_form_is_refused_before_it_is_read(client: httpx.AsyncClient) -> None:
    r = await client.post("/twilio/sms", data={"MessageSid": sid(), "From": "+15550109004"})
    assert r.status_code == 403
    forged = {"X-Twilio-Signature": "Zm9yZ2Vk"}
    form = {"MessageSid": sid(), "From": "+15550109004"}
    assert (await client.post("/twilio/sms", data=form, headers=forged)).status_code == 403


# --- fuzz: arbitrary signed forms -----------------------------------------------------------

ODD = st.sampled_from(
    [
        "",
        "\x00",
        "²",
        "३",
        "whatsapp:+15550109005",
        "+1555010900512345678",
        "12345",
        "ACME",
        str(2**40),
        "9" * 70,
        "SM" + "c" * 80,
        "\ud7ff\ue000\U0010ffff",
        "delivered",
        "failed",
        "+15550109005",
    ]
)
VALUE = st.one_of(
    ODD,
    st.text(max_size=40),
    st.text(max_size=40).map(lambda t: t + "\x00" + t),
    st.text(min_size=1, max_size=8).map(lambda t: t * 400),  # huge, still under the body cap
)
FIELDS = ["MessageSid", "SmsSid", "From", "To", "Body", "MessageStatus", "ErrorCode"]
# Every field Twilio sends may be there or not, with anything in it, plus fields we never read.
FORM = st.builds(
    lambda known, extra: extra | known,
    st.fixed_dictionaries({}, optional=dict.fromkeys(FIELDS, VALUE)),
    st.dictionaries(st.text(min_size=1, max_size=12), VALUE, max_size=3),
)
ERROR_CODE = st.one_of(
    VALUE,
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.text(alphabet=st.characters(categories=["Nd", "No"]), min_size=1, max_size=12),
)
PHONE = st.integers(min_value=0, max_value=9999).map(lambda n: f"+1555019{n:04d}")


@st.composite
def sms_forms(draw: st.DrawFn) -> tuple[dict[str, str], bool]:
    """A form and whether it is a real reply (a Twilio sid and a phone sender) that must be
    recorded whatever else it holds."""
    real = draw(st.booleans())
    form = draw(FORM)
    if real:
        form |= {"MessageSid": sid(), "From": draw(PHONE)}
        form["Body"] = draw(VALUE)
        form.pop("SmsSid", None)
    return form, real


@FUZZ
@pytest.mark.fuzz
@given(case=sms_forms())
async def test_fuzz_inbound_sms_never_5xx_and_keeps_real_replies(
    client: httpx.AsyncClient, db: Engine, case: tuple[dict[str, str], bool]
) -> None:
    form, real = case
    # Hypothesis draws the same sender many times a second, which is a flood to the sender
    # limit (429); each example here is one message, so each starts with fresh buckets (the
    # limit itself: tests/integration/test_limits.py).
    limits.reset()
    r = await post(client, "/twilio/sms", form)
    assert r.status_code < 500, (r.status_code, r.text)
    if over_the_cap(form):
        assert r.status_code == 413
        return
    if real:
        assert r.status_code == 200, r.text
        rows = inbound(db, form["MessageSid"])
        assert len(rows) == 1, form
        assert rows[0][0] == form["From"]
        assert rows[0][2] == storable_text(form["Body"])[:1600]


@pytest.mark.fuzz
@settings(FUZZ, max_examples=STATUS_EXAMPLES)
@given(
    form=FORM,
    status=st.one_of(st.sampled_from([s.value for s in DeliveryStatus]), VALUE),
    error=st.one_of(st.none(), ERROR_CODE),
    target=st.sampled_from(["page", "pages", "message", "junk"]),
    real_sid=st.booleans(),
)
async def test_fuzz_status_callback_never_5xx(
    client: httpx.AsyncClient,
    db: Engine,
    status_page: uuid.UUID,
    form: dict[str, str],
    status: str,
    error: str | None,
    target: str,
    real_sid: bool,
) -> None:
    await apply_all()  # the last example's callback is not applied over this one's
    # The page as a worker holds it: claimed just now, no sid yet. A claim left as it was
    # when the fixture made it goes stale while the examples run, and the live worker's
    # sweep then sends the page itself, under a sid of its own.
    with db.begin() as conn:
        conn.execute(
            text(
                "UPDATE pages SET state = 'sending', sent_at = NULL, provider_sid = NULL, "
                "delivered_at = NULL, error_code = NULL, claimed_at = now() WHERE id = :p"
            ),
            {"p": status_page},
        )
    form = form | {"MessageStatus": status}
    if error is not None:
        form["ErrorCode"] = error
    if real_sid:
        form["MessageSid"] = sid()
    query = {
        "page": f"page={status_page}",
        "pages": f"pages={status_page},{uuid.uuid4()}",
        "message": f"message={uuid.uuid4()}",
        "junk": "pages=not-a-uuid",
    }[target]
    r = await post(client, f"/twilio/status?{query}", form)
    assert r.status_code < 500, (r.status_code, r.text)
    if over_the_cap(form):
        assert r.status_code == 413
        return
    if real_sid and status in {s.value for s in DeliveryStatus} and target in ("page", "pages"):
        # A well-formed callback is recorded whatever else its form holds.
        assert r.status_code == 204, r.text
        await apply_all()
        recorded = q(db, "SELECT provider_sid FROM pages WHERE id = :p", p=status_page)
        assert recorded == [(form["MessageSid"],)]


@pytest.fixture
async def status_page(db: Engine) -> AsyncIterator[uuid.UUID]:
    """A real page for the status fuzz to land on (claimed, as a worker would hold it).

    The fuzz sends error codes that mark a number as unable to take SMS; the seed peer the
    page went to is given their number back afterwards, or later tests would lose a peer.
    """
    page_id = (await new_claimed_page(db, "N1102")).page_id
    yield page_id
    with db.begin() as conn:
        conn.execute(
            text(
                "UPDATE staff SET undeliverable_code = NULL, undeliverable_at = NULL "
                "WHERE mobile_key = (SELECT to_number_key FROM pages WHERE id = :p)"
            ),
            {"p": page_id},
        )


# --- the rule for one page (no stand-in; applied in sets: test_status_callbacks.py) -------


async def test_a_repeated_status_writes_nothing(db: Engine) -> None:
    claim = await new_claimed_page(db, "N1103")
    message = sid()
    events = []
    for _ in range(5):
        async with transaction() as session:
            events.append(
                await callbacks.record_status(
                    session, claim.page_id, message, DeliveryStatus.delivered, None
                )
            )
    assert events[0] is not None and events[1:] == [None] * 4
    with db.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT count(*) FROM page_transitions WHERE page_id = :p AND state = 'delivered'"
            ),
            {"p": claim.page_id},
        ).scalar()
    assert rows == 1


# --- through the real stand-in: duplicates, reordering, stale failures ----------------------

PEER_NUMBERS = ["+15550101101", "+15550101102", "+15550104101", "+15550102101"]


def replay(
    stack: Stack, message_sid: str, status: str, times: int = 1, code: int | None = None
) -> list[int | None]:
    """Have the stand-in post a status callback again, as Twilio's retries and reordering do."""
    r = httpx.post(
        f"{stack.standin_url}/_standin/messages/{message_sid}/callbacks",
        json={"status": status, "times": times, "error_code": code},
        timeout=30,
    )
    r.raise_for_status()
    return r.json()["http_status"]


def page_row(db: Engine, case_id: uuid.UUID, attempt: int) -> dict[str, object] | None:
    with db.connect() as conn:
        row = conn.execute(
            text(
                "SELECT id, state, provider_sid, error_code FROM pages "
                "WHERE case_id = :c AND attempt = :a"
            ),
            {"c": case_id, "a": attempt},
        ).mappings()
        found = row.first()
    return dict(found) if found else None


def footprint(db: Engine, page_id: object) -> tuple[int, int]:
    """What a status leaves behind: transition rows and PageStatusChanged events."""
    with db.connect() as conn:
        rows = conn.execute(
            text("SELECT count(*) FROM page_transitions WHERE page_id = :p"), {"p": page_id}
        ).scalar()
        events = conn.execute(
            text(
                "SELECT count(*) FROM outbox WHERE topic LIKE '%page-status-changed%' "
                "AND payload->>'page_id' = :p"
            ),
            {"p": str(page_id)},
        ).scalar()
    return int(rows or 0), int(events or 0)


def open_wait(db: Engine, case_id: uuid.UUID) -> list[tuple[object, ...]]:
    return q(
        db,
        "SELECT payload->>'page_id', due_at FROM deadlines WHERE case_id = :c "
        "AND kind = 'page_timeout' AND fired_at IS NULL",
        c=case_id,
    )


async def test_replayed_and_late_callbacks_change_nothing(stack: Stack, db: Engine) -> None:
    case = await open_case(db)
    first = await eventually(
        lambda: (p := page_row(db, case.id, 1)) and p["state"] == "delivered" and p,
        30,
        "first page delivered",
        0.1,
    )
    settled = footprint(db, first["id"])
    waiting = open_wait(db, case.id)
    assert len(waiting) == 1
    # Five replays of "delivered" (the tester saw five transitions and five events) ...
    assert replay(stack, str(first["provider_sid"]), "delivered", times=5) == [204] * 5
    # ... then a late "undelivered" (it moved the page back and escalated) and a late "sent".
    assert replay(stack, str(first["provider_sid"]), "undelivered", code=30006) == [204]
    assert replay(stack, str(first["provider_sid"]), "sent") == [204]
    await apply_all()
    await asyncio.sleep(2)  # time for the worker to escalate, were it told to
    assert footprint(db, first["id"]) == settled
    assert page_row(db, case.id, 1)["state"] == "delivered"  # type: ignore[index]
    assert page_row(db, case.id, 2) is None
    assert open_wait(db, case.id) == waiting
    # A stale failure says nothing about the phone: the peer's number is not marked.
    marked = q(
        db,
        "SELECT s.undeliverable_code FROM staff s JOIN pages p ON p.to_number_key = s.mobile_key "
        "WHERE p.id = :p",
        p=first["id"],
    )
    assert marked == [(None,)]


async def test_a_late_failure_of_an_earlier_page_does_not_cut_the_next_wait(
    stack: Stack, db: Engine
) -> None:
    # The carriers never confirm: pages stay 'sent', so a failure may still come for them.
    for number in PEER_NUMBERS:
        httpx.post(
            f"{stack.standin_url}/_standin/numbers", json={"number": number, "delivery": "sent"}
        ).raise_for_status()
    try:
        case = await open_case(db)
        first = await eventually(
            lambda: (p := page_row(db, case.id, 1)) and p["provider_sid"] and p,
            30,
            "first page sent",
            0.1,
        )
        with db.begin() as conn:  # nobody answered page 1 within its wait
            conn.execute(
                text(
                    "UPDATE deadlines SET due_at = now() - interval '1 second' "
                    "WHERE case_id = :c AND kind = 'page_timeout' AND fired_at IS NULL"
                ),
                {"c": case.id},
            )
        second = await eventually(
            lambda: (p := page_row(db, case.id, 2)) and p["provider_sid"] and p,
            30,
            "second page sent",
            0.1,
        )
        waiting = open_wait(db, case.id)
        assert [w[0] for w in waiting] == [str(second["id"])]
        # Page 1's carrier reports a failure only now, after page 2 went out.
        assert replay(stack, str(first["provider_sid"]), "failed", code=30003) == [204]
        await apply_all()
        await asyncio.sleep(2)
        assert page_row(db, case.id, 1)["state"] == "failed"  # type: ignore[index]
        assert open_wait(db, case.id) == waiting  # page 2's wait is not cut short
        assert page_row(db, case.id, 3) is None  # and no page 3
        # A failure of the current page still escalates at once.
        assert replay(stack, str(second["provider_sid"]), "failed", code=30003) == [204]
        await eventually(
            lambda: page_row(db, case.id, 3), 30, "escalation after page 2 failed", 0.1
        )
    finally:
        httpx.delete(f"{stack.standin_url}/_standin/numbers")


async def test_a_message_status_only_moves_forward(stack: Stack, db: Engine) -> None:
    number = f"+1555019{uuid.uuid4().int % 10000:04d}"
    async with transaction() as session:
        message_id = await outbound.enqueue(
            session, kind="help", to_number=number, body="status order check"
        )
    assert message_id is not None
    await sending.deliver_message(message_id)

    def row() -> tuple[object, ...]:
        return q(
            db, "SELECT state, provider_sid, error_code FROM messages WHERE id = :i", i=message_id
        )[0]

    state, message_sid, _ = await eventually(
        lambda: (r := row())[0] == "delivered" and r, 30, "sent"
    )
    assert replay(stack, str(message_sid), "delivered", times=3) == [204] * 3
    assert replay(stack, str(message_sid), "failed", code=30008) == [204]
    assert replay(stack, str(message_sid), "sent") == [204]
    await apply_all()
    assert row() == ("delivered", message_sid, None)


def test_odd_senders_through_the_stand_in_are_not_500(stack: Stack, db: Engine) -> None:
    for sender in ("whatsapp:+15550109006", "24273", "ACMEHOSP"):
        r = httpx.post(
            f"{stack.standin_url}/_standin/inbound",
            json={"from": sender, "to": "+15005550006", "body": "YES"},
            timeout=30,
        )
        assert r.json()["status"] == 200, r.text
