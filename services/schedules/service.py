"""Who is on call: rotations counted in local wall-clock time, plus overrides.

The rules live in a pure core (`on_call`, `shifts_between`) with no database, so the
daylight-saving edge cases can be tested exhaustively and fast; the database half only
loads specs (one query per table, for every schedule at once) and validates admin edits.

Why wall-clock time: coordinators and peers think "the night nurse hands off at 07:00".
Counting elapsed hours would move that hand-off to 06:00 or 08:00 twice a year, and the
page would go to someone who believes they are off call.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Annotated, Literal, NamedTuple
from zoneinfo import ZoneInfo, available_timezones

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import aggregate_order_by, insert
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.events import StaffId
from services import clock
from services.logs import log
from services.people.models import PeerSupporter, Staff
from services.schedules.models import Override, Rotation, RotationParticipant, Schedule

SHIFT_HOURS = {"daily": 24, "weekly": 168}
MAX_CUSTOM_SHIFT_HOURS = 336
MAX_OVERRIDE = timedelta(days=31)
MAX_SHIFTS_WINDOW = timedelta(days=31)
_MICROSECOND = timedelta(microseconds=1)


# --------------------------------------------------------------------------- pure core


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


def _aware(at: datetime, what: str = "at") -> datetime:
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
    at = _aware(at)
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
    at = _aware(at)
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


def shifts_between(spec: ScheduleSpec, start: datetime, end: datetime) -> list[Shift]:
    """Who is on call when in [start, end), overrides included, as continuous spans.

    Built from `on_call` between consecutive change points (hand-offs, override edges), so
    the listing can never disagree with what paging sees. A person on call through several
    turns or rotations gets one span; spans are clipped to the window and sorted by start.
    """
    start, end = _aware(start, "start"), _aware(end, "end")
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


# --------------------------------------------------------------------------- loading


class ScheduleError(Exception):
    """An admin request that cannot be applied; `fields` says why, per field."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields


class Invalid(ScheduleError):
    pass


class Conflict(ScheduleError):
    pass


class NotFound(ScheduleError):
    pass


@dataclass(frozen=True)
class Loaded:
    schedule_id: uuid.UUID
    spec: ScheduleSpec


async def load_specs(
    session: AsyncSession,
    window: tuple[datetime, datetime],
    schedule_ids: Sequence[uuid.UUID] | None = None,
) -> list[Loaded]:
    """Specs of all (or some) schedules with the overrides touching [window).

    Two round trips whatever the number of schedules (schedules with their rotations and
    participants joined, then overrides): matching calls this for every incident, so its
    cost must not grow with the number of schedules.
    """
    lo, hi = window
    # Participants arrive as one ordered array per rotation: a row per participant would
    # multiply the rows (and the per-row cost in the driver) by the rotation length.
    participants = (
        select(
            func.array_agg(
                aggregate_order_by(RotationParticipant.staff_id, RotationParticipant.position)
            )
        )
        .where(RotationParticipant.rotation_id == Rotation.id)
        .scalar_subquery()
    )
    rows = (
        select(
            Schedule.id,
            Schedule.name,
            Schedule.time_zone,
            Rotation.name.label("rotation"),
            Rotation.kind,
            Rotation.shift_hours,
            Rotation.start_local,
            participants.label("participants"),
        )
        .outerjoin(Rotation, Rotation.schedule_id == Schedule.id)
        .order_by(Schedule.name, Rotation.name)
    )
    overs = (
        select(
            Override.schedule_id,
            Override.starts_at,
            Override.ends_at,
            Override.add_staff_id,
            Override.remove_staff_id,
            Override.created_at,
        )
        .where(Override.starts_at < hi, Override.ends_at > lo)
        .order_by(Override.created_at, Override.starts_at, Override.id)
    )
    if schedule_ids is not None:
        rows = rows.where(Schedule.id.in_(schedule_ids))
        overs = overs.where(Override.schedule_id.in_(schedule_ids))

    overrides: dict[uuid.UUID, list[OverrideSpec]] = defaultdict(list)
    for o in await session.execute(overs):
        overrides[o.schedule_id].append(
            OverrideSpec(o.starts_at, o.ends_at, o.add_staff_id, o.remove_staff_id, o.created_at)
        )
    schedules: dict[uuid.UUID, ScheduleSpec] = {}
    for r in await session.execute(rows):
        spec = schedules.get(r.id)
        if spec is None:
            try:
                zone_of(r.time_zone)
            except (ValueError, KeyError) as exc:
                # Validation keeps bad zones out; one that slipped in must not stop paging.
                log().error("schedule.zone_invalid", schedule=r.name, error=str(exc))
                continue
            spec = schedules[r.id] = ScheduleSpec(r.name, r.time_zone, [], overrides[r.id])
        if r.rotation is not None:
            spec.rotations.append(
                RotationSpec(
                    r.kind, r.shift_hours, r.start_local, list(r.participants or []), r.rotation
                )
            )
    return [Loaded(schedule_id, spec) for schedule_id, spec in schedules.items()]


