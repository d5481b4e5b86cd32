"""The control API (`/_standin/...`): how tests and demos script the stand-in.

Why it exists: Twilio's own API cannot say "this number's messages fail with 30006" or
"post that callback again, late"; tests need both, and need to read what was sent and wait
for it. It has no auth, so it answers loopback clients only (unless started otherwise).
"""

from __future__ import annotations

import ipaddress
import time

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from .common import CallbackStatus, DeliveryOutcome, fix_plus, mask_number
from .faults import Fault, FaultKind
from .records import AutoReply, MessageRecord, NumberRule
from .state import Standin

log = structlog.get_logger("twilio_standin")


class NumberIn(BaseModel):
    number: str
    delivery: DeliveryOutcome = "delivered"
    error_code: int | None = None


class AutoReplyIn(BaseModel):
    number: str
    body: str
    delay: float = Field(default=1.0, ge=0)
    once: bool = True
    url: str | None = None


class CallbackIn(BaseModel):
    status: CallbackStatus
    error_code: int | None = None
    times: int = Field(default=1, ge=1, le=20)


class FaultIn(BaseModel):
    kind: FaultKind
    count: int | None = Field(default=None, ge=1)  # the next N create calls
    seconds: float | None = Field(default=None, gt=0)  # or every create call for T seconds
    retry_after: int = Field(default=1, ge=0, le=3600)
    hang: float = Field(default=15.0, gt=0, le=300)


