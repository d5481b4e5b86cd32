"""Every route refuses every role it does not name, derived from the app's own route table.

A route is either guarded by a role dependency (api_role / page_role, whose `.roles` say who
may call it) or on the short public list below; a new route that is neither fails here, so a
forgotten guard cannot ship.
"""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy import text

from services.db import transaction
from services.identity import tokens
from services.identity.models import Role
from tests.integration.console_helpers import console_client, csrf_from, make_user, sign_in

# Routes that need no role: Twilio proves itself by signature, the rest only sign people in
# or send them to the page for their role.
PUBLIC = {
    ("POST", "/twilio/status"),
    ("POST", "/twilio/sms"),
    ("GET", "/console/signin"),
    ("POST", "/console/signin"),
    ("POST", "/console/signout"),
    ("GET", "/console"),
    ("GET", "/console/"),
    ("GET", "/"),
}


def _roles(route: object) -> frozenset[Role] | None:
    found: list[frozenset[Role]] = []

    def walk(dependant: object) -> None:
        for dep in getattr(dependant, "dependencies", []):
            roles = getattr(dep.call, "roles", None)
            if roles is not None:
                found.append(roles)
            walk(dep)

    walk(route.dependant)  # type: ignore[attr-defined]
    if not found:
        return None
    allowed = found[0]
    for more in found[1:]:
        allowed &= more
    return allowed


def _routes() -> list[tuple[str, str, frozenset[Role] | None]]:
    from services.api import app

    out = []
    # The effective routes, with the dependencies their routers add (FastAPI >= 0.16x keeps
    # included routers as branches, so app.routes alone would miss them).
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute):
            continue
        for method in sorted((route.methods or set()) - {"HEAD"}):
            out.append((method, route.path, _roles(route)))
    return out


def _fill(path: str) -> str:
    def one(m: re.Match[str]) -> str:
        name = m.group(1)
        if name.endswith("_id") and name not in ("staff_id",):
            return str(uuid.uuid4()) if name != "flag_id" else "987654321"
        return {"table": "answers", "name": "nonesuch", "staff_id": "N1001"}.get(name, "x")

    return re.sub(r"\{([^}:]+)(?::[^}]*)?\}", one, path)


def test_every_route_is_guarded_or_public():
    unguarded = [(m, p) for m, p, roles in _routes() if roles is None and (m, p) not in PUBLIC]
    assert unguarded == [], f"routes with no role check: {unguarded}"
    stale = PUBLIC - {(m, p) for m, p, _ in _routes()}
    assert stale == set(), f"public list names routes that no longer exist: {stale}"


def test_a_risk_manager_can_reach_only_incident_routes():
    for method, path, roles in _routes():
        if roles and Role.risk_manager in roles:
            assert path.startswith(("/incidents", "/console/incidents", "/healthz", "/metrics")), (
                method,
                path,
            )


async def _peer_staff_id() -> str:
    async with transaction() as session:
        free = await session.scalar(
            text(
                "SELECT p.staff_id FROM peer_supporters p WHERE NOT EXISTS "
                "(SELECT 1 FROM users u WHERE u.staff_id = p.staff_id) ORDER BY p.staff_id LIMIT 1"
            )
        )
    assert free is not None
    return str(free)


@pytest.fixture(scope="module")
async def credentials(db):
    """A session per role for the console, and a token per role for the API."""
    sessions: dict[Role, tuple[httpx.AsyncClient, str]] = {}
    for role in Role:
        staff = await _peer_staff_id() if role is Role.peer else None
        c = console_client("10.3.3.3")
        sessions[role] = (c, await sign_in(c, await make_user(role, staff_id=staff)))
    async with transaction() as session:
        _, admin_token = await tokens.issue(session, "matrix admin", Role.admin, None)
    api_tokens = {
        Role.risk_manager: "test-token",
        Role.coordinator: "test-admin-token",
        Role.admin: admin_token,
    }
    yield sessions, api_tokens
    for c, _ in sessions.values():
        await c.aclose()


async def test_every_route_refuses_every_role_it_does_not_name(credentials):
    sessions, api_tokens = credentials
    from services.api import app

    anon = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")
    checked = 0
    failures = []
    for method, path, roles in _routes():
        if roles is None:
            continue
        url = _fill(path)
        page = path.startswith("/console")
        for role in Role:
            if role in roles:
                continue
            if page:
                c, csrf = sessions[role]
                r = await c.request(
                    method, url, data={"csrftoken": csrf} if method == "POST" else None
                )
            elif role in api_tokens:
                r = await anon.request(
                    method, url, headers={"Authorization": f"Bearer {api_tokens[role]}"}
                )
            else:  # a peer has no token; their console session opens no API route
                c, _ = sessions[role]
                r = await c.request(method, url)
                if r.status_code != 401:
                    failures.append((method, path, role.value, r.status_code))
                checked += 1
                continue
            if r.status_code != 403:
                failures.append((method, path, role.value, r.status_code))
            checked += 1
        # Nobody signed in: the API asks for a token, a page for a sign-in.
        r = await anon.request(method, url)
        expected = 303 if page else 401
        if r.status_code != expected:
            failures.append((method, path, "anonymous", r.status_code))
        checked += 1
    await anon.aclose()
    assert failures == [], failures
    print(f"route x role matrix: {checked} refusals checked")
    assert checked > 100


async def test_a_post_without_csrf_from_a_signed_in_coordinator_is_refused(credentials):
    sessions, _ = credentials
    c, _ = sessions[Role.coordinator]
    page = await c.get("/console/board")
    assert csrf_from(page.text)
    r = await c.post("/console/signout", data={})
    assert r.status_code == 403