def _point(at: datetime) -> tuple[datetime, datetime]:
    return at, at + _MICROSECOND


async def on_call_staff(session: AsyncSession, at: datetime) -> dict[str, list[str]]:
    """staff_id -> names of the schedules that put them on call at `at` (aware), all schedules.

    The schedules' word only: whether a person may be paged (active, not opted out, training
    current, not paused, not involved) is matching's call, so it can say why it skipped them.
    """
    at = _aware(at)
    who: dict[str, list[str]] = defaultdict(list)
    for loaded in await load_specs(session, _point(at)):
        for staff_id in on_call(loaded.spec, at):
            who[staff_id].append(loaded.spec.name)
    return dict(who)


async def shifts_of_all(
    session: AsyncSession, start: datetime, end: datetime
) -> list[tuple[Loaded, list[Shift]]]:
    """Every schedule's on-call spans in [start, end), overrides included: the console's
    on-call page and coverage check read these, built by `shifts_between` from the same
    specs paging loads, so what they show is what paging will do."""
    start, end = _aware(start, "start"), _aware(end, "end")
    return [
        (item, shifts_between(item.spec, start, end))
        for item in await load_specs(session, (start, end))
    ]


# --------------------------------------------------------------------------- admin input


def _valid_zone(name: str) -> str:
    if name not in _zones():
        raise ValueError(f"unknown time zone {name!r}: an IANA name, e.g. America/New_York")
    return name


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    # "localtime" is whatever the server is set to: a schedule must not move with the host.
    return frozenset(available_timezones() - {"localtime"})


Name = Annotated[str, Field(min_length=1, max_length=80)]


class ScheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Name
    time_zone: str = Field(max_length=64)

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, v: str) -> str:
        return _valid_zone(v)


class RotationIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Name
    kind: Literal["daily", "weekly", "custom"]
    shift_hours: int | None = None
    start_local: datetime = Field(description="first hand-off, wall-clock time in the zone")
    participants: list[StaffId] = Field(min_length=1, max_length=200)

    @field_validator("start_local")
    @classmethod
    def _naive(cls, v: datetime) -> datetime:
        if v.tzinfo is not None:
            raise ValueError(
                "a wall-clock time in the schedule's zone: give it without an offset, "
                "e.g. 2026-01-05T07:00"
            )
        return v

    @model_validator(mode="after")
    def _hours(self) -> RotationIn:
        fixed = SHIFT_HOURS.get(self.kind)
        if fixed is not None:
            if self.shift_hours not in (None, fixed):
                raise ValueError(
                    f"a {self.kind} rotation hands off every {fixed} h; use kind custom "
                    "for another length"
                )
            self.shift_hours = fixed
        elif self.shift_hours is None or not 1 <= self.shift_hours <= MAX_CUSTOM_SHIFT_HOURS:
            raise ValueError(
                f"a custom rotation needs shift_hours from 1 to {MAX_CUSTOM_SHIFT_HOURS}"
            )
        return self


class RotationsIn(BaseModel):
    """The whole set of a schedule's rotations: replaced together or not at all."""

    model_config = ConfigDict(extra="forbid")

    rotations: list[RotationIn] = Field(max_length=50)

    @field_validator("rotations")
    @classmethod
    def _unique_names(cls, v: list[RotationIn]) -> list[RotationIn]:
        names = [r.name for r in v]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"rotation names must differ: {', '.join(dupes)} repeated")
        return v


class OverrideIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    starts_at: AwareDatetime
    ends_at: AwareDatetime
    add_staff_id: StaffId | None = None
    remove_staff_id: StaffId | None = None

    @model_validator(mode="after")
    def _span(self) -> OverrideIn:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if self.ends_at - self.starts_at > MAX_OVERRIDE:
            raise ValueError("an override lasts at most 31 days; change the rotation instead")
        if self.add_staff_id is None and self.remove_staff_id is None:
            raise ValueError("name add_staff_id, remove_staff_id or both")
        if self.add_staff_id == self.remove_staff_id:
            raise ValueError("add_staff_id and remove_staff_id name the same person")
        return self


