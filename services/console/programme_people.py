"""The coordinator's roster of peer supporters, escalation policies and group debriefs.

Peers are saved by roster.upsert_peer (the API's PUT /admin/peers/{id}), policies by
cases.policies.save_policy (the API's PUT /admin/escalation-policies/{name}): the page reads
a form into the API's own model, so both refuse the same input for the same reason. Every
view and every change writes an audit row in the same transaction.
"""

from __future__ import annotations

import uuid
from typing import Literal
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import func, select, update

from services.cases import flows
from services.cases.policies import (
    PolicyIn,
    PolicyRefused,
    check_name,
    get_policy,
    list_policies,
    save_policy,
)
from services.console.pages import PREFIX, render
from services.console.programme import Coordinator, ids, pydantic_fields, text
from services.db import transaction
from services.identity import audit
from services.identity.models import Site
from services.incidents.models import Incident
from services.people.matching import open_loads
from services.people.models import DISCIPLINES, GroupDebrief, Involvement
from services.people.roster import (
    InactiveStaff,
    PeerIn,
    PeerOut,
    UnknownStaff,
    list_peers,
    upsert_peer,
)

router = APIRouter(prefix=PREFIX)

# A debrief is proposed by intake (incidents.involvement); the coordinator decides.
DEBRIEF_DECISIONS = {"scheduled": "Scheduled", "not_needed": "Not needed"}
DEBRIEF_LABELS = {"proposed": "Proposed", **DEBRIEF_DECISIONS}


def _not_found(request: Request, who: Coordinator, heading: str, back: str) -> Response:
    return render(
        request,
        who,
        "error.html",
        status_code=404,
        heading=heading,
        message="It may have been removed, or the address is mistyped.",
        home=back,
    )


# --------------------------------------------------------------------------- peers


@router.get("/peers", response_class=HTMLResponse)
async def peers_page(request: Request, who: Coordinator) -> Response:
    async with transaction() as session:
        roster = await list_peers(session)
        loads = await open_loads(session)
        await audit.record(session, who, "peers.view", "roster", "all", {"count": len(roster)})
    return render(
        request,
        who,
        "programme/peers.html",
        roster=sorted(roster, key=lambda p: (p.status == "paused", p.display_name)),
        loads=loads,
        saved=request.query_params.get("saved"),
    )


def _peer_form(peer: PeerOut | None) -> dict[str, object]:
    if peer is None:
        return {
            "staff_id": "",
            "trained_on": "",
            "trained_until": "",
            "supports": [],
            "languages": "en",
            "max_open_cases": "2",
            "status": "active",
        }
    return {
        "staff_id": peer.staff_id,
        "trained_on": peer.trained_on.isoformat() if peer.trained_on else "",
        "trained_until": peer.trained_until.isoformat(),
        "supports": peer.supports,
        "languages": ", ".join(peer.languages),
        "max_open_cases": str(peer.max_open_cases),
        "status": peer.status,
    }


def _peer_page(
    request: Request,
    who: Coordinator,
    peer: PeerOut | None,
    form: dict[str, object],
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        who,
        "programme/peer.html",
        status_code=status_code,
        peer=peer,
        form=form,
        errors=errors or {},
        disciplines=DISCIPLINES,
        saved=request.query_params.get("saved"),
    )


@router.get("/peers/new", response_class=HTMLResponse)
async def new_peer(request: Request, who: Coordinator) -> Response:
    return _peer_page(request, who, None, _peer_form(None))


@router.get("/peers/{staff_id}", response_class=HTMLResponse)
async def peer_page(request: Request, who: Coordinator, staff_id: str) -> Response:
    async with transaction() as session:
        found = await list_peers(session, staff_id=staff_id[:32])
        if found:
            await audit.record(session, who, "peer.view", "staff", found[0].staff_id)
    if not found:
        return _not_found(request, who, "Not a peer supporter", f"{PREFIX}/peers")
    return _peer_page(request, who, found[0], _peer_form(found[0]))


