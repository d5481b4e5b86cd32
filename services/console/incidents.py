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
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services import clock
from services.console.incident_form import (
    EVENT_TYPES,
    HARM_LEVELS,
    IncidentForm,
    StaffChoice,
    active_units,
    label,
    local_input,
    search_staff,
    staff_choices,
    validate,
)
from services.console.pages import PREFIX, render
from services.db import transaction
from services.identity import audit
from services.identity.deps import page_role
from services.identity.models import Role
from services.identity.principal import Principal
from services.incidents import involvement
from services.incidents.models import Incident
from services.incidents.service import (
    KeyReused,
    UnknownStaff,
    UnknownUnit,
    report,
)
from services.incidents.summary import summaries, summary
from services.people.models import Unit

router = APIRouter(prefix=f"{PREFIX}/incidents")
risk_manager = page_role(Role.risk_manager)

PAGE_SIZE = 20


def reported_by(who: Principal) -> str:
    return f"user:{who.id}"


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
