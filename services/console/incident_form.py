"""The incident form's parts: what the risk manager typed, its checks in the form's words,
and the staff picker over the directory. The pages themselves are in incidents.py.

Why apart: the form is read as one thing (what a field is called, what a refusal says,
which people a search may show, never a phone number), and it is tested without a browser.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from pydantic_core import ErrorDetails
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.events import HarmLevel, IncidentType
from services.incidents.service import IncidentIn
from services.people.models import Staff, Unit

SEARCH_LIMIT = 20

# What each field is called in a refusal ("The time is in the future.").
SUBJECT = {
    "occurred_at": "The time",
    "unit": "The unit",
    "event_type": "The event type",
    "harm_level": "The harm level",
    "staff_ids": "The list of staff",
    "reporter_ref": "The reference",
}
REQUIRED = {
    "occurred_at": "Enter the date and time it happened.",
    "unit": "Choose the unit.",
    "event_type": "Choose the type of event.",
    "harm_level": "Choose the harm level.",
    "staff_ids": "Pick at least one person who was involved.",
}


def label(code: str) -> str:
    """'failed_resuscitation' -> 'Failed resuscitation': the enum's value, readable."""
    return code.replace("_", " ").capitalize()


EVENT_TYPES = [(t.value, label(t.value)) for t in IncidentType]
HARM_LEVELS = [(h.value, label(h.value)) for h in HarmLevel]


@dataclass
class StaffChoice:
    """A person as the form shows them: name, discipline, unit. Never a phone number."""

    staff_id: str
    name: str
    discipline: str
    unit: str
    active: bool = True


@dataclass
class IncidentForm:
    """What the risk manager typed, kept as typed, so a refusal loses nothing."""

    unit: str = ""
    event_type: str = ""
    harm_level: str = ""
    occurred_at: str = ""
    staff_ids: list[str] = field(default_factory=list)
    reporter_ref: str = ""
    incident_key: str = ""
    q: str = ""
    errors: dict[str, str] = field(default_factory=dict)


def local_input(value: datetime, zone: str) -> str:
    """The value a datetime-local input shows: wall time in the viewer's zone, no offset."""
    return value.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M")


def from_local_input(value: str, zone: str) -> datetime:
    """A datetime-local value read as wall time in the viewer's site zone, returned in UTC.
    A value that already carries an offset is taken as given."""
    parsed = datetime.fromisoformat(value.strip())
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(zone))
    return parsed.astimezone(UTC)


def refusal(field_name: str, err: ErrorDetails) -> str:
    """A sentence for the field, in the form's words; never the refused text itself."""
    kind = err["type"]
    given = err.get("input")
    if kind == "missing" or given in ("", None) or (field_name == "staff_ids" and given == []):
        return REQUIRED.get(field_name, "This is required.")
    if kind in ("enum", "literal_error") or (
        field_name == "unit" and kind == "string_pattern_mismatch"
    ):
        return "Choose one of the listed options."
    if field_name == "staff_ids" and kind == "string_pattern_mismatch":
        return "A person in the list is not a staff id of the directory."
    if field_name == "occurred_at" and kind.startswith("datetime"):
        return REQUIRED["occurred_at"]
    msg = str(err["msg"]).removeprefix("Value error, ")
    return f"{SUBJECT.get(field_name, 'This')} {msg}."


def validate(form: IncidentForm, zone: str) -> IncidentIn | None:
    """IncidentIn, the API's own model, or None with `form.errors` filled per field."""
    data: dict[str, Any] = {
        "unit": form.unit,
        "event_type": form.event_type,
        "harm_level": form.harm_level,
        "staff_ids": form.staff_ids,
        "reporter_ref": form.reporter_ref or None,
        "incident_key": form.incident_key or None,
    }
    parse_error = None
    try:
        data["occurred_at"] = from_local_input(form.occurred_at, zone)
    except ValueError:
        parse_error = REQUIRED["occurred_at"]
        data["occurred_at"] = None
    try:
        incident = IncidentIn.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            name = str(err["loc"][0]) if err["loc"] else "form"
            if name == "incident_key":
                form.incident_key = ""  # a fresh key comes with the re-rendered form
                continue
            form.errors.setdefault(name, refusal(name, err))
        incident = None
    if parse_error:
        form.errors["occurred_at"] = parse_error
        return None
    return incident if not form.errors else None


async def active_units(session: AsyncSession) -> list[tuple[str, str]]:
    rows = await session.execute(
        select(Unit.code, Unit.name).where(Unit.active.is_(True)).order_by(Unit.name)
    )
    return [(code, f"{name} ({code})") for code, name in rows.all()]


async def staff_choices(session: AsyncSession, staff_ids: list[str]) -> list[StaffChoice]:
    """The people already picked, in the order picked (an inactive one is shown as such)."""
    if not staff_ids:
        return []
    rows = await session.execute(
        select(
            Staff.staff_id, Staff.display_name, Staff.discipline, Staff.home_unit, Staff.active
        ).where(Staff.staff_id.in_(staff_ids))
    )
    found = {r.staff_id: r for r in rows.all()}
    chosen = []
    for sid in staff_ids:
        r = found.get(sid)
        if r is None:
            chosen.append(StaffChoice(sid, sid, "not in the directory", "", active=False))
        else:
            chosen.append(StaffChoice(sid, r.display_name, r.discipline, r.home_unit, r.active))
    return chosen


def _like(q: str) -> str:
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def search_staff(session: AsyncSession, q: str, exclude: list[str]) -> list[StaffChoice]:
    """Active staff whose name, unit (code or name) or discipline contains `q`."""
    q = q.strip()
    if len(q) < 2:
        return []
    pattern = _like(q)
    query = (
        select(Staff.staff_id, Staff.display_name, Staff.discipline, Staff.home_unit)
        .join(Unit, Unit.code == Staff.home_unit)
        .where(
            Staff.active.is_(True),
            or_(
                Staff.display_name.ilike(pattern, escape="\\"),
                Staff.discipline.ilike(pattern, escape="\\"),
                Staff.home_unit.ilike(pattern, escape="\\"),
                Unit.name.ilike(pattern, escape="\\"),
            ),
        )
    )
    if exclude:
        query = query.where(Staff.staff_id.not_in(exclude))
    rows = await session.execute(
        query.order_by(Staff.display_name, Staff.staff_id).limit(SEARCH_LIMIT)
    )
    return [StaffChoice(*r) for r in rows.all()]
