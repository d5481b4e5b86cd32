"""HTTP routes for risk management."""

from __future__ import annotations

import uuid
from typing import Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, ValidationError

from services.auth import require_incidents
from services.db import transaction
from services.identity.deps import api_call_audit
from services.identity.principal import Principal
from services.incidents import involvement as involvement_service
from services.incidents.models import Incident
from services.incidents.service import (
    Accepted,
    IncidentIn,
    KeyReused,
    UnknownStaff,
    UnknownUnit,
    report,
)
from services.incidents.summary import summary
from services.metrics import INCIDENTS

router = APIRouter(prefix="/incidents", dependencies=[Depends(require_incidents)])


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
    try:
        async with transaction() as session:
            # On the record in the same transaction as the incident (deps.SELF_AUDITED).
            await api_call_audit(session, request, who)
            accepted: Accepted = await report(session, incident, reported_by=f"token:{who.id}")
    except (UnknownStaff, UnknownUnit) as exc:
        INCIDENTS.labels("refused").inc()
        raise HTTPException(422, {"fields": {exc.field: exc.public()}}) from exc
    except KeyReused as exc:
        raise HTTPException(409, {"fields": {"incident_key": str(exc)}}) from exc
    INCIDENTS.labels("accepted" if accepted.created else "replayed").inc()
    if not accepted.created:
        response.status_code = 200
    return {"incident_id": str(accepted.incident_id), "created": accepted.created}


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
