"""Schedules as paging reads them: every schedule's specs loaded at once, then resolved by
the pure rules (services/schedules/rules.py).

Loading is one query per table for every schedule at once, so matching's cost does not grow
with the number of schedules. The coordinator's edits are in services/schedules/admin.py.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from services.logs import log
from services.schedules.models import Override, Rotation, RotationParticipant, Schedule
from services.schedules.rules import (
    OverrideSpec,
    RotationSpec,
    ScheduleSpec,
    Shift,
    aware,
    next_change,
    on_call,
    shifts_between,
    window_at,
    zone_of,
)


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


async def on_call_staff(session: AsyncSession, at: datetime) -> dict[str, list[str]]:
    """staff_id -> names of the schedules that put them on call at `at` (aware), all schedules.

    The schedules' word only: whether a person may be paged (active, not opted out, training
    current, not paused, not involved) is matching's call, so it can say why it skipped them.
    """
    at = aware(at)
    who: dict[str, list[str]] = defaultdict(list)
    for loaded in await load_specs(session, window_at(at)):
        for staff_id in on_call(loaded.spec, at):
            who[staff_id].append(loaded.spec.name)
    return dict(who)


async def on_call_until(
    session: AsyncSession, at: datetime, horizon: timedelta
) -> tuple[dict[str, list[str]], datetime]:
    """on_call_staff at `at`, and until when it holds: the next hand-off or override edge
    of any schedule, at most `horizon` ahead. A change to the schedules themselves is not
    foreseen here: the match_inputs counter (migration 0005) says when to ask again."""
    at = aware(at)
    until = at + horizon
    who: dict[str, list[str]] = defaultdict(list)
    for loaded in await load_specs(session, (at, until)):
        for staff_id in on_call(loaded.spec, at):
            who[staff_id].append(loaded.spec.name)
        until = next_change(loaded.spec, at, until)
    return dict(who), until


async def shifts_of_all(
    session: AsyncSession, start: datetime, end: datetime
) -> list[tuple[Loaded, list[Shift]]]:
    """Every schedule's on-call spans in [start, end), overrides included: the console's
    on-call page and coverage check read these, built by `shifts_between` from the same
    specs paging loads, so what they show is what paging will do."""
    start, end = aware(start, "start"), aware(end, "end")
    return [
        (item, shifts_between(item.spec, start, end))
        for item in await load_specs(session, (start, end))
    ]
