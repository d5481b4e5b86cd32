"""The coordinator's programme pages: who is on call and where coverage is thin, schedules
with their rotations and overrides.

Every rule comes from the services the API uses (services.schedules for resolution
and validation, services.people.matching for load and who may be paged,
services.schedules.coverage for gaps): these pages only read forms and show answers, so a
page and the API can never disagree. Every view and every change writes an audit row in the
same transaction.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from services import clock
from services.console.pages import PREFIX, render
from services.db import transaction
from services.identity import audit
from services.identity.deps import page_role
from services.identity.models import Role
from services.identity.principal import Principal
from services.people.fields import wall_clock
from services.people.matching import load_context
from services.people.roster import list_peers
from services.schedules import admin, service
from services.schedules.admin import Invalid, NotFound, ScheduleError
from services.schedules.coverage import Gap, gaps, programme_disciplines
from services.schedules.inputs import OverrideIn, RotationsIn, ScheduleIn
from services.schedules.rules import zone_of

router = APIRouter(prefix=PREFIX)
Coordinator = Annotated[Principal, Depends(page_role(Role.coordinator))]

GAP_WINDOW = timedelta(hours=24)
# How far ahead "next" looks: a weekly rotation's next hand-off is up to 7 days away.
NEXT_WINDOW = timedelta(days=7)
EXPIRING = timedelta(days=30)
_SPLIT = re.compile(r"[\s,;]+")


# --------------------------------------------------------------------------- form helpers


def text(form: FormData, name: str, limit: int = 200) -> str:
    """A form field as stripped text; longer input is cut, then refused by the model."""
    value = form.get(name)
    return value.strip()[: limit + 1] if isinstance(value, str) else ""


def ids(value: str) -> list[str]:
    return [v for v in _SPLIT.split(value) if v]


def pydantic_fields(exc: ValidationError, prefix: tuple[object, ...] = ()) -> dict[str, str]:
    """Pydantic's refusals keyed by dotted field path (prefix removed), first one per field,
    in words a coordinator reads ("Value error, " dropped)."""
    out: dict[str, str] = {}
    for err in exc.errors():
        loc = tuple(err["loc"])
        if loc[: len(prefix)] == prefix:
            loc = loc[len(prefix) :]
        key = ".".join(str(p) for p in loc)
        out.setdefault(key, str(err["msg"]).removeprefix("Value error, "))
    return out


def wall_input(value: datetime, zone: str) -> str:
    """A datetime-local input's value: the instant on the viewer's wall clock."""
    return value.astimezone(zone_of(zone)).strftime("%Y-%m-%dT%H:%M")


def from_wall(value: str, zone: str, field: str) -> datetime:
    """A datetime-local value read in the viewer's zone; a time the clocks skip or repeat is
    refused with the reason (fields.wall_clock), never guessed."""
    if not value:
        raise ValueError("required")
    return wall_clock(value, zone_of(zone), zone, field)


# --------------------------------------------------------------------------- on call


@dataclass(frozen=True)
class Person:
    staff_id: str
    name: str
    starts_at: datetime
    ends_at: datetime
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class Training:
    expired: bool
    expiring: bool


def training_state(trained_until: date, at: datetime) -> Training:
    """Against the UTC date of `at`, as matching counts it."""
    today = at.date()
    return Training(trained_until < today, trained_until < (at + EXPIRING).date())


@router.get("/on-call", response_class=HTMLResponse)
async def on_call_page(
    request: Request,
    who: Coordinator,
    start: str | None = Query(None, alias="from", max_length=32),
) -> Response:
    """Who is on call now and next per schedule, each peer's load and training, and where
    the next 24 hours have a discipline nobody on call can support. `from` (the viewer's
    wall clock) looks ahead: the same page for next weekend."""
    at = clock.now()
    error = None
    if start:
        try:
            at = from_wall(start, who.time_zone, "from")
        except ValueError as exc:
            error = str(exc)
    async with transaction() as session:
        ctx = await load_context(session, at, "off")
        roster = await list_peers(session)
        spans = await service.shifts_of_all(session, at, at + NEXT_WINDOW)
        disciplines = await programme_disciplines(session, roster)
        await audit.record(session, who, "on_call.view", "schedules", "all", {"at": at.isoformat()})
    eligible = {p.staff_id: p for p in ctx.peers}
    peers = {p.staff_id: p for p in roster}
    found = gaps(
        (s for _, shifts in spans for s in shifts), eligible, disciplines, at, at + GAP_WINDOW
    )

    def person(staff_id: str, starts_at: datetime, ends_at: datetime) -> Person:
        peer = peers.get(staff_id)
        warnings: list[str] = []
        if peer is None:
            warnings.append("not a peer supporter")
        else:
            if peer.status == "paused":
                warnings.append("paused")
            if training_state(peer.trained_until, at).expired:
                warnings.append("training expired")
            if staff_id in eligible and eligible[staff_id].unreachable:
                warnings.append(f"cannot be texted ({eligible[staff_id].unreachable})")
            if ctx.open_cases.get(staff_id, 0) >= peer.max_open_cases:
                warnings.append("at their case limit")
        return Person(
            staff_id, peer.display_name if peer else staff_id, starts_at, ends_at, tuple(warnings)
        )

    schedules = []
    for loaded, shifts in spans:
        now = [person(s.staff_id, s.starts_at, s.ends_at) for s in shifts if s.starts_at == at]
        later = [s.starts_at for s in shifts if s.starts_at > at]
        first = min(later) if later else None
        upcoming = [
            person(s.staff_id, s.starts_at, s.ends_at) for s in shifts if s.starts_at == first
        ]
        schedules.append(
            {"id": loaded.schedule_id, "name": loaded.spec.name, "now": now, "next": upcoming}
        )
    return render(
        request,
        who,
        "programme/on_call.html",
        at=at,
        from_value=wall_input(at, who.time_zone) if start and not error else "",
        error=error,
        schedules=schedules,
        horizon=at + NEXT_WINDOW,
        gaps=found,
        roster=sorted(roster, key=lambda p: (p.status == "paused", p.display_name)),
        training={p.staff_id: training_state(p.trained_until, at) for p in roster},
        loads=ctx.open_cases,
        paused=[p for p in roster if p.status == "paused"],
        gap_label=gap_label,
    )


def gap_label(gap: Gap) -> str:
    return gap.discipline.replace("_", " ")


# --------------------------------------------------------------------------- schedules


@router.get("/schedules", response_class=HTMLResponse)
async def schedules_page(request: Request, who: Coordinator) -> Response:
    async with transaction() as session:
        found = await admin.list_schedules(session)
        await audit.record(session, who, "schedules.view", "schedules", "all")
    return render(request, who, "programme/schedules.html", schedules=found, form={}, errors={})


@router.post("/schedules", response_class=HTMLResponse)
async def create_schedule(request: Request, who: Coordinator) -> Response:
    form = await request.form()
    values = {"name": text(form, "name", 80), "time_zone": text(form, "time_zone", 64)}
    errors: dict[str, str] = {}
    try:
        data = ScheduleIn.model_validate(values)
        async with transaction() as session:
            made = await admin.create_schedule(session, data)
            await audit.record(session, who, "schedule.created", "schedule", str(made["id"]))
        return RedirectResponse(f"{PREFIX}/schedules/{made['id']}", status_code=303)
    except ValidationError as exc:
        errors = pydantic_fields(exc)
    except ScheduleError as exc:
        errors = exc.fields
    async with transaction() as session:
        found = await admin.list_schedules(session)
    return render(
        request,
        who,
        "programme/schedules.html",
        status_code=422,
        schedules=found,
        form=values,
        errors=errors,
    )


def rotation_rows(view: dict[str, object]) -> list[dict[str, str]]:
    """A schedule's rotations as the form shows them."""
    rows = []
    for r in view["rotations"]:  # type: ignore[attr-defined]
        rows.append(
            {
                "name": r["name"],
                "kind": r["kind"],
                "hours": str(r["shift_hours"]),
                "start": r["start_local"][:16],
                "people": ", ".join(p["staff_id"] for p in r["participants"]),
                "remove": "",
            }
        )
    return rows


