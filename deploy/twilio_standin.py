#!/usr/bin/env python3
"""A local stand-in for the slice of Twilio's Messages API the product uses.

Why it exists: the real Twilio API cannot be reached from development and CI machines, and
paging behaviour (status callbacks, failed deliveries, peer replies, crash reconciliation)
has to be exercised end to end with the real `twilio` library. Like GoAlert's Twilio mock it
records outbound messages, walks them through Twilio's status lifecycle, posts status
callbacks and inbound replies signed exactly as Twilio signs them, and offers a small JSON
control API (`/_standin/...`) so tests and demos can script recipients, and a "phones" page
(`/_standin/phones`, in deploy/standin_phones.py) where a person reads each phone's
conversation and replies as that phone.

Run: python deploy/twilio_standin.py --port 8765 --account-sid AC... --auth-token ...
Point the product at it with `client.api.base_url = "http://127.0.0.1:8765"`.

Logs never carry message bodies and only masked phone numbers: the stand-in sees the same
confidential peer-support text as production would.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import bisect
import contextlib
import functools
import importlib.util
import ipaddress
import itertools
import json
import math
import os
import re
import sys
import uuid
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from types import ModuleType
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit

import aiohttp
import structlog
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from twilio.request_validator import RequestValidator

# Webhooks in flight at once (see CallbackPoster).
POSTING_AT_ONCE = 32
API_VERSION = "2010-04-01"
# Same dev default as services/config.py so an unconfigured product and stand-in agree.
DEFAULT_ACCOUNT_SID = "AC" + "0" * 32
DEFAULT_AUTH_TOKEN = "dev-auth-token"
# Twilio's magic "valid sender" test number; used as the pool sender for MessagingServiceSid.
DEFAULT_SERVICE_SENDER = "+15005550006"
MAX_BODY_CHARS = 1600
ERRORS_DOC = "https://www.twilio.com/docs/errors/{code}"

E164 = re.compile(r"^\+[1-9]\d{1,14}$")
SHORT_CODE = re.compile(r"^\d{3,8}$")
ALPHA_SENDER = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")
ACCOUNT_SID_RE = re.compile(r"^AC[0-9a-f]{32}$")
SERVICE_SID_RE = re.compile(r"^MG[0-9a-f]{32}$")

# GSM 03.38: decides whether a body is billed in 160/153-char or 70/67-char segments.
GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENDED = set("^{}\\[~]|€\f")

# "sent": the carrier never confirms, so the message stays 'sent' (no final callback).
DeliveryOutcome = Literal["delivered", "undelivered", "failed", "sent"]
CallbackStatus = Literal[
    "accepted", "queued", "sending", "sent", "delivered", "undelivered", "failed", "read"
]

log = structlog.get_logger("twilio_standin")


# --------------------------------------------------------------------------- helpers


def mask_number(number: str | None) -> str | None:
    """Keep enough of a number to tell recipients apart in a log, never the whole number."""
    if not number:
        return number
    if len(number) < 9:
        return "***" + number[-2:] if len(number) > 4 else "***"
    return f"{number[:5]}***{number[-4:]}"


def utcnow() -> datetime:
    return datetime.now(UTC)


def rfc2822(dt: datetime | None) -> str | None:
    """Twilio renders every resource date as RFC 2822 in GMT; the library parses only that."""
    return _rfc2822_second(int(dt.timestamp())) if dt else None


@functools.lru_cache(maxsize=64)
def _rfc2822_second(second: int) -> str:
    """Formatting is dear next to the rest of a message; a burst's share the same seconds."""
    return format_datetime(datetime.fromtimestamp(second, UTC))


def iso_micro(dt: datetime | None) -> str | None:
    """Always six fractional digits, so latency measurements never lose precision."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ") if dt else None


def new_sid(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


def count_segments(body: str) -> int:
    """Segment count matters to callers that budget SMS cost and to Twilio's num_segments."""
    if not body:
        return 1
    if all(ch in GSM_BASIC or ch in GSM_EXTENDED for ch in body):
        septets = sum(2 if ch in GSM_EXTENDED else 1 for ch in body)
        return 1 if septets <= 160 else math.ceil(septets / 153)
    units = len(body.encode("utf-16-le")) // 2
    return 1 if units <= 70 else math.ceil(units / 67)


