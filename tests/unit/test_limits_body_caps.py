"""Every route of both apps (the API and `svrr feed http`) has a body cap, enforced before any
of the body is read, read from the apps' own route tables: a route added tomorrow is checked
too. A body one byte over its route's cap is 413 and never read (by Content-Length); a
chunked body over the cap is refused once the cap is passed, for each cap there is.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts
from starlette.routing import Mount

from services import limits
from services.auth import (
    API_BODY_LIMIT,
    FEED_CSV_BODY_LIMIT,
    IMPORT_BODY_LIMIT,
    TWILIO_BODY_LIMIT,
    body_limit,
)
from services.identity import tokens
from services.identity.models import Role
from services.identity.principal import Principal

TOKEN = tokens.new_token()


def app_of(name: str) -> Any:
    if name == "api":
        from services.api import app
    else:
        from services.feeds.app import app
    return app


def routes(name: str) -> list[tuple[str, str]]:
    """(method, path) of every route and mount, parameters filled in; read as
    tests/unit/test_route_roles.py reads them (included routers are branches)."""
    out: set[tuple[str, str]] = set()
    for route in iter_route_contexts(app_of(name).routes):
        path = re.sub(
            r"\{[^}]+\}", lambda m: str(uuid.uuid4()) if "id" in m[0] else "x", route.path
        )
        if isinstance(route.original_route, Mount):
            out.add(("POST", path + "/any"))
            continue
        for method in (route.methods or {"GET"}) - {"HEAD"}:
            out.add((method, path))
    return sorted(out)


@pytest.fixture(autouse=True)
def admitted() -> Iterator[None]:
    """Every request carries a token this process knows (its cache, no store), so each
    reaches the size check; limits afresh, so no earlier test's bucket answers 429."""
    who = Principal(kind="token", id=uuid.uuid4(), name="caps", role=Role.coordinator)
    tokens._cache[tokens.token_hash(TOKEN)] = (who, time.monotonic() + 3600)
    limits.reset()
    yield
    limits.reset()


def expected_cap(path: str) -> int:
    """The caps as the README promises them, written out here rather than read from
    body_limit, so a route whose cap grows (or a new route left with a big one) fails:
    64 KiB for Twilio's forms, 10 MiB (and a margin) for the directory's CSV exports, 20
    MiB for an incident-reporting system's CSV export, 1 MiB for everything else."""
    if path.startswith("/twilio/"):
        return 64 * 1024
    if re.fullmatch(r"/admin/[^/]+/import|/console/directory", path):
        return 10 * 1024 * 1024 + 64 * 1024
    if re.fullmatch(r"/feeds/reporting/[^/]+/csv", path):
        return 20 * 1024 * 1024
    return 1024 * 1024


async def send_over(
    app: Any, method: str, path: str, chunked: bool = False, over_by: int = 1
) -> tuple[int, int]:
    """(status, bytes of the body the app was handed) for a body `over_by` past the cap."""
    cap = expected_cap(path)
    size = cap + over_by
    headers = [
        (b"authorization", f"Bearer {TOKEN}".encode()),
        (b"x-twilio-signature", b"looked-at-later"),
        (b"content-type", b"application/octet-stream"),
    ]
    if not chunked:
        headers.append((b"content-length", str(size).encode()))
    handed = 0
    chunk = 256 * 1024
    left = size

    async def receive() -> dict[str, Any]:
        nonlocal handed, left
        if not chunked:
            raise AssertionError(f"{method} {path}: a body over the cap was read")
        part = min(chunk, left)
        left -= part
        handed += part
        return {"type": "http.request", "body": b"\0" * part, "more_body": left > 0}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("10.1.2.3", 40000),
        "server": ("127.0.0.1", 8000),
    }
    await app(scope, receive, send)
    return int(sent[0]["status"]), handed


@pytest.mark.parametrize(
    ("app", "method", "path"), [(name, m, p) for name in ("api", "feeds") for m, p in routes(name)]
)
async def test_every_route_refuses_a_body_over_its_cap_unread(
    app: str, method: str, path: str
) -> None:
    assert body_limit(path) == expected_cap(path), (method, path)
    status, _ = await send_over(app_of(app), method, path)
    assert status == 413, (method, path)


def test_the_route_tables_were_read() -> None:
    """The parametrisation above is only as good as the tables it read."""
    api, feeds = dict.fromkeys(routes("api")), dict.fromkeys(routes("feeds"))
    assert ("POST", "/incidents") in api and ("POST", "/twilio/status") in api
    assert ("POST", "/fhir") in feeds and ("POST", "/fhir/AdverseEvent") in feeds
    assert len(api) > 100


@pytest.mark.parametrize(
    ("path", "cap"),
    [
        ("/incidents", API_BODY_LIMIT),
        ("/twilio/sms", TWILIO_BODY_LIMIT),
        ("/twilio/status", TWILIO_BODY_LIMIT),
        ("/admin/staff/import", IMPORT_BODY_LIMIT),
        ("/console/directory", IMPORT_BODY_LIMIT),
        ("/feeds/reporting/incident-reports/csv", FEED_CSV_BODY_LIMIT),
        ("/console/board", API_BODY_LIMIT),
    ],
)
async def test_a_chunked_body_is_cut_off_at_its_cap(path: str, cap: int) -> None:
    """No Content-Length: the body is counted as it arrives and refused once past the cap,
    never read whole (the stand-in sends at most one more chunk than the cap)."""
    assert body_limit(path) == expected_cap(path) == cap
    status, handed = await send_over(app_of("api"), "POST", path, chunked=True, over_by=10**6)
    assert status == 413
    assert handed <= cap + 256 * 1024
