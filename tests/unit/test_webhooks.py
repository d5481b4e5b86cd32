"""A delivery status only moves forward: the order rule for every (current, incoming) pair,
without a store (services/paging/delivery.py); the webhooks themselves are in
tests/integration/test_webhooks.py.
"""

from __future__ import annotations

from itertools import product

import pytest

from schemas.events import DeliveryStatus
from services.paging.delivery import Delivery, advance

# --- the order rule -------------------------------------------------------------------------

# Every (current, incoming) pair: what is written (None: nothing at all).
D = Delivery
S = DeliveryStatus
EXPECTED: dict[Delivery, dict[DeliveryStatus, Delivery | None]] = {
    D.none: {
        S.accepted: D.queued,
        S.queued: D.queued,
        S.sending: D.queued,
        S.sent: D.sent,
        S.delivered: D.delivered,
        S.read: D.delivered,
        S.undelivered: D.undelivered,
        S.failed: D.failed,
        S.canceled: D.failed,
    },
    D.queued: {
        S.accepted: None,
        S.queued: None,
        S.sending: None,
        S.sent: D.sent,
        S.delivered: D.delivered,
        S.read: D.delivered,
        S.undelivered: D.undelivered,
        S.failed: D.failed,
        S.canceled: D.failed,
    },
    D.sent: {
        S.accepted: None,
        S.queued: None,
        S.sending: None,
        S.sent: None,
        S.delivered: D.delivered,
        S.read: D.delivered,
        S.undelivered: D.undelivered,
        S.failed: D.failed,
        S.canceled: D.failed,
    },
    # Final: a replay or a late failure after delivery changes nothing.
    D.delivered: dict.fromkeys(S, None),
    D.undelivered: dict.fromkeys(S, None),
    D.failed: dict.fromkeys(S, None),
}


def test_order_table_covers_every_pair() -> None:
    assert set(EXPECTED) == set(Delivery)
    assert all(set(row) == set(DeliveryStatus) for row in EXPECTED.values())


@pytest.mark.parametrize(
    ("current", "incoming"), list(product(Delivery, DeliveryStatus)), ids=lambda v: str(v)
)
def test_a_status_only_moves_forward(current: Delivery, incoming: DeliveryStatus) -> None:
    assert advance(current, incoming) == EXPECTED[current][incoming]