def country_of(number: str) -> str | None:
    """Twilio adds FromCountry/ToCountry to inbound webhooks; +1 is all the product uses."""
    return "US" if number.startswith("+1") else None


def fix_plus(value: str | None) -> str | None:
    """An unencoded '+' in a query string arrives as a space; undo that for phone numbers."""
    if value and value.startswith(" ") and value[1:].isdigit():
        return "+" + value[1:]
    return value


def url_for_log(url: str) -> str:
    """Query strings may hold secrets (e.g. tokens in callback URLs); log scheme/host/path."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def twilio_error(status: int, code: int, message: str, **headers: str) -> JSONResponse:
    """Shaped like Twilio's error body so TwilioRestException carries the right code."""
    body = {
        "code": code,
        "message": message,
        "more_info": ERRORS_DOC.format(code=code),
        "status": status,
    }
    return JSONResponse(body, status_code=status, headers=headers or None)


class DateFilterError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Answer:
    """What the product's webhook answered: the stand-in reads its status and TwiML only."""

    status_code: int
    text: str

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300


class WebhookError(Exception):
    """The webhook gave no answer; the text names the failure (ConnectError, Timeout...)."""


def parse_date_filter(raw: str) -> datetime:
    """Parse a DateSent value into an aware UTC datetime.

    Twilio documents YYYY-MM-DD but accepts full timestamps, and the Python library sends
    `%Y-%m-%dT%H:%M:%SZ`, so both must work or reconciliation silently widens to a day.
    """
    try:
        parsed = datetime.fromisoformat(raw.strip())  # YYYY-MM-DD parses as midnight
    except ValueError as exc:
        raise DateFilterError(raw) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


# --------------------------------------------------------------------------- state


@dataclass(slots=True)
class CallbackRecord:
    """One webhook delivery (after retries), kept so tests can assert what the product saw."""

    status: str
    url: str
    attempts: int = 0
    http_status: int | None = None
    ok: bool = False
    error: str | None = None
    posted_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "url": self.url,
            "attempts": self.attempts,
            "http_status": self.http_status,
            "ok": self.ok,
            "error": self.error,
            "posted_at": iso_micro(self.posted_at),
        }


@dataclass(slots=True)
class MessageRecord:
    id: int
    sid: str
    account_sid: str
    direction: str
    to: str
    from_: str | None
    messaging_service_sid: str | None
    body: str
    status: str
    status_callback: str | None
    received_at: datetime
    num_segments: int
    date_updated: datetime
    date_sent: datetime | None = None
    error_code: int | None = None
    callbacks: list[CallbackRecord] = field(default_factory=list)
    # Status callbacks waiting for the one in flight: Twilio's are retried, and a message's
    # statuses must still reach the product in order (see CallbackPoster).
    callbacks_waiting: deque[Delivery] | None = None
    callback_in_flight: bool = False

    @property
    def uri(self) -> str:
        return f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{self.sid}.json"

    def to_twilio(self) -> dict[str, Any]:
        """The resource exactly as Twilio renders it, including its string-typed counters."""
        base = self.uri[: -len(".json")]
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": self.body,
            "date_created": rfc2822(self.received_at),
            "date_sent": rfc2822(self.date_sent),
            "date_updated": rfc2822(self.date_updated),
            "direction": self.direction,
            "error_code": self.error_code,
            "error_message": None,
            "from": self.from_,
            "messaging_service_sid": self.messaging_service_sid,
            "num_media": "0",
            "num_segments": str(self.num_segments),
            "price": None,
            "price_unit": "USD",
            "sid": self.sid,
            "status": self.status,
            "subresource_uris": {
                "media": f"{base}/Media.json",
                "feedback": f"{base}/Feedback.json",
            },
            "to": self.to,
            "uri": self.uri,
        }

    def to_control(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "sid": self.sid,
            "direction": self.direction,
            "to": self.to,
            "from": self.from_,
            "messaging_service_sid": self.messaging_service_sid,
            "body": self.body,
            "status": self.status,
            "error_code": self.error_code,
            "num_segments": self.num_segments,
            "status_callback": self.status_callback,
            "received_at": iso_micro(self.received_at),
            "date_sent": iso_micro(self.date_sent),
            "callbacks": [cb.to_json() for cb in self.callbacks],
        }


