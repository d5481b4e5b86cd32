"""Twilio webhooks: delivery status callbacks and inbound SMS.

Both store what arrived and queue its event before answering, so a reply or a status is never
lost to a broker outage; the worker acts on the events.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, HTTPException, Response

from notifiers.sms import UNDELIVERABLE_NUMBER_ERRORS
from schemas.events import DeliveryStatus
from services.auth import verified_twilio_form
from services.cases import flows, outbound
from services.db import transaction
from services.logs import log
from services.paging.service import record_inbound, record_status

router = APIRouter(prefix="/twilio")
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


@router.post("/status")
async def status_callback(
    page: uuid.UUID | None = None,
    pages: str | None = None,
    message: uuid.UUID | None = None,
    form: dict[str, str] = Depends(verified_twilio_form),
) -> Response:
    try:
        status = DeliveryStatus(form.get("MessageStatus", ""))
    except ValueError as exc:
        raise HTTPException(422, "unknown MessageStatus") from exc
    sid = form.get("MessageSid", "")
    raw_error = form.get("ErrorCode")
    error = int(raw_error) if raw_error and raw_error.isdigit() else None
    try:
        page_ids = [page] if page else [uuid.UUID(p) for p in (pages or "").split(",") if p]
    except ValueError as exc:
        raise HTTPException(422, "pages must be page ids separated by commas") from exc
    if not page_ids and message is None:
        raise HTTPException(422, "the callback names neither a page nor a message")
    async with transaction() as session:
        # A bundled SMS reports for every page it carried; locked in id order, as every
        # other locker of several pages does, so a callback cannot deadlock with a claim.
        for page_id in sorted(page_ids):
            event = await record_status(session, page_id, sid, status, error)
            if event is not None and status in (DeliveryStatus.undelivered, DeliveryStatus.failed):
                # A number that cannot receive: page the next step now, not after the wait.
                await flows.escalate_now(session, event.case_id)
            log().info(
                "page.status",
                page_id=str(page_id),
                status=status.value,
                recorded=event is not None,
            )
        if message is not None:
            await outbound.record_status(session, message, status.value, error)
        if error in UNDELIVERABLE_NUMBER_ERRORS and status in (
            DeliveryStatus.undelivered,
            DeliveryStatus.failed,
        ):
            # A landline or a dead number: remembered, so the next incident skips it.
            await outbound.mark_undeliverable_sent_to(session, page_ids, message, error)
    return Response(status_code=204)


@router.post("/sms")
async def inbound_sms(form: dict[str, str] = Depends(verified_twilio_form)) -> Response:
    sid = form.get("MessageSid") or form.get("SmsSid") or ""
    sender, body = form.get("From", ""), form.get("Body", "")
    if not sid or not sender:
        raise HTTPException(422, "MessageSid and From are required")
    async with transaction() as session:
        event = await record_inbound(session, sid, sender, form.get("To", ""), body[:1600])
    log().info("sms.received", sms_id=str(event.sms_id) if event else None, duplicate=event is None)
    return Response(EMPTY_TWIML, media_type="application/xml")