@router.post("/peers", response_class=HTMLResponse)
async def save_peer(request: Request, who: Coordinator) -> Response:
    """Add or change one peer through upsert_peer, the API's own call."""
    form = await request.form()
    staff_id = text(form, "staff_id", 32)
    supports = [s for s in form.getlist("supports") if isinstance(s, str)][: len(DISCIPLINES)]
    values: dict[str, object] = {
        "staff_id": staff_id,
        "trained_on": text(form, "trained_on", 10),
        "trained_until": text(form, "trained_until", 10),
        "supports": supports,
        "languages": text(form, "languages", 100),
        "max_open_cases": text(form, "max_open_cases", 3),
        "status": text(form, "status", 8),
    }
    errors: dict[str, str] = {}
    if not staff_id:
        errors["staff_id"] = "required"
    try:
        peer_in = PeerIn.model_validate(
            {
                "trained_on": values["trained_on"] or None,
                "trained_until": values["trained_until"] or None,
                "supports": supports,
                "languages": ids(str(values["languages"])),
                "max_open_cases": values["max_open_cases"],
                "status": values["status"],
            }
        )
    except ValidationError as exc:
        errors.update(_peer_errors(exc))
        peer_in = None
    if peer_in is not None and not errors:
        try:
            async with transaction() as session:
                saved, created = await upsert_peer(session, staff_id, peer_in)
                await audit.record(
                    session,
                    who,
                    "peer.added" if created else "peer.updated",
                    "staff",
                    staff_id,
                    {"status": saved.status},
                )
            return RedirectResponse(
                f"{PREFIX}/peers/{quote(staff_id, safe='')}?saved=1", status_code=303
            )
        except (UnknownStaff, InactiveStaff) as exc:
            errors["staff_id"] = str(exc)
    async with transaction() as session:
        found = await list_peers(session, staff_id=staff_id) if staff_id else []
    return _peer_page(
        request, who, found[0] if found else None, values, errors=errors, status_code=422
    )


def _peer_errors(exc: ValidationError) -> dict[str, str]:
    """PeerIn's own check (trained_until before trained_on) names no field: it belongs beside
    trained_until; a supports/languages item error belongs to its list."""
    out: dict[str, str] = {}
    for key, message in pydantic_fields(exc).items():
        out.setdefault(key.split(".", 1)[0] or "trained_until", message)
    return out


async def _set_status(
    request: Request, who: Coordinator, staff_id: str, status: Literal["active", "paused"]
) -> Response:
    """Only the roster's status changes (flows.set_peer_paused, as the peer's own pause):
    matching stops (or starts) paging them, and a pause passes their unanswered pages on."""
    async with transaction() as session:
        changed = await flows.set_peer_paused(session, staff_id[:32], status == "paused")
        found = changed is not None
        if found:
            action = "peer.paused" if status == "paused" else "peer.resumed"
            await audit.record(session, who, action, "staff", staff_id[:32])
    if not found:
        return _not_found(request, who, "Not an active peer supporter", f"{PREFIX}/peers")
    back = text(await request.form(), "back", 10)
    target = f"{PREFIX}/peers/{quote(staff_id, safe='')}" if back == "peer" else f"{PREFIX}/peers"
    return RedirectResponse(f"{target}?saved={status}", status_code=303)


@router.post("/peers/{staff_id}/pause", response_class=HTMLResponse)
async def pause_peer(request: Request, who: Coordinator, staff_id: str) -> Response:
    return await _set_status(request, who, staff_id, "paused")


@router.post("/peers/{staff_id}/resume", response_class=HTMLResponse)
async def resume_peer(request: Request, who: Coordinator, staff_id: str) -> Response:
    return await _set_status(request, who, staff_id, "active")


# --------------------------------------------------------------------------- policies


@router.get("/policies", response_class=HTMLResponse)
async def policies_page(request: Request, who: Coordinator) -> Response:
    async with transaction() as session:
        found = await list_policies(session)
        await audit.record(session, who, "policies.view", "policies", "all")
    return render(request, who, "programme/policies.html", policies=found)


def _policy_form(policy: dict[str, object] | None) -> dict[str, object]:
    if policy is None:
        return {"name": "", "site": "", "steps": [], "repeat": "0", "active": True}
    return {
        "name": policy["name"],
        "site": policy["site"] or "",
        "steps": [
            {"target": s["target"], "wait": f"{s['wait_minutes']:g}"}
            for s in policy["steps"]  # type: ignore[attr-defined]
        ],
        "repeat": str(policy["repeat"]),
        "active": policy["active"],
    }


