"""Twilio's webhooks take whatever a signed form holds and never answer 5xx; delivery statuses
only move forward.

A tester saw 580 answers of 500 from correctly signed but unusual forms (short-code and
WhatsApp senders, values longer than their columns, NUL bytes, ErrorCode '²', an ErrorCode
beyond 32 bits). The regressions below pin each cause; the fuzz tests keep the class closed:
arbitrary text in every field of a signed form, and a valid reply is still recorded.
"""

from __future__ import annotations

import uuid
from itertools import product

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.engine import Engine
from twilio.request_validator import RequestValidator

from schemas.events import DeliveryStatus
from services.config import get_settings
from services.db import transaction
from services.paging import service as paging
from services.paging.delivery import Delivery, advance
from services.paging.views import storable_text
from tests.stack import TWILIO_TOKEN
from tests.test_exactly_once import new_claimed_page

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


def inbound(db: Engine, provider_sid: str) -> list[tuple[object, ...]]:
    with db.connect() as conn:
        rows = conn.execute(
            text("SELECT from_number, to_number, body FROM inbound_sms WHERE provider_sid = :s"),
            {"s": provider_sid},
        ).all()
    return [tuple(r) for r in rows]


# --- the order rule -------------------------------------------------------------------------

# Every (current, incoming) pair: what is written (None: nothing at all).
D = Delivery
S = DeliveryStatus
EXPECTED: dict[Delivery, dict[DeliveryStatus, Delivery | None]] = {
    D.none: {
        S.accepted: D.queued,
        S.queued: D.queued,
        S.sending: D.queued,
        S.sent: D.sent,
        S.delivered: D.delivered,
        S.read: D.delivered,
        S.undelivered: D.undelivered,
        S.failed: D.failed,
        S.canceled: D.failed,
    },
    D.queued: {
        S.accepted: None,
        S.queued: None,
        S.sending: None,
        S.sent: D.sent,
        S.delivered: D.delivered,
        S.read: D.delivered,
        S.undelivered: D.undelivered,
        S.failed: D.failed,
        S.canceled: D.failed,
    },
    D.sent: {
        S.accepted: None,
        S.queued: None,
        S.sending: None,
        S.sent: None,
        S.delivered: D.delivered,
        S.read: D.delivered,
        S.undelivered: D.undelivered,
        S.failed: D.failed,
        S.canceled: D.failed,
    },
    # Final: a replay or a late failure after delivery changes nothing.
    D.delivered: dict.fromkeys(S, None),
    D.undelivered: dict.fromkeys(S, None),
    D.failed: dict.fromkeys(S, None),
}


def test_order_table_covers_every_pair() -> None:
    assert set(EXPECTED) == set(Delivery)
    assert all(set(row) == set(DeliveryStatus) for row in EXPECTED.values())


@pytest.mark.parametrize(
    ("current", "incoming"), list(product(Delivery, DeliveryStatus)), ids=lambda v: str(v)
)
def test_a_status_only_moves_forward(current: Delivery, incoming: DeliveryStatus) -> None:
    assert advance(current, incoming) == EXPECTED[current][incoming]


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
FIELD = st.sampled_from(
    ["MessageSid", "SmsSid", "From", "To", "Body", "MessageStatus", "ErrorCode"]
)
EXTRA = st.dictionaries(st.one_of(FIELD, st.text(min_size=1, max_size=12)), VALUE, max_size=4)
PHONE = st.integers(min_value=0, max_value=9999).map(lambda n: f"+1555019{n:04d}")


@st.composite
def sms_forms(draw: st.DrawFn) -> tuple[dict[str, str], bool]:
    """A form and whether it is a real reply (a Twilio sid and a phone sender) that must be
    recorded whatever else it holds."""
    real = draw(st.booleans())
    form = draw(EXTRA)
    if real:
        form |= {"MessageSid": sid(), "From": draw(PHONE)}
        form["Body"] = draw(VALUE)
        form.pop("SmsSid", None)
    return form, real


@FUZZ
@given(case=sms_forms())
async def test_fuzz_inbound_sms_never_5xx_and_keeps_real_replies(
    client: httpx.AsyncClient, db: Engine, case: tuple[dict[str, str], bool]
) -> None:
    form, real = case
    r = await post(client, "/twilio/sms", form)
    assert r.status_code < 500, (r.status_code, r.text)
    if real:
        assert r.status_code == 200, r.text
        rows = inbound(db, form["MessageSid"])
        assert len(rows) == 1, form
        assert rows[0][0] == form["From"]
        assert rows[0][2] == storable_text(form["Body"])[:1600]


@settings(FUZZ, max_examples=STATUS_EXAMPLES)
@given(
    form=EXTRA,
    status=st.one_of(st.sampled_from([s.value for s in DeliveryStatus]), VALUE),
    target=st.sampled_from(["page", "pages", "message", "junk"]),
    real_sid=st.booleans(),
)
async def test_fuzz_status_callback_never_5xx(
    client: httpx.AsyncClient,
    db: Engine,
    status_page: uuid.UUID,
    form: dict[str, str],
    status: str,
    target: str,
    real_sid: bool,
) -> None:
    form = form | {"MessageStatus": status}
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


@pytest.fixture
async def status_page(db: Engine) -> uuid.UUID:
    """A real page for the status fuzz to land on (claimed, as a worker would hold it)."""
    return (await new_claimed_page(db, "N1102")).page_id


# --- status order through the service (no stand-in) ---------------------------------------


async def test_a_repeated_status_writes_nothing(db: Engine) -> None:
    claim = await new_claimed_page(db, "N1103")
    message = sid()
    events = []
    for _ in range(5):
        async with transaction() as session:
            events.append(
                await paging.record_status(
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