# --------------------------------------------------------------------------- admin operations


def _iso(at: datetime | None) -> str | None:
    return at.astimezone(UTC).isoformat() if at is not None else None


def _local_iso(at: datetime | None, zone: ZoneInfo) -> str | None:
    return at.astimezone(zone).isoformat() if at is not None else None


async def _staff_status(
    session: AsyncSession, staff_ids: Iterable[str], today: date
) -> dict[str, tuple[str, list[str]]]:
    """staff_id -> (display name, reasons they cannot be paged) for the ids that exist."""
    ids = sorted(set(staff_ids))
    if not ids:
        return {}
    rows = await session.execute(
        select(
            Staff.staff_id,
            Staff.display_name,
            Staff.active,
            Staff.opted_out,
            PeerSupporter.staff_id.label("peer"),
            PeerSupporter.active.label("peer_active"),
            PeerSupporter.trained_until,
        )
        .outerjoin(PeerSupporter, PeerSupporter.staff_id == Staff.staff_id)
        .where(Staff.staff_id.in_(ids))
    )
    out: dict[str, tuple[str, list[str]]] = {}
    for r in rows:
        problems = []
        if not r.active:
            problems.append("inactive")
        if r.opted_out:
            problems.append("opted out of outreach")
        if r.peer is None:
            problems.append("not a peer supporter")
        else:
            if not r.peer_active:
                problems.append("peer supporter paused")
            if r.trained_until < today:
                problems.append(f"peer training expired {r.trained_until.isoformat()}")
        out[r.staff_id] = (r.display_name, problems)
    return out


# Problems that make a person unfit to put on call at all; the rest (paused, training
# lapsed) can be fixed before the turn comes, so they are warnings.
_BLOCKING = ("inactive", "opted out of outreach", "not a peer supporter")


def _check_people(
    status: dict[str, tuple[str, list[str]]], by_field: dict[str, list[str]]
) -> tuple[dict[str, str], list[str]]:
    errors: dict[str, str] = {}
    warnings: list[str] = []
    for fld, ids in by_field.items():
        msgs = []
        for staff_id in dict.fromkeys(ids):
            if staff_id not in status:
                msgs.append(f"unknown staff {staff_id}")
                continue
            problems = status[staff_id][1]
            blocking = [p for p in problems if p in _BLOCKING]
            if blocking:
                msgs.append(f"{staff_id} is {', '.join(blocking)}")
            warnings.extend(f"{staff_id}: {p}" for p in problems if p not in _BLOCKING)
        if msgs:
            errors[fld] = "; ".join(msgs)
    return errors, sorted(set(warnings))


async def _schedule(session: AsyncSession, schedule_id: uuid.UUID, lock: bool = False) -> Schedule:
    stmt = select(Schedule).where(Schedule.id == schedule_id)
    if lock:
        stmt = stmt.with_for_update()
    found = (await session.scalars(stmt)).one_or_none()
    if found is None:
        raise NotFound({"schedule_id": f"no schedule {schedule_id}"})
    return found


async def create_schedule(session: AsyncSession, data: ScheduleIn) -> dict[str, object]:
    created = await session.scalar(
        insert(Schedule)
        .values(id=uuid.uuid4(), name=data.name, time_zone=data.time_zone)
        .on_conflict_do_nothing(index_elements=[Schedule.name])
        .returning(Schedule.id)
    )
    if created is None:
        raise Conflict({"name": f"a schedule named {data.name!r} exists already"})
    log().info("schedule.created", schedule_id=str(created), time_zone=data.time_zone)
    return {"id": str(created), "name": data.name, "time_zone": data.time_zone}


async def replace_rotations(
    session: AsyncSession, schedule_id: uuid.UUID, data: RotationsIn, today: date | None = None
) -> dict[str, object]:
    """Validate every participant first, then swap the whole set in the caller's transaction.

    The schedule row is locked so two coordinators saving at once apply one after the other
    instead of interleaving their rotations.
    """
    await _schedule(session, schedule_id, lock=True)
    status = await _staff_status(
        session,
        (p for r in data.rotations for p in r.participants),
        today or clock.now().date(),
    )
    errors, warnings = _check_people(
        status,
        {f"rotations.{i}.participants": r.participants for i, r in enumerate(data.rotations)},
    )
    if errors:
        raise Invalid(errors)
    await session.execute(delete(Rotation).where(Rotation.schedule_id == schedule_id))
    for r in data.rotations:
        rotation_id = uuid.uuid4()
        session.add(
            Rotation(
                id=rotation_id,
                schedule_id=schedule_id,
                name=r.name,
                kind=r.kind,
                shift_hours=r.shift_hours,
                start_local=r.start_local,
            )
        )
        await session.flush()
        session.add_all(
            RotationParticipant(rotation_id=rotation_id, position=i, staff_id=staff_id)
            for i, staff_id in enumerate(r.participants)
        )
    await session.flush()
    log().info(
        "schedule.rotations_replaced", schedule_id=str(schedule_id), count=len(data.rotations)
    )
    view = await get_schedule(session, schedule_id)
    return view | {"warnings": warnings}


