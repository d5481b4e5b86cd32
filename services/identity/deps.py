"""Role checks on the server, for API routes (integration tokens) and console pages (sessions).

Each dependency carries the roles it admits in `.roles`, so the route table itself says who
may call what, and tests/test_route_roles.py derives its matrix from it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace

from fastapi import HTTPException, Request
from sqlalchemy.ext.asyncio import AsyncSession

from services import clock
from services.config import get_settings
from services.db import transaction
from services.identity import audit, sessions
from services.identity.models import Role
from services.identity.principal import Principal

RoleCheck = Callable[[Request], Awaitable[Principal]]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def api_role(*roles: Role) -> RoleCheck:
    """The Gatekeeper has already turned the bearer token into a principal (or refused it)."""
    allowed = frozenset(roles)

    async def check(request: Request) -> Principal:
        who: Principal | None = request.scope.get("state", {}).get("principal")
        if who is None:
            raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
        if who.role not in allowed:
            raise HTTPException(403, f"a {who.role.value} token may not use this route")
        who = replace(who, ip=client_ip(request))
        if request.method not in ("GET", "HEAD") and not _audits_itself(request):
            await _audit_call(request, who)
        return who

    check.roles = allowed  # type: ignore[attr-defined]
    return check


# Routes that write their audit row in their own transaction (api_call_audit), so the hot
# path of a burst commits once per request, not twice.
SELF_AUDITED = frozenset({("POST", "/incidents")})


def _audits_itself(request: Request) -> bool:
    route = request.scope.get("route")
    return (request.method, getattr(route, "path", request.url.path)) in SELF_AUDITED


async def api_call_audit(session: AsyncSession, request: Request, who: Principal) -> None:
    """The same row as every other API action's, in the caller's transaction."""
    route = request.scope.get("route")
    template = getattr(route, "path", request.url.path)
    await api_call_record(session, who, request.method, template, request.path_params)


async def api_call_record(
    session: AsyncSession, who: Principal, method: str, template: str, path_params: dict[str, str]
) -> None:
    """An API call's audit row: the route's template and the ids in its path."""
    action, target = api_call_names(method, template, path_params)
    await audit.record(session, who, action, "route", target)


def api_call_names(method: str, template: str, path_params: dict[str, str]) -> tuple[str, str]:
    """An API call's audit action and target: the route, and the ids in its path."""
    target = ",".join(f"{k}={v}" for k, v in path_params.items())[:64] or "-"
    return f"api {method} {template}"[:64], target


async def _audit_call(request: Request, who: Principal) -> None:
    """Every API action by an integration is on the record before it runs: the route and
    the ids in its path (never the body, which may hold what the audit log must not)."""
    async with transaction() as session:
        await api_call_audit(session, request, who)


class SignInNeeded(Exception):
    """No live session: the console answers with the sign-in page, then comes back."""

    def __init__(self, back_to: str) -> None:
        super().__init__(back_to)
        self.back_to = back_to


class PageForbidden(Exception):
    def __init__(self, who: Principal) -> None:
        super().__init__(who.role.value)
        self.who = who


async def current_user(request: Request) -> Principal | None:
    cookie = request.cookies.get(sessions.COOKIE)
    if not cookie:
        return None
    async with transaction() as session:
        return await sessions.lookup(
            session, cookie, client_ip(request), clock.now(), get_settings()
        )


def page_role(*roles: Role) -> RoleCheck:
    allowed = frozenset(roles)

    async def check(request: Request) -> Principal:
        who = await current_user(request)
        if who is None:
            back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise SignInNeeded(back)
        if who.role not in allowed:
            raise PageForbidden(who)
        return who

    check.roles = allowed  # type: ignore[attr-defined]
    return check