def record_id(rec: MessageRecord) -> int:
    return rec.id


@dataclass
class NumberRule:
    delivery: DeliveryOutcome
    error_code: int | None


@dataclass
class AutoReply:
    body: str
    delay: float
    once: bool
    url: str | None


@dataclass
class StandinConfig:
    account_sid: str
    auth_token: str
    sms_url: str | None = None
    status_delay: float = 0.05
    callback_attempts: int = 5
    callback_backoff: float = 0.25
    callback_timeout: float = 5.0
    service_sender: str = DEFAULT_SERVICE_SENDER
    control_loopback_only: bool = True


class Changes:
    """A change counter that long polls wait on.

    Why not an asyncio.Condition: every status step of every message is a change, and a
    Condition needs a task and a lock round per notification even with nobody waiting;
    here a change with no waiter is one increment, and several changes before a waiter runs
    wake it once.
    """

    def __init__(self) -> None:
        self.version = 0
        self._waiters: list[asyncio.Future[None]] = []

    def bump(self) -> None:
        self.version += 1
        if self._waiters:
            waiters, self._waiters = self._waiters, []
            for fut in waiters:
                if not fut.done():
                    fut.set_result(None)

    async def wait_for(self, predicate: Callable[[], bool], timeout: float) -> None:
        """Return once `predicate()` holds; TimeoutError if it does not within `timeout`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError
            fut: asyncio.Future[None] = loop.create_future()
            self._waiters.append(fut)
            try:
                await asyncio.wait_for(fut, left)
            except TimeoutError:
                if predicate():
                    return
                raise


@dataclass(slots=True)
class Delivery:
    """A status callback on its way: which message, its record, the signed form."""

    rec: MessageRecord
    cb: CallbackRecord
    params: dict[str, str]


class Standin:
    """All mutable state lives on the event loop thread, so no locks.

    Why it is built as it is: a burst benchmark pushes hundreds of messages a second through
    it on the cores the product is measured on, so a message costs no task of its own. Its
    status steps sit on one timeline (a FIFO: every step is the same delay away, so it stays
    in due order) served by a single timer, and its callbacks are posted by a fixed set of
    workers (CallbackPoster).
    """

    def __init__(self, config: StandinConfig) -> None:
        self.config = config
        self.validator = RequestValidator(config.auth_token)
        self.messages: list[MessageRecord] = []  # in id order, so since_id is a bisection
        self.by_sid: dict[str, MessageRecord] = {}
        self.by_to: dict[str, list[MessageRecord]] = {}  # each in id order too
        self.numbers: dict[str, NumberRule] = {}
        self.autoreplies: dict[str, AutoReply] = {}
        self.changes = Changes()
        self.http: aiohttp.ClientSession | None = None
        self.poster = CallbackPoster(self)
        self.tasks: set[asyncio.Task[None]] = set()
        # (due on the loop's clock, message, step, the number's rule, autoreply allowed)
        self.timeline: deque[tuple[float, MessageRecord, str, NumberRule | None, bool]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._next_id = 1

    # -- bookkeeping ------------------------------------------------------------------

    def spawn(self, coro: Any) -> None:
        """Keep a reference so background work is not garbage-collected mid-flight."""
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("task.crashed", error=repr(task.exception()))

    def add(self, **kwargs: Any) -> MessageRecord:
        now = kwargs.pop("received_at", None) or utcnow()
        rec = MessageRecord(
            id=self._next_id,
            account_sid=self.config.account_sid,
            received_at=now,
            date_updated=now,
            **kwargs,
        )
        self._next_id += 1
        self.messages.append(rec)
        self.by_sid[rec.sid] = rec
        self.by_to.setdefault(rec.to, []).append(rec)
        return rec

    def clear_messages(self) -> None:
        """Ids keep counting so a test's since_id from before a clear stays meaningful."""
        self.messages.clear()
        self.by_sid.clear()
        self.by_to.clear()

    async def start(self, session: aiohttp.ClientSession) -> None:
        self.http = session
        self.poster.start()

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        await self.poster.stop()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.http = None

    # -- outbound lifecycle -------------------------------------------------------------

    def start_outbound(self, rec: MessageRecord, *, autoreply: bool = True) -> None:
        self._later(rec, "send", None, autoreply)

    def _later(
        self, rec: MessageRecord, step: str, rule: NumberRule | None, autoreply: bool
    ) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + self.config.status_delay
        self.timeline.append((due, rec, step, rule, autoreply))
        if self._timer is None:
            self._timer = loop.call_at(due, self._tick)

    def _tick(self) -> None:
        """Take every step that is due, then sleep until the next one."""
        self._timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        while self.timeline and self.timeline[0][0] <= now:
            _due, rec, step, rule, autoreply = self.timeline.popleft()
            try:
                self._step(rec, step, rule, autoreply)
            except Exception as exc:  # one bad message must not stop every other
                log.error("message.step_crashed", sid=rec.sid, error=repr(exc))
        if self.timeline and self._timer is None:
            self._timer = loop.call_at(self.timeline[0][0], self._tick)

    def _step(
        self, rec: MessageRecord, step: str, rule: NumberRule | None, autoreply: bool
    ) -> None:
        """Walk Twilio's status machine: queued -> sent -> delivered, a step a delay apart.

        The rule for the number is read when the message leaves the queue, as a carrier
        would decide, so a test may register a failing number just before sending.
        """
        if step == "send":
            rule = self.numbers.get(rec.to)
            if rule and rule.delivery == "failed":
                self._transition(rec, "failed", rule.error_code)
                return
            self._transition(rec, "sent")
            if not (rule and rule.delivery == "sent"):
                self._later(rec, "deliver", rule, autoreply)
            return
        if rule and rule.delivery == "undelivered":
            self._transition(rec, "undelivered", rule.error_code)
            return
        self._transition(rec, "delivered")
        reply = self.autoreplies.get(rec.to)
        if autoreply and reply:
            if reply.once:
                self.autoreplies.pop(rec.to, None)
            self.spawn(self._autoreply(rec, reply))

    def _transition(self, rec: MessageRecord, status: str, error_code: int | None = None) -> None:
        now = utcnow()
        if rec.date_sent is None:
            rec.date_sent = now
        if rec.from_ is None:  # a Messaging Service picks its sender when it sends
            rec.from_ = self.config.service_sender
            rec.num_segments = count_segments(rec.body)
        rec.status = status
        rec.date_updated = now
        rec.error_code = error_code
        # Debug, not info: at a few hundred messages a second one line per step costs more
        # CPU than the step itself; failures and rejections stay at warning and info.
        log.debug("message.status", sid=rec.sid, status=status, error_code=error_code)
        self.changes.bump()
        if rec.status_callback:
            self.poster.submit(rec, status, self.status_params(rec))

    def status_params(
        self, rec: MessageRecord, status: str | None = None, error_code: int | None = None
    ) -> dict[str, str]:
        status = status or rec.status
        error_code = rec.error_code if status == rec.status else error_code
        params = {
            "MessageSid": rec.sid,
            "SmsSid": rec.sid,
            "AccountSid": rec.account_sid,
            "From": rec.from_ or "",
            "To": rec.to,
            "MessageStatus": status,
            "SmsStatus": status,
            "ApiVersion": API_VERSION,
        }
        if rec.messaging_service_sid:
            params["MessagingServiceSid"] = rec.messaging_service_sid
        if error_code is not None:
            params["ErrorCode"] = str(error_code)
        return params

    async def replay_callback(
        self, rec: MessageRecord, status: str, error_code: int | None, times: int
    ) -> list[int | None]:
        """Post a status callback again, or a status out of order, as Twilio may: its
        callbacks are retried and not promised in order. Each post once, no retry, so the
        caller sees every answer."""
        assert rec.status_callback is not None
        params = self.status_params(rec, status, error_code)
        answers: list[int | None] = []
        for _ in range(times):
            cb = CallbackRecord(status=status, url=rec.status_callback, attempts=1)
            rec.callbacks.append(cb)
            try:
                answer = await self.post_signed(rec.status_callback, params)
                cb.http_status = answer.status_code
            except WebhookError as exc:
                cb.error = str(exc)
            cb.posted_at = utcnow()
            cb.ok = cb.http_status is not None and cb.http_status < 400
            answers.append(cb.http_status)
            log.info(
                "callback.replayed",
                sid=rec.sid,
                status=status,
                url=url_for_log(rec.status_callback),
                http_status=cb.http_status,
            )
        self.changes.bump()
        return answers

    # -- webhooks -------------------------------------------------------------------------

    def sign(self, url: str, params: Mapping[str, str]) -> str:
        return self.validator.compute_signature(url, dict(params))

    async def post_signed(
        self,
        url: str,
        params: dict[str, str],
        *,
        sign: bool = True,
        signature: str | None = None,
    ) -> Answer:
        """POST as Twilio does: form body, HMAC-SHA1 over the exact URL plus sorted params."""
        assert self.http is not None, "stand-in HTTP client not started"
        headers = {
            "User-Agent": "TwilioProxy/1.1",
            "Accept": "*/*",
            "Content-Type": "application/x-www-form-urlencoded",
        }
        if signature is not None:
            headers["X-Twilio-Signature"] = signature
        elif sign:
            headers["X-Twilio-Signature"] = self.sign(url, params)
        try:
            async with self.http.post(
                url,
                data=urlencode(params).encode(),
                headers=headers,
                allow_redirects=False,
            ) as resp:
                return Answer(resp.status, await resp.text(errors="replace"))
        except aiohttp.ClientConnectorError as exc:
            raise WebhookError(f"ConnectError: {exc}") from exc
        except TimeoutError as exc:
            raise WebhookError(f"Timeout: no answer in {self.config.callback_timeout}s") from exc
        except aiohttp.ClientError as exc:
            raise WebhookError(f"{type(exc).__name__}: {exc}") from exc

    async def send_inbound(
        self,
        *,
        from_: str,
        to: str,
        body: str,
        url: str,
        messaging_service_sid: str | None = None,
        sign: bool = True,
        signature: str | None = None,
    ) -> tuple[MessageRecord, Answer | None, str | None]:
        """Record an inbound SMS and deliver it to the product's webhook, once, no retry.

        No retry because callers (tests) want to see the webhook's first answer, e.g. 403.
        """
        rec = self.add(
            sid=new_sid("SM"),
            direction="inbound",
            to=to,
            from_=from_,
            messaging_service_sid=messaging_service_sid,
            body=body,
            status="received",
            status_callback=None,
            num_segments=count_segments(body),
        )
        rec.date_sent = rec.received_at
        self.changes.bump()
        params = {
            "ToCountry": country_of(to),
            "SmsMessageSid": rec.sid,
            "NumMedia": "0",
            "SmsSid": rec.sid,
            "SmsStatus": "received",
            "Body": body,
            "FromCountry": country_of(from_),
            "To": to,
            "MessagingServiceSid": messaging_service_sid,
            "NumSegments": str(rec.num_segments),
            "MessageSid": rec.sid,
            "AccountSid": rec.account_sid,
            "From": from_,
            "ApiVersion": API_VERSION,
        }
        clean = {k: v for k, v in params.items() if v is not None}
        try:
            answer = await self.post_signed(url, clean, sign=sign, signature=signature)
        except WebhookError as exc:
            log.warning(
                "inbound.failed",
                sid=rec.sid,
                **{"from": mask_number(from_)},
                to=mask_number(to),
                url=url_for_log(url),
                error=str(exc).split(":", 1)[0],
            )
            return rec, None, str(exc)
        log.info(
            "inbound.posted",
            sid=rec.sid,
            **{"from": mask_number(from_)},
            to=mask_number(to),
            url=url_for_log(url),
            http_status=answer.status_code,
            signed=signature is None and sign,
        )
        if answer.is_success:
            self._handle_twiml(rec, answer)
        return rec, answer, None

    def _handle_twiml(self, inbound: MessageRecord, answer: Answer) -> None:
        """Send TwiML <Message> replies as Twilio would, so acknowledgements are testable."""
        text = answer.text.strip()
        if not text.startswith("<"):
            return
        try:
            root = ET.fromstring(text)
        except ET.ParseError:
            log.warning("inbound.twiml_unparseable", sid=inbound.sid)
            return
        for node in root.iter("Message"):
            body_node = node.find("Body")
            body = (body_node.text if body_node is not None else node.text) or ""
            rec = self.add(
                sid=new_sid("SM"),
                direction="outbound-reply",
                to=node.get("to") or inbound.from_ or "",
                from_=node.get("from") or inbound.to,
                messaging_service_sid=inbound.messaging_service_sid,
                body=body.strip(),
                status="queued",
                status_callback=None,
                num_segments=count_segments(body.strip()),
            )
            log.info("message.created", sid=rec.sid, to=mask_number(rec.to), status=rec.status)
            self.start_outbound(rec, autoreply=False)
        self.changes.bump()

    async def _autoreply(self, rec: MessageRecord, reply: AutoReply) -> None:
        await asyncio.sleep(reply.delay)
        url = reply.url or self.config.sms_url
        if not url:
            log.warning("autoreply.no_url", sid=rec.sid, to=mask_number(rec.to))
            return
        await self.send_inbound(
            from_=rec.to,
            to=rec.from_ or self.config.service_sender,
            body=reply.body,
            url=url,
            messaging_service_sid=rec.messaging_service_sid,
        )

    # -- queries ---------------------------------------------------------------------------

    def control_matches(
        self,
        *,
        to: str | None,
        since_id: int,
        status: str | None,
        direction: str,
    ) -> list[MessageRecord]:
        """The control API's filter, read through the indexes: a benchmark polls
        `since_id` many times a second while tens of thousands of messages are kept."""
        pool = self.by_to.get(to, []) if to else self.messages
        start = bisect.bisect_right(pool, since_id, key=record_id)

        def ok(rec: MessageRecord) -> bool:
            if status and rec.status != status:
                return False
            if direction == "any":
                return True
            if direction == "outbound":
                return rec.direction.startswith("outbound")
            return rec.direction == direction

        return [rec for rec in itertools.islice(pool, start, None) if ok(rec)]