async def add_override(
    session: AsyncSession, schedule_id: uuid.UUID, data: OverrideIn, today: date | None = None
) -> dict[str, object]:
    """Whoever is added must be fit to page; whoever is removed need only exist (someone
    who left can still be excused from a turn they were given)."""
    await _schedule(session, schedule_id)
    ids = [i for i in (data.add_staff_id, data.remove_staff_id) if i]
    status = await _staff_status(session, ids, today or data.starts_at.date())
    by_field = {"add_staff_id": [data.add_staff_id] if data.add_staff_id else []}
    errors, warnings = _check_people(status, by_field)
    if data.remove_staff_id and data.remove_staff_id not in status:
        errors["remove_staff_id"] = f"unknown staff {data.remove_staff_id}"
    if errors:
        raise Invalid(errors)
    override = Override(
        id=uuid.uuid4(),
        schedule_id=schedule_id,
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        add_staff_id=data.add_staff_id,
        remove_staff_id=data.remove_staff_id,
        created_at=clock.now(),
    )
    session.add(override)
    await session.flush()
    log().info(
        "schedule.override_added", schedule_id=str(schedule_id), override_id=str(override.id)
    )
    return _override_view(override) | {"warnings": warnings}


async def delete_override(
    session: AsyncSession, schedule_id: uuid.UUID, override_id: uuid.UUID
) -> None:
    gone = await session.scalar(
        delete(Override)
        .where(Override.id == override_id, Override.schedule_id == schedule_id)
        .returning(Override.id)
    )
    if gone is None:
        raise NotFound({"override_id": f"no override {override_id} on schedule {schedule_id}"})
    log().info("schedule.override_deleted", schedule_id=str(schedule_id), override_id=str(gone))


def _override_view(o: Override) -> dict[str, object]:
    return {
        "id": str(o.id),
        "starts_at": _iso(o.starts_at),
        "ends_at": _iso(o.ends_at),
        "add_staff_id": o.add_staff_id,
        "remove_staff_id": o.remove_staff_id,
        "created_at": _iso(o.created_at),
    }


async def list_schedules(session: AsyncSession) -> list[dict[str, object]]:
    rows = await session.execute(
        select(Schedule.id, Schedule.name, Schedule.time_zone).order_by(Schedule.name)
    )
    return [{"id": str(r.id), "name": r.name, "time_zone": r.time_zone} for r in rows]


async def schedule_id_by_name(session: AsyncSession, name: str) -> uuid.UUID:
    found = await session.scalar(select(Schedule.id).where(Schedule.name == name))
    if found is None:
        raise NotFound({"name": f"no schedule named {name!r}"})
    return found


async def get_schedule(session: AsyncSession, schedule_id: uuid.UUID) -> dict[str, object]:
    schedule = await _schedule(session, schedule_id)
    rotations = (
        await session.scalars(
            select(Rotation).where(Rotation.schedule_id == schedule_id).order_by(Rotation.name)
        )
    ).all()
    members: dict[uuid.UUID, list[dict[str, str]]] = defaultdict(list)
    for rotation_id, staff_id, display_name in await session.execute(
        select(RotationParticipant.rotation_id, Staff.staff_id, Staff.display_name)
        .join(Staff, Staff.staff_id == RotationParticipant.staff_id)
        .join(Rotation, Rotation.id == RotationParticipant.rotation_id)
        .where(Rotation.schedule_id == schedule_id)
        .order_by(RotationParticipant.rotation_id, RotationParticipant.position)
    ):
        members[rotation_id].append({"staff_id": staff_id, "display_name": display_name})
    overrides = (
        await session.scalars(
            select(Override)
            .where(Override.schedule_id == schedule_id)
            .order_by(Override.starts_at, Override.created_at)
        )
    ).all()
    return {
        "id": str(schedule.id),
        "name": schedule.name,
        "time_zone": schedule.time_zone,
        "rotations": [
            {
                "id": str(r.id),
                "name": r.name,
                "kind": r.kind,
                "shift_hours": r.shift_hours,
                "start_local": r.start_local.isoformat(),
                "participants": members[r.id],
            }
            for r in rotations
        ],
        "overrides": [_override_view(o) for o in overrides],
    }


