"""Units, staff, shifts and peer supporters: who was involved and who can help.

Loaded from the hospital's HR and scheduling exports; peers are kept by the programme
coordinator. Rows are never deleted (pages and cases point at them): people who leave the
export become inactive.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from services.db import Base
from services.sealing import Keyring, Lookup, Sealed, mirror

DISCIPLINES = (
    "RN",
    "LPN",
    "physician",
    "resident",
    "advanced_practice",
    "respiratory_therapist",
    "pharmacist",
    "technician",
    "paramedic",
    "midwife",
    "chaplain",
    "social_worker",
    "psychologist",
    "other",
)


class Unit(Base):
    __tablename__ = "units"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    site: Mapped[str] = mapped_column(String(32), default="main")
    time_zone: Mapped[str] = mapped_column(String(64), default="America/New_York")
    # The unit's Tier 1 lead (charge nurse or manager): checks in on a colleague at once.
    tier1_lead_staff_id: Mapped[str | None] = mapped_column(
        ForeignKey("staff.staff_id", use_alter=True, name="fk_units_tier1_lead_staff")
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Staff(Base):
    __tablename__ = "staff"

    staff_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(120))
    discipline: Mapped[str] = mapped_column(String(40))
    role: Mapped[str] = mapped_column(String(60), default="")
    home_unit: Mapped[str] = mapped_column(ForeignKey("units.code"))
    mobile_e164: Mapped[str] = mapped_column(Sealed("staff.mobile_e164"))
    mobile_key: Mapped[str] = mapped_column(Lookup(), index=True)
    language: Mapped[str] = mapped_column(String(8), default="en")
    # Opted out of all outreach (carriers' STOP is per number; this is the person's choice).
    opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    # The carrier said this number cannot take SMS (a landline, an invalid number): the code
    # and when. Nothing is texted to it until the directory gives the person another number.
    undeliverable_code: Mapped[int | None] = mapped_column(Integer)
    undeliverable_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class StaffIdentifier(Base):
    """A source system's identifier for a member of staff (migration 0013): how a feed's
    clinician, named in the feed's own terms, becomes one of our staff ids. One person per
    (system, value), so a feed's reference is never ambiguous; a person may have many."""

    __tablename__ = "staff_identifiers"

    system: Mapped[str] = mapped_column(Text, primary_key=True)
    value: Mapped[str] = mapped_column(Text, primary_key=True)
    staff_id: Mapped[str] = mapped_column(ForeignKey("staff.staff_id"), index=True)


class Shift(Base):
    """Who worked which unit when, from the scheduling export."""

    __tablename__ = "shifts"
    __table_args__ = (
        UniqueConstraint("staff_id", "starts_at"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        Index("ix_shifts_unit_time", "unit", "starts_at", "ends_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    staff_id: Mapped[str] = mapped_column(ForeignKey("staff.staff_id"))
    unit: Mapped[str] = mapped_column(ForeignKey("units.code"))
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PeerSupporter(Base):
    """A trained peer. Training expires; a paused peer is never paged."""

    __tablename__ = "peer_supporters"

    staff_id: Mapped[str] = mapped_column(ForeignKey("staff.staff_id"), primary_key=True)
    trained_on: Mapped[date | None] = mapped_column(Date)
    trained_until: Mapped[date] = mapped_column(Date)
    # Disciplines this peer supports; empty means any.
    supports: Mapped[list[str]] = mapped_column(ARRAY(String(40)), default=list)
    languages: Mapped[list[str]] = mapped_column(ARRAY(String(8)), default=lambda: ["en"])
    max_open_cases: Mapped[int] = mapped_column(Integer, default=2)
    active: Mapped[bool] = mapped_column(Boolean, default=True)  # False: paused


class Involvement(Base):
    """Who was involved in an incident: named by the report, or proposed from the roster.

    Only confirmed staff are contacted. Staff on shift on the unit at the time are proposed;
    the risk manager confirms or removes each proposal.
    """

    __tablename__ = "involvement"
    __table_args__ = (UniqueConstraint("incident_id", "staff_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("incidents.id"), index=True)
    staff_id: Mapped[str] = mapped_column(ForeignKey("staff.staff_id"))
    source: Mapped[str] = mapped_column(String(16))  # named | on_shift
    status: Mapped[str] = mapped_column(String(16))  # confirmed | proposed | removed
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Tier1Prompt(Base):
    """A unit lead was prompted for an incident: the key that makes it once per incident,
    however many of their staff it involves and whichever worker opens the cases."""

    __tablename__ = "tier1_prompts"

    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("incidents.id"), primary_key=True)
    lead_staff_id: Mapped[str] = mapped_column(ForeignKey("staff.staff_id"), primary_key=True)
    staff_count: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class GroupDebrief(Base):
    """A proposal for a Tier 2 team debrief, opened alongside individual outreach."""

    __tablename__ = "group_debriefs"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("incidents.id"), unique=True)
    reason: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="proposed")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


@dataclass(frozen=True, slots=True)
class StaffView:
    """A member of staff's columns as a set statement read them, without an ORM instance:
    the worker builds one per case and per page, and an instrumented Staff cost more to
    construct than the rest of reading its row. Read-only; matching and texts read it as
    they read a Staff."""

    staff_id: str
    display_name: str
    discipline: str
    home_unit: str
    mobile_e164: str
    language: str
    role: str = ""
    opted_out: bool = False
    active: bool = True

    @classmethod
    def of(cls, row: Sequence[Any], keys: Keyring) -> StaffView:
        """From the STAFF_VIEW_COLUMNS of a row, in that order; the number comes sealed."""
        return cls(
            staff_id=str(row[0]),
            display_name=str(row[1]),
            discipline=str(row[2]),
            role=str(row[3]),
            home_unit=str(row[4]),
            mobile_e164=keys.open(str(row[5]), "staff.mobile_e164"),
            language=str(row[6]),
            opted_out=bool(row[7]),
            active=bool(row[8]),
        )


# What a statement selects of staff for StaffView.of, in its order.
STAFF_VIEW_COLUMNS = (
    "staff_id, display_name, discipline, role, home_unit, mobile_e164, language, opted_out, active"
)


# Whom matching, dispatch and texts accept as a person: a loaded Staff or a StaffView.
Person = Staff | StaffView


mirror(Staff.mobile_e164, Staff.mobile_key)
