"""The Twilio stand-in must look like Twilio to the real `twilio` library.

The product's paging, retry and reconciliation tests all lean on the stand-in, so these
tests drive it only through the real library (sync and async) and through a receiver that
validates signatures with the library's own RequestValidator, as the product does.
"""

from __future__ import annotations

import asyncio
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import structlog.testing
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

import deploy.standin as standin_mod
from deploy.standin import app as standin_app
from deploy.standin import control as standin_control
from deploy.standin import messages_api as standin_messages_api
from deploy.standin import phones as standin_phones
from deploy.standin import records as standin_records
from deploy.standin import state as standin_state
from deploy.standin import webhooks as standin_webhooks

ACCOUNT = "AC" + "1234abcd" * 4
TOKEN = "test-auth-token"
SENDER = "+15005550006"
SERVICE = "MG" + "ab" * 16

# Every part of the stand-in that logs: the log tests capture them all.
LOGGING_PARTS = (
    standin_app,
    standin_control,
    standin_messages_api,
    standin_phones,
    standin_state,
    standin_webhooks,
)


def number() -> str:
    """A fresh recipient per test keeps tests independent without clearing shared state."""
    return f"+1555{random.randrange(10**6, 10**7)}"


class ServerThread:
    """uvicorn on an ephemeral 127.0.0.1 port: the twilio library needs a real URL."""

    def __init__(self, app: Any) -> None:
        # port=0 rather than a pre-bound socket: uvicorn's sockets= path costs a ~40 ms
        # Nagle/delayed-ACK stall on every keep-alive request.
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, log_level="warning", access_log=False, lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = ""

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 5
        while not self.server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)


@dataclass
class Hit:
    path: str
    params: dict[str, str]
    signature: str | None
    valid: bool


@dataclass
class Receiver:
    """Plays the product: validates X-Twilio-Signature and records every webhook."""

    url: str = ""
    hits: list[Hit] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    flaky: dict[str, int] = field(default_factory=dict)

    def app(self) -> Starlette:
        validator = RequestValidator(TOKEN)

        async def record(request: Request) -> Hit:
            form = await request.form()
            params = {k: str(v) for k, v in form.items()}
            sig = request.headers.get("X-Twilio-Signature")
            valid = sig is not None and validator.validate(str(request.url), params, sig)
            hit = Hit(request.url.path, params, sig, valid)
            with self.lock:
                self.hits.append(hit)
            return hit

        async def status(request: Request) -> Response:
            await record(request)
            return PlainTextResponse("")

        async def flaky(request: Request) -> Response:
            path = request.url.path
            with self.lock:
                left = self.flaky.get(path, int(request.path_params["n"]))
                self.flaky[path] = left - 1
            if left > 0:
                return PlainTextResponse("down", status_code=503)
            await record(request)
            return PlainTextResponse("")

        async def sms(request: Request) -> Response:
            hit = await record(request)
            if not hit.valid:
                return PlainTextResponse("bad signature", status_code=403)
            twiml = "<Response/>"
            if request.url.path.endswith("/reply"):
                twiml = "<Response><Message>Thanks, you are confirmed</Message></Response>"
            return Response(twiml, media_type="text/xml")

        return Starlette(
            routes=[
                Route("/status/{name}", status, methods=["POST"]),
                Route("/flaky/{n:int}/{name}", flaky, methods=["POST"]),
                Route("/sms", sms, methods=["POST"]),
                Route("/sms/reply", sms, methods=["POST"]),
            ]
        )

    def wait_for(self, pred: Callable[[list[Hit]], bool], timeout: float = 3.0) -> list[Hit]:
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                hits = list(self.hits)
            if pred(hits):
                return hits
            assert time.monotonic() < deadline, f"timed out; saw {hits}"
            time.sleep(0.01)

    def at(self, path: str) -> list[Hit]:
        with self.lock:
            return [h for h in self.hits if h.path == path]


@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    with ServerThread(rec.app()) as server:
        rec.url = server.url
        yield rec


@pytest.fixture(scope="session")
def standin_url(receiver: Receiver) -> Iterator[str]:
    app = standin_mod.create_app(
        ACCOUNT,
        TOKEN,
        sms_url=f"{receiver.url}/sms",
        status_delay=0.01,
        callback_attempts=4,
        callback_backoff=0.01,
        callback_timeout=1.0,
    )
    with ServerThread(app) as server:
        yield server.url