async def _schedule_page(
    request: Request,
    who: Principal,
    schedule_id: uuid.UUID,
    *,
    status_code: int = 200,
    rows: list[dict[str, str]] | None = None,
    rotation_errors: dict[str, str] | None = None,
    override: dict[str, str] | None = None,
    override_errors: dict[str, str] | None = None,
    notice: str | None = None,
    warnings: list[str] | None = None,
) -> Response:
    """The schedule with its coming week, rotations (refilled from a refused form when there
    is one) and overrides; the view is audited with the read."""
    now = clock.now()
    async with transaction() as session:
        try:
            view = await admin.get_schedule(session, schedule_id)
        except NotFound:
            return render(
                request,
                who,
                "error.html",
                status_code=404,
                heading="No such schedule",
                message="It may have been removed.",
                home=f"{PREFIX}/schedules",
            )
        coming = await admin.shifts_view(session, schedule_id, now, now + NEXT_WINDOW)
        roster = await list_peers(session)
        await audit.record(session, who, "schedule.view", "schedule", str(schedule_id))
    names = {p.staff_id: p.display_name for p in roster}
    form_rows = rows if rows is not None else rotation_rows(view)
    return render(
        request,
        who,
        "programme/schedule.html",
        status_code=status_code,
        schedule=view,
        shifts=coming["shifts"],
        rows=[*form_rows, {"name": "", "kind": "daily", "hours": "", "start": "", "people": ""}],
        rotation_errors=rotation_errors or {},
        override=override or {},
        override_errors=override_errors or {},
        names=names,
        roster=[p for p in roster if p.staff_active],
        notice=notice,
        warnings=warnings or [],
        parse=datetime.fromisoformat,
    )


