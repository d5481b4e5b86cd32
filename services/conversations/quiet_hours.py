"""Quiet hours: the local night when outreach to a clinician is held back until morning."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.conversations.walltime import occurrences, require_aware


def in_quiet_hours(at: datetime, tz: ZoneInfo, start: time = time(22), end: time = time(7)) -> bool:
    """Whether local wall time at `at` is in [start, end); the window may cross midnight.

    Wall time, not elapsed time: quiet hours are about when people sleep, so on the night the
    clocks change the window is an hour shorter or longer. start == end means no quiet hours.
    """
    require_aware(at, "at")
    local = at.astimezone(tz).time()
    if start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end


def next_allowed(
    at: datetime, tz: ZoneInfo, start: time = time(22), end: time = time(7)
) -> datetime:
    """The first instant at or after `at` outside quiet hours, in UTC.

    Exact across DST: the end is found on the local calendar, so 07:00 on a changeover day is
    07:00 local whatever the offset; an end time the clocks skip is the instant they jump past it.
    """
    require_aware(at, "at")
    if not in_quiet_hours(at, tz, start, end):
        return at.astimezone(UTC)
    local = at.astimezone(tz)
    day = local.date()
    if start > end and local.time() >= start:
        day += timedelta(days=1)
    # After clocks go back the end wall time happens twice: the first one not yet past.
    return next(c for c in occurrences(day, end, tz) if c >= at)
