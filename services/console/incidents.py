"""The risk manager's pages: log an incident, confirm who was on shift, see that support
was offered.

What a risk manager sees of outreach is the aggregate the API gives (services/incidents/
summary.py): support offered to N, a group debrief proposed or not. Never who accepted,
deferred or declined, a peer, a case state or a reply: peer support is kept apart from the
safety investigation (domain.md), and risk management runs the investigation.

Whose incidents: a risk manager sees the incidents they logged themselves, and another
manager's incident is "not found" (404), exactly like an id that does not exist. Why: the
page's only content beyond the report is who was involved and that support was offered,
which the reporter needs to finish the report (confirm the roster's proposals) and nobody
else needs; colleagues share incident work in the hospital's own incident system, which the
reporter reference points to. A 403 would confirm that an incident exists behind a guessed
or forwarded link, which is itself a fact about a colleague's event. If a team later needs a
shared queue (cover during leave), that is a site-scoped rule to add here, in one place.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.events import HarmLevel, IncidentType
from services import clock
from services.console.pages import PREFIX, render
from services.db import transaction
from services.identity import audit
from services.identity.deps import page_role
from services.identity.models import Role
from services.identity.principal import Principal
from services.incidents import involvement
from services.incidents.models import Incident
from services.incidents.service import (
    IncidentIn,
    KeyReused,
    UnknownStaff,
    UnknownUnit,
    report,
)
from services.incidents.summary import summaries, summary
from services.people.models import Staff, Unit

router = APIRouter(prefix=f"{PREFIX}/incidents")
risk_manager = page_role(Role.risk_manager)

PAGE_SIZE = 20
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
FIELDS = ("unit", "event_type", "harm_level", "occurred_at", "staff_ids", "reporter_ref")


def reported_by(who: Principal) -> str:
    return f"user:{who.id}"


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


async def _staff_picker(
    session: AsyncSession, who: Principal, q: str, picked: list[str]
) -> dict[str, object]:
    """The picked people first (checked), then matches (unchecked): a new search never drops
    someone already picked. Listing people is a view of people, so it is audited (ids only;
    the search text may be a name and stays out of the log)."""
    chosen = await staff_choices(session, picked)
    matches = await search_staff(session, q, picked)
    shown = [c.staff_id for c in [*chosen, *matches]]
    if q.strip() or shown:
        await audit.record(
            session, who, "staff.search", "staff", "directory", {"shown": shown[:50]}
        )
    return {"chosen": chosen, "matches": matches, "q": q}


async def _form_page(
    request: Request, who: Principal, form: IncidentForm, status_code: int = 200
) -> HTMLResponse:
    if not form.incident_key:
        # One key per form: a double-clicked submit finds the incident the first one made.
        form.incident_key = str(uuid.uuid4())
    async with transaction() as session:
        units = await active_units(session)
        picker = await _staff_picker(session, who, form.q, form.staff_ids)
    return render(
        request,
        who,
        "incidents/new.html",
        status_code=status_code,
        form=form,
        units=units,
        event_types=EVENT_TYPES,
        harm_levels=HARM_LEVELS,
        max_time=local_input(clock.now(), who.time_zone),
        **picker,
    )


@router.get("/new")
async def new_incident(
    request: Request,
    who: Principal = Depends(risk_manager),
    unit: str = Query(default="", max_length=64),
    event_type: str = Query(default="", max_length=64),
    harm_level: str = Query(default="", max_length=32),
    occurred_at: str = Query(default="", max_length=32),
    staff_ids: list[str] | None = Query(default=None, max_length=500),
    reporter_ref: str = Query(default="", max_length=64),
    incident_key: str = Query(default="", max_length=64),
    q: str = Query(default="", max_length=80),
) -> Response:
    """The form; also its no-JavaScript search (the Search button submits here by GET, with
    everything typed so far, and the form comes back with the matches)."""
    form = IncidentForm(
        unit=unit,
        event_type=event_type,
        harm_level=harm_level,
        occurred_at=occurred_at or local_input(clock.now(), who.time_zone),
        staff_ids=list(dict.fromkeys(staff_ids or [])),
        reporter_ref=reporter_ref,
        incident_key=incident_key,
        q=q,
    )
    return await _form_page(request, who, form)


@router.get("/staff")
async def staff_search(
    request: Request,
    who: Principal = Depends(risk_manager),
    q: str = Query(default="", max_length=80),
    staff_ids: list[str] | None = Query(default=None, max_length=500),
) -> Response:
    """The htmx fragment behind the search box."""
    async with transaction() as session:
        picker = await _staff_picker(session, who, q, list(dict.fromkeys(staff_ids or [])))
    return render(request, who, "incidents/_staff.html", **picker)


@router.post("/new")
async def log_incident(
    request: Request,
    who: Principal = Depends(risk_manager),
    unit: str = Form(default="", max_length=64),
    event_type: str = Form(default="", max_length=64),
    harm_level: str = Form(default="", max_length=32),
    occurred_at: str = Form(default="", max_length=32),
    staff_ids: Annotated[list[str] | None, Form(max_length=500)] = None,
    reporter_ref: str = Form(default="", max_length=64),
    incident_key: str = Form(default="", max_length=64),
    q: str = Form(default="", max_length=80),
) -> Response:
    """Through report(), the API's own path: the same checks, the same event, one store."""
    form = IncidentForm(
        unit=unit,
        event_type=event_type,
        harm_level=harm_level,
        occurred_at=occurred_at,
        staff_ids=list(dict.fromkeys(s.strip() for s in staff_ids or [] if s.strip())),
        reporter_ref=reporter_ref.strip(),
        incident_key=incident_key,
        q=q,
    )
    incident = validate(form, who.time_zone)
    if incident is None:
        return await _form_page(request, who, form, status_code=422)
    try:
        async with transaction() as session:
            accepted = await report(session, incident, reported_by=reported_by(who))
            await audit.record(
                session,
                who,
                "incident.log" if accepted.created else "incident.log_replayed",
                "incident",
                str(accepted.incident_id),
                {"staff": len(incident.staff_ids)},
            )
    except UnknownStaff as exc:
        names = {c.staff_id: c.name for c in await _choices(form.staff_ids)}
        who_not = ", ".join(names.get(s, s) for s in exc.staff_ids)
        form.errors["staff_ids"] = f"Not active in the directory: {who_not}. Remove and re-pick."
        return await _form_page(request, who, form, status_code=422)
    except UnknownUnit:
        form.errors["unit"] = "This unit is no longer in the directory. Choose another."
        return await _form_page(request, who, form, status_code=422)
    except KeyReused:
        form.incident_key = ""
        form.errors["form"] = (
            "This form was already used for another incident. Check the details and submit "
            "again to log a new one."
        )
        return await _form_page(request, who, form, status_code=409)
    return RedirectResponse(f"{PREFIX}/incidents/{accepted.incident_id}?logged=1", status_code=303)


