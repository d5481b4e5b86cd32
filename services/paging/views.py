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
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Response
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.events import DeliveryStatus, SmsReceived
from services.auth import verified_twilio_form
from services.db import run_transaction
from services.logs import log
from services.paging import callbacks
from services.paging.service import record_inbound

router = APIRouter(prefix="/twilio")
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'

# Twilio's sids: two letters and 32 hex digits; ASCII only (str.isdigit() takes '²').
SID = r"^[A-Z]{2}[0-9a-f]{32}$"
# What our columns (String(16)) and the SmsReceived contract hold: '+' and 7-15 ASCII digits.
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


@router.post("/status")
async def status_callback(
    page: uuid.UUID | None = None,
    pages: str | None = None,
    message: uuid.UUID | None = None,
    form: StatusForm = Depends(status_form),
) -> Response:
    status, sid, error = form.MessageStatus, form.MessageSid, form.ErrorCode
    try:
        page_ids = [page] if page else [uuid.UUID(p) for p in (pages or "").split(",") if p]
    except ValueError as exc:
        raise HTTPException(422, "pages must be page ids separated by commas") from exc
    if not page_ids and message is None:
        raise HTTPException(422, "the callback names neither a page nor a message")

    # One insert and the answer: the pages and messages it names are changed by the applier
    # (services.paging.callbacks.apply_pending), in sets, not under Twilio's request.
    await callbacks.receive(sid, status, error, page_ids, message)
    return Response(status_code=204)


@router.post("/sms")
async def inbound_sms(form: InboundForm = Depends(inbound_form)) -> Response:
    if form.From is None:
        # Not a phone: nothing we sent can be answered from it. Acknowledged, not stored.
        log().info("sms.ignored", sid=form.MessageSid, reason="sender is not an E.164 number")
        return Response(EMPTY_TWIML, media_type="application/xml")
    sender = form.From

    async def record(session: AsyncSession) -> SmsReceived | None:
        return await record_inbound(session, form.MessageSid, sender, form.To or "", form.Body)

    event = await run_transaction(record)
    log().info("sms.received", sms_id=str(event.sms_id) if event else None, duplicate=event is None)
    return Response(EMPTY_TWIML, media_type="application/xml")
