"""The per-number SMS limit as a rule (services.cases.outbound.may_go_now): bulk keeps out
of the urgent slots, urgent keeps a reserve that pages cannot take, a crisis alert waits
for nothing."""

from __future__ import annotations

import pytest

from services.cases.outbound import (
    RATE_PER_MINUTE,
    URGENT_RESERVE,
    Priority,
    SentLastMinute,
    may_go_now,
)

BULK_CAP = RATE_PER_MINUTE - URGENT_RESERVE


@pytest.mark.parametrize("priority", [Priority.bulk, Priority.conversation])
def test_bulk_and_conversation_leave_the_last_slots(priority: Priority) -> None:
    assert may_go_now(priority, SentLastMinute(total=BULK_CAP - 1, urgent=0))
    assert not may_go_now(priority, SentLastMinute(total=BULK_CAP, urgent=0))


def test_urgent_may_use_the_whole_minute() -> None:
    assert may_go_now(Priority.urgent, SentLastMinute(total=RATE_PER_MINUTE - 1, urgent=3))
    assert not may_go_now(Priority.urgent, SentLastMinute(total=RATE_PER_MINUTE, urgent=3))


def test_pages_never_take_the_urgent_reserve() -> None:
    """A peer paged in many separate SMS this minute still gets the details of the case
    they accepted: the minute is full of pages, not of urgent messages."""
    flooded = 5 * RATE_PER_MINUTE
    for urgent in range(URGENT_RESERVE):
        assert may_go_now(Priority.urgent, SentLastMinute(total=flooded, urgent=urgent))
    assert not may_go_now(Priority.urgent, SentLastMinute(total=flooded, urgent=URGENT_RESERVE))
    assert not may_go_now(Priority.bulk, SentLastMinute(total=flooded, urgent=0))


def test_a_crisis_alert_waits_for_nothing() -> None:
    assert may_go_now(Priority.crisis, SentLastMinute(total=100, urgent=100))


def test_crisis_is_first_in_line() -> None:
    """`due` orders by priority ascending: the enum's order is the queue's."""
    assert sorted(Priority) == [
        Priority.crisis,
        Priority.urgent,
        Priority.conversation,
        Priority.bulk,
    ]