async def _choices(staff_ids: list[str]) -> list[StaffChoice]:
    async with transaction() as session:
        return await staff_choices(session, staff_ids)


@router.get("")
async def my_incidents(
    request: Request,
    who: Principal = Depends(risk_manager),
    page: int = Query(default=1, ge=1, le=10_000),
) -> Response:
    """The manager's own incidents, newest first, each with the outreach aggregate."""
    async with transaction() as session:
        mine = Incident.reported_by == reported_by(who)
        total = int(await session.scalar(select(func.count()).where(mine)) or 0)
        rows = (
            await session.scalars(
                select(Incident)
                .where(mine)
                .order_by(Incident.received_at.desc(), Incident.id.desc())
                .offset((page - 1) * PAGE_SIZE)
                .limit(PAGE_SIZE)
            )
        ).all()
        sums = await summaries(session, rows)
        units = dict((await session.execute(select(Unit.code, Unit.name))).all())
        await audit.record(
            session,
            who,
            "incident.list",
            "incident",
            "mine",
            {"page": page, "shown": [str(i.id) for i in rows]},
        )
    pages = max(1, -(-total // PAGE_SIZE))
    return render(
        request,
        who,
        "incidents/list.html",
        incidents=[(i, sums[i.id]) for i in rows],
        units=units,
        label=label,
        page=page,
        pages=pages,
        total=total,
    )


async def _own_incident(session: AsyncSession, who: Principal, incident_id: uuid.UUID) -> Incident:
    incident = await session.get(Incident, incident_id)
    if incident is None or incident.reported_by != reported_by(who):
        raise NotYours()
    return incident


class NotYours(LookupError):
    """Not found, whether it does not exist or another manager logged it (see the top)."""


def not_found(request: Request, who: Principal) -> HTMLResponse:
    return render(
        request,
        who,
        "error.html",
        status_code=404,
        heading="Incident not found",
        message="There is no incident at this address among the incidents you logged.",
        home=f"{PREFIX}/incidents",
    )


async def _involvement_context(session: AsyncSession, incident: Incident) -> dict[str, object]:
    rows = await involvement.listing(session, incident.id)
    return {"incident": incident, "involved": rows, "summary": await summary(session, incident)}


@router.get("/{incident_id}")
async def one_incident(
    request: Request,
    incident_id: uuid.UUID,
    who: Principal = Depends(risk_manager),
    logged: int = Query(default=0, ge=0, le=1),
) -> Response:
    async with transaction() as session:
        try:
            incident = await _own_incident(session, who, incident_id)
        except NotYours:
            return not_found(request, who)
        ctx = await _involvement_context(session, incident)
        unit = await session.get(Unit, incident.unit)
        await audit.record(session, who, "incident.view", "incident", str(incident.id))
    return render(
        request,
        who,
        "incidents/show.html",
        unit_name=unit.name if unit else incident.unit,
        label=label,
        logged=bool(logged),
        message=None,
        **ctx,
    )


@router.get("/{incident_id}/involvement")
async def involvement_fragment(
    request: Request, incident_id: uuid.UUID, who: Principal = Depends(risk_manager)
) -> Response:
    """The htmx refresh of who was involved, while the roster's proposals are on their way."""
    async with transaction() as session:
        try:
            incident = await _own_incident(session, who, incident_id)
        except NotYours:
            return not_found(request, who)
        ctx = await _involvement_context(session, incident)
        await audit.record(session, who, "incident.view", "incident", str(incident.id))
    return render(request, who, "incidents/_involvement.html", message=None, **ctx)


@router.post("/{incident_id}/involvement/{staff_id}")
async def decide(
    request: Request,
    incident_id: uuid.UUID,
    staff_id: str,
    who: Principal = Depends(risk_manager),
    decision: str = Form(max_length=8),
) -> Response:
    """Confirm (support is offered to them) or remove (never contacted) one proposal."""
    if decision not in ("confirm", "remove"):
        return not_found(request, who)
    message: str | None = None
    async with transaction() as session:
        try:
            incident = await _own_incident(session, who, incident_id)
            result = await involvement.decide(session, incident.id, staff_id, decision == "confirm")
            await audit.record(
                session,
                who,
                f"involvement.{decision}",
                "incident",
                str(incident.id),
                {"staff_id": staff_id, "changed": result.changed},
            )
        except (NotYours, involvement.NotProposed):
            return not_found(request, who)
        except ValueError:
            message = "Already confirmed: support is being offered, so they cannot be removed."
        if not request.headers.get("hx-request") and message is None:
            return RedirectResponse(
                f"{PREFIX}/incidents/{incident.id}#involvement", status_code=303
            )
        ctx = await _involvement_context(session, incident)
        unit = await session.get(Unit, incident.unit)
    if request.headers.get("hx-request"):
        return render(request, who, "incidents/_involvement.html", message=message, **ctx)
    return render(
        request,
        who,
        "incidents/show.html",
        status_code=409,
        unit_name=unit.name if unit else incident.unit,
        label=label,
        logged=False,
        message=message,
        **ctx,
    )