@pytest.fixture(scope="session")
def control(standin_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=standin_url, timeout=10) as client:
        yield client


@pytest.fixture
def client(standin_url: str) -> Client:
    # environment={} so a stray TWILIO_REGION/TWILIO_EDGE cannot rewrite the host.
    c = Client(ACCOUNT, TOKEN, environment={})
    c.api.base_url = standin_url
    return c


def wait_status(control: httpx.Client, to: str, status: str, count: int = 1) -> list[dict]:
    deadline = time.monotonic() + 3
    while True:
        msgs = control.get("/_standin/messages", params={"to": to}).json()
        settled = all(
            (len(m["callbacks"]) >= 2 or m["status"] == "failed" or not m["status_callback"])
            and all(c["posted_at"] for c in m["callbacks"])
            for m in msgs
        )
        if settled and sum(m["status"] == status for m in msgs) >= count:
            return msgs
        assert time.monotonic() < deadline, msgs
        time.sleep(0.01)


# --------------------------------------------------------------------------- REST API


def test_sync_client_creates_and_fetches(client: Client, control: httpx.Client) -> None:
    to = number()
    msg = client.messages.create(to=to, from_=SENDER, body="Peer support page")
    assert msg.sid.startswith("SM") and len(msg.sid) == 34
    assert msg.status == "queued"
    assert msg.to == to and msg.from_ == SENDER and msg.account_sid == ACCOUNT
    assert msg.direction == "outbound-api" and msg.api_version == "2010-04-01"
    assert msg.num_segments == "1" and msg.price is None and msg.error_code is None
    assert isinstance(msg.date_created, datetime) and msg.date_sent is None

    wait_status(control, to, "delivered")
    fetched = client.messages(msg.sid).fetch()
    assert fetched.status == "delivered"
    assert isinstance(fetched.date_sent, datetime)

    recorded = control.get("/_standin/messages", params={"to": to}).json()
    assert [m["sid"] for m in recorded] == [msg.sid]
    assert recorded[0]["body"] == "Peer support page"
    received = datetime.fromisoformat(recorded[0]["received_at"])
    assert received.tzinfo is not None and len(recorded[0]["received_at"].split(".")[1]) == 7


async def test_async_client_creates(standin_url: str) -> None:
    http = AsyncTwilioHttpClient()
    client = Client(ACCOUNT, TOKEN, http_client=http, environment={})
    client.api.base_url = standin_url
    to = number()
    try:
        msg = await client.messages.create_async(to=to, from_=SENDER, body="async page")
        assert msg.sid.startswith("SM") and msg.status == "queued"
        fetched = await client.messages(msg.sid).fetch_async()
        assert fetched.sid == msg.sid
        listed = await client.messages.list_async(to=to)
        assert [m.sid for m in listed] == [msg.sid]
    finally:
        await http.close()


def test_messaging_service_is_accepted_then_assigned_a_sender(
    client: Client, control: httpx.Client
) -> None:
    to = number()
    msg = client.messages.create(to=to, messaging_service_sid=SERVICE, body="hi")
    assert msg.status == "accepted" and msg.from_ is None and msg.num_segments == "0"
    assert msg.messaging_service_sid == SERVICE
    wait_status(control, to, "delivered")
    fetched = client.messages(msg.sid).fetch()
    assert fetched.from_ == SENDER and fetched.num_segments == "1"


def test_bad_auth_is_20003(standin_url: str) -> None:
    bad = Client(ACCOUNT, "wrong-token", environment={})
    bad.api.base_url = standin_url
    with pytest.raises(TwilioRestException) as exc:
        bad.messages.create(to=number(), from_=SENDER, body="x")
    assert exc.value.status == 401 and exc.value.code == 20003


def test_other_account_in_path_is_404(client: Client) -> None:
    other = "AC" + "f" * 32
    with pytest.raises(TwilioRestException) as exc:
        client.api.v2010.accounts(other).messages.create(to=number(), from_=SENDER, body="x")
    assert exc.value.status == 404 and exc.value.code == 20404


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"to": "5550100", "from_": SENDER, "body": "x"}, 21211),
        ({"to": "not-a-number", "from_": SENDER, "body": "x"}, 21211),
        ({"to": "", "from_": SENDER, "body": "x"}, 21604),
        ({"to": "+15550100", "body": "x"}, 21603),
        ({"to": "+15550100", "from_": SENDER, "body": ""}, 21602),
        ({"to": "+15550100", "from_": SENDER, "body": "x" * 1601}, 21617),
    ],
)
def test_validation_codes(client: Client, kwargs: dict[str, str], code: int) -> None:
    with pytest.raises(TwilioRestException) as exc:
        client.messages.create(**kwargs)
    assert exc.value.status == 400 and exc.value.code == code


