"""HTTP routes for the programme coordinator: directory imports, staff, peers, opt-outs.

Admin tokens only: who supports whom is kept apart from risk management and the
investigation, so a risk-management token gets 403 here. Imports take the CSV as the raw
body (what a hospital's export job can send with one curl) and answer with the same report
as `svrr import`: 200 when applied, 422 when any row was rejected and nothing was applied.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from services.auth import require_coordinator
from services.cases import flows
from services.db import transaction
from services.identity import audit
from services.identity.principal import Principal
from services.people.importer import IMPORTERS
from services.people.roster import (
    InactiveStaff,
    PeerIn,
    PeerOut,
    StaffOut,
    UnknownStaff,
    list_peers,
    set_opt_out,
    staff_detail,
    upsert_peer,
)

router = APIRouter(prefix="/admin", dependencies=[Depends(require_coordinator)])

MAX_UPLOAD = 10 * 1024 * 1024
# Spreadsheets and export jobs label CSV in several ways; all are read as UTF-8 text.
CSV_TYPES = {"text/csv", "application/csv", "text/plain"}


async def _csv_body(request: Request) -> bytes:
    """The body, refused early when too large: a mistaken upload of a database dump must not
    be held in memory before it is rejected."""
    ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if ctype not in CSV_TYPES:
        raise HTTPException(415, "send the CSV as the request body with Content-Type: text/csv")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_UPLOAD:
        raise HTTPException(413, f"larger than {MAX_UPLOAD // (1024 * 1024)} MB")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_UPLOAD:
            raise HTTPException(413, f"larger than {MAX_UPLOAD // (1024 * 1024)} MB")
    return bytes(body)


async def _import(kind: str, request: Request, dry_run: bool, **options: bool) -> JSONResponse:
    data = await _csv_body(request)
    async with transaction() as session:
        report = await IMPORTERS[kind](session, data, dry_run=dry_run, **options)
    return JSONResponse(report.as_dict(), status_code=200 if report.ok else 422)


_DRY_RUN = Query(False, description="check every row and report; change nothing")
_REPORT = {422: {"description": "rows rejected: the report, nothing applied"}}


@router.post("/units/import", responses=_REPORT)
async def import_units(request: Request, dry_run: bool = _DRY_RUN) -> JSONResponse:
    """code,name,site,time_zone. Upserts; units absent from the file are left alone."""
    return await _import("units", request, dry_run)


@router.post("/staff/import", responses=_REPORT)
async def import_staff(
    request: Request,
    dry_run: bool = _DRY_RUN,
    allow_mass_deactivation: bool = Query(
        False, description="accept an export that deactivates more than 20% of active staff"
    ),
) -> JSONResponse:
    """staff_id,display_name,discipline,role,home_unit,mobile,language,tier1_lead,opted_out.
    A full export: staff absent from the file become inactive."""
    return await _import("staff", request, dry_run, allow_mass_deactivation=allow_mass_deactivation)


@router.post("/shifts/import", responses=_REPORT)
async def import_shifts(request: Request, dry_run: bool = _DRY_RUN) -> JSONResponse:
    """staff_id,unit,starts_at,ends_at. Times without offset are the unit's wall clock."""
    return await _import("shifts", request, dry_run)


@router.post("/peers/import", responses=_REPORT)
async def import_peers(request: Request, dry_run: bool = _DRY_RUN) -> JSONResponse:
    """staff_id,trained_on,trained_until,supports,languages,max_open_cases,status.
    Upserts; peers absent from the file are left alone."""
    return await _import("peers", request, dry_run)


@router.get("/staff/{staff_id}")
async def get_staff(staff_id: str, who: Principal = Depends(require_coordinator)) -> StaffOut:
    """The full record, mobile number included: the coordinator is the one who fixes it.
    Every view of a person is audited."""
    async with transaction() as session:
        found = await staff_detail(session, staff_id)
        if found is not None:
            await audit.record(session, who, "person.view", "staff", staff_id)
    if found is None:
        raise HTTPException(404, f"unknown staff id {staff_id}")
    return found


class OptOutIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    opted_out: bool


@router.put("/staff/{staff_id}/opt-out")
async def put_opt_out(staff_id: str, body: OptOutIn) -> dict[str, object]:
    try:
        async with transaction() as session:
            changed = await set_opt_out(session, staff_id, body.opted_out)
    except UnknownStaff as exc:
        raise HTTPException(404, str(exc)) from exc
    return {"staff_id": staff_id, "opted_out": body.opted_out, "changed": changed}


@router.get("/peers")
async def get_peers(
    status: Literal["active", "paused"] | None = Query(None),
) -> list[PeerOut]:
    async with transaction() as session:
        peers = await list_peers(session)
    return [p for p in peers if status is None or p.status == status]


@router.put("/peers/{staff_id}", responses={201: {"description": "peer added"}})
async def put_peer(staff_id: str, body: PeerIn, response: Response) -> PeerOut:
    """Add or change one peer: 201 when added, 200 when changed."""
    try:
        async with transaction() as session:
            peer, created = await upsert_peer(session, staff_id, body)
            if body.status == "paused":
                await flows.release_unanswered_pages(session, staff_id)
    except UnknownStaff as exc:
        raise HTTPException(404, str(exc)) from exc
    except InactiveStaff as exc:
        raise HTTPException(409, str(exc)) from exc
    if created:
        response.status_code = 201
    return peer
