"""The slice of Twilio's Messages API the product calls: create, fetch and list.

Why plain Starlette endpoints (no FastAPI parameter resolution): create is the stand-in's
hot path, one call per SMS the product sends, and must stay cheap next to the product it is
measured beside. Validation order, error codes and the wire format are Twilio's, so the
product's error handling and the `twilio` library's parsing are exercised for real.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
from collections.abc import Callable, Mapping
from datetime import datetime
from urllib.parse import parse_qsl, urlencode, urlsplit

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from .common import (
    ALPHA_SENDER,
    API_VERSION,
    E164,
    MAX_BODY_CHARS,
    SERVICE_SID_RE,
    SHORT_CODE,
    DateFilterError,
    count_segments,
    fix_plus,
    mask_number,
    new_sid,
    parse_date_filter,
    twilio_error,
    utcnow,
)
from .state import Standin

log = structlog.get_logger("twilio_standin")


def add_message_routes(app: FastAPI) -> None:
    prefix = f"/{API_VERSION}/Accounts/{{AccountSid}}"
    app.add_route(f"{prefix}/Messages.json", create_message, methods=["POST"])
    app.add_route(f"{prefix}/Messages.json", list_messages, methods=["GET"])
    app.add_route(f"{prefix}/Messages/{{Sid}}.json", fetch_message, methods=["GET"])


def check_auth(request: Request, state: Standin) -> JSONResponse | None:
    """Basic auth as AccountSid:AuthToken, answered with Twilio's 20003 on any mismatch."""
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    user = password = ""
    if scheme.lower() == "basic":
        with contextlib.suppress(binascii.Error, UnicodeDecodeError):
            user, _, password = base64.b64decode(encoded).decode().partition(":")
    if user != state.config.account_sid or password != state.config.auth_token:
        log.warning("request.rejected", code=20003, path=request.url.path)
        return twilio_error(
            401, 20003, "Authenticate", **{"WWW-Authenticate": 'Basic realm="Twilio API"'}
        )
    return None


def not_found(request: Request) -> JSONResponse:
    return twilio_error(404, 20404, f"The requested resource {request.url.path} was not found")


def guard(request: Request, account_sid: str) -> JSONResponse | None:
    state: Standin = request.app.state.standin
    if (err := check_auth(request, state)) is not None:
        return err
    if account_sid != state.config.account_sid:
        return not_found(request)
    return None


def validate_create(form: Mapping[str, str]) -> JSONResponse | None:
    """Twilio's validation order and codes, so the product's error handling is exercised."""
    to = form.get("To", "").strip()
    from_ = form.get("From", "").strip()
    service = form.get("MessagingServiceSid", "").strip()
    body = form.get("Body", "")
    callback = form.get("StatusCallback", "").strip()
    if not to:
        return twilio_error(400, 21604, "A 'To' phone number is required.")
    if not E164.match(to):
        return twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
    if not from_ and not service:
        return twilio_error(400, 21603, "A 'From' phone number is required.")
    if service and not SERVICE_SID_RE.match(service):
        return twilio_error(400, 21701, f"The Messaging Service Sid {service} is invalid.")
    if from_ and not (E164.match(from_) or SHORT_CODE.match(from_) or ALPHA_SENDER.match(from_)):
        return twilio_error(400, 21212, f"Invalid From Number (caller ID): {from_}")
    if from_ and from_ == to:
        return twilio_error(400, 21266, "'To' and 'From' number cannot be the same")
    if not body:
        return twilio_error(400, 21602, "Message body is required.")
    if len(body) > MAX_BODY_CHARS:
        return twilio_error(
            400, 21617, "The concatenated message body exceeds the 1600 character limit."
        )
    if callback:
        parts = urlsplit(callback)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return twilio_error(400, 21609, f"Invalid StatusCallback URL: {callback}")
    return None


async def read_form(request: Request) -> dict[str, str]:
    """The posted form; the twilio library always url-encodes, and parsing that directly
    costs a fraction of Starlette's general form parser (multipart is still accepted)."""
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
    raw = await request.form()
    return {k: v for k, v in raw.items() if isinstance(v, str)}


async def create_message(request: Request) -> Response:
    arrived = utcnow()
    if (err := guard(request, request.path_params["AccountSid"])) is not None:
        return err
    state: Standin = request.app.state.standin
    form = await read_form(request)
    if (err := validate_create(form)) is not None:
        code = json.loads(bytes(err.body))["code"]
        log.info("message.rejected", code=code, to=mask_number(form.get("To")))
        return err
    fault = state.fault if state.fault is not None and state.fault.take() else None
    if fault is not None and fault.kind == "error":
        log.info("message.fault", kind="error")
        return twilio_error(500, 20500, "Internal Server Error")
    if fault is not None and fault.kind == "throttle":
        log.info("message.fault", kind="throttle")
        return twilio_error(
            429, 20429, "Too Many Requests", **{"Retry-After": str(fault.retry_after)}
        )
    service = form.get("MessagingServiceSid", "").strip() or None
    body = form["Body"]
    rec = state.add(
        sid=new_sid("SM"),
        direction="outbound-api",
        to=form["To"].strip(),
        from_=form.get("From", "").strip() or None,
        messaging_service_sid=service,
        body=body,
        # Twilio accepts service-routed messages before choosing a sender or counting segments.
        status="accepted" if service else "queued",
        status_callback=form.get("StatusCallback", "").strip() or None,
        num_segments=0 if service else count_segments(body),
        received_at=arrived,
    )
    log.debug("message.created", sid=rec.sid, status=rec.status)
    payload = rec.to_twilio()
    state.start_outbound(rec)
    state.changes.bump()
    if fault is not None:  # hang: taken and on its way, but the answer never comes in time
        log.info("message.fault", kind="hang", sid=rec.sid)
        await asyncio.sleep(fault.hang)
    return JSONResponse(payload, status_code=201)