@router.get("/schedules/{schedule_id}", response_class=HTMLResponse)
async def schedule_page(request: Request, who: Coordinator, schedule_id: uuid.UUID) -> Response:
    return await _schedule_page(request, who, schedule_id)


def read_rotation_rows(form: FormData) -> list[dict[str, str]]:
    count = min(int(text(form, "rows", 3) or 0) if text(form, "rows", 3).isdigit() else 0, 51)
    rows = []
    for i in range(count):
        row = {
            "name": text(form, f"r{i}_name", 80),
            "kind": text(form, f"r{i}_kind", 8),
            "hours": text(form, f"r{i}_hours", 6),
            "start": text(form, f"r{i}_start", 32),
            "people": text(form, f"r{i}_people", 8000),
            "remove": text(form, f"r{i}_remove", 3),
        }
        rows.append(row)
    return rows


def _blank(row: dict[str, str]) -> bool:
    return not (row["name"] or row["hours"] or row["start"] or row["people"])


@router.post("/schedules/{schedule_id}/rotations", response_class=HTMLResponse)
async def save_rotations(request: Request, who: Coordinator, schedule_id: uuid.UUID) -> Response:
    """The whole set replaced, as PUT /admin/schedules/{id}/rotations: the same model and the
    same service call, each refusal shown beside the field it is about."""
    rows = read_rotation_rows(await request.form())
    kept = [i for i, r in enumerate(rows) if not r["remove"] and not _blank(r)]
    body = {
        "rotations": [
            {
                "name": rows[i]["name"],
                "kind": rows[i]["kind"],
                "shift_hours": rows[i]["hours"] or None,
                "start_local": rows[i]["start"],
                "participants": ids(rows[i]["people"]),
            }
            for i in kept
        ]
    }
    errors: dict[str, str] = {}
    try:
        data = RotationsIn.model_validate(body)
        async with transaction() as session:
            saved = await admin.replace_rotations(session, schedule_id, data)
            await audit.record(
                session,
                who,
                "schedule.rotations_replaced",
                "schedule",
                str(schedule_id),
                {"rotations": len(data.rotations)},
            )
    except ValidationError as exc:
        errors = pydantic_fields(exc, ("rotations",))
    except Invalid as exc:
        errors = {k.removeprefix("rotations."): v for k, v in exc.fields.items()}
    except NotFound:
        return await _schedule_page(request, who, schedule_id)
    if errors:
        return await _schedule_page(
            request,
            who,
            schedule_id,
            status_code=422,
            rows=rows,
            rotation_errors=_by_row(errors, kept),
        )
    return await _schedule_page(
        request,
        who,
        schedule_id,
        notice="Rotations saved.",
        warnings=list(saved["warnings"]),  # type: ignore[call-overload]
    )


