"""Logging an incident: validate, store with its event, answer only once it cannot be lost.

The HTTP route and the CLI both call `report`, so the two paths cannot drift apart.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.events import HarmLevel, IncidentReported, IncidentType, StaffId, UnitCode
from services import outbox
from services.incidents.models import Incident
from services.people.service import known_staff_ids

# Text that looks like a patient identifier or a date of birth has no place in any field:
# the investigation owns clinical detail, and this system must never hold it.
PHI_PATTERNS = (
    (re.compile(r"\b(MRN|DOB|NHS|SSN|PATIENT|PT)\b", re.I), "names a patient identifier"),
    (re.compile(r"\b\d{1,4}[/.-]\d{1,2}[/.-]\d{2,4}\b"), "looks like a date of birth"),
    (re.compile(r"\d{6,}"), "looks like a medical record number"),
)
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$")


def refuse_phi(value: str | None) -> str | None:
    if value is None:
        return value
    for pattern, why in PHI_PATTERNS:
        if pattern.search(value):
            raise ValueError(f"{why}; patient details must not be sent here")
    return value


class IncidentIn(BaseModel):
    """What risk management may tell us. Any other field (a patient, a narrative) is refused."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    occurred_at: AwareDatetime
    unit: UnitCode
    event_type: IncidentType
    harm_level: HarmLevel
    staff_ids: list[StaffId] = Field(min_length=1, max_length=500)
    reporter_ref: str | None = Field(default=None, max_length=64, pattern=r"^[\w .@/-]*$")
    incident_key: str | None = Field(
        default=None, min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$"
    )

    @field_validator("unit", "reporter_ref")
    @classmethod
    def _no_phi(cls, v: str | None) -> str | None:
        return refuse_phi(v)

    @field_validator("incident_key")
    @classmethod
    def _key_not_phi(cls, v: str | None) -> str | None:
        """A UUID key is opaque by construction; any other key must not look like PHI."""
        if v is None or UUID_RE.match(v):
            return v
        return refuse_phi(v)

    @field_validator("staff_ids")
    @classmethod
    def _unique_staff(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("a staff id is listed twice")
        return v

    @field_validator("occurred_at")
    @classmethod
    def _plausible_time(cls, v: datetime) -> datetime:
        t = datetime.now(UTC)
        if v > t + timedelta(minutes=5):
            raise ValueError("is in the future")
        if v < t - timedelta(days=366):
            raise ValueError("is more than a year ago; log older events with the programme")
        return v

    def fingerprint(self) -> str:
        body = self.model_dump_json(exclude={"incident_key"})
        return hashlib.sha256(body.encode()).hexdigest()


class UnknownStaff(ValueError):
    def __init__(self, staff_ids: list[str]) -> None:
        super().__init__(f"unknown staff ids: {', '.join(staff_ids)}")
        self.staff_ids = staff_ids


class KeyReused(ValueError):
    """The same incident key came with a different incident: a client bug, not a retry."""


@dataclass(frozen=True)
class Accepted:
    incident_id: uuid.UUID
    created: bool  # False: an idempotent retry found the incident already stored


async def report(session: AsyncSession, incident: IncidentIn) -> Accepted:
    """Store the incident and its IncidentReported event in the caller's transaction."""
    unknown = sorted(set(incident.staff_ids) - await known_staff_ids(session, incident.staff_ids))
    if unknown:
        raise UnknownStaff(unknown)
    fingerprint = incident.fingerprint()
    new_id = uuid.uuid4()
    stmt = insert(Incident).values(
        id=new_id,
        incident_key=incident.incident_key,
        request_hash=fingerprint,
        occurred_at=incident.occurred_at,
        unit=incident.unit,
        event_type=incident.event_type.value,
        harm_level=incident.harm_level.value,
        staff_ids=incident.staff_ids,
        reporter_ref=incident.reporter_ref,
    )
    if incident.incident_key is not None:
        stmt = stmt.on_conflict_do_nothing(index_elements=["incident_key"])
    inserted = await session.scalar(stmt.returning(Incident.id))
    if inserted is None:
        existing = (
            await session.execute(
                select(Incident.id, Incident.request_hash).where(
                    Incident.incident_key == incident.incident_key
                )
            )
        ).one()
        if existing.request_hash != fingerprint:
            raise KeyReused("this incident_key was already used for a different incident")
        return Accepted(existing.id, created=False)
    await outbox.add(
        session,
        IncidentReported(
            incident_id=new_id,
            incident_key=incident.incident_key,
            occurred_at=incident.occurred_at,
            unit=incident.unit,
            event_type=incident.event_type,
            harm_level=incident.harm_level,
            staff_ids=incident.staff_ids,
            reporter_ref=incident.reporter_ref,
        ),
    )
    return Accepted(new_id, created=True)