class CallbackPoster:
    """Posts status callbacks with a fixed set of workers, in order per message.

    Why not a task per message: a burst keeps thousands of messages in flight and the tasks
    alone were a large share of the stand-in's CPU. Why the cap: the product's webhook is
    the thing under test, and a stand-in that opens a connection per callback would measure
    its own pool, not the product. A callback that fails (no connection, 5xx) is retried
    with backoff as Twilio does, without holding a worker, and the message's later statuses
    wait behind it so they reach the product in order.
    """

    def __init__(self, state: Standin) -> None:
        self.state = state
        self.ready: asyncio.Queue[Delivery] = asyncio.Queue()
        self.workers: list[asyncio.Task[None]] = []
        self.retries: set[asyncio.TimerHandle] = set()

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.workers = [loop.create_task(self._work()) for _ in range(POSTING_AT_ONCE)]

    async def stop(self) -> None:
        for handle in self.retries:
            handle.cancel()
        self.retries.clear()
        for task in self.workers:
            task.cancel()
        await asyncio.gather(*self.workers, return_exceptions=True)
        self.workers = []

    def submit(self, rec: MessageRecord, status: str, params: dict[str, str]) -> None:
        assert rec.status_callback is not None
        cb = CallbackRecord(status=status, url=rec.status_callback)
        rec.callbacks.append(cb)
        item = Delivery(rec, cb, params)
        if rec.callback_in_flight:
            if rec.callbacks_waiting is None:
                rec.callbacks_waiting = deque()
            rec.callbacks_waiting.append(item)
        else:
            rec.callback_in_flight = True
            self.ready.put_nowait(item)

    def _retry(self, item: Delivery, handle: list[asyncio.TimerHandle]) -> None:
        self.retries.discard(handle[0])
        self.ready.put_nowait(item)

    async def _work(self) -> None:
        while True:
            item = await self.ready.get()
            try:
                await self._attempt(item)
            except Exception as exc:  # a worker lost is a callback never posted
                log.error("callback.crashed", sid=item.rec.sid, error=repr(exc))
                self._finish(item)

    async def _attempt(self, item: Delivery) -> None:
        """One try; a retry is put back on the queue after its backoff."""
        cb, config = item.cb, self.state.config
        cb.attempts += 1
        try:
            answer = await self.state.post_signed(cb.url, item.params)
        except WebhookError as exc:
            cb.http_status, cb.error = None, str(exc)
        else:
            cb.http_status, cb.error = answer.status_code, None
        retryable = cb.http_status is None or cb.http_status >= 500
        if retryable and cb.attempts < max(1, config.callback_attempts):
            delay = config.callback_backoff * 2 ** (cb.attempts - 1)
            holder: list[asyncio.TimerHandle] = []
            holder.append(asyncio.get_running_loop().call_later(delay, self._retry, item, holder))
            self.retries.add(holder[0])
            return
        self._finish(item)

    def _finish(self, item: Delivery) -> None:
        rec, cb = item.rec, item.cb
        cb.posted_at = utcnow()
        cb.ok = cb.http_status is not None and cb.http_status < 400
        if cb.ok:
            log.debug("callback.posted", sid=rec.sid, status=cb.status, attempts=cb.attempts)
        else:
            log.warning(
                "callback.failed",
                sid=rec.sid,
                status=cb.status,
                url=url_for_log(cb.url),
                http_status=cb.http_status,
                attempts=cb.attempts,
                error=cb.error,
            )
        if rec.callbacks_waiting:
            self.ready.put_nowait(rec.callbacks_waiting.popleft())
        else:
            rec.callback_in_flight = False
        self.state.changes.bump()