def test_long_body_counts_segments(client: Client) -> None:
    assert client.messages.create(to=number(), from_=SENDER, body="a" * 161).num_segments == "2"
    assert client.messages.create(to=number(), from_=SENDER, body="é" * 1600).num_segments == "11"
    assert client.messages.create(to=number(), from_=SENDER, body="💙" * 36).num_segments == "2"


# --------------------------------------------------------------------------- callbacks


def test_status_callbacks_signed_and_in_order(
    client: Client, control: httpx.Client, receiver: Receiver
) -> None:
    to = number()
    path = f"/status/{to[1:]}"
    callback = f"{receiver.url}{path}?page=42"
    msg = client.messages.create(to=to, from_=SENDER, body="x", status_callback=callback)
    hits = receiver.wait_for(lambda _h: len(receiver.at(path)) >= 2)
    hits = receiver.at(path)
    assert [h.params["MessageStatus"] for h in hits] == ["sent", "delivered"]
    for hit in hits:
        assert hit.valid, hit
        assert hit.params["MessageSid"] == hit.params["SmsSid"] == msg.sid
        assert hit.params["SmsStatus"] == hit.params["MessageStatus"]
        assert hit.params["AccountSid"] == ACCOUNT and hit.params["ApiVersion"] == "2010-04-01"
        assert hit.params["To"] == to and hit.params["From"] == SENDER
        assert "ErrorCode" not in hit.params
        # The signature covers the exact URL, query string included.
        expected = RequestValidator(TOKEN).compute_signature(callback, hit.params)
        assert hit.signature == expected
    recorded = wait_status(control, to, "delivered")[0]
    assert [c["status"] for c in recorded["callbacks"]] == ["sent", "delivered"]
    assert all(c["ok"] and c["http_status"] == 200 for c in recorded["callbacks"])


def test_a_number_that_never_confirms_stays_sent(
    client: Client, control: httpx.Client, receiver: Receiver
) -> None:
    to = number()
    control.post("/_standin/numbers", json={"number": to, "delivery": "sent"}).raise_for_status()
    path = f"/status/{to[1:]}"
    msg = client.messages.create(
        to=to, from_=SENDER, body="x", status_callback=f"{receiver.url}{path}"
    )
    receiver.wait_for(lambda _h: len(receiver.at(path)) >= 1)
    time.sleep(0.2)  # several status steps' worth: nothing more comes
    assert [h.params["MessageStatus"] for h in receiver.at(path)] == ["sent"]
    assert client.messages(msg.sid).fetch().status == "sent"


def test_replayed_and_reordered_callbacks_are_signed(
    client: Client, control: httpx.Client, receiver: Receiver
) -> None:
    to = number()
    path = f"/status/{to[1:]}"
    callback = f"{receiver.url}{path}?page=7"
    msg = client.messages.create(to=to, from_=SENDER, body="x", status_callback=callback)
    receiver.wait_for(lambda _h: len(receiver.at(path)) >= 2)  # sent, delivered
    again = control.post(
        f"/_standin/messages/{msg.sid}/callbacks", json={"status": "delivered", "times": 3}
    )
    assert again.json()["http_status"] == [200, 200, 200]
    late = control.post(
        f"/_standin/messages/{msg.sid}/callbacks",
        json={"status": "undelivered", "error_code": 30006},
    )
    assert late.json()["http_status"] == [200]
    hits = receiver.at(path)
    assert [h.params["MessageStatus"] for h in hits] == ["sent", "delivered"] + [
        "delivered"
    ] * 3 + ["undelivered"]
    assert all(h.valid and h.params["MessageSid"] == msg.sid for h in hits)
    assert hits[-1].params["ErrorCode"] == "30006" and "ErrorCode" not in hits[-2].params
    assert (
        control.post("/_standin/messages/SMnope/callbacks", json={"status": "sent"}).status_code
        == 404
    )


