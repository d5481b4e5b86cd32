"""Sending SMS through the real `twilio` client.

Pointed at the local stand-in by `TWILIO_API_BASE`; with it empty the client talks to Twilio
unchanged. The async HTTP client keeps the worker's event loop free while Twilio answers.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from aiohttp import ClientTimeout
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from services.config import Settings

# Twilio error codes that no retry can fix: bad or unreachable number, opted out, blocked.
PERMANENT_ERRORS = frozenset({21211, 21214, 21408, 21610, 21612, 21614, 30003, 30005, 30006})
# Of those, the ones that say the number itself cannot receive SMS, whoever sends and
# whenever: invalid (21211), cannot be reached (21214), not a mobile (21614), unknown
# handset (30005), landline or unreachable carrier (30006). Not 21610 (an opt-out: STOP is
# kept per number elsewhere), 21408/21612 (our account or sender), 30003 (a handset that is
# switched off comes back).
UNDELIVERABLE_NUMBER_ERRORS = frozenset({21211, 21214, 21614, 30005, 30006})


class PermanentSendError(Exception):
    """The provider refused this message for good; retrying would not help."""

    def __init__(self, code: int | None, status: int) -> None:
        super().__init__(f"twilio refused the message: code={code} http={status}")
        self.code = code


class TransientSendError(Exception):
    """The provider could not be reached or failed; the page stays due and is retried."""


@dataclass(frozen=True)
class Sent:
    sid: str
    status: str


class Transport(AsyncTwilioHttpClient):
    """twilio's own aiohttp transport (one pooled ClientSession for the process), without
    the work it repeats per request for nothing: a BasicAuth object and its base64 per
    request (encoded once here), aiohttp's multipart-capable FormData for a plain form (one
    urlencode here), the request's headers formatted for a log line nobody reads (logged
    only when twilio's logger is on), and a copy of each request kept "for tests only".

    The client above it is the real `twilio` Client: this is its documented extension point
    (`Client(http_client=...)`), so every request and response is still built and parsed by
    the library. The timeout is the sender's: twilio passes none per request, and aiohttp's
    default would let one hung request hold a send for five minutes.
    """

    def __init__(self, timeout_s: float) -> None:
        super().__init__(timeout=timeout_s)
        self._timeout = ClientTimeout(total=timeout_s)
        self._auth: dict[tuple[str, str], str] = {}

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        if timeout is not None and timeout <= 0:
            raise ValueError(timeout)
        headers = dict(headers or {})
        if auth is not None:
            header = self._auth.get(auth)
            if header is None:
                pair = f"{auth[0]}:{auth[1]}".encode("latin1")  # as aiohttp's BasicAuth
                header = self._auth[auth] = "Basic " + base64.b64encode(pair).decode("ascii")
            headers["Authorization"] = header
        if self.logger.isEnabledFor(logging.INFO):
            self.log_request({"method": method, "url": url, "params": params, "headers": headers})
        body = urlencode(data, doseq=True).encode() if data else None
        assert self.session is not None  # pooled: made in __init__
        async with self.session.request(
            method.upper(),
            url,
            params=params,
            data=body,
            headers=headers,
            timeout=ClientTimeout(total=timeout) if timeout is not None else self._timeout,
            allow_redirects=allow_redirects,
        ) as response:
            text = await response.text()
        if self.logger.isEnabledFor(logging.INFO):
            self.log_response(response.status, response)
        return Response(response.status, text, response.headers)


class SmsSender:
    def __init__(self, settings: Settings, timeout_s: float = 10.0) -> None:
        self.settings = settings
        self._http = Transport(timeout_s)
        self.client = Client(
            settings.twilio_account_sid, settings.twilio_auth_token, http_client=self._http
        )
        if settings.twilio_api_base:
            self.client.api.base_url = settings.twilio_api_base

    async def close(self) -> None:
        await self._http.close()

    def _sender(self) -> dict[str, str]:
        if self.settings.twilio_messaging_service_sid:
            return {"messaging_service_sid": self.settings.twilio_messaging_service_sid}
        return {"from_": self.settings.twilio_from_number}

    async def send(self, to: str, body: str, status_callback: str | None) -> Sent:
        try:
            msg = await self.client.messages.create_async(
                to=to, body=body, status_callback=status_callback, **self._sender()
            )
        except TwilioRestException as exc:
            if exc.status < 500 and exc.status != 429:
                raise PermanentSendError(exc.code, exc.status) from exc
            raise TransientSendError(f"http {exc.status}") from exc
        except Exception as exc:  # network: connection refused, timeout, reset
            raise TransientSendError(type(exc).__name__) from exc
        return Sent(sid=str(msg.sid), status=str(msg.status))

    async def find_sent(self, to: str, body: str, since: datetime) -> str | None:
        """The sid of a message we already sent, if the provider has one.

        Why: a worker that died after Twilio accepted a page but before the sid was stored
        must not page the peer again. Twilio's own message log is the witness. No DateSent
        filter: a message still queued has no date_sent yet and would be missed.
        """
        try:
            found = await self.client.messages.list_async(to=to, limit=50, page_size=50)
        except Exception as exc:
            raise TransientSendError(type(exc).__name__) from exc
        earliest = since - timedelta(seconds=5)
        for msg in found:
            created = msg.date_created
            if msg.body == body and (created is None or created >= earliest):
                return str(msg.sid)
        return None
