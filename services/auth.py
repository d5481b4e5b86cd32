"""Who may call the API: bearer tokens for people and systems, Twilio's signature for Twilio.

Twilio cannot send our token, so its webhooks prove themselves with X-Twilio-Signature; the
secondary auth token is accepted too so a token can be rotated without dropping replies.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from functools import lru_cache
from typing import Any
from urllib.parse import urlparse

from fastapi import HTTPException, Request
from twilio.request_validator import RequestValidator, compare

from services import clock
from services.config import get_settings
from services.db import transaction
from services.identity import tokens
from services.identity.deps import api_role
from services.identity.models import Role
from services.identity.principal import Principal
from services.limits import is_intake, limits, retry_after

# Who may call which API route. Risk management (and integrations acting for it) logs
# incidents and learns only that support was offered; the coordinator runs the programme.
INCIDENT_ROLES = (Role.risk_manager, Role.coordinator)
require_incidents = api_role(*INCIDENT_ROLES)
require_coordinator = api_role(Role.coordinator)
# Health and Prometheus metrics carry counts only; every integration may watch them.
require_any_token = api_role(Role.risk_manager, Role.coordinator, Role.admin, Role.feed)
# The hospital's feeds (services/feeds/views.py): a feed token and nothing else.
require_feeds = api_role(Role.feed)


def public_url(request: Request) -> str:
    """The URL Twilio signed: our public base, not whatever host a proxy forwarded to."""
    base = get_settings().public_base_url.rstrip("/")
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{base}{request.url.path}{query}"


@lru_cache(maxsize=4)
def _validators(*auth_tokens: str) -> tuple[RequestValidator, ...]:
    return tuple(RequestValidator(t) for t in auth_tokens if t)


class _Form(dict[str, str]):
    """A form as twilio's RequestValidator reads a Flask MultiDict: `getall` answers first.
    For a plain dict the validator reaches its fallback through two AttributeErrors a field
    (`getall`, then Django's `getlist`); the values it signs are the same, [form[name]]."""

    def getall(self, name: str) -> list[str]:
        return [self[name]]


def _signed_by(validator: RequestValidator, url: str, form: _Form, signature: str) -> bool:
    """RequestValidator.validate's answer, computing one HMAC where it computes two.

    validate() accepts a signature of the URL without its port or with it (Twilio's signing
    is inconsistent) and computes both every time. One of the two is the URL as we build it
    (urlparse(url).geturl(): validate's add_port returns it when it has a port, remove_port
    when it has none), and that is the one Twilio signs when PUBLIC_BASE_URL says what Twilio
    calls; it is tried first, with the library's own signature and comparison. Anything else
    gets validate() itself, so nothing is accepted that validate() would refuse (a form is
    a mapping here, never a string, so its body-hash rule does not apply), and nothing it
    would accept is refused.
    """
    parsed = urlparse(url)
    parsed.port  # noqa: B018 - a malformed port raises here as it does in validate()
    if compare(validator.compute_signature(parsed.geturl(), form), signature):
        return True
    return bool(validator.validate(url, form, signature))


def twilio_signed(url: str, form: Mapping[str, str], signature: str) -> bool:
    """Whether Twilio signed this URL and form with our auth token or the secondary one
    (accepted too, so a token can be rotated without dropping replies)."""
    if not signature:
        return False
    settings = get_settings()
    validators = _validators(settings.twilio_auth_token, settings.twilio_auth_token_secondary)
    fields = _Form(form)
    return any(_signed_by(v, url, fields, signature) for v in validators)


async def verified_twilio_form(request: Request) -> dict[str, str]:
    form = {k: str(v) for k, v in (await request.form()).items()}
    signature = request.headers.get("X-Twilio-Signature", "")
    if not twilio_signed(public_url(request), form, signature):
        raise HTTPException(403, "invalid Twilio signature")
    return form


async def bearer_principal(authorization: str) -> Principal | None:
    """The principal of an `Authorization: Bearer <token>` header, or None for a missing,
    malformed, unknown or revoked token. A token seen in the last few seconds is answered
    from the cache without a transaction."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    who = tokens.cached(token)
    if who is tokens.MISS:
        async with transaction() as session:
            who = await tokens.lookup(session, token, clock.now())
    return who  # type: ignore[return-value]


# --- before any body is read ----------------------------------------------------------------

TWILIO_PREFIX = "/twilio/"
CONSOLE_PREFIX = "/console"
DIRECTORY_UPLOAD = "/console/directory"  # the console's form for the same CSV exports
# Twilio's forms are a few hundred bytes (a 1,600-character body is under 10 KB encoded).
TWILIO_BODY_LIMIT = 64 * 1024
# Directory imports take the hospital's CSV exports (services/people/views.py checks 10 MB
# itself, with its own message; this cap only has to be above it).
IMPORT_BODY_LIMIT = 10 * 1024 * 1024 + 64 * 1024
API_BODY_LIMIT = 1024 * 1024
# An incident-reporting system's CSV export (services/feeds/views.py checks it itself).
FEED_CSV_PATH = re.compile(r"^/feeds/reporting/[^/]+/csv$")
FEED_CSV_BODY_LIMIT = 20 * 1024 * 1024
FHIR_PREFIX = "/fhir"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def body_limit(path: str) -> int:
    if path.startswith(TWILIO_PREFIX):
        return TWILIO_BODY_LIMIT
    if (path.startswith("/admin/") and path.endswith("/import")) or path == DIRECTORY_UPLOAD:
        return IMPORT_BODY_LIMIT
    if FEED_CSV_PATH.match(path):
        return FEED_CSV_BODY_LIMIT
    return API_BODY_LIMIT


Refusal = tuple[int, str, dict[str, str]]
# Where api_caller keeps its decision in the scope: a fast lane that asked first (and then
# handed the request on) and the Gatekeeper behind it get the same answer, charged once.
CALLER = "svrr.caller"
CHALLENGE = {"WWW-Authenticate": "Bearer"}


def client_address(scope: Scope) -> str:
    """The source address as the ASGI server reports it (behind a proxy, what uvicorn's
    --forwarded-allow-ips lets X-Forwarded-For say)."""
    client = scope.get("client")
    return client[0] if client else "unknown"


def _throttled(wait_s: float, detail: str) -> Refusal:
    return 429, detail, {"Retry-After": str(retry_after(wait_s))}


async def api_caller(scope: Scope, authorization: str) -> Principal | Refusal:
    """Who calls an API route, decided from the headers once per request, after the abuse
    limits (services/limits.py): the principal of a known token, or the refusal (401 without
    a known token, 429 over a limit) with its headers.

    A token this process knows (its cache, seconds old) is admitted without touching the
    address's allowance; anything else spends one request of it before the store is asked,
    so a flood of made-up tokens from one address costs the store at most the address's
    rate. A known token spends one request of its own intake allowance on an intake path.
    """
    decided = scope.get(CALLER)
    if decided is not None:
        return decided
    caller = await _decide(scope, authorization)
    scope[CALLER] = caller
    return caller


async def _decide(scope: Scope, authorization: str) -> Principal | Refusal:
    scheme, _, token = authorization.partition(" ")
    bearer = scheme.lower() == "bearer" and bool(token)
    who = tokens.cached(token) if bearer else None
    if who is tokens.MISS or not isinstance(who, Principal):
        wait = limits().credentials.take(client_address(scope))
        if wait:
            return _throttled(wait, "too many requests without a known token from this address")
        if not bearer:
            return 401, "missing bearer token", CHALLENGE
        if who is tokens.MISS:
            who = await bearer_principal(f"{scheme} {token}")
        if who is None:
            return 401, "invalid token", CHALLENGE
    assert isinstance(who, Principal)
    if is_intake(scope.get("method", ""), scope["path"]):
        wait = limits().intake.take(who.id)
        if wait:
            return _throttled(wait, "too many requests from this token: slow down")
    return who


class Gatekeeper:
    """Who may send a body, and how large, decided from the headers alone.

    Why here and not in the routes: FastAPI reads and parses a body before it runs a route's
    dependencies, so an unsigned 54 MB form was parsed (API memory 118 -> 164 MB) before its
    signature was looked at, and malformed JSON without a token got 422, not 401. Every API
    route needs a known integration token (its role dependency then decides whether that role
    may call it); Twilio's need a signature header (verified_twilio_form then checks it); the
    console's pages need a session, which each page's role dependency checks. A body
    over the route's cap is refused with 413, by Content-Length or, for a chunked body, by
    counting what arrives, never by reading it whole.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        refusal = await self._refusal(scope, path, headers)
        if refusal is not None:
            await _answer(send, *refusal, path=path)
            return
        limit = body_limit(path)
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                await _answer(send, 400, "invalid Content-Length", path=path)
                return
            if int(declared) > limit:
                await _answer(send, 413, f"request body larger than {limit} bytes", path=path)
                return
            await self.app(scope, receive, send)
            return
        body, complete = await _read_bounded(receive, limit)
        if not complete:
            await _answer(send, 413, f"request body larger than {limit} bytes", path=path)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _refusal(scope: Scope, path: str, headers: Mapping[str, str]) -> Refusal | None:
        if path.startswith(TWILIO_PREFIX):
            # No limit by address here: Twilio calls from shared addresses (and behind a
            # proxy every caller has the proxy's), so a forged flood would lock Twilio out;
            # a forged form costs one HMAC over at most 64 KiB. Status callbacks are never
            # limited, inbound SMS per sender once signed (services/limits.py says why).
            if not headers.get("x-twilio-signature"):
                return 403, "invalid Twilio signature", {}
            return None
        if path == "/" or path.startswith(CONSOLE_PREFIX):
            return None  # a session cookie, checked by each page's role dependency
        caller = await api_caller(scope, headers.get("authorization", ""))
        if not isinstance(caller, Principal):
            return caller
        scope.setdefault("state", {})["principal"] = caller
        return None


async def _read_bounded(receive: Receive, limit: int) -> tuple[bytes, bool]:
    """A chunked body, kept only while it stays under the limit."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), True  # the client went away; the app will see that
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return b"", False
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), True


async def _answer(
    send: Send,
    status: int,
    detail: str,
    headers: Mapping[str, str] | None = None,
    path: str = "",
) -> None:
    """A FHIR client is answered in FHIR (an OperationOutcome), everyone else in JSON."""
    if path == FHIR_PREFIX or path.startswith(FHIR_PREFIX + "/"):
        code = {401: "login", 403: "forbidden", 413: "too-costly", 429: "throttled"}.get(
            status, "invalid"
        )
        issue = {"severity": "error", "code": code, "diagnostics": detail}
        body = json.dumps({"resourceType": "OperationOutcome", "issue": [issue]}).encode()
        kind = b"application/fhir+json"
    else:
        body, kind = json.dumps({"detail": detail}).encode(), b"application/json"
    raw = [(b"content-type", kind), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    if status == 413:
        raw.append((b"connection", b"close"))  # the rest of the body is not read
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