@pytest.mark.parametrize(
    ("delivery", "error_code", "statuses"),
    [("undelivered", 30006, ["sent", "undelivered"]), ("failed", 30003, ["failed"])],
)
def test_failing_number(
    client: Client,
    control: httpx.Client,
    receiver: Receiver,
    delivery: str,
    error_code: int,
    statuses: list[str],
) -> None:
    to = number()
    rule = {"number": to, "delivery": delivery, "error_code": error_code}
    assert control.post("/_standin/numbers", json=rule).json() == rule
    path = f"/status/{to[1:]}"
    msg = client.messages.create(
        to=to, from_=SENDER, body="x", status_callback=f"{receiver.url}{path}"
    )
    receiver.wait_for(lambda _h: len(receiver.at(path)) >= len(statuses))
    hits = receiver.at(path)
    assert [h.params["MessageStatus"] for h in hits] == statuses
    assert all(h.valid for h in hits)
    assert hits[-1].params["ErrorCode"] == str(error_code)
    fetched = client.messages(msg.sid).fetch()
    assert fetched.status == delivery and fetched.error_code == error_code


def test_callback_retries_5xx_then_succeeds(
    client: Client, control: httpx.Client, receiver: Receiver
) -> None:
    to = number()
    path = f"/flaky/2/{to[1:]}"
    client.messages.create(to=to, from_=SENDER, body="x", status_callback=f"{receiver.url}{path}")
    receiver.wait_for(lambda _h: len(receiver.at(path)) >= 2)
    assert [h.params["MessageStatus"] for h in receiver.at(path)] == ["sent", "delivered"]
    callbacks = wait_status(control, to, "delivered")[0]["callbacks"]
    assert [(c["status"], c["attempts"], c["ok"]) for c in callbacks] == [
        ("sent", 3, True),
        ("delivered", 1, True),
    ]


def test_callback_gives_up_when_receiver_is_down(client: Client, control: httpx.Client) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/status"
    to = number()
    client.messages.create(to=to, from_=SENDER, body="x", status_callback=dead)
    callbacks = wait_status(control, to, "delivered")[0]["callbacks"]
    assert [(c["status"], c["attempts"], c["ok"]) for c in callbacks] == [
        ("sent", 4, False),
        ("delivered", 4, False),
    ]
    assert callbacks[0]["http_status"] is None and "ConnectError" in callbacks[0]["error"]


# --------------------------------------------------------------------------- list filters


def test_list_filters_by_to_and_date_sent(client: Client, control: httpx.Client) -> None:
    a, b = number(), number()
    # The library sends whole seconds only, so reconciliation must look back at least 1 s.
    before = datetime.now(UTC) - timedelta(seconds=1)
    first = client.messages.create(to=a, from_=SENDER, body="1")
    second = client.messages.create(to=a, from_=SENDER, body="2")
    client.messages.create(to=b, from_=SENDER, body="3")
    wait_status(control, a, "delivered", count=2)

    listed = client.messages.list(to=a, date_sent_after=before)
    assert [m.sid for m in listed] == [second.sid, first.sid]  # newest first
    assert (
        client.messages.list(to=a, date_sent_after=datetime.now(UTC) + timedelta(minutes=1)) == []
    )
    assert client.messages.list(to=a, date_sent_before=before - timedelta(minutes=1)) == []
    paged = client.messages.list(to=a, date_sent_after=before, page_size=1)
    assert [m.sid for m in paged] == [second.sid, first.sid]
    assert len(client.messages.list(to=a, date_sent=datetime.now(UTC).date())) == 2


def test_list_wire_format(standin_url: str) -> None:
    """Pin what the library sends: `DateSent>`/`DateSent<` keys, `%Y-%m-%dT%H:%M:%SZ` values."""
    to = number()
    auth = (ACCOUNT, TOKEN)
    path = f"{standin_url}/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
    httpx.post(path, auth=auth, data={"To": to, "From": SENDER, "Body": "x"})
    page = httpx.get(path, auth=auth, params={"To": to, "DateSent<": "2000-01-01"}).json()
    assert page["messages"] == [] and page["next_page_uri"] is None and page["page"] == 0
    bad = httpx.get(path, auth=auth, params={"DateSent": ">=2020-01-01"})
    assert bad.status_code == 400 and bad.json()["code"] == 20001


# --------------------------------------------------------------------------- inbound


