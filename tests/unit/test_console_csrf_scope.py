"""Where CSRF is checked: every console form, and nothing outside the console.

CsrfGuard (services/console/__init__.py) hands a request outside PREFIX to the app without
entering asgi-csrf, which passed every such request through anyway. That is safe only while
every page that sets or reads the session cookie lives under PREFIX; the route table says so.
The fast lanes (services/api_lanes.py) never see a console path at all.
"""

from __future__ import annotations

from typing import Any

from fastapi.routing import APIRoute, iter_route_contexts

from services.console import CsrfGuard
from services.console.pages import PREFIX


class Inner:
    def __init__(self) -> None:
        self.scopes: list[dict[str, Any]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.scopes.append(scope)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def call(app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]]) -> int:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"x=1", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": headers}
    await app(scope, receive, send)
    return int(sent[0]["status"])


COOKIE = [(b"cookie", b"csrftoken=forged"), (b"content-type", b"application/x-www-form-urlencoded")]


async def test_a_console_form_without_its_token_is_refused() -> None:
    inner = Inner()
    guard = CsrfGuard(inner)
    assert await call(guard, "POST", f"{PREFIX}/signin", []) == 403  # always protected
    assert await call(guard, "POST", f"{PREFIX}/admin/users", COOKIE) == 403
    assert inner.scopes == []


async def test_outside_the_console_asgi_csrf_is_not_entered() -> None:
    inner = Inner()
    guard = CsrfGuard(inner)
    for path in ("/incidents", "/twilio/status", "/twilio/sms", "/admin/staff/import", "/"):
        assert await call(guard, "POST", path, COOKIE) == 204
    assert all("csrftoken" not in s for s in inner.scopes)  # asgi-csrf adds it to a scope
    assert await call(guard, "GET", f"{PREFIX}/", []) == 204
    assert "csrftoken" in inner.scopes[-1]


def test_every_page_with_a_session_is_under_the_console_prefix() -> None:
    from services.api import app
    from services.identity.deps import page_role

    page_check = page_role().__code__
    pages = 0
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute):
            continue
        stack = list(route.original_route.dependant.dependencies)
        uses_session = False
        while stack:
            dep = stack.pop()
            uses_session |= getattr(dep.call, "__code__", None) is page_check
            stack.extend(dep.dependencies)
        if uses_session:
            pages += 1
            assert route.path.startswith(PREFIX), route.path
    assert pages > 20  # the check found the console's pages
