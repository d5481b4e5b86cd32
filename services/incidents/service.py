"""Logging an incident: validate, store with its event, answer only once it cannot be lost.

The HTTP route and the CLI both call `report`, so the two paths cannot drift apart.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.events import HarmLevel, IncidentReported, IncidentType, StaffId, UnitCode
from schemas.topics import topic_name
from services import clock, outbox
from services.db import array_literal
from services.identity.principal import Principal

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

    def reported(self, incident_id: uuid.UUID) -> IncidentReported:
        """The event this report becomes once stored under `incident_id`."""
        return IncidentReported(
            incident_id=incident_id,
            incident_key=self.incident_key,
            occurred_at=self.occurred_at,
            unit=self.unit,
            event_type=self.event_type,
            harm_level=self.harm_level,
            staff_ids=self.staff_ids,
            reporter_ref=self.reporter_ref,
        )


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


# The directory checks, the incident, its event, the wake-up of the relays and (for an API
# call) its audit row, in one statement: one round trip, atomic on its own, so the API runs
# it in autocommit without BEGIN and COMMIT (services.db.RawPool), and the CLI and the
# console in their transactions. Nothing is written unless the unit and every staff id are
# in the directory; the audit row is written with the incident, or with a replay of it
# (the same key and the same request), never for a refusal.
REPORT = (
    "WITH dir AS (SELECT EXISTS (SELECT 1 FROM units WHERE code = %(unit)s) AS unit_known, "
    "ARRAY(SELECT staff_id FROM staff WHERE staff_id = ANY(%(staff)s) AND active) AS known), "
    "ok AS (SELECT 1 FROM dir WHERE unit_known AND cardinality(known) = %(n_staff)s), "
    "prior AS (SELECT id, request_hash FROM incidents WHERE incident_key = %(key)s), "
    "inc AS (INSERT INTO incidents (id, incident_key, request_hash, occurred_at, unit, "
    "event_type, harm_level, staff_ids, reporter_ref, reported_by) "
    "SELECT %(id)s, %(key)s, %(hash)s, %(at)s, %(unit)s, %(type)s, %(harm)s, %(staff)s, "
    "%(ref)s, %(by)s FROM ok "
    "ON CONFLICT (incident_key) DO NOTHING RETURNING id), "
    "event AS (INSERT INTO outbox (topic, key, payload) "
    "SELECT %(topic)s, %(event_key)s, CAST(%(payload)s AS jsonb) FROM inc RETURNING id), "
    "woken AS (SELECT pg_notify(%(channel)s, %(urgent)s) FROM event), "
    "audited AS (INSERT INTO audit_log (actor_kind, actor_id, actor_name, actor_role, "
    "action, target_kind, target_id, ip, detail) "
    "SELECT %(a_kind)s, %(a_id)s, %(a_name)s, %(a_role)s, %(a_action)s, 'route', "
    "%(a_target)s, %(a_ip)s, '{}'::jsonb FROM ok WHERE %(audit)s AND (EXISTS (SELECT 1 FROM inc) "
    "OR EXISTS (SELECT 1 FROM prior WHERE request_hash = %(hash)s)) RETURNING 1) "
    "SELECT dir.unit_known, dir.known, (SELECT id FROM inc), "
    "(SELECT id FROM prior), (SELECT request_hash FROM prior), "
    "(SELECT count(*) FROM woken) + (SELECT count(*) FROM audited) FROM dir"
)


@dataclass(frozen=True)
class ApiCall:
    """An API call's audit row (services.identity.audit), written with the incident."""

    who: Principal
    action: str
    target: str = "-"


def report_statement(
    incident: IncidentIn, reported_by: str | None, audit: ApiCall | None = None
) -> dict[str, object]:
    """The parameters of REPORT for this incident."""
    new_id = uuid.uuid4()
    event = incident.reported(new_id)
    who = audit.who if audit else None
    return {
        "id": new_id,
        "key": incident.incident_key,
        "hash": incident.fingerprint(),
        "at": incident.occurred_at,
        "unit": incident.unit,
        "type": incident.event_type.value,
        "harm": incident.harm_level.value,
        "staff": array_literal(incident.staff_ids),
        "n_staff": len(incident.staff_ids),
        "ref": incident.reporter_ref,
        "by": reported_by,
        "topic": topic_name(IncidentReported),
        "event_key": event.key,
        "payload": event.model_dump_json(),
        "channel": outbox.CHANNEL,
        "urgent": outbox.URGENT,
        "audit": audit is not None,
        "a_kind": who.kind if who else None,
        "a_id": str(who.id) if who else None,
        "a_name": who.name if who else None,
        "a_role": who.role.value if who else None,
        "a_action": audit.action[:64] if audit else None,
        "a_target": audit.target[:64] if audit else None,
        "a_ip": who.ip if who else None,
    }


def reported(
    incident: IncidentIn, params: dict[str, object], row: Sequence[Any]
) -> Accepted | None:
    """What REPORT's row says: accepted, or a refusal raised; None when a concurrent report
    with the same key committed during the statement (the caller looks again)."""
    unit_known, known, inserted, prior_id, prior_hash, _ = row
    if not unit_known:
        raise UnknownUnit()
    held = set(known)
    unknown = [i for i, s in enumerate(incident.staff_ids) if s not in held]
    if unknown:
        raise UnknownStaff(sorted({incident.staff_ids[i] for i in unknown}), unknown)
    if inserted is not None:
        return Accepted(inserted, created=True)
    if prior_id is None:
        return None
    if prior_hash != params["hash"]:
        raise KeyReused("this incident_key was already used for a different incident")
    return Accepted(prior_id, created=False)


async def report(
    session: AsyncSession,
    incident: IncidentIn,
    reported_by: str | None = None,
    audit: ApiCall | None = None,
) -> Accepted:
    """Store the incident and its IncidentReported event in the caller's transaction.
    `reported_by` ("user:<id>" or "token:<id>") is kept apart from the request's
    fingerprint: the same report retried by another integration is still the same report."""
    params = report_statement(incident, reported_by, audit)
    conn = await session.connection()
    row = (await conn.exec_driver_sql(REPORT, params)).one()
    accepted = reported(incident, params, row)
    if accepted is None:
        # The key's first report committed while this statement ran: it is visible now.
        row = (await conn.exec_driver_sql(REPORT, params)).one()
        accepted = reported(incident, params, row)
    if accepted is None:
        raise AssertionError("an incident key that conflicts is visible once committed")
    return accepted
