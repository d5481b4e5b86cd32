"""Who is on call, decided without a database: rotations counted in wall-clock time, plus
overrides.

Pure, so the daylight-saving edge cases can be tested exhaustively and fast. Why wall-clock
time: coordinators and peers think "the night nurse hands off at 07:00". Counting elapsed
hours would move that hand-off to 06:00 or 08:00 twice a year, and the page would go to
someone who believes they are off call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import NamedTuple
from zoneinfo import ZoneInfo

_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class RotationSpec:
    """One participant on call at a time, taking turns of `shift_hours` wall-clock hours.

    `start_local` is the first hand-off as read on a wall clock in the schedule's zone.
    """

    kind: str
    shift_hours: int
    start_local: datetime
    participants: list[str]
    name: str = ""

    def __post_init__(self) -> None:
        # A bad spec must fail loudly here, not as a wrong page at 3 a.m.
        if self.shift_hours <= 0:
            raise ValueError("shift_hours must be positive")
        if self.start_local.tzinfo is not None:
            raise ValueError("start_local is a wall-clock time and must be naive")


@dataclass(frozen=True)
class OverrideSpec:
    """For [starts_at, ends_at): remove `remove`, then add `add` (either may be None)."""

    starts_at: datetime
    ends_at: datetime
    add: str | None
    remove: str | None
    created_at: datetime


@dataclass(frozen=True)
class ScheduleSpec:
    name: str
    time_zone: str
    rotations: list[RotationSpec]
    overrides: list[OverrideSpec] = field(default_factory=list)


class Turn(NamedTuple):
    """One rotation's current turn; staff_id None means the rotation has not started."""

    index: int
    staff_id: str | None
    starts_at: datetime | None
    ends_at: datetime


class Shift(NamedTuple):
    staff_id: str
    starts_at: datetime
    ends_at: datetime


