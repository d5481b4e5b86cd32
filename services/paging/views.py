"""Twilio webhooks: delivery status callbacks and inbound SMS.

Both store what arrived before answering, so a reply or a status is never lost to a broker
outage: an inbound SMS with its event, which the worker acts on; a status callback as one
row, which the worker's applier applies to its pages in sets (services/paging/callbacks.py).

Between the signed form and the service code sits one validated model per webhook: a form
is whatever the sender put in it (short codes, `whatsapp:` senders, NUL bytes, values longer
than our columns, an ErrorCode of '²' or beyond 32 bits), and before these models each of
those reached int() or the database raw and answered 500, which Twilio retries to no end.
What Twilio answers for:
- a form we cannot use at all (no usable MessageSid, an unknown status): 400, no retry helps;
- a message we do not handle (a sender that is not an E.164 phone): 2xx, nothing stored;
- a reply from a phone: recorded, its body cleaned of what PostgreSQL cannot store.
Logs name ids and field names, never the values.

Abuse limits (services/limits.py): an inbound SMS counts against its sender's number once its
signature is checked (429 over the limit, unless it signals crisis); a status callback is
never limited, because Twilio does not retry one it was refused and a lost failure would
leave a case waiting instead of moving on.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from typing import Annotated
from urllib.parse import unquote_plus

from fastapi import APIRouter, Depends, HTTPException, Response
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.events import DeliveryStatus, SmsReceived
from services.api_lanes import Headers, Lane, Send, send_empty
from services.auth import Scope, twilio_signed, verified_twilio_form
from services.config import get_settings
from services.conversations.crisis import signals_crisis
from services.db import raw_pool, run_transaction
from services.limits import limits, retry_after
from services.logs import log
from services.paging.models import InboundSms
from services.paging.service import record_inbound

router = APIRouter(prefix="/twilio")
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'

# Twilio's sids: two letters and 32 hex digits; ASCII only (str.isdigit() takes '²').
SID = r"^[A-Z]{2}[0-9a-f]{32}$"
# What our columns (String(16)) hold: '+' and 7-15 ASCII digits.
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
MAX_BODY = 1600
INT32_MAX = 2**31 - 1
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


def storable_text(value: object) -> str:
    """PostgreSQL text holds no NUL and psycopg cannot encode a lone surrogate."""
    return _UNSTORABLE.sub("", str(value))


def error_code(value: object) -> int | None:
    """Twilio's ErrorCode is a small positive number; anything else is no code at all, and a
    'failed' status with an unreadable code must still count as a failure."""
    text = str(value or "").strip()
    if not text.isascii() or not text.isdigit() or len(text) > 10:
        return None
    code = int(text)
    return code if code <= INT32_MAX else None


def phone_or_none(value: object) -> str | None:
    text = str(value or "").strip()
    return text if E164.match(text) else None


class StatusForm(BaseModel):
    """A delivery status callback, as much of it as we use."""

    model_config = ConfigDict(extra="ignore")

    MessageSid: str = Field(pattern=SID)
    MessageStatus: DeliveryStatus
    ErrorCode: Annotated[int | None, BeforeValidator(error_code)] = None


class InboundForm(BaseModel):
    """An inbound SMS. A sender that is not a phone (short code, WhatsApp, alphanumeric) is
    kept as None: such a message is acknowledged and not stored, it cannot be a peer's reply."""

    model_config = ConfigDict(extra="ignore")

    MessageSid: str = Field(pattern=SID)
    From: Annotated[str | None, BeforeValidator(phone_or_none)] = None
    To: Annotated[str | None, BeforeValidator(phone_or_none)] = None
    Body: Annotated[str, BeforeValidator(lambda v: storable_text(v)[:MAX_BODY])] = ""


def _fields(exc: ValidationError) -> list[str]:
    return sorted({str(e["loc"][0]) for e in exc.errors() if e["loc"]})


# Both dependencies are async although they never await: FastAPI runs a plain `def`
# dependency in a worker thread, a thread hop per webhook for a few microseconds of work.
async def status_form(form: dict[str, str] = Depends(verified_twilio_form)) -> StatusForm:
    try:
        return StatusForm.model_validate(form)
    except ValidationError as exc:
        log().warning("twilio.status_refused", fields=_fields(exc))
        raise HTTPException(400, {"fields": _fields(exc)}) from exc


async def inbound_form(form: dict[str, str] = Depends(verified_twilio_form)) -> InboundForm:
    # Twilio's older forms name the sid SmsSid only.
    if not form.get("MessageSid") and form.get("SmsSid"):
        form = {**form, "MessageSid": form["SmsSid"]}
    try:
        return InboundForm.model_validate(form)
    except ValidationError as exc:
        log().warning("twilio.sms_refused", fields=_fields(exc))
        raise HTTPException(400, {"fields": _fields(exc)}) from exc


