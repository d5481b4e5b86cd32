"""The time the tiered response runs on.

Escalations, reminders, deferrals and follow-ups are all "at time T" decisions; tests must
be able to move time forward to check each step without waiting for it. Production never
touches the offset.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_offset = timedelta(0)


def now() -> datetime:
    return datetime.now(UTC) + _offset


def advance(by: timedelta) -> None:
    """Move this process's clock forward (tests only)."""
    global _offset
    _offset += by


def reset() -> None:
    global _offset
    _offset = timedelta(0)