async def who_is_on_call(session: AsyncSession, at: datetime | None = None) -> dict[str, object]:
    """The coordinator's view: each person with their schedules and anything that would stop
    a page reaching them, and each rotation's current turn with when it ends."""
    at = _aware(at) if at is not None else clock.now()
    loaded = await load_specs(session, _point(at))
    who: dict[str, list[str]] = defaultdict(list)
    turns = []
    for item in loaded:
        spec = item.spec
        zone = zone_of(spec.time_zone)
        for staff_id in on_call(spec, at):
            who[staff_id].append(spec.name)
        for rotation in spec.rotations:
            turn = current_turn(rotation, zone, at)
            turns.append(
                {
                    "schedule": spec.name,
                    "rotation": rotation.name,
                    "staff_id": turn.staff_id,
                    "turn_started_at": _iso(turn.starts_at),
                    "turn_ends_at": _iso(turn.ends_at),
                    "turn_ends_local": _local_iso(turn.ends_at, zone),
                }
            )
    status = await _staff_status(session, who, at.date())
    people = [
        {
            "staff_id": staff_id,
            "display_name": status.get(staff_id, ("?", []))[0],
            "schedules": sorted(names),
            "warnings": status.get(staff_id, ("", ["unknown staff"]))[1],
        }
        for staff_id, names in sorted(who.items())
    ]
    return {"at": _iso(at), "on_call": people, "rotations": turns}


async def shifts_view(
    session: AsyncSession, schedule_id: uuid.UUID, start: datetime, end: datetime
) -> dict[str, object]:
    start, end = _aware(start, "start"), _aware(end, "end")
    if end <= start:
        raise Invalid({"end": "end must be after start"})
    if end - start > MAX_SHIFTS_WINDOW:
        raise Invalid({"end": "at most 31 days from start"})
    await _schedule(session, schedule_id)
    (item,) = await load_specs(session, (start, end), [schedule_id])
    zone = zone_of(item.spec.time_zone)
    shifts = shifts_between(item.spec, start, end)
    status = await _staff_status(session, {s.staff_id for s in shifts}, start.date())
    return {
        "schedule": item.spec.name,
        "time_zone": item.spec.time_zone,
        "start": _iso(start),
        "end": _iso(end),
        "shifts": [
            {
                "staff_id": s.staff_id,
                "display_name": status.get(s.staff_id, ("?", []))[0],
                "starts_at": _iso(s.starts_at),
                "ends_at": _iso(s.ends_at),
                "starts_local": _local_iso(s.starts_at, zone),
                "ends_local": _local_iso(s.ends_at, zone),
            }
            for s in shifts
        ],
    }


# --------------------------------------------------------------------------- demo seed

DEMO_SCHEDULE = "Peer support on call"
DEMO_ZONE = "America/New_York"
# Monday 2026-01-05: the weekly physician turn hands off on Mondays at 08:00.
DEMO_ROTATIONS = (
    ("RN", "daily", 24, datetime(2026, 1, 5, 7, 0), ("N1101", "N1102")),
    ("Physician", "weekly", 168, datetime(2026, 1, 5, 8, 0), ("P2101",)),
    ("Chaplaincy", "custom", 12, datetime(2026, 1, 5, 7, 0), ("C4101",)),
)


async def seed_schedule(session: AsyncSession) -> None:
    """The demo schedule: three parallel rotations, so three peers are on call at all times.

    Left alone if it exists, so a re-seed never undoes a coordinator's edits.
    """
    schedule_id = await session.scalar(
        insert(Schedule)
        .values(id=uuid.uuid4(), name=DEMO_SCHEDULE, time_zone=DEMO_ZONE)
        .on_conflict_do_nothing(index_elements=[Schedule.name])
        .returning(Schedule.id)
    )
    if schedule_id is None:
        return
    for name, kind, hours, start_local, staff_ids in DEMO_ROTATIONS:
        rotation_id = uuid.uuid4()
        session.add(
            Rotation(
                id=rotation_id,
                schedule_id=schedule_id,
                name=name,
                kind=kind,
                shift_hours=hours,
                start_local=start_local,
            )
        )
        await session.flush()
        session.add_all(
            RotationParticipant(rotation_id=rotation_id, position=i, staff_id=s)
            for i, s in enumerate(staff_ids)
        )
    await session.flush()
    log().info("schedule.seeded", schedule=DEMO_SCHEDULE)