async def _policy_page(
    request: Request,
    who: Coordinator,
    form: dict[str, object],
    *,
    existing: bool,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    async with transaction() as session:
        sites = (await session.execute(select(Site.code, Site.name).order_by(Site.code))).all()
    steps = [*form["steps"], {"target": "peer", "wait": ""}]  # type: ignore[misc]
    return render(
        request,
        who,
        "programme/policy.html",
        status_code=status_code,
        form=form,
        steps=steps,
        existing=existing,
        errors=errors or {},
        sites=sites,
        saved=request.query_params.get("saved"),
    )


@router.get("/policies/new", response_class=HTMLResponse)
async def new_policy(request: Request, who: Coordinator) -> Response:
    return await _policy_page(request, who, _policy_form(None), existing=False)


@router.get("/policies/{name}", response_class=HTMLResponse)
async def policy_page(request: Request, who: Coordinator, name: str) -> Response:
    async with transaction() as session:
        found = await get_policy(session, name[:80])
        if found is not None:
            await audit.record(session, who, "policy.view", "policy", name)
    if found is None:
        return _not_found(request, who, "No such policy", f"{PREFIX}/policies")
    return await _policy_page(request, who, _policy_form(found), existing=True)


@router.post("/policies", response_class=HTMLResponse)
async def save_policy_page(request: Request, who: Coordinator) -> Response:
    """PUT semantics, as the API: the name is the key; saving replaces the whole policy."""
    form = await request.form()
    count = text(form, "rows", 2)
    rows = []
    for i in range(min(int(count) if count.isdigit() else 0, 21)):
        rows.append(
            {
                "target": text(form, f"s{i}_target", 16),
                "wait": text(form, f"s{i}_wait", 12),
                "remove": text(form, f"s{i}_remove", 3),
            }
        )
    kept = [i for i, r in enumerate(rows) if not r["remove"] and (r["wait"] or i < len(rows) - 1)]
    values: dict[str, object] = {
        "name": text(form, "name", 80),
        "site": text(form, "site", 32),
        "steps": [rows[i] for i in kept],
        "repeat": text(form, "repeat", 3),
        "active": bool(text(form, "active", 3)),
    }
    existing = text(form, "existing", 3) == "yes"
    errors: dict[str, str] = {}
    status_code = 422
    try:
        check_name(str(values["name"]))
    except PolicyRefused as exc:
        errors[exc.field] = exc.message
    try:
        body = PolicyIn.model_validate(
            {
                "site": values["site"] or None,
                "steps": [
                    {"target": rows[i]["target"], "wait_minutes": rows[i]["wait"]} for i in kept
                ],
                "repeat": values["repeat"] or 0,
                "active": values["active"],
            }
        )
    except ValidationError as exc:
        body = None
        for key, message in pydantic_fields(exc).items():
            head, _, rest = key.partition(".")
            if head == "steps" and rest[:1].isdigit():
                index, _, field = rest.partition(".")
                errors.setdefault(f"steps.{index}.{field or 'target'}", message)
            else:
                errors.setdefault(head, message)
    if body is not None and not errors:
        try:
            async with transaction() as session:
                await save_policy(session, str(values["name"]), body)
                await audit.record(
                    session,
                    who,
                    "policy.saved",
                    "policy",
                    str(values["name"]),
                    {"site": body.site, "steps": len(body.steps), "repeat": body.repeat},
                )
            name = quote(str(values["name"]), safe="")
            return RedirectResponse(f"{PREFIX}/policies/{name}?saved=1", status_code=303)
        except PolicyRefused as exc:
            errors[exc.field] = exc.message
            status_code = exc.status
    return await _policy_page(
        request, who, values, existing=existing, errors=errors, status_code=status_code
    )


# --------------------------------------------------------------------------- debriefs


@router.get("/debriefs", response_class=HTMLResponse)
async def debriefs_page(request: Request, who: Coordinator) -> Response:
    """Each proposal with the incident's unit, time and how many staff: nothing that names
    anyone, since deciding whether to hold a debrief needs no names."""
    staff = (
        select(func.count())
        .where(
            Involvement.incident_id == GroupDebrief.incident_id,
            Involvement.status.in_(("confirmed", "proposed")),
        )
        .scalar_subquery()
    )
    query = (
        select(
            GroupDebrief.id,
            GroupDebrief.status,
            GroupDebrief.created_at,
            Incident.unit,
            Incident.occurred_at,
            staff.label("staff_count"),
        )
        .join(Incident, Incident.id == GroupDebrief.incident_id)
        .order_by((GroupDebrief.status != "proposed"), GroupDebrief.created_at.desc())
        .limit(200)
    )
    async with transaction() as session:
        rows = (await session.execute(query)).all()
        await audit.record(session, who, "debriefs.view", "debriefs", "all")
    return render(
        request,
        who,
        "programme/debriefs.html",
        debriefs=rows,
        labels=DEBRIEF_LABELS,
        decisions=DEBRIEF_DECISIONS,
        saved=request.query_params.get("saved"),
    )


@router.post("/debriefs/{debrief_id}", response_class=HTMLResponse)
async def decide_debrief(request: Request, who: Coordinator, debrief_id: uuid.UUID) -> Response:
    decision = text(await request.form(), "decision", 16)
    if decision not in DEBRIEF_DECISIONS:
        return render(
            request,
            who,
            "error.html",
            status_code=422,
            heading="Choose scheduled or not needed",
            message="Nothing was changed.",
            home=f"{PREFIX}/debriefs",
        )
    async with transaction() as session:
        before = await session.scalar(
            select(GroupDebrief.status).where(GroupDebrief.id == debrief_id).with_for_update()
        )
        if before is not None:
            await session.execute(
                update(GroupDebrief).where(GroupDebrief.id == debrief_id).values(status=decision)
            )
            await audit.record(
                session,
                who,
                f"debrief.{decision}",
                "group_debrief",
                str(debrief_id),
                {"from": before, "to": decision},
            )
    if before is None:
        return _not_found(request, who, "No such debrief proposal", f"{PREFIX}/debriefs")
    return RedirectResponse(f"{PREFIX}/debriefs?saved={decision}", status_code=303)
