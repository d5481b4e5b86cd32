"""Signing in as each role, for the console's tests (in-process and in the browser)."""

from __future__ import annotations

import re
import uuid

import httpx

from services.db import transaction
from services.identity.models import Role
from services.identity.users import create_user

PASSWORD = "correct horse battery staple"


async def make_user(role: Role, staff_id: str | None = None, site: str | None = "main") -> str:
    """A fresh user of `role` (a unique name per call, so tests never share a session)."""
    username = f"{role.value.replace('_', '')}-{uuid.uuid4().hex[:8]}"
    async with transaction() as session:
        await create_user(
            session,
            username=username,
            display_name=f"Test {role.value}",
            role=role,
            password=PASSWORD,
            staff_id=staff_id,
            site=site,
        )
    return username


def csrf_from(html: str) -> str:
    found = re.search(r'name="csrftoken" value="([^"]+)"', html)
    assert found, "page has no CSRF field"
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> str:
    """Signs the client in; returns the CSRF token for its next forms."""
    page = await client.get("/console/signin")
    token = csrf_from(page.text)
    done = await client.post(
        "/console/signin",
        data={"username": username, "password": password, "csrftoken": token},
    )
    assert done.status_code == 303, done.text[:500]
    return token


async def peer_user(staff_id: str) -> str:
    """The peer supporter's account (one per staff record): made, or its password reset."""
    from sqlalchemy import select

    from services import clock
    from services.identity.models import User
    from services.identity.users import set_password

    async with transaction() as session:
        user = await session.scalar(select(User).where(User.staff_id == staff_id))
        if user is not None:
            await set_password(session, user, PASSWORD, clock.now())
            return user.username
    return await make_user(Role.peer, staff_id=staff_id)


def console_client(address: str) -> httpx.AsyncClient:
    """The API in-process, as a browser reaches the console: cookies kept, no bearer token,
    seen as coming from `address` (sign-in throttling and the audit log go by address)."""
    from services.api import app

    transport = httpx.ASGITransport(app=app, client=(address, 5555))
    return httpx.AsyncClient(transport=transport, base_url="http://api")