def test_inbound_signed_unsigned_and_forged(control: httpx.Client, receiver: Receiver) -> None:
    peer = number()
    sent = {"from": peer, "to": SENDER, "body": "YES"}
    ok = control.post("/_standin/inbound", json=sent).json()
    assert ok["status"] == 200 and ok["sid"].startswith("SM")
    hit = next(h for h in receiver.at("/sms") if h.params.get("MessageSid") == ok["sid"])
    assert hit.valid
    p = hit.params
    assert (p["From"], p["To"], p["Body"], p["AccountSid"]) == (peer, SENDER, "YES", ACCOUNT)
    assert p["SmsSid"] == p["SmsMessageSid"] == ok["sid"]
    assert (p["NumMedia"], p["NumSegments"], p["ApiVersion"]) == ("0", "1", "2010-04-01")

    unsigned = control.post("/_standin/inbound", json={**sent, "sign": False}).json()
    assert unsigned["status"] == 403
    forged = control.post("/_standin/inbound", json={**sent, "signature": "bogus"}).json()
    assert forged["status"] == 403 and forged["body"] == "bad signature"


def test_twiml_reply_is_sent(control: httpx.Client, receiver: Receiver) -> None:
    peer = number()
    body = {"from": peer, "to": SENDER, "body": "YES", "url": f"{receiver.url}/sms/reply"}
    assert control.post("/_standin/inbound", json=body).json()["status"] == 200
    replies = control.get("/_standin/wait", params={"to": peer, "timeout": 2}).json()
    assert replies[0]["direction"] == "outbound-reply"
    assert replies[0]["from"] == SENDER and replies[0]["body"] == "Thanks, you are confirmed"


def test_autoreply(client: Client, control: httpx.Client, receiver: Receiver) -> None:
    peer = number()
    rule = {"number": peer, "body": "YES", "delay": 0, "once": True}
    assert control.post("/_standin/autoreply", json=rule).status_code == 200
    client.messages.create(to=peer, from_=SENDER, body="Can you take a call?")
    hits = receiver.wait_for(lambda hs: any(h.params.get("From") == peer for h in hs))
    hit = next(h for h in hits if h.params.get("From") == peer)
    assert hit.valid and hit.params["To"] == SENDER and hit.params["Body"] == "YES"
    assert all(r["number"] != peer for r in control.get("/_standin/autoreply").json())


# --------------------------------------------------------------------------- control API


async def test_wait_long_polls(standin_url: str, client: Client) -> None:
    to = number()
    async with httpx.AsyncClient(base_url=standin_url, timeout=5) as http:
        last = (await http.get("/_standin/messages", params={"direction": "any"})).json()
        since = max((m["id"] for m in last), default=0)
        waiter = asyncio.create_task(
            http.get("/_standin/wait", params={"to": to, "since_id": since, "timeout": 3})
        )
        await asyncio.sleep(0.05)
        assert not waiter.done()
        msg = await asyncio.to_thread(client.messages.create, to=to, from_=SENDER, body="x")
        resp = await asyncio.wait_for(waiter, 2)
        assert resp.status_code == 200 and resp.json()[0]["sid"] == msg.sid
        assert resp.json()[0]["id"] > since

        delivered = await http.get(
            "/_standin/wait", params={"to": to, "status": "delivered", "timeout": 2}
        )
        assert delivered.json()[0]["status"] == "delivered"

        timeout = await http.get("/_standin/wait", params={"to": number(), "timeout": 0.05})
        assert timeout.status_code == 408


def test_clear_keeps_ids_increasing(client: Client, control: httpx.Client) -> None:
    to = number()
    before = client.messages.create(to=to, from_=SENDER, body="x")
    old_id = control.get("/_standin/messages", params={"to": to}).json()[0]["id"]
    assert control.delete("/_standin/messages").status_code == 200
    assert control.get("/_standin/messages", params={"to": to}).json() == []
    with pytest.raises(TwilioRestException):
        client.messages(before.sid).fetch()
    client.messages.create(to=to, from_=SENDER, body="y")
    assert control.get("/_standin/messages", params={"to": to}).json()[0]["id"] > old_id
    assert control.get("/_standin/health").json()["status"] == "ok"


