"""The stand-in's state and the message lifecycle: what Twilio does between calls.

Why apart from the routes: the Twilio API, the control API and the phones page all read
and change the same messages; this is the one place that holds them and walks each through
Twilio's statuses, sends inbound SMS to the product, and answers its TwiML.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import xml.etree.ElementTree as ET
from collections import deque
from typing import Any

import structlog

from .common import (
    API_VERSION,
    Answer,
    WebhookError,
    count_segments,
    country_of,
    mask_number,
    new_sid,
    url_for_log,
    utcnow,
)
from .faults import Fault
from .records import (
    AutoReply,
    CallbackRecord,
    Changes,
    MessageRecord,
    NumberRule,
    StandinConfig,
    record_id,
)
from .webhooks import CallbackPoster, Webhooks

log = structlog.get_logger("twilio_standin")


class Standin:
    """All mutable state lives on the event loop thread, so no locks.

    Why it is built as it is: a burst benchmark pushes hundreds of messages a second through
    it on the cores the product is measured on, so a message costs no task of its own. Its
    status steps sit on one timeline (a FIFO: every step is the same delay away, so it stays
    in due order) served by a single timer, and its callbacks are posted by a fixed set of
    workers (webhooks.CallbackPoster).
    """

    def __init__(self, config: StandinConfig) -> None:
        self.config = config
        self.messages: list[MessageRecord] = []  # in id order, so since_id is a bisection
        self.by_sid: dict[str, MessageRecord] = {}
        self.by_to: dict[str, list[MessageRecord]] = {}  # each in id order too
        self.numbers: dict[str, NumberRule] = {}
        self.autoreplies: dict[str, AutoReply] = {}
        self.changes = Changes()
        self.webhooks = Webhooks(config)
        self.poster = CallbackPoster(self.webhooks, self.changes)
        self.tasks: set[asyncio.Task[None]] = set()
        # (due on the loop's clock, message, step, the number's rule, autoreply allowed)
        self.timeline: deque[tuple[float, MessageRecord, str, NumberRule | None, bool]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._next_id = 1
        self.fault: Fault | None = None  # faults.py: Twilio misbehaving on purpose

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

    async def start(self) -> None:
        await self.webhooks.open()
        self.poster.start()

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        await self.poster.stop()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.webhooks.close()

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
                answer = await self.webhooks.post_signed(rec.status_callback, params)
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

    # -- inbound ---------------------------------------------------------------------------

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
            answer = await self.webhooks.post_signed(url, clean, sign=sign, signature=signature)
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
