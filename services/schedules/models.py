"""Schedules as stored: GoAlert's shape, kept small.

A schedule has a time zone and one or more rotations; each rotation puts one participant on
call at a time, so several rotations in one schedule put several peers on call in parallel.
Overrides (add, remove, or replace one person for a span) are applied on top.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

import services.people.models  # noqa: F401  (staff must be mapped first)
from services.db import Base


class Schedule(Base):
    __tablename__ = "schedules"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    time_zone: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Rotation(Base):
    """Participants take turns; a turn lasts `shift_hours` of wall-clock time in the zone.

    Wall-clock, not elapsed: a 07:00 hand-off stays at 07:00 on the days clocks change.
    """

    __tablename__ = "rotations"
    __table_args__ = (
        UniqueConstraint("schedule_id", "name"),
        CheckConstraint("shift_hours > 0", name="positive_shift"),
        CheckConstraint("kind IN ('daily', 'weekly', 'custom')", name="kind"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    schedule_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("schedules.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(8))
    shift_hours: Mapped[int] = mapped_column(Integer)  # daily 24, weekly 168, custom any
    # The first hand-off, as a wall-clock time in the schedule's zone (naive).
    start_local: Mapped[datetime] = mapped_column(DateTime(timezone=False))


class RotationParticipant(Base):
    __tablename__ = "rotation_participants"
    __table_args__ = (UniqueConstraint("rotation_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    rotation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("rotations.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    staff_id: Mapped[str] = mapped_column(ForeignKey("staff.staff_id"))


class Override(Base):
    """For [starts_at, ends_at): add someone, remove someone, or both (cover / swap)."""

    __tablename__ = "schedule_overrides"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        CheckConstraint(
            "add_staff_id IS NOT NULL OR remove_staff_id IS NOT NULL", name="does_something"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    schedule_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("schedules.id", ondelete="CASCADE"), index=True
    )
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    add_staff_id: Mapped[str | None] = mapped_column(ForeignKey("staff.staff_id"))
    remove_staff_id: Mapped[str | None] = mapped_column(ForeignKey("staff.staff_id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