def named_pages(page: uuid.UUID | None, pages: str | None) -> list[uuid.UUID]:
    try:
        return [page] if page else [uuid.UUID(p) for p in (pages or "").split(",") if p]
    except ValueError as exc:
        raise HTTPException(422, "pages must be page ids separated by commas") from exc


# pg_stat_activity's name for the webhooks' connections (services.db.RawPool).
WEBHOOK_CONNECTIONS = "svrr-webhooks"
# The rows the applier (services.paging.callbacks.apply_pending) reads: StatusCallback, in
# the order the callbacks were stored.
STORE_CALLBACKS = (
    "INSERT INTO status_callbacks (provider_sid, status, error_code, page_ids, message_id) "
    "SELECT r.provider_sid, r.status, r.error_code, r.page_ids, r.message_id "
    "FROM ROWS FROM (jsonb_to_recordset(CAST(%s AS jsonb)) AS (provider_sid text, "
    "status text, error_code integer, page_ids uuid[], message_id uuid)) "
    "WITH ORDINALITY AS r ORDER BY r.ordinality"
)


class CallbackWriter:
    """Group commit of status callbacks: a callback is stored at once when no insert is
    running; those that arrive while one runs are stored together by the next, as soon as
    it ends. Each is answered once its insert has committed.

    Why: each callback had an insert of its own, a statement's CPU in the API (psycopg's
    round, 0.15-0.2 ms) and a commit in PostgreSQL, whatever the rate. Now a callback alone
    costs what it did (no timer, no wait: nothing is held back to make a batch), and at a
    burst the callbacks that queue behind a running insert share the next one.
    The guarantee is the single insert's: a callback is answered 204 only once it is
    stored; a failed insert fails every request of its batch as it failed the one request
    before (500, Twilio retries), and a connection lost under it is replaced and the insert
    tried again (RawPool, idempotent: a callback stored twice is applied once). A request
    that goes away does not take its batch with it (shield)."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._rows: list[dict[str, object]] = []
        self._stored: asyncio.Future[None] | None = None
        self._running: asyncio.Task[None] | None = None
        self.statements = 0  # inserts run (tests, benchmarks)

    async def store(self, row: dict[str, object]) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new loop (tests run several): nothing carries over
            self._loop, self._rows, self._stored, self._running = loop, [], None, None
        if self._stored is None:
            self._stored = loop.create_future()
        stored = self._stored
        self._rows.append(row)
        if self._running is None:
            self._start()
        await asyncio.shield(stored)

    def _start(self) -> None:
        """Every callback waiting goes into the next insert (as many as arrived while the
        last one ran: the requests in flight, which the server bounds)."""
        rows, stored = self._rows, self._stored
        assert stored is not None
        self._rows, self._stored = [], None
        self._running = asyncio.get_running_loop().create_task(self._write(rows, stored))

    async def _write(self, rows: list[dict[str, object]], stored: asyncio.Future[None]) -> None:
        try:
            pool = raw_pool(WEBHOOK_CONNECTIONS)
            await pool.fetch(STORE_CALLBACKS, (json.dumps(rows),), idempotent=True)
        except asyncio.CancelledError:  # the loop is closing: so are the requests waiting
            self._running = None
            for waiting in (stored, self._stored):
                if waiting is not None:
                    waiting.cancel()
            self._rows, self._stored = [], None
            raise
        except Exception as exc:
            stored.set_exception(exc)
            # Retrieved here too: every request of the batch may have gone away.
            stored.add_done_callback(lambda f: f.exception())
        else:
            stored.set_result(None)
        self.statements += 1
        self._running = None
        if self._rows:
            self._start()


callback_writer = CallbackWriter()


async def store_callback(
    form: StatusForm, page_ids: list[uuid.UUID], message: uuid.UUID | None
) -> None:
    """Stored, then answered: the pages and messages it names are changed by the applier
    (services.paging.callbacks.apply_pending), in sets, not under Twilio's request.

    Autocommit on a raw connection (services.db.RawPool), with the callbacks that arrive
    with it (CallbackWriter): no transaction around an insert that is atomic alone, no
    ping, no ORM."""
    row = {
        "provider_sid": form.MessageSid,
        "status": form.MessageStatus.value,
        "error_code": form.ErrorCode,
        "page_ids": [str(p) for p in page_ids],
        "message_id": str(message) if message is not None else None,
    }
    await callback_writer.store(row)


@router.post("/status")
async def status_callback(
    page: uuid.UUID | None = None,
    pages: str | None = None,
    message: uuid.UUID | None = None,
    form: StatusForm = Depends(status_form),
) -> Response:
    page_ids = named_pages(page, pages)
    if not page_ids and message is None:
        raise HTTPException(422, "the callback names neither a page nor a message")
    await store_callback(form, page_ids, message)
    return Response(status_code=204)


# --- the fast lane (services.api_lanes): a signed, well-formed callback ----------------------

_CANONICAL_UUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_CALLBACK_QUERY = frozenset({"page", "pages", "message"})


def plain_pairs(raw: bytes) -> dict[str, str] | None:
    """`a=1&b=2` as Starlette decodes a form or a query, for the plain case only: ASCII,
    every field with its `=` and a value... or None (the full app parses what is left).
    For such input both parsers agree to the character."""
    if not raw:
        return {}
    if not raw.isascii():
        return None
    out: dict[str, str] = {}
    for field in raw.decode("latin-1").split("&"):
        name, eq, value = field.partition("=")
        if not eq or not name:
            return None
        name, value = unquote_plus(name), unquote_plus(value)
        if name in out:
            return None
        out[name] = value
    return out


async def status_admits(scope: Scope, headers: Headers) -> bool:
    """A signed form (the signature itself is checked with the body)."""
    ctype = headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower()
    return (
        bool(headers.get(b"x-twilio-signature")) and ctype == b"application/x-www-form-urlencoded"
    )


async def status_answer(scope: Scope, headers: Headers, body: bytes, send: Send) -> bool:
    """POST /twilio/status, answered here when the full app would answer it 204."""
    signature = headers.get(b"x-twilio-signature")
    if not signature:
        return False
    raw_query: bytes = scope.get("query_string", b"")
    form, query = plain_pairs(body), plain_pairs(raw_query)
    if form is None or query is None or not set(query) <= _CALLBACK_QUERY:
        return False
    if any(not v for v in query.values()):
        return False
    page, message = query.get("page"), query.get("message")
    if any(v is not None and not _CANONICAL_UUID.match(v) for v in (page, message)):
        return False
    base = get_settings().public_base_url.rstrip("/")
    url = f"{base}{scope['path']}" + (f"?{raw_query.decode('latin-1')}" if raw_query else "")
    if not twilio_signed(url, form, signature.decode("latin-1")):
        return False
    try:
        parsed = StatusForm.model_validate(form)
        page_ids = named_pages(uuid.UUID(page) if page else None, query.get("pages"))
    except (ValidationError, HTTPException):
        return False
    message_id = uuid.UUID(message) if message else None
    if not page_ids and message_id is None:
        return False
    await store_callback(parsed, page_ids, message_id)
    await send_empty(send, 204)
    return True


status_lane = Lane(status_admits, status_answer)


async def _received(provider_sid: str) -> bool:
    """Whether this message is already stored: Twilio delivers one message again when our
    answer was slow, and a copy is answered as the first was (stored once, nothing more)
    whatever the sender's limit. Only read once a sender is over its limit, so a copy never
    turns into a refusal of a message we hold, and the usual path costs no extra read."""

    async def seen(session: AsyncSession) -> bool:
        found = await session.scalar(
            select(InboundSms.id).where(InboundSms.provider_sid == provider_sid).limit(1)
        )
        return found is not None

    return await run_transaction(seen)


@router.post("/sms")
async def inbound_sms(form: InboundForm = Depends(inbound_form)) -> Response:
    if form.From is None:
        # Not a phone: nothing we sent can be answered from it. Acknowledged, not stored.
        log().info("sms.ignored", sid=form.MessageSid, reason="sender is not an E.164 number")
        return Response(EMPTY_TWIML, media_type="application/xml")
    sender = form.From
    wait = limits().sms_sender.take(sender)
    if wait and not signals_crisis(form.Body) and not await _received(form.MessageSid):
        # Over the sender's limit (services/limits.py): Twilio does not retry an inbound
        # webhook, so this message is dropped (Twilio's debugger shows it). A message that
        # signals crisis is kept whatever the limit: a missed crisis is the worst outcome.
        log().info("sms.throttled", sid=form.MessageSid)
        return Response(
            json.dumps({"detail": "too many messages from this sender"}),
            status_code=429,
            media_type="application/json",
            headers={"Retry-After": str(retry_after(wait))},
        )

    async def record(session: AsyncSession) -> SmsReceived | None:
        return await record_inbound(session, form.MessageSid, sender, form.To or "", form.Body)

    event = await run_transaction(record)
    if event is None and not wait:
        # Twilio's redelivery of a message we hold: it must not spend the sender's allowance,
        # or a peer's copies would crowd out their next real reply.
        limits().sms_sender.give_back(sender)
    log().info("sms.received", sms_id=str(event.sms_id) if event else None, duplicate=event is None)
    return Response(EMPTY_TWIML, media_type="application/xml")
