"""What a coordinator does to schedules and reads back: create, replace rotations, add and
remove overrides, and the views of who is on call and when.

Every person put on call is checked first: someone who cannot be paged at all (inactive,
opted out, not a peer) is refused; what can be fixed before their turn (paused, training
lapsed) is a warning.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services import clock
from services.logs import log
from services.people.models import PeerSupporter, Staff
from services.schedules.inputs import OverrideIn, RotationsIn, ScheduleIn
from services.schedules.models import Override, Rotation, RotationParticipant, Schedule
from services.schedules.rules import (
    aware,
    current_turn,
    on_call,
    shifts_between,
    window_at,
    zone_of,
)
from services.schedules.service import load_specs

MAX_SHIFTS_WINDOW = timedelta(days=31)


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
    at = aware(at) if at is not None else clock.now()
    loaded = await load_specs(session, window_at(at))
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
    start, end = aware(start, "start"), aware(end, "end")
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
