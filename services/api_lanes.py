"""Fast lanes: the API's two hot requests answered without the app's middleware and router.

Why: a page costs the API one POST /incidents and two Twilio status callbacks, and before
this each went through a dozen ASGI layers (the console's CSRF wrapper, which signs a fresh
token per request, exception and exit-stack middleware, a router that matches a request
against every console route twice, FastAPI's dependency solving and form parsing): most of
a request's CPU, for requests that need none of it (benchmarks/api_requests.py).

A lane takes only the plain case, exactly as the full app would answer it: a body within
the route's cap with a Content-Length, a known token of a role the route admits
(incidents), a valid Twilio signature on a well-formed form (status callbacks), a body that
validates. The body is read only once the headers admit the request (Lane.admits), so the
Gatekeeper's promise holds: no credential, no body read.
Anything else (a missing or wrong credential, a chunked body, an unexpected content type, a
field that does not validate, a duplicated header) goes on to the full app untouched, the
body replayed, and gets the full app's answer: its status codes, error bodies, logs and
audit rows stay the only ones there are. A lane never answers or writes anything before it
has decided to take a request; tests/integration/test_api_lanes.py checks both lanes answer
what the full app answers, request by request.

What the lanes do not need from the skipped layers, and why:
- CSRF (asgi-csrf, services.console.CsrfGuard): only the console's cookie-authenticated
  forms can be forged cross-site. A bearer header is never added by a browser on its own,
  and Twilio's forms are signed; asgi-csrf itself passes both through untouched.
- The Gatekeeper (services.auth): a lane makes the same checks itself, with the same
  functions (api_caller, body_limit, twilio_signed), before it reads a body. api_caller
  also spends the caller's abuse-limit allowance (services/limits.py) and keeps its
  decision in the scope: a request over a limit is declined unread and the Gatekeeper
  answers it 429 from that decision, so it is counted once. The status lane has no limit
  (a status callback is never limited: Twilio does not retry one it was refused).
- Role checks: the incident lane admits the roles of the route's own dependency
  (services.auth.INCIDENT_ROLES) and writes the same audit row, in the same transaction.
ServerErrorMiddleware and FastAPI's exception telemetry stay outside the lanes: an
unexpected error is a 500 and logged as before.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi.exception_handlers import http_exception_handler
from starlette.exceptions import HTTPException
from starlette.requests import Request

from services.auth import ASGIApp, Message, Receive, Scope, Send, body_limit, client_address

Headers = Mapping[bytes, bytes]


@dataclass(frozen=True)
class Lane:
    """`admits`: from the scope and headers alone (lower-case names, each once), whether
    the lane may take the request; no body is read for one it does not (an unsigned form or
    a request without a known token is refused by the Gatekeeper unread, as before).
    `answer`: with the whole body; True when it answered, False to hand the request to the
    full app unanswered."""

    admits: Callable[[Scope, Headers], Awaitable[bool]]
    answer: Callable[[Scope, Headers, bytes, Send], Awaitable[bool]]


# Off: every request takes the full app (tests compare the two answers).
ENABLED = True


class FastLanes:
    """Pure ASGI: a (method, path) with a lane is offered to it; everything else, and every
    request a lane declines, goes to `app` as it came."""

    def __init__(self, app: ASGIApp, lanes: Mapping[tuple[str, str], Lane]) -> None:
        self.app = app
        self.lanes = dict(lanes)
        self.taken = 0  # requests a lane answered (tests check the lanes are in use)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        lane = self.lanes.get((scope.get("method", ""), scope.get("path", "")))
        if lane is None or scope["type"] != "http" or not ENABLED:
            await self.app(scope, receive, send)
            return
        headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            name = name.lower()
            if name in headers:  # a repeated header: the full app decides what it means
                await self.app(scope, receive, send)
                return
            headers[name] = value
        declared = headers.get(b"content-length", b"")
        if (
            not declared.isdigit()
            or int(declared) > body_limit(scope["path"])
            or not await lane.admits(scope, headers)
        ):
            await self.app(scope, receive, send)  # unread: the full app answers it
            return
        received: list[Message] = []
        chunks: list[bytes] = []
        complete = False
        while not complete:
            message = await receive()
            received.append(message)
            if message["type"] != "http.request":
                break  # the client went away: the full app sees that too
            chunks.append(message.get("body", b""))
            complete = not message.get("more_body", False)
        if complete and await lane.answer(scope, headers, b"".join(chunks), send):
            self.taken += 1
            return
        await self.app(scope, _replay(received, receive), send)


def _replay(received: list[Message], receive: Receive) -> Receive:
    pending = list(received)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


async def send_json(send: Send, status: int, content: Any) -> None:
    """As Starlette's JSONResponse renders and heads a body."""
    body = json.dumps(
        content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-length", str(len(body)).encode("latin-1")),
                (b"content-type", b"application/json"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def send_empty(send: Send, status: int) -> None:
    """As Starlette's Response(status_code=204) heads nothing and sends no body."""
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def send_refusal(scope: Scope, send: Send, exc: HTTPException) -> None:
    """An HTTPException answered by the handler the full app answers it with."""

    async def nothing() -> Message:
        return {"type": "http.disconnect"}

    response = await http_exception_handler(Request(scope, nothing), exc)
    await response(scope, nothing, send)


def client_ip(scope: Scope) -> str:
    """The address audit rows name: the one the abuse limits count by."""
    return client_address(scope)
