"""Every route refuses every role it does not name, derived from the app's own route table.

A route is either guarded by a role dependency (api_role / page_role, whose `.roles` say who
may call it) or on the short public list; tests/unit/test_route_roles.py reads that table and
fails on a route that is neither, so a forgotten guard cannot ship. Here each guard is tried
over HTTP with every role it does not name.
"""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from sqlalchemy import text

from services.db import transaction
from services.identity import tokens
from services.identity.models import USER_ROLES, Role
from tests.integration.console_helpers import console_client, csrf_from, make_user, sign_in
from tests.stack import FEED_TOKEN
from tests.unit.test_route_roles import _routes


def _fill(path: str) -> str:
    def one(m: re.Match[str]) -> str:
        name = m.group(1)
        if name.endswith("_id") and name not in ("staff_id",):
            return str(uuid.uuid4()) if name != "flag_id" else "987654321"
        return {"table": "answers", "name": "nonesuch", "staff_id": "N1001"}.get(name, "x")

    return re.sub(r"\{([^}:]+)(?::[^}]*)?\}", one, path)


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
    for role in USER_ROLES:
        staff = await _peer_staff_id() if role is Role.peer else None
        c = console_client("10.3.3.3")
        sessions[role] = (c, await sign_in(c, await make_user(role, staff_id=staff)))
    async with transaction() as session:
        _, admin_token = await tokens.issue(session, "matrix admin", Role.admin, None)
    api_tokens = {
        Role.risk_manager: "test-token",
        Role.coordinator: "test-admin-token",
        Role.admin: admin_token,
        Role.feed: FEED_TOKEN,
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
            if page and role not in sessions:
                # A feed's token opens no page: the console asks for a sign-in.
                r = await anon.request(
                    method, url, headers={"Authorization": f"Bearer {api_tokens[role]}"}
                )
                if r.status_code != 303:
                    failures.append((method, path, role.value, r.status_code))
                checked += 1
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
