"""A born-claimed page whose claim is past half its stale interval is left to the sweep.

Why: the sweep takes a stale claim over and asks the provider's log before it sends; a send
by the claim's first holder after that look would page the peer twice."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest

from services import clock
from services.cases.dispatch import Bundle, NewPage
from services.config import get_settings
from services.paging import sending


def bundle(age_s: float) -> Bundle:
    page = NewPage(uuid.uuid4(), uuid.uuid4(), "+15550100000", "1", "P1", "page")
    return Bundle("+15550100000", "page", (page,), clock.now() - timedelta(seconds=age_s))


def test_only_claims_younger_than_half_the_interval_are_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stale = get_settings().sending_stale_seconds
    sent: list[str] = []
    recorded: list[object] = []

    async def send_claimed(to: str, body: str, *_: object) -> sending.Outcome:
        sent.append(to)
        return sending.Outcome("sent", "SM1")

    async def record(items: list[object], _stale: float) -> None:
        recorded.extend(items)

    monkeypatch.setattr(sending, "send_claimed", send_claimed)
    monkeypatch.setattr(sending, "record", record)
    fresh, old = bundle(0.0), bundle(stale / 2 + 1)
    asyncio.run(sending.send_new([fresh, old]))
    assert len(sent) == 1
    assert [pages for pages, _, _ in recorded] == [
        [(fresh.pages[0].page_id, fresh.pages[0].case_id)]
    ]  # type: ignore[misc]
