"""The fast lanes (services/api_lanes.py) read no body the full app would refuse unread.

The Gatekeeper refuses a request without a credential before any of its body is read (an
unsigned 54 MB form was once parsed before its signature was looked at); a lane decides
from the headers whether it may take a request before it reads a byte.
"""

from __future__ import annotations

from typing import Any

import pytest


async def call(path: str, headers: list[tuple[bytes, bytes]]) -> tuple[int, bytes]:
    from services.api import app

    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        raise AssertionError("the body was read")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }
    await app(scope, receive, send)
    return int(sent[0]["status"]), b"".join(m.get("body", b"") for m in sent[1:])


@pytest.mark.parametrize(
    ("path", "ctype", "status"),
    [
        ("/incidents", b"application/json", 401),
        ("/twilio/status", b"application/x-www-form-urlencoded", 403),
        ("/twilio/sms", b"application/x-www-form-urlencoded", 403),
    ],
)
async def test_no_credential_no_body_read(path: str, ctype: bytes, status: int) -> None:
    headers = [(b"content-type", ctype), (b"content-length", b"10")]
    assert (await call(path, headers))[0] == status


async def test_a_body_over_the_cap_is_refused_unread() -> None:
    headers = [
        (b"content-type", b"application/x-www-form-urlencoded"),
        (b"content-length", str(10 * 1024 * 1024).encode()),
        (b"x-twilio-signature", b"sig"),
    ]
    assert (await call("/twilio/status", headers))[0] == 413
