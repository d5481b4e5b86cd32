"""HTTP routes for risk management."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from typing import Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, ValidationError

from services.api_lanes import Headers, Lane, Send, client_ip, send_json, send_refusal
from services.auth import INCIDENT_ROLES, Scope, api_caller, require_incidents
from services.db import raw_pool, transaction
from services.identity.deps import api_call_names
from services.identity.principal import Principal
from services.incidents import involvement as involvement_service
from services.incidents.models import Incident
from services.incidents.service import (
    REPORT,
    Accepted,
    ApiCall,
    IncidentIn,
    KeyReused,
    UnknownStaff,
    UnknownUnit,
    report_statement,
    reported,
)
from services.incidents.summary import summary
from services.metrics import INCIDENTS

router = APIRouter(prefix="/incidents", dependencies=[Depends(require_incidents)])
# pg_stat_activity's name for the intake's connections (services.db.RawPool).
INTAKE_CONNECTIONS = "svrr-api-intake"


@router.post("", status_code=202)
async def log_incident(
    incident: IncidentIn,
    request: Request,
    response: Response,
    idempotency_key: str | None = Header(default=None),
    who: Principal = Depends(require_incidents),
) -> dict[str, object]:
    """202 only after the incident and its event are committed together. The token that
    logged it is kept, so an integration's incidents can be told from a person's."""
    accepted = await accept(incident, idempotency_key, who)
    if not accepted.created:
        response.status_code = 200
    return answer(accepted)


def answer(accepted: Accepted) -> dict[str, object]:
    return {"incident_id": str(accepted.incident_id), "created": accepted.created}


async def accept(incident: IncidentIn, idempotency_key: str | None, who: Principal) -> Accepted:
    """The route's work, for the route and its fast lane (below) alike."""
    if idempotency_key and incident.incident_key and idempotency_key != incident.incident_key:
        raise HTTPException(422, {"fields": {"incident_key": "differs from Idempotency-Key"}})
    if idempotency_key and not incident.incident_key:
        try:
            incident = IncidentIn.model_validate(
                {**incident.model_dump(), "incident_key": idempotency_key}
            )
        except ValidationError as exc:
            # The header becomes the incident key and meets the same rules; a refused key is
            # the caller's error (422), never a 500.
            why = "; ".join(str(e["msg"]) for e in exc.errors())
            raise HTTPException(422, {"fields": {"Idempotency-Key": why}}) from exc
    # On the record in the same statement as the incident (deps.SELF_AUDITED).
    call = ApiCall(who, *api_call_names("POST", "/incidents", {}))
    params = report_statement(incident, f"token:{who.id}", call)
    pool = raw_pool(INTAKE_CONNECTIONS)
    try:
        # One statement in autocommit (services.incidents.service.REPORT); never run twice
        # after a lost connection: without a key, a second run would be a second incident.
        accepted = reported(incident, params, (await pool.fetch(REPORT, params))[0])
        if accepted is None:  # the key's first report committed meanwhile: visible now
            accepted = reported(incident, params, (await pool.fetch(REPORT, params))[0])
        if accepted is None:
            raise AssertionError("an incident key that conflicts is visible once committed")
    except (UnknownStaff, UnknownUnit) as exc:
        INCIDENTS.labels("refused").inc()
        raise HTTPException(422, {"fields": {exc.field: exc.public()}}) from exc
    except KeyReused as exc:
        raise HTTPException(409, {"fields": {"incident_key": str(exc)}}) from exc
    INCIDENTS.labels("accepted" if accepted.created else "replayed").inc()
    return accepted


async def _admitted(scope: Scope, headers: Headers) -> Principal | None:
    """A JSON body from a token of a role the route admits (the route's own roles), within
    the abuse limits: the Gatekeeper's own decision (services.auth.api_caller), made once and
    kept in the scope, so a request the lane hands on (over a limit: the Gatekeeper answers
    429) is counted once."""
    ctype = headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower()
    authorization = headers.get(b"authorization")
    if ctype != b"application/json" or authorization is None:
        return None
    who = await api_caller(scope, authorization.decode("latin-1"))
    return who if isinstance(who, Principal) and who.role in INCIDENT_ROLES else None


async def incident_admits(scope: Scope, headers: Headers) -> bool:
    return await _admitted(scope, headers) is not None


async def incident_answer(scope: Scope, headers: Headers, body: bytes, send: Send) -> bool:
    """POST /incidents by a token of a role the route admits, with a body that validates
    (services.api_lanes); everything else is the full app's to answer."""
    who = await _admitted(scope, headers)  # decided by incident_admits, kept in the scope
    if who is None:
        return False
    try:
        incident = IncidentIn.model_validate(json.loads(body))
    except (ValueError, ValidationError):  # json's errors are ValueErrors
        return False
    key = headers.get(b"idempotency-key")
    who = replace(who, ip=client_ip(scope))
    try:
        accepted = await accept(incident, key.decode("latin-1") if key is not None else None, who)
    except HTTPException as exc:
        await send_refusal(scope, send, exc)
        return True
    await send_json(send, 202 if accepted.created else 200, answer(accepted))
    return True


incident_lane = Lane(incident_admits, incident_answer)


@router.get("/{incident_id}")
async def incident_status(incident_id: uuid.UUID) -> dict[str, object]:
    """What risk management may know: that support was offered, never who accepted."""
    async with transaction() as session:
        incident = await session.get(Incident, incident_id)
        if incident is None:
            raise HTTPException(404, "no such incident")
        return (await summary(session, incident)).as_json()


class InvolvementDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["confirm", "remove"]


@router.get("/{incident_id}/involvement")
async def involvement(incident_id: uuid.UUID) -> dict[str, object]:
    """Named staff, and staff on shift proposed for the risk manager to confirm or remove."""
    async with transaction() as session:
        if await session.get(Incident, incident_id) is None:
            raise HTTPException(404, "no such incident")
        rows = await involvement_service.listing(session, incident_id)
    return {"incident_id": str(incident_id), "staff": rows}


@router.post("/{incident_id}/involvement/{staff_id}")
async def decide_involvement(
    incident_id: uuid.UUID, staff_id: str, body: InvolvementDecision
) -> dict[str, object]:
    """Only confirmed staff are contacted; a removed proposal is never contacted."""
    try:
        async with transaction() as session:
            if await session.get(Incident, incident_id) is None:
                raise HTTPException(404, "no such incident")
            decision = await involvement_service.decide(
                session, incident_id, staff_id, body.decision == "confirm"
            )
    except involvement_service.NotProposed as exc:
        raise HTTPException(404, str(exc)) from exc
    except ValueError as exc:
        raise HTTPException(409, str(exc)) from exc
    return {
        "staff_id": staff_id,
        "status": decision.status,
        "changed": decision.changed,
        "outreach_started": decision.case_opened,
    }
