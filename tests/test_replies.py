"""Reply codes as people actually type them."""

from __future__ import annotations

import pytest

from schemas.events import PageAnswer
from services.paging.service import Reply, parse_reply


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("1A", Reply("1", PageAnswer.accepted)),
        ("1a", Reply("1", PageAnswer.accepted)),
        (" 1 a! ", Reply("1", PageAnswer.accepted)),
        ("12P", Reply("12", PageAnswer.declined)),
        ("2 p.", Reply("2", PageAnswer.declined)),
        ("yes", Reply(None, PageAnswer.accepted)),
        ("Yes!", Reply(None, PageAnswer.accepted)),
        ("  OK ", Reply(None, PageAnswer.accepted)),
        ("no", Reply(None, PageAnswer.declined)),
        ("PASS", Reply(None, PageAnswer.declined)),
    ],
)
def test_understood(body: str, expected: Reply) -> None:
    assert parse_reply(body) == expected


@pytest.mark.parametrize("body", ["", "maybe", "1X", "yes please call me", "A1", "1234A"])
def test_not_understood(body: str) -> None:
    assert parse_reply(body) is None