async def fetch_message(request: Request) -> Response:
    if (err := guard(request, request.path_params["AccountSid"])) is not None:
        return err
    state: Standin = request.app.state.standin
    rec = state.by_sid.get(request.path_params["Sid"])
    if rec is None:
        return not_found(request)
    return JSONResponse(rec.to_twilio())


def _date_predicate(query: Mapping[str, str]) -> Callable[[datetime | None], bool] | JSONResponse:
    """Implement DateSent, DateSent< (on or before) and DateSent> (on or after).

    Twilio compares at one-second resolution (its dates carry no fraction), and a message
    not yet sent has no date_sent, so it never matches a DateSent filter. Plain DateSent is
    documented as a day; the library sends a `date` as `YYYY-MM-DDT00:00:00Z`, so equality
    is always by UTC day.
    """
    checks: list[Callable[[datetime], bool]] = []
    for key, op in (("DateSent", "="), ("DateSent<", "<="), ("DateSent>", ">=")):
        raw = query.get(key)
        if raw is None or raw == "":
            continue
        try:
            bound = parse_date_filter(raw)
        except DateFilterError:
            return twilio_error(400, 20001, f"Invalid value for {key}: {raw}")
        if op == "=":
            checks.append(lambda d, b=bound: d.date() == b.date())
        elif op == "<=":
            checks.append(lambda d, b=bound: d <= b)
        else:
            checks.append(lambda d, b=bound: d >= b)
    if not checks:
        return lambda _d: True

    def matches(sent: datetime | None) -> bool:
        if sent is None:
            return False
        sent = sent.replace(microsecond=0)
        return all(check(sent) for check in checks)

    return matches


async def list_messages(request: Request) -> Response:
    account_sid = request.path_params["AccountSid"]
    if (err := guard(request, account_sid)) is not None:
        return err
    state: Standin = request.app.state.standin
    query = request.query_params
    to = fix_plus(query.get("To"))
    from_ = fix_plus(query.get("From"))
    date_ok = _date_predicate(query)
    if isinstance(date_ok, JSONResponse):
        return date_ok
    try:
        page_size = int(query.get("PageSize") or 50)
        page = int(query.get("Page") or 0)
    except ValueError:
        return twilio_error(400, 20001, "Invalid paging parameters")
    if not 1 <= page_size <= 1000 or page < 0:
        return twilio_error(400, 20001, "PageSize must be between 1 and 1000")

    pool = state.by_to.get(to, []) if to else state.messages
    matching = [
        rec
        for rec in reversed(pool)  # newest first, as Twilio lists them
        if (not from_ or rec.from_ == from_) and date_ok(rec.date_sent)
    ]
    # A PageToken cursor ("PA" + last sid seen) keeps pages stable while new messages arrive.
    token = query.get("PageToken")
    if token:
        last = state.by_sid.get(token[2:])
        if not token.startswith("PA") or last is None:
            return twilio_error(400, 20001, f"Invalid PageToken: {token}")
        matching = [rec for rec in matching if rec.id < last.id]
        items = matching[:page_size]
    else:
        items = matching[page * page_size : (page + 1) * page_size]
    has_more = len(matching) > (page_size if token else (page + 1) * page_size)

    path = f"/{API_VERSION}/Accounts/{account_sid}/Messages.json"
    filters = [(k, v) for k, v in query.multi_items() if k not in ("Page", "PageSize", "PageToken")]

    def uri(page_no: int, page_token: str | None = None) -> str:
        params = [*filters, ("PageSize", str(page_size)), ("Page", str(page_no))]
        if page_token:
            params.append(("PageToken", page_token))
        return f"{path}?{urlencode(params)}"

    start = page * page_size
    body = {
        "end": start + max(len(items), 1) - 1,
        "first_page_uri": uri(0),
        "messages": [rec.to_twilio() for rec in items],
        "next_page_uri": uri(page + 1, "PA" + items[-1].sid) if has_more and items else None,
        "page": page,
        "page_size": page_size,
        "previous_page_uri": uri(page - 1) if page > 0 else None,
        "start": start,
        "uri": uri(page, token),
    }
    return JSONResponse(body)