# --------------------------------------------------------------------------- Twilio API


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
    """Plain Starlette endpoints for the Messages API (no FastAPI parameter resolution):
    they are the stand-in's hot path, one call per SMS the product sends."""
    arrived = utcnow()
    if (err := guard(request, request.path_params["AccountSid"])) is not None:
        return err
    state: Standin = request.app.state.standin
    form = await read_form(request)
    if (err := validate_create(form)) is not None:
        code = json.loads(bytes(err.body))["code"]
        log.info("message.rejected", code=code, to=mask_number(form.get("To")))
        return err
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


# --------------------------------------------------------------------------- control API


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


# --------------------------------------------------------------------------- app


def phones_module() -> ModuleType:
    """The phones page (deploy/standin_phones.py), imported by path: this file runs as a
    script and tests load it by path, so its folder is not always on sys.path."""
    name = "standin_phones"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, Path(__file__).resolve().with_name("standin_phones.py")
        )
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def create_app(
    account_sid: str = DEFAULT_ACCOUNT_SID,
    auth_token: str = DEFAULT_AUTH_TOKEN,
    *,
    sms_url: str | None = None,
    status_delay: float = 0.05,
    callback_attempts: int = 5,
    callback_backoff: float = 0.25,
    callback_timeout: float = 5.0,
    service_sender: str = DEFAULT_SERVICE_SENDER,
    control_loopback_only: bool = True,
) -> FastAPI:
    """Build the stand-in; tests run it in-process with short delays and their own URLs."""
    config = StandinConfig(
        account_sid=account_sid,
        auth_token=auth_token,
        sms_url=sms_url,
        status_delay=status_delay,
        callback_attempts=callback_attempts,
        callback_backoff=callback_backoff,
        callback_timeout=callback_timeout,
        service_sender=service_sender,
        control_loopback_only=control_loopback_only,
    )
    state = Standin(config)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Idle connections are dropped after 4 s, before uvicorn's 5 s keep-alive closes them
        # from the product's side: a post on a connection the server is closing fails.
        connector = aiohttp.TCPConnector(limit=POSTING_AT_ONCE, keepalive_timeout=4.0)
        # No cookie jar: Twilio keeps no cookies, and the jar's bookkeeping runs per request.
        async with aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=callback_timeout),
        ) as session:
            await state.start(session)
            log.info(
                "standin.started",
                account_sid=account_sid,
                sms_url=url_for_log(sms_url) if sms_url else None,
            )
            try:
                yield
            finally:
                await state.stop()

    app = FastAPI(
        title="Twilio stand-in",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.standin = state
    prefix = f"/{API_VERSION}/Accounts/{{AccountSid}}"
    app.add_route(f"{prefix}/Messages.json", create_message, methods=["POST"])
    app.add_route(f"{prefix}/Messages.json", list_messages, methods=["GET"])
    app.add_route(f"{prefix}/Messages/{{Sid}}.json", fetch_message, methods=["GET"])
    add_control_routes(app)
    phones_module().add_phone_routes(app, control_guard)
    return app


def configure_logging(fmt: str, level: str) -> None:
    """The product's own set-up, so stand-in lines sit next to product lines."""
    from services.logs import configure

    configure(fmt, level)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    env = os.environ
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default=env.get("STANDIN_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(env.get("STANDIN_PORT", "8765")))
    parser.add_argument("--account-sid", default=env.get("TWILIO_ACCOUNT_SID", DEFAULT_ACCOUNT_SID))
    parser.add_argument("--auth-token", default=env.get("TWILIO_AUTH_TOKEN", DEFAULT_AUTH_TOKEN))
    parser.add_argument(
        "--sms-url",
        default=env.get("STANDIN_SMS_URL") or None,
        help="product's inbound SMS webhook, e.g. http://127.0.0.1:8000/twilio/sms",
    )
    parser.add_argument(
        "--status-delay",
        type=float,
        default=float(env.get("STANDIN_STATUS_DELAY", "0.05")),
        help="seconds before each status step (queued->sent->delivered)",
    )
    parser.add_argument(
        "--callback-attempts", type=int, default=int(env.get("STANDIN_CALLBACK_ATTEMPTS", "5"))
    )
    parser.add_argument(
        "--callback-backoff",
        type=float,
        default=float(env.get("STANDIN_CALLBACK_BACKOFF", "0.25")),
        help="first retry delay in seconds; doubles each attempt",
    )
    parser.add_argument(
        "--service-sender",
        default=env.get("STANDIN_SERVICE_SENDER", DEFAULT_SERVICE_SENDER),
        help="From number used for messages sent with a MessagingServiceSid",
    )
    parser.add_argument("--log-format", default=env.get("LOG_FORMAT", "console"))
    parser.add_argument("--log-level", default=env.get("LOG_LEVEL", "info"))
    args = parser.parse_args(argv)
    if not ACCOUNT_SID_RE.match(args.account_sid):
        parser.error("--account-sid must be 'AC' followed by 32 lowercase hex characters")
    if not args.auth_token:
        parser.error("--auth-token must not be empty")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    configure_logging(args.log_format, args.log_level)
    app = create_app(
        args.account_sid,
        args.auth_token,
        sms_url=args.sms_url,
        status_delay=args.status_delay,
        callback_attempts=args.callback_attempts,
        callback_backoff=args.callback_backoff,
        service_sender=args.service_sender,
    )
    # Access logs would print query strings holding full phone numbers, so they stay off.
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        access_log=False,
        # Never behind a proxy; reading forwarded headers is work on every request.
        proxy_headers=False,
        log_level=args.log_level.lower(),
        timeout_graceful_shutdown=2,
        # Longer than aiohttp's 15 s pool idle time, as real APIs keep connections: with
        # uvicorn's 5 s default a client reusing an idle connection races the close.
        timeout_keep_alive=75,
    )


if __name__ == "__main__":
    main()