# A rotation's model-level check is about its shift length; show it beside that field.
_ROW_FIELD = {"": "hours", "shift_hours": "hours", "start_local": "start", "participants": "people"}


def _by_row(errors: dict[str, str], kept: list[int]) -> dict[str, str]:
    """Errors keyed "<form row>.<form field>" (the model counts kept rows only), or "all"."""
    out: dict[str, str] = {}
    for key, message in errors.items():
        head, _, rest = key.partition(".")
        if not head.isdigit() or int(head) >= len(kept):
            out.setdefault("all", message)
            continue
        field = rest.split(".", 1)[0]
        out.setdefault(f"{kept[int(head)]}.{_ROW_FIELD.get(field, field)}", message)
    return out


def _override_errors(errors: dict[str, str]) -> dict[str, str]:
    """The override model's own checks name no field; place each beside the one it is about."""
    out: dict[str, str] = {}
    for key, message in errors.items():
        if key:
            out.setdefault(key, message)
        elif "same person" in message or "name add_staff_id" in message:
            out.setdefault("add_staff_id", message)
        else:
            out.setdefault("ends_at", message)
    return out


@router.post("/schedules/{schedule_id}/overrides", response_class=HTMLResponse)
async def add_override(request: Request, who: Coordinator, schedule_id: uuid.UUID) -> Response:
    """Who covers whom, from-to on the viewer's wall clock; checked by the API's model and
    service, so an override made here is what paging and /admin/schedules/on-call see."""
    form = await request.form()
    values = {
        "add_staff_id": text(form, "add_staff_id", 32),
        "remove_staff_id": text(form, "remove_staff_id", 32),
        "starts_at": text(form, "starts_at", 32),
        "ends_at": text(form, "ends_at", 32),
    }
    errors: dict[str, str] = {}
    times: dict[str, datetime] = {}
    for name in ("starts_at", "ends_at"):
        try:
            times[name] = from_wall(values[name], who.time_zone, name)
        except ValueError as exc:
            errors[name] = str(exc)
    if not errors:
        try:
            data = OverrideIn.model_validate(
                {
                    **times,
                    "add_staff_id": values["add_staff_id"] or None,
                    "remove_staff_id": values["remove_staff_id"] or None,
                }
            )
            async with transaction() as session:
                made = await admin.add_override(session, schedule_id, data)
                await audit.record(
                    session,
                    who,
                    "schedule.override_added",
                    "schedule",
                    str(schedule_id),
                    {
                        "override_id": made["id"],
                        "add": data.add_staff_id,
                        "remove": data.remove_staff_id,
                    },
                )
            return await _schedule_page(
                request,
                who,
                schedule_id,
                notice="Override added.",
                warnings=list(made["warnings"]),  # type: ignore[call-overload]
            )
        except ValidationError as exc:
            errors = _override_errors(pydantic_fields(exc))
        except Invalid as exc:
            errors = _override_errors(exc.fields)
        except NotFound:
            return await _schedule_page(request, who, schedule_id)
    return await _schedule_page(
        request,
        who,
        schedule_id,
        status_code=422,
        override=values,
        override_errors=errors,
    )


@router.post("/schedules/{schedule_id}/overrides/{override_id}/delete", response_class=HTMLResponse)
async def delete_override(
    request: Request, who: Coordinator, schedule_id: uuid.UUID, override_id: uuid.UUID
) -> Response:
    try:
        async with transaction() as session:
            await admin.delete_override(session, schedule_id, override_id)
            await audit.record(
                session,
                who,
                "schedule.override_deleted",
                "schedule",
                str(schedule_id),
                {"override_id": str(override_id)},
            )
    except NotFound:
        return await _schedule_page(
            request, who, schedule_id, status_code=404, notice="That override was already gone."
        )
    return await _schedule_page(request, who, schedule_id, notice="Override removed.")
