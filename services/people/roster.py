"""The directory one record at a time: a peer saved by the coordinator, a person's opt-out,
and peers and a person's detail read back for the API and the console.

The peer roster's shape (PeerIn) is also what a peers CSV row must be, so the import and the
single-record edit accept exactly the same values.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services import clock
from services.logs import log
from services.people.fields import iso_date, normalise_discipline, normalise_language
from services.people.models import PeerSupporter, Staff, Unit


class UnknownStaff(LookupError):
    pass


class InactiveStaff(ValueError):
    pass


class PeerIn(BaseModel):
    """A peer supporter as the coordinator keeps them: the PUT body and a peers CSV row."""

    model_config = ConfigDict(extra="forbid")

    trained_on: date | None = None
    trained_until: date
    supports: list[str] = Field(default_factory=list, description="disciplines; empty: any")
    languages: list[str] = Field(default_factory=lambda: ["en"])
    max_open_cases: int = 2
    status: Literal["active", "paused"] = "active"

    _dates = field_validator("trained_on", "trained_until", mode="before")(iso_date)

    @field_validator("supports")
    @classmethod
    def _disciplines(cls, value: list[str]) -> list[str]:
        out: list[str] = []
        for item in value:
            d = normalise_discipline(item)
            if d not in out:
                out.append(d)
        return out

    @field_validator("languages")
    @classmethod
    def _languages(cls, value: list[str]) -> list[str]:
        out: list[str] = []
        for item in value:
            lang = normalise_language(item)
            if lang not in out:
                out.append(lang)
        return out or ["en"]

    @field_validator("max_open_cases", mode="before")
    @classmethod
    def _max_open(cls, value: object) -> int:
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10:
            raise ValueError(f"{value!r} is not a whole number from 1 to 10")
        return value

    @field_validator("status", mode="before")
    @classmethod
    def _status(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() in ("active", "paused"):
            return value.strip().lower()
        raise ValueError(f"{value!r}: active or paused expected")

    @model_validator(mode="after")
    def _training_order(self) -> PeerIn:
        if self.trained_on and self.trained_until < self.trained_on:
            raise ValueError("trained_until is before trained_on")
        return self

    def values(self) -> dict[str, Any]:
        return {
            "trained_on": self.trained_on,
            "trained_until": self.trained_until,
            "supports": self.supports,
            "languages": self.languages,
            "max_open_cases": self.max_open_cases,
            "active": self.status == "active",
        }


class PeerOut(BaseModel):
    staff_id: str
    display_name: str
    discipline: str
    home_unit: str
    staff_active: bool
    trained_on: date | None
    trained_until: date
    training_current: bool
    supports: list[str]
    languages: list[str]
    max_open_cases: int
    status: Literal["active", "paused"]
    # The carrier said their number cannot take SMS: never paged until the number changes.
    undeliverable_code: int | None = None
    undeliverable_at: datetime | None = None


class StaffOut(BaseModel):
    staff_id: str
    display_name: str
    discipline: str
    role: str
    home_unit: str
    mobile: str
    language: str
    tier1_lead: bool
    opted_out: bool
    # The carrier said this number cannot take SMS (code, when); a new number clears it.
    undeliverable_code: int | None
    undeliverable_at: datetime | None
    active: bool
    updated_at: datetime
    peer: PeerOut | None


PEER_FIELDS = ("trained_on", "trained_until", "supports", "languages", "max_open_cases", "active")


async def write_peers(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    stmt = insert(PeerSupporter.__table__)
    stmt = stmt.on_conflict_do_update(
        index_elements=["staff_id"], set_={c: stmt.excluded[c] for c in PEER_FIELDS}
    )
    await session.execute(stmt, rows)


async def upsert_peer(session: AsyncSession, staff_id: str, peer: PeerIn) -> tuple[PeerOut, bool]:
    """Add or change one peer; True when added. Only active staff can be peers: a peer who
    has left the hospital must not be paged."""
    active = await session.scalar(
        select(Staff.active).where(Staff.staff_id == staff_id).with_for_update()
    )
    if active is None:
        raise UnknownStaff(f"unknown staff id {staff_id}")
    if not active:
        raise InactiveStaff(f"staff {staff_id} is inactive")
    created = staff_id not in await _peer_ids(session, staff_id)
    await write_peers(session, [{"staff_id": staff_id, **peer.values()}])
    log().info("people.peer_saved", staff_id=staff_id, created=created, status=peer.status)
    found = await list_peers(session, staff_id=staff_id)
    return found[0], created


async def _peer_ids(session: AsyncSession, staff_id: str) -> set[str]:
    found = await session.scalars(
        select(PeerSupporter.staff_id).where(PeerSupporter.staff_id == staff_id)
    )
    return set(found)


async def set_opt_out(session: AsyncSession, staff_id: str, opted_out: bool) -> bool:
    """Record a person's choice about outreach; True when it changed anything."""
    current = await session.scalar(
        select(Staff.opted_out).where(Staff.staff_id == staff_id).with_for_update()
    )
    if current is None:
        raise UnknownStaff(f"unknown staff id {staff_id}")
    if current == opted_out:
        return False
    await session.execute(
        update(Staff.__table__)
        .where(Staff.__table__.c.staff_id == staff_id)
        .values(opted_out=opted_out, updated_at=text("now()"))
    )
    log().info("people.opt_out", staff_id=staff_id, opted_out=opted_out)
    return True


async def list_peers(session: AsyncSession, *, staff_id: str | None = None) -> list[PeerOut]:
    stmt = (
        select(PeerSupporter, Staff)
        .join(Staff, Staff.staff_id == PeerSupporter.staff_id)
        .order_by(PeerSupporter.staff_id)
    )
    if staff_id is not None:
        stmt = stmt.where(PeerSupporter.staff_id == staff_id)
    today = clock.now().date()
    return [_peer_out(p, s, today) for p, s in (await session.execute(stmt)).all()]


def _peer_out(p: PeerSupporter, s: Staff, today: date) -> PeerOut:
    return PeerOut(
        staff_id=p.staff_id,
        display_name=s.display_name,
        discipline=s.discipline,
        home_unit=s.home_unit,
        staff_active=s.active,
        trained_on=p.trained_on,
        trained_until=p.trained_until,
        training_current=p.trained_until >= today,
        supports=list(p.supports),
        languages=list(p.languages),
        max_open_cases=p.max_open_cases,
        status="active" if p.active else "paused",
        undeliverable_code=s.undeliverable_code,
        undeliverable_at=s.undeliverable_at,
    )


async def staff_detail(session: AsyncSession, staff_id: str) -> StaffOut | None:
    staff = await session.get(Staff, staff_id)
    if staff is None:
        return None
    lead = await session.scalar(
        select(Unit.code).where(Unit.tier1_lead_staff_id == staff_id, Unit.code == staff.home_unit)
    )
    peers = await list_peers(session, staff_id=staff_id)
    return StaffOut(
        staff_id=staff.staff_id,
        display_name=staff.display_name,
        discipline=staff.discipline,
        role=staff.role,
        home_unit=staff.home_unit,
        mobile=staff.mobile_e164,
        language=staff.language,
        tier1_lead=lead is not None,
        opted_out=staff.opted_out,
        undeliverable_code=staff.undeliverable_code,
        undeliverable_at=staff.undeliverable_at,
        active=staff.active,
        updated_at=staff.updated_at,
        peer=peers[0] if peers else None,
    )
