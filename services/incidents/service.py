"""Logging an incident: validate, store with its event, answer only once it cannot be lost.

The HTTP route and the CLI both call `report`, so the two paths cannot drift apart.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.events import HarmLevel, IncidentReported, IncidentType, StaffId, UnitCode
from schemas.topics import topic_name
from services import clock, outbox
from services.incidents.models import Incident

# Text that looks like a patient identifier or a date of birth has no place in any field:
# the investigation owns clinical detail, and this system must never hold it.
PHI_PATTERNS = (
    (re.compile(r"\b(MRN|DOB|NHS|SSN|PATIENT|PT)\b", re.I), "names a patient identifier"),
    (re.compile(r"\b\d{1,4}[/.-]\d{1,2}[/.-]\d{2,4}\b"), "looks like a date of birth"),
    (re.compile(r"\d{6,}"), "looks like a medical record number"),
)
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$")
# Two words of letters in a row ("Jane Smith", "jane.smith"): what a name looks like, and
# never what an incident-report number or an opaque key looks like.
NAME_LIKE = re.compile(r"[^\W\d_]{2,}[\s._,'-]+[^\W\d_]{2,}")
# The hospital's incident-report number: an optional upper-case prefix of at most five
# letters, then digits and dashes with letter runs of at most two ("IR-2026-0412",
# "RL2026-118", "DATIX-10423-B"). A name does not fit: "Jane-2", "IR-2026-Jane".
REPORTER_REF = re.compile(r"^(?:[A-Z]{1,5}-?)?[0-9](?:[0-9-]|[A-Za-z](?![A-Za-z]{2}))*$")


def refuse_phi(value: str | None) -> str | None:
    if value is None:
        return value
    for pattern, why in PHI_PATTERNS:
        if pattern.search(value):
            raise ValueError(f"{why}; patient details must not be sent here")
    return value


def refuse_names(value: str | None) -> str | None:
    """Free text that reads like a person's name is refused: staff are named by their ids,
    patients never."""
    if value is not None and NAME_LIKE.search(value):
        raise ValueError("looks like a name; names must not be sent here")
    return value


class IncidentIn(BaseModel):
    """What risk management may tell us. Any other field (a patient, a narrative) is refused."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    occurred_at: AwareDatetime
    unit: UnitCode
    event_type: IncidentType
    harm_level: HarmLevel
    staff_ids: list[StaffId] = Field(min_length=1, max_length=500)
    # The incident-report number in the hospital's own system, never a person.
    reporter_ref: str | None = Field(default=None, max_length=32)
    incident_key: str | None = Field(
        default=None, min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$"
    )

    @field_validator("unit")
    @classmethod
    def _no_phi(cls, v: str) -> str:
        # Checked against the directory too (report); this keeps PHI out of the refusal path.
        return str(refuse_phi(v))

    @field_validator("reporter_ref")
    @classmethod
    def _report_number(cls, v: str | None) -> str | None:
        """A report number, not a name: 'Jane Smith' was accepted and stored before."""
        v = refuse_phi(refuse_names(v))
        if v is not None and not REPORTER_REF.match(v):
            raise ValueError(
                "must be the incident-report number: an upper-case prefix, digits and dashes "
                "(e.g. IR-2026-0412)"
            )
        return v

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
        t = clock.now()
        if v > t + timedelta(minutes=5):
            raise ValueError("is in the future")
        if v < t - timedelta(days=366):
            raise ValueError("is more than a year ago; log older events with the programme")
        return v

    def fingerprint(self) -> str:
        body = self.model_dump_json(exclude={"incident_key"})
        return hashlib.sha256(body.encode()).hexdigest()


class NotInDirectory(ValueError):
    """A field names something the directory does not hold; `field` is the one to fix."""

    field: str


class UnknownStaff(NotInDirectory):
    field = "staff_ids"

    def __init__(self, staff_ids: list[str], positions: list[int] | None = None) -> None:
        super().__init__(f"unknown staff ids: {', '.join(staff_ids)}")
        self.staff_ids = staff_ids
        self.positions = positions or []

    def public(self) -> str:
        """For an HTTP answer: where, never what (the refused text may be anything)."""
        where = ", ".join(f"staff_ids[{i}]" for i in self.positions)
        return f"not active staff of the directory: {where}"


class UnknownUnit(NotInDirectory):
    field = "unit"

    def __init__(self) -> None:
        super().__init__("unit: not a unit of the directory")

    def public(self) -> str:
        return "not a unit of the directory"


class KeyReused(ValueError):
    """The same incident key came with a different incident: a client bug, not a retry."""


@dataclass(frozen=True)
class Accepted:
    incident_id: uuid.UUID
    created: bool  # False: an idempotent retry found the incident already stored


async def report(
    session: AsyncSession, incident: IncidentIn, reported_by: str | None = None
) -> Accepted:
    """Store the incident and its IncidentReported event in the caller's transaction.
    `reported_by` ("user:<id>" or "token:<id>") is kept apart from the request's
    fingerprint: the same report retried by another integration is still the same report."""
    # The directory checks in one round trip, the incident and its event in another: at a
    # burst of hundreds of reports a second, each statement is a noticeable share of a
    # request's cost (this was five statements and an ORM flush).
    unit_known, known = (
        await session.execute(
            text(
                "SELECT EXISTS (SELECT 1 FROM units WHERE code = :unit), "
                "ARRAY(SELECT staff_id FROM staff WHERE staff_id = ANY(:ids) AND active)"
            ),
            {"unit": incident.unit, "ids": incident.staff_ids},
        )
    ).one()
    if not unit_known:
        raise UnknownUnit()
    unknown = [i for i, s in enumerate(incident.staff_ids) if s not in set(known)]
    if unknown:
        raise UnknownStaff(sorted({incident.staff_ids[i] for i in unknown}), unknown)
    fingerprint = incident.fingerprint()
    new_id = uuid.uuid4()
    event = IncidentReported(
        incident_id=new_id,
        incident_key=incident.incident_key,
        occurred_at=incident.occurred_at,
        unit=incident.unit,
        event_type=incident.event_type,
        harm_level=incident.harm_level,
        staff_ids=incident.staff_ids,
        reporter_ref=incident.reporter_ref,
    )
    inserted = await session.scalar(
        text(
            "WITH inc AS ("
            "INSERT INTO incidents (id, incident_key, request_hash, occurred_at, unit, "
            "event_type, harm_level, staff_ids, reporter_ref, reported_by) "
            "VALUES (:id, :key, :hash, :at, :unit, :type, :harm, :staff, :ref, :by) "
            "ON CONFLICT (incident_key) DO NOTHING RETURNING id), "
            "event AS (INSERT INTO outbox (topic, key, payload) "
            "SELECT :topic, :event_key, CAST(:payload AS jsonb) FROM inc RETURNING id), "
            "woken AS (SELECT pg_notify(:channel, '') FROM event) "
            "SELECT (SELECT id FROM inc) WHERE (SELECT count(*) FROM woken) >= 0"
        ),
        {
            "id": new_id,
            "key": incident.incident_key,
            "hash": fingerprint,
            "at": incident.occurred_at,
            "unit": incident.unit,
            "type": incident.event_type.value,
            "harm": incident.harm_level.value,
            "staff": incident.staff_ids,
            "ref": incident.reporter_ref,
            "by": reported_by,
            "topic": topic_name(IncidentReported),
            "event_key": event.key,
            "payload": event.model_dump_json(),
            "channel": outbox.CHANNEL,
        },
    )
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
    return Accepted(new_id, created=True)
