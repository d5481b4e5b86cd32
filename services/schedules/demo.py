"""The demo schedule `svrr seed` creates, so a fresh install pages someone at any hour."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.logs import log
from services.schedules.models import Rotation, RotationParticipant, Schedule

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
