"""The one rule for Twilio delivery statuses, shared by pages and the other SMS.

Why a rule of its own: Twilio retries callbacks and does not promise their order, so the
same status arrives several times and a late "undelivered" can follow "delivered". A status
that does not move the message forward must write nothing (no row, no event, no escalation),
or replays and reordering look like new facts to everyone downstream.

    none < queued < sent < delivered
    failed / undelivered: final, reachable only before delivered
"""

from __future__ import annotations

import enum

from schemas.events import DeliveryStatus


class Delivery(enum.StrEnum):
    """How far a message got, as far as we know."""

    none = "none"  # Twilio has not told us it has the message
    queued = "queued"
    sent = "sent"
    delivered = "delivered"
    undelivered = "undelivered"
    failed = "failed"


FAILURES = frozenset({Delivery.undelivered, Delivery.failed})
_RANK = {Delivery.none: 0, Delivery.queued: 1, Delivery.sent: 2, Delivery.delivered: 3}

INCOMING: dict[DeliveryStatus, Delivery] = {
    DeliveryStatus.accepted: Delivery.queued,
    DeliveryStatus.queued: Delivery.queued,
    DeliveryStatus.sending: Delivery.queued,
    DeliveryStatus.sent: Delivery.sent,
    DeliveryStatus.delivered: Delivery.delivered,
    DeliveryStatus.read: Delivery.delivered,
    DeliveryStatus.undelivered: Delivery.undelivered,
    DeliveryStatus.failed: Delivery.failed,
    # A canceled message will never reach the phone: for a page that is a failure.
    DeliveryStatus.canceled: Delivery.failed,
}


def advance(current: Delivery, incoming: DeliveryStatus) -> Delivery | None:
    """The delivery state to record, or None when the status changes nothing."""
    new = INCOMING[incoming]
    if current in FAILURES or current == Delivery.delivered:
        return None  # final: a replay, or a failure that arrived after delivery
    if new in FAILURES:
        return new
    return new if _RANK[new] > _RANK[current] else None
