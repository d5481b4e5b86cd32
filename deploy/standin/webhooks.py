"""Posting to the product as Twilio does: signed form posts, status callbacks in order.

Why aiohttp and a fixed set of workers: a burst of pages makes the stand-in post two
callbacks per SMS at hundreds of SMS a second on the cores the product is measured on.
httpx's pool scans every connection on each request and a task per message was dearer than
the message, which made the stand-in, not the product, the bottleneck of every benchmark.
aiohttp comes with the `twilio` library (its async client) and parses in C.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from collections import deque
from collections.abc import Mapping
from urllib.parse import urlencode

import aiohttp
import structlog

from .common import Answer, WebhookError, url_for_log, utcnow
from .records import CallbackRecord, Changes, Delivery, MessageRecord, StandinConfig

# Webhooks in flight at once. Why a cap: the product's webhook is the thing under test, and
# thousands of callbacks opened at once would measure the stand-in's pool, not the product.
POSTING_AT_ONCE = 32

log = structlog.get_logger("twilio_standin")


class Webhooks:
    """The HTTP side: one session for every post, opened and closed with the app."""

    def __init__(self, config: StandinConfig) -> None:
        self.config = config
        self.token = config.auth_token.encode()
        self.session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        # Idle connections are dropped after 4 s, before uvicorn's 5 s keep-alive closes them
        # from the product's side: a post on a connection the server is closing fails.
        connector = aiohttp.TCPConnector(limit=POSTING_AT_ONCE, keepalive_timeout=4.0)
        # No cookie jar: Twilio keeps no cookies, and the jar's bookkeeping runs per request.
        self.session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=self.config.callback_timeout),
        )

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None

    def sign(self, url: str, params: Mapping[str, str]) -> str:
        """Twilio's X-Twilio-Signature: HMAC-SHA1 over the exact URL followed by each
        parameter's name and value in name order, base64. Computed here, not by the library's
        RequestValidator, whose handling of multi-valued forms was 6% of the stand-in's CPU;
        the tests check every signature with RequestValidator, as the product does."""
        data = url + "".join(name + params[name] for name in sorted(params))
        return base64.b64encode(hmac.new(self.token, data.encode(), hashlib.sha1).digest()).decode()

    async def post_signed(
        self,
        url: str,
        params: dict[str, str],
        *,
        sign: bool = True,
        signature: str | None = None,
    ) -> Answer:
        """POST as Twilio does: form body, HMAC-SHA1 over the exact URL plus sorted params."""
        assert self.session is not None, "stand-in HTTP client not started"
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
            async with self.session.post(
                url, data=urlencode(params).encode(), headers=headers, allow_redirects=False
            ) as resp:
                return Answer(resp.status, await resp.text(errors="replace"))
        except aiohttp.ClientConnectorError as exc:
            raise WebhookError(f"ConnectError: {exc}") from exc
        except TimeoutError as exc:
            raise WebhookError(f"Timeout: no answer in {self.config.callback_timeout}s") from exc
        except aiohttp.ClientError as exc:
            raise WebhookError(f"{type(exc).__name__}: {exc}") from exc


class CallbackPoster:
    """Posts status callbacks with a fixed set of workers, in order per message.

    A callback that fails (no connection, 5xx) is retried with backoff as Twilio does,
    without holding a worker meanwhile, and the message's later statuses wait behind it so
    they reach the product in order.
    """

    def __init__(self, webhooks: Webhooks, changes: Changes) -> None:
        self.webhooks = webhooks
        self.config = webhooks.config
        self.changes = changes
        self.ready: asyncio.Queue[Delivery] = asyncio.Queue()
        self.workers: list[asyncio.Task[None]] = []
        self.stopped = False

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.stopped = False
        self.workers = [loop.create_task(self._work()) for _ in range(POSTING_AT_ONCE)]

    async def stop(self) -> None:
        self.stopped = True
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

    def _retry(self, item: Delivery) -> None:
        if not self.stopped:
            self.ready.put_nowait(item)

    async def _work(self) -> None:
        while True:
            item = await self.ready.get()
            try:
                await self._attempt(item)
            except Exception as exc:  # a worker lost is every later callback never posted
                log.error("callback.crashed", sid=item.rec.sid, error=repr(exc))
                self._finish(item)

    async def _attempt(self, item: Delivery) -> None:
        """One try; a retry goes back on the queue after its backoff."""
        cb = item.cb
        cb.attempts += 1
        try:
            answer = await self.webhooks.post_signed(cb.url, item.params)
        except WebhookError as exc:
            cb.http_status, cb.error = None, str(exc)
        else:
            cb.http_status, cb.error = answer.status_code, None
        retryable = cb.http_status is None or cb.http_status >= 500
        if retryable and cb.attempts < max(1, self.config.callback_attempts):
            delay = self.config.callback_backoff * 2 ** (cb.attempts - 1)
            asyncio.get_running_loop().call_later(delay, self._retry, item)
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
        self.changes.bump()