def aware(at: datetime, what: str = "at") -> datetime:
    """`at` in UTC; a naive time is refused, since no one can say which zone it meant."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{what} must carry a time zone: a naive time is ambiguous")
    return at.astimezone(UTC)


def _wall(at: datetime, zone: ZoneInfo) -> datetime:
    return at.astimezone(zone).replace(tzinfo=None)


def wall_to_utc(wall: datetime, zone: ZoneInfo) -> datetime:
    """The instant a wall clock in `zone` first reads `wall`.

    A repeated reading (autumn) gives its first occurrence; a reading the clocks skip
    (spring) gives the first instant after the gap, when the clock jumps past it.
    """
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if first == second:  # the usual case: the reading happens exactly once
        return first
    found = [utc for utc in (first, second) if _wall(utc, zone) == wall]
    if found:
        return min(found)
    # In a gap the two folds bracket the transition: before it the wall reads less than
    # `wall`, from it on more. Bisect to the microsecond (transitions fall on whole seconds).
    lo, hi = min(first, second), max(first, second)
    while hi - lo > _MICROSECOND:
        mid = lo + (hi - lo) / 2
        if _wall(mid, zone) > wall:
            hi = mid
        else:
            lo = mid
    return hi


def handoff_at(rotation: RotationSpec, zone: ZoneInfo, index: int) -> datetime:
    """When turn `index` begins (UTC); turn 0 begins at start_local."""
    return wall_to_utc(rotation.start_local + timedelta(hours=rotation.shift_hours * index), zone)


def turn_index(rotation: RotationSpec, zone: ZoneInfo, at: datetime) -> int:
    """The turn in force at `at`: the last hand-off at or before it, -1 before the first.

    The floor of (local wall time - start_local) / shift is right everywhere except in the
    repeated autumn hour's second pass, where the wall clock runs backwards; counting
    hand-off instants instead keeps turns monotonic. The floor is only the first guess.
    """
    at = aware(at)
    step = timedelta(hours=rotation.shift_hours)
    index = max((_wall(at, zone) - rotation.start_local) // step, -1)
    while handoff_at(rotation, zone, index + 1) <= at:
        index += 1
    while index >= 0 and handoff_at(rotation, zone, index) > at:
        index -= 1
    return index


def current_turn(rotation: RotationSpec, zone: ZoneInfo, at: datetime) -> Turn:
    index = turn_index(rotation, zone, at)
    ends_at = handoff_at(rotation, zone, index + 1)
    if index < 0 or not rotation.participants:
        return Turn(index, None, None, ends_at)
    staff_id = rotation.participants[index % len(rotation.participants)]
    return Turn(index, staff_id, handoff_at(rotation, zone, index), ends_at)


@lru_cache(maxsize=256)
def zone_of(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def on_call(spec: ScheduleSpec, at: datetime) -> set[str]:
    """Staff the schedule puts on call at `at` (an aware datetime).

    Rotations: `at` is read on a wall clock in the schedule's zone; the turn index is
    floor((local wall time - start_local) / shift_hours) and the participant is
    participants[index % len]. Before start_local the rotation puts nobody on call. So a
    07:00 hand-off stays at 07:00 when clocks change (the turn spanning the change lasts 23
    or 25 real hours); a hand-off at a wall time the autumn change repeats happens at its
    first occurrence and the turn does not flip back during the second pass; a hand-off at
    a wall time the spring change skips happens at the first instant after the gap.

    Rotations run in parallel: each puts one person on call, and the result is their union.

    Overrides active at `at` (starts_at <= at < ends_at) then apply in created_at order,
    each removing its `remove` and then adding its `add`: a cover is add B + remove A, a
    swap two covers, extra cover add only, an excuse remove only. Removing someone who is
    not on call changes nothing. Order matters when overrides overlap: a later cover of the
    person an earlier cover brought in replaces them.
    """
    at = aware(at)
    zone = zone_of(spec.time_zone)
    people: set[str] = set()
    for rotation in spec.rotations:
        if rotation.participants:
            index = turn_index(rotation, zone, at)
            if index >= 0:
                people.add(rotation.participants[index % len(rotation.participants)])
    active = [o for o in spec.overrides if o.starts_at <= at < o.ends_at]
    for o in sorted(active, key=lambda o: o.created_at):
        if o.remove is not None:
            people.discard(o.remove)
        if o.add is not None:
            people.add(o.add)
    return people


def next_change(spec: ScheduleSpec, at: datetime, horizon: datetime) -> datetime:
    """The first instant after `at` at which `on_call(spec, ...)` may answer differently:
    the next hand-off of any rotation or the next edge of an override in `spec` (the caller
    loads the overrides touching [at, horizon)), else `horizon`. Until then, whoever is on
    call at `at` stays on call: a worker may keep what it resolved at `at` that long."""
    at = aware(at)
    zone = zone_of(spec.time_zone)
    until = horizon
    for rotation in spec.rotations:
        if rotation.participants:
            until = min(until, handoff_at(rotation, zone, turn_index(rotation, zone, at) + 1))
    for o in spec.overrides:
        for edge in (o.starts_at, o.ends_at):
            if at < edge < until:
                until = edge
    return until


def shifts_between(spec: ScheduleSpec, start: datetime, end: datetime) -> list[Shift]:
    """Who is on call when in [start, end), overrides included, as continuous spans.

    Built from `on_call` between consecutive change points (hand-offs, override edges), so
    the listing can never disagree with what paging sees. A person on call through several
    turns or rotations gets one span; spans are clipped to the window and sorted by start.
    """
    start, end = aware(start, "start"), aware(end, "end")
    if end <= start:
        return []
    zone = zone_of(spec.time_zone)
    edges = {start, end}
    for rotation in spec.rotations:
        if not rotation.participants:
            continue
        index = turn_index(rotation, zone, start) + 1
        while (at := handoff_at(rotation, zone, index)) < end:
            edges.add(at)
            index += 1
    for o in spec.overrides:
        edges.update(t for t in (o.starts_at, o.ends_at) if start < t < end)
    points = sorted(edges)
    spans: list[Shift] = []
    opened: dict[str, datetime] = {}
    for at in points[:-1]:
        now = on_call(spec, at)
        for staff_id in [s for s in opened if s not in now]:
            spans.append(Shift(staff_id, opened.pop(staff_id), at))
        for staff_id in now:
            opened.setdefault(staff_id, at)
    spans.extend(Shift(staff_id, since, end) for staff_id, since in opened.items())
    return sorted(spans, key=lambda s: (s.starts_at, s.staff_id))


def window_at(at: datetime) -> tuple[datetime, datetime]:
    """The smallest window holding the instant `at`: what to load to resolve one moment."""
    return at, at + _MICROSECOND