class InboundIn(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: str = Field(alias="from")
    to: str
    body: str
    url: str | None = None
    messaging_service_sid: str | None = None
    sign: bool = True
    signature: str | None = None


def control_guard(request: Request) -> JSONResponse | None:
    """The control API has no auth, so refuse it to anything but this machine."""
    state: Standin = request.app.state.standin
    if not state.config.control_loopback_only:
        return None
    host = request.client.host if request.client else ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host in ("localhost", "testclient")
    if not loopback:
        return JSONResponse({"error": "control API is loopback-only"}, status_code=403)
    return None


def add_control_routes(app: FastAPI) -> None:
    def state_of(request: Request) -> Standin:
        return request.app.state.standin

    @app.get("/_standin/health")
    async def health(request: Request) -> Response:
        state = state_of(request)
        return JSONResponse(
            {
                "status": "ok",
                "account_sid": state.config.account_sid,
                "messages": len(state.messages),
                "sms_url": state.config.sms_url,
            }
        )

    @app.get("/_standin/messages")
    async def control_messages(
        request: Request,
        to: str | None = None,
        since_id: int = 0,
        status: str | None = None,
        direction: str = "outbound",
    ) -> Response:
        if (err := control_guard(request)) is not None:
            return err
        found = state_of(request).control_matches(
            to=fix_plus(to), since_id=since_id, status=status, direction=direction
        )
        return JSONResponse([rec.to_control() for rec in found])

    @app.get("/_standin/wait")
    async def control_wait(
        request: Request,
        to: str | None = None,
        since_id: int = 0,
        status: str | None = None,
        direction: str = "outbound",
        timeout: float = 5.0,
    ) -> Response:
        if (err := control_guard(request)) is not None:
            return err
        state = state_of(request)

        def find() -> list[MessageRecord]:
            return state.control_matches(
                to=fix_plus(to), since_id=since_id, status=status, direction=direction
            )

        try:
            await state.changes.wait_for(
                lambda: bool(find()), timeout=max(0.0, min(timeout, 300.0))
            )
        except TimeoutError:
            return JSONResponse({"error": "timeout", "timeout": timeout}, status_code=408)
        return JSONResponse([rec.to_control() for rec in find()])

    @app.delete("/_standin/messages")
    async def control_clear(request: Request) -> Response:
        if (err := control_guard(request)) is not None:
            return err
        state = state_of(request)
        cleared = len(state.messages)
        state.clear_messages()
        log.info("control.cleared", messages=cleared)
        return JSONResponse({"cleared": cleared})

    @app.get("/_standin/numbers")
    async def control_numbers(request: Request) -> Response:
        if (err := control_guard(request)) is not None:
            return err
        rules = state_of(request).numbers
        return JSONResponse(
            [
                {"number": n, "delivery": r.delivery, "error_code": r.error_code}
                for n, r in rules.items()
            ]
        )

    @app.post("/_standin/numbers")
    async def control_set_number(request: Request, rule: NumberIn) -> Response:
        if (err := control_guard(request)) is not None:
            return err
        state = state_of(request)
        error_code = rule.error_code
        if rule.delivery == "delivered":
            state.numbers.pop(rule.number, None)
            error_code = None
        else:
            error_code = None if rule.delivery == "sent" else error_code or 30006
            state.numbers[rule.number] = NumberRule(rule.delivery, error_code)
        log.info(
            "control.number",
            to=mask_number(rule.number),
            delivery=rule.delivery,
            error_code=error_code,
        )
        return JSONResponse(
            {"number": rule.number, "delivery": rule.delivery, "error_code": error_code}
        )

    @app.delete("/_standin/numbers")
    async def control_clear_numbers(request: Request) -> Response:
        if (err := control_guard(request)) is not None:
            return err
        state_of(request).numbers.clear()
        return JSONResponse({"cleared": True})

    @app.get("/_standin/autoreply")
    async def control_autoreplies(request: Request) -> Response:
        if (err := control_guard(request)) is not None:
            return err
        replies = state_of(request).autoreplies
        return JSONResponse(
            [
                {"number": n, "body": r.body, "delay": r.delay, "once": r.once, "url": r.url}
                for n, r in replies.items()
            ]
        )

    @app.post("/_standin/autoreply")
    async def control_set_autoreply(request: Request, rule: AutoReplyIn) -> Response:
        if (err := control_guard(request)) is not None:
            return err
        state = state_of(request)
        if not (rule.url or state.config.sms_url):
            return JSONResponse(
                {"error": "no inbound webhook: pass url or start with --sms-url"},
                status_code=400,
            )
        state.autoreplies[rule.number] = AutoReply(rule.body, rule.delay, rule.once, rule.url)
        log.info("control.autoreply", to=mask_number(rule.number), delay=rule.delay)
        return JSONResponse(rule.model_dump())

    @app.delete("/_standin/autoreply")
    async def control_clear_autoreplies(request: Request) -> Response:
        if (err := control_guard(request)) is not None:
            return err
        state_of(request).autoreplies.clear()
        return JSONResponse({"cleared": True})

    @app.post("/_standin/faults")
    async def control_set_fault(request: Request, fault: FaultIn) -> Response:
        """Misbehave on the next create calls (faults.py); replaces any fault in force."""
        if (err := control_guard(request)) is not None:
            return err
        if (fault.count is None) == (fault.seconds is None):
            return JSONResponse({"error": "give count or seconds, not both"}, status_code=422)
        until = time.monotonic() + fault.seconds if fault.seconds is not None else None
        state_of(request).fault = Fault(
            fault.kind, fault.count, until, fault.retry_after, fault.hang
        )
        return JSONResponse({"fault": fault.kind})

    @app.get("/_standin/faults")
    async def control_get_fault(request: Request) -> Response:
        if (err := control_guard(request)) is not None:
            return err
        f = state_of(request).fault
        return JSONResponse({"fault": None if f is None else f.kind, "hits": f.hits if f else 0})

    @app.delete("/_standin/faults")
    async def control_clear_fault(request: Request) -> Response:
        if (err := control_guard(request)) is not None:
            return err
        f, state_of(request).fault = state_of(request).fault, None
        return JSONResponse({"cleared": True, "hits": f.hits if f else 0})

    @app.post("/_standin/messages/{sid}/callbacks")
    async def control_replay_callback(request: Request, sid: str, cb: CallbackIn) -> Response:
        """Post a status callback for a message again (a duplicate) or with another status
        (a late or out-of-order one), signed as Twilio signs it."""
        if (err := control_guard(request)) is not None:
            return err
        state = state_of(request)
        rec = state.by_sid.get(sid)
        if rec is None:
            return JSONResponse({"error": "no such message"}, status_code=404)
        if not rec.status_callback:
            return JSONResponse({"error": "the message has no status callback"}, status_code=409)
        answers = await state.replay_callback(rec, cb.status, cb.error_code, cb.times)
        return JSONResponse({"sid": sid, "status": cb.status, "http_status": answers})

    @app.post("/_standin/inbound")
    async def control_inbound(request: Request, msg: InboundIn) -> Response:
        if (err := control_guard(request)) is not None:
            return err
        state = state_of(request)
        url = msg.url or state.config.sms_url
        if not url:
            return JSONResponse(
                {"error": "no inbound webhook: pass url or start with --sms-url"},
                status_code=400,
            )
        rec, resp, error = await state.send_inbound(
            from_=msg.from_,
            to=msg.to,
            body=msg.body,
            url=url,
            messaging_service_sid=msg.messaging_service_sid,
            sign=msg.sign,
            signature=msg.signature,
        )
        result = {
            "id": rec.id,
            "sid": rec.sid,
            "url": url,
            "status": resp.status_code if resp is not None else None,
            "body": resp.text if resp is not None else None,
            "error": error,
        }
        return JSONResponse(result, status_code=200 if resp is not None else 502)
