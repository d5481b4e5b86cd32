"""Wall-clock times on a local calendar as UTC instants, exact across clock changes.

Shared by deferrals ("tomorrow 9am") and quiet hours (until 07:00 local): both name a time on
someone's wall clock, which may happen twice or not at all on the night the clocks change.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo


def occurrences(day: date, at: time, tz: ZoneInfo) -> list[datetime]:
    """Every instant (UTC) at which clocks in `tz` first read `at` or later on `day`.

    Usually one. Two when clocks go back and the wall time happens twice. When clocks go
    forward past it (02:30 on 2026-03-08 in New York), the instant they jump (03:00 EDT): the
    first moment local time is at or after `at`, not the 03:30 a naive offset would give.
    """
    naive = datetime.combine(day, at)
    found = []
    for fold in (0, 1):
        instant = naive.replace(tzinfo=tz, fold=fold).astimezone(UTC)
        if instant.astimezone(tz).replace(tzinfo=None) == naive and instant not in found:
            found.append(instant)
    if found:
        return sorted(found)
    before = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
    after = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    return [_transition_between(min(before, after), max(before, after), tz)]


def wall_to_utc(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The first instant clocks read `at` on `day`: a doubled wall time is its earlier one."""
    return occurrences(day, at, tz)[0]


def _transition_between(before: datetime, after: datetime, tz: ZoneInfo) -> datetime:
    """The instant the offset changes, by bisection on whole seconds (the tz data's unit)."""
    target = after.astimezone(tz).utcoffset()
    lo, hi = int(before.timestamp()), int(after.timestamp())
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, UTC).astimezone(tz).utcoffset() == target:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, UTC)


def require_aware(at: datetime, name: str) -> None:
    """A naive datetime would be read in the server's zone, not the clinician's: refuse it."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {at!r}")
