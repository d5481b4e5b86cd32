"""The stand-in's records: messages, their callbacks, scripted numbers, configuration.

Why apart from the logic: the control API, the phones page and the Twilio API all render
these, and the lifecycle and the callback poster both change them.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .common import API_VERSION, DEFAULT_SERVICE_SENDER, DeliveryOutcome, iso_micro, rfc2822


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