def test_signature_is_the_one_twilio_computes() -> None:
    hooks = standin_webhooks.Webhooks(standin_records.StandinConfig(ACCOUNT, TOKEN))
    params = {"Body": "💙 é & = +", "From": "+15550100", "Empty": "", "AccountSid": ACCOUNT}
    url = "http://127.0.0.1:8000/twilio/status?pages=a,b&x=%C3%A9"
    assert hooks.sign(url, params) == RequestValidator(TOKEN).compute_signature(url, params)
    assert hooks.sign(url, {}) == RequestValidator(TOKEN).compute_signature(url, {})


def test_mask_number() -> None:
    assert standin_mod.mask_number("+15550100") == "+1555***0100"
    assert standin_mod.mask_number("+15551230100") == "+1555***0100"


# --------------------------------------------------------------------------- phones page


def sent_form(peer: str, body: str) -> dict[str, str]:
    return {"from": peer, "to": SENDER, "body": body}


def test_phones_page_shows_each_conversation_oldest_first(
    client: Client, control: httpx.Client
) -> None:
    peer, other = number(), number()
    client.messages.create(to=peer, from_=SENDER, body="Can you <b>support</b> A & B?")
    assert control.post(
        "/_standin/inbound", json={"from": peer, "to": SENDER, "body": "YES"}
    ).is_success
    assert control.post(
        "/_standin/inbound", json={"from": other, "to": SENDER, "body": "STOP"}
    ).is_success
    page = control.get("/_standin/phones")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    text = page.text
    assert '<html lang="en">' in text and 'name="viewport"' in text
    assert '<script src="/_standin/static/htmx.min.js">' in text
    # Bodies are escaped: a message is shown as text, never run as markup.
    assert "Can you &lt;b&gt;support&lt;/b&gt; A &amp; B?" in text and "<b>support" not in text
    mine = text[text.index(f'<h2 id="phone-{peer[1:]}-title">') :]
    mine = mine[: mine.index("</section>")]
    assert mine.index("From the product (+15005550006)") < mine.index("Sent from this phone")
    assert mine.index("A &amp; B?") < mine.index(">YES<")
    assert f'<label for="phone-{peer[1:]}-body">Reply as {peer}</label>' in mine
    assert f'<input type="hidden" name="to" value="{SENDER}">' in mine
    assert f'<h2 id="phone-{other[1:]}-title">{other}</h2>' in text and ">STOP<" in text
    # The product's own number is not a phone.
    assert f'<h2 id="phone-{SENDER[1:]}-title">' not in text
    js = control.get("/_standin/static/htmx.min.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert 'version:"2.' in js.text


def test_phones_fragment_is_204_until_something_changes(
    client: Client, control: httpx.Client
) -> None:
    first = control.get("/_standin/phones/fragment")
    assert first.status_code == 200 and first.text.startswith('<div id="phones" hx-get=')
    seen = first.text.split("?seen=", 1)[1].split('"', 1)[0]
    # Earlier tests' messages may still be walking through their statuses (each a change):
    # wait for a quiet moment, which must come, then nothing new is a 204.
    deadline = time.monotonic() + 15
    while (
        again := control.get("/_standin/phones/fragment", params={"seen": seen})
    ).status_code != 204:
        assert again.status_code == 200 and time.monotonic() < deadline, again.status_code
        seen = again.text.split("?seen=", 1)[1].split('"', 1)[0]
        time.sleep(0.2)
    client.messages.create(to=number(), from_=SENDER, body="Are you free?")
    changed = control.get("/_standin/phones/fragment", params={"seen": seen})
    assert changed.status_code == 200 and "Are you free?" in changed.text
    assert f"?seen={seen}" not in changed.text


def test_phones_reply_is_a_signed_inbound_and_logs_no_body(
    control: httpx.Client, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    peer = number()
    # An earlier test may have configured structlog for the product (level warning, loggers
    # cached on first use): every level is let through and fresh loggers are bound here, so
    # the capture sees the stand-in's info lines whatever ran before.
    saved = structlog.get_config()
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(0), cache_logger_on_first_use=False
    )
    for module in LOGGING_PARTS:
        monkeypatch.setattr(module, "log", structlog.get_logger("twilio_standin"))
    with structlog.testing.capture_logs() as logged:
        plain = control.post("/_standin/phones/reply", data=sent_form(peer, "YES 4821"))
        assert plain.status_code == 303
        assert plain.headers["location"] == f"/_standin/phones#phone-{peer[1:]}"
        htmx = control.post(
            "/_standin/phones/reply",
            data=sent_form(peer, "DEFER"),
            headers={"HX-Request": "true", "Origin": str(control.base_url).rstrip("/")},
        )
    assert htmx.status_code == 200 and "the product answered 200" in htmx.text
    assert htmx.headers["hx-trigger"] == "reply-sent, phones-changed"
    hits = receiver.wait_for(lambda hs: sum(h.params.get("From") == peer for h in hs) == 2)
    mine = [h for h in hits if h.params.get("From") == peer]
    assert [h.params["Body"] for h in mine] == ["YES 4821", "DEFER"]
    assert all(h.valid and h.params["To"] == SENDER for h in mine)
    structlog.configure(**saved)
    assert logged and all(
        "YES 4821" not in str(e) and peer not in str(e) and "DEFER" not in str(e) for e in logged
    )
    page = control.get("/_standin/phones").text
    assert page.count("the product answered 200") >= 2 and ">DEFER<" in page

    empty = control.post(
        "/_standin/phones/reply", data=sent_form(peer, "  "), headers={"HX-Request": "true"}
    )
    assert "write a reply first" in empty.text and "hx-trigger" not in empty.headers
    elsewhere = control.post(
        "/_standin/phones/reply",
        data=sent_form(peer, "YES"),
        headers={"Origin": "https://evil.example"},
    )
    assert elsewhere.status_code == 403
    assert sum(h.params.get("From") == peer for h in receiver.hits) == 2


async def test_phones_page_is_loopback_only() -> None:
    app = standin_mod.create_app(ACCOUNT, TOKEN, sms_url="http://127.0.0.1:9/sms")
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://standin") as http:
        for method, path in [
            ("GET", "/_standin/phones"),
            ("GET", "/_standin/phones/fragment"),
            ("POST", "/_standin/phones/reply"),
        ]:
            resp = await http.request(method, path, data={"from": number(), "body": "YES"})
            assert resp.status_code == 403, (method, path)
    assert app.state.standin.messages == []


# --------------------------------------------------------------------------- faults (issue 13)


def test_faults_error_throttle_and_hang_as_twilio_would(
    client: Client, control: httpx.Client
) -> None:
    """500 and 429 (with Retry-After) create nothing; a hang creates the message and answers
    too late for the caller, who sees a timeout although the SMS went out."""
    to = number()
    assert control.post("/_standin/faults", json={"kind": "error", "count": 1}).status_code == 200
    with pytest.raises(TwilioRestException) as failed:
        client.messages.create(to=to, from_=SENDER, body="one")
    assert failed.value.status == 500 and failed.value.code == 20500
    control.post("/_standin/faults", json={"kind": "throttle", "count": 1, "retry_after": 7})
    raw = httpx.post(
        f"{client.api.base_url}/2010-04-01/Accounts/{ACCOUNT}/Messages.json",
        data={"To": to, "From": SENDER, "Body": "two"},
        auth=(ACCOUNT, TOKEN),
    )
    assert raw.status_code == 429 and raw.headers["Retry-After"] == "7"
    assert raw.json()["code"] == 20429
    assert control.get("/_standin/messages", params={"to": to}).json() == []
    control.post("/_standin/faults", json={"kind": "hang", "count": 1, "hang": 2})
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"{client.api.base_url}/2010-04-01/Accounts/{ACCOUNT}/Messages.json",
            data={"To": to, "From": SENDER, "Body": "three"},
            auth=(ACCOUNT, TOKEN),
            timeout=0.5,
        )
    (taken,) = control.get("/_standin/messages", params={"to": to}).json()
    assert taken["body"] == "three"
    # The fault is spent: the next create is answered at once.
    assert client.messages.create(to=to, from_=SENDER, body="four").status == "queued"
    assert control.delete("/_standin/faults").json()["hits"] == 1


def test_a_fault_for_some_seconds_ends_by_itself(client: Client, control: httpx.Client) -> None:
    to = number()
    control.post("/_standin/faults", json={"kind": "error", "seconds": 0.3})
    with pytest.raises(TwilioRestException):
        client.messages.create(to=to, from_=SENDER, body="during")
    time.sleep(0.35)
    assert client.messages.create(to=to, from_=SENDER, body="after").status == "queued"
    assert control.post("/_standin/faults", json={"kind": "error"}).status_code == 422
    control.delete("/_standin/faults")
