"""The reply agent's claim check (services.cases.inbound): the event names a stored row, the
handlers get its number and text; a row gone or purged is a dead letter with its reason,
never a crash and never a traceback. (The same against the real store and Kafka:
tests/integration/test_claim_check.py.)"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from events import consume
from schemas.events import SmsReceived
from services.cases import inbound
from services.cases.inbound import InboundText, Unreadable

NUMBER = "+15550107777"
BODY = "I can't go on"


def event() -> SmsReceived:
    return SmsReceived(sms_id=uuid.uuid4(), provider_sid="SM" + "a" * 32, sender="0" * 64)


class Store:
    """session.get over one row (or none), noting that it was asked to lock."""

    def __init__(self, row: object | None) -> None:
        self.row = row
        self.locked = False

    async def get(self, _model: type, _id: uuid.UUID, with_for_update: bool = False) -> object:
        self.locked = with_for_update
        return self.row


def row(sms: SmsReceived, **changes: object) -> SimpleNamespace:
    values: dict[str, Any] = {
        "id": sms.sms_id,
        "provider_sid": sms.provider_sid,
        "from_number": NUMBER,
        "to_number": "+15005550006",
        "body": BODY,
        "handled_at": None,
    }
    return SimpleNamespace(**(values | changes))


async def test_the_row_is_read_locked_into_what_the_handlers_take() -> None:
    sms = event()
    store = Store(row(sms))
    held = await inbound.claim(store, sms)  # type: ignore[arg-type]
    assert held == InboundText(sms.sms_id, sms.provider_sid, NUMBER, "+15005550006", BODY)
    assert store.locked
    # Neither the number nor the text in a log line or a traceback's locals.
    assert NUMBER not in repr(held) and BODY not in repr(held)


async def test_a_handled_row_is_a_redelivery_whatever_is_left_of_it() -> None:
    sms = event()
    done = row(sms, handled_at=datetime.now(UTC), body=None, from_number=None)
    assert await inbound.claim(Store(done), sms) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("found", "reason"),
    [
        (None, "is not in the store"),
        ({"body": None}, "purged before it was handled"),
        ({"from_number": None}, "purged before it was handled"),
    ],
)
async def test_a_row_gone_or_purged_is_unreadable(
    found: dict[str, object] | None, reason: str
) -> None:
    sms = event()
    store = Store(None if found is None else row(sms, **found))
    with pytest.raises(Unreadable, match=reason) as raised:
        await inbound.claim(store, sms)  # type: ignore[arg-type]
    assert str(sms.sms_id) in str(raised.value)


async def test_an_unreadable_event_is_a_dead_letter_with_its_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    letters: list[tuple[str, bytes, str]] = []

    async def store_dead_letter(topic: str, raw: bytes, reason: str) -> None:
        letters.append((topic, raw, reason))

    monkeypatch.setattr(consume, "store_dead_letter", store_dead_letter)
    sms = event()

    async def apply_reply(e: SmsReceived) -> None:
        await inbound.claim(Store(None), e)  # type: ignore[arg-type]

    async def records() -> Any:
        yield sms.to_bytes()

    outcomes = [o async for o in consume.consume(records(), SmsReceived, apply_reply)]
    assert outcomes == ["dead_letter"]
    ((topic, raw, reason),) = letters
    assert (topic, raw) == (SmsReceived.topic, sms.to_bytes())
    assert reason == f"apply_reply: inbound SMS {sms.sms_id} is not in the store (purged?)"
