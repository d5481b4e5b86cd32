"""Who may call the API: bearer tokens for people and systems, Twilio's signature for Twilio.

Twilio cannot send our token, so its webhooks prove themselves with X-Twilio-Signature; the
secondary auth token is accepted too so a token can be rotated without dropping replies.
"""

from __future__ import annotations

import hmac

from fastapi import Header, HTTPException, Request
from twilio.request_validator import RequestValidator

from services.config import get_settings


def _bearer(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    return token


def _known(token: str, tokens: frozenset[str]) -> bool:
    return any(hmac.compare_digest(token, t) for t in tokens)


async def require_token(authorization: str | None = Header(default=None)) -> None:
    """Risk management and integrations: log incidents, see that support was offered."""
    token = _bearer(authorization)
    settings = get_settings()
    if not (_known(token, settings.api_token_set) or _known(token, settings.admin_token_set)):
        raise HTTPException(401, "invalid token", headers={"WWW-Authenticate": "Bearer"})


async def require_admin(authorization: str | None = Header(default=None)) -> None:
    """The programme coordinator: people, peers, schedules. Risk management tokens get 403:
    who supports whom is kept apart from the investigation."""
    token = _bearer(authorization)
    settings = get_settings()
    if _known(token, settings.admin_token_set):
        return
    if _known(token, settings.api_token_set):
        raise HTTPException(403, "this token may not manage the programme")
    raise HTTPException(401, "invalid token", headers={"WWW-Authenticate": "Bearer"})


def public_url(request: Request) -> str:
    """The URL Twilio signed: our public base, not whatever host a proxy forwarded to."""
    base = get_settings().public_base_url.rstrip("/")
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{base}{request.url.path}{query}"


async def verified_twilio_form(request: Request) -> dict[str, str]:
    settings = get_settings()
    form = {k: str(v) for k, v in (await request.form()).items()}
    signature = request.headers.get("X-Twilio-Signature", "")
    tokens = [t for t in (settings.twilio_auth_token, settings.twilio_auth_token_secondary) if t]
    url = public_url(request)
    if not signature or not any(RequestValidator(t).validate(url, form, signature) for t in tokens):
        raise HTTPException(403, "invalid Twilio signature")
    return form
