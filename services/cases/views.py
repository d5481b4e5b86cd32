"""The coordinator's routes for cases and escalation policies.

Policies are data, edited here without code. Case history is visible to the coordinator
only: it says who accepted, which risk management must never learn.
"""

from __future__ import annotations

import uuid
from typing import Literal

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from services.auth import require_admin
from services.cases import flows
from services.cases.machine import IllegalTransition, move
from services.cases.models import CaseTransition, Deadline, EscalationPolicy
from services.db import transaction
from services.paging.models import Page, SupportCase

router = APIRouter(prefix="/admin", dependencies=[Depends(require_admin)])


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target: Literal["peer", "coordinator"]
    wait_minutes: float = Field(gt=0, le=24 * 60)


class PolicyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    site: str | None = Field(default=None, max_length=32)
    steps: list[Step] = Field(min_length=1, max_length=20)
    repeat: int = Field(default=0, ge=0, le=10)
    active: bool = True


@router.get("/escalation-policies")
async def list_policies() -> list[dict[str, object]]:
    async with transaction() as session:
        rows = await session.scalars(select(EscalationPolicy).order_by(EscalationPolicy.name))
        return [_policy(p) for p in rows]


@router.put("/escalation-policies/{name}")
async def put_policy(name: str, body: PolicyIn) -> dict[str, object]:
    """Create or replace a policy; at most one per site, and one default (no site)."""
    if not name.strip() or len(name) > 80:
        raise HTTPException(422, {"fields": {"name": "1 to 80 characters"}})
    values = {
        "name": name,
        "site": body.site,
        "steps": [s.model_dump() for s in body.steps],
        "repeat": body.repeat,
        "active": body.active,
    }
    async with transaction() as session:
        clash = await session.scalar(
            select(EscalationPolicy.name).where(
                EscalationPolicy.name != name,
                EscalationPolicy.site.is_(None)
                if body.site is None
                else EscalationPolicy.site == body.site,
            )
        )
        if clash is not None:
            where = f"site {body.site}" if body.site else "the programme default"
            raise HTTPException(409, f"policy {clash!r} already covers {where}")
        stmt = insert(EscalationPolicy).values(id=uuid.uuid4(), **values)
        await session.execute(stmt.on_conflict_do_update(index_elements=["name"], set_=values))
        saved = await session.scalar(select(EscalationPolicy).where(EscalationPolicy.name == name))
        assert saved is not None
        return _policy(saved)


def _policy(p: EscalationPolicy) -> dict[str, object]:
    return {
        "name": p.name,
        "site": p.site,
        "steps": p.steps,
        "repeat": p.repeat,
        "active": p.active,
    }


@router.get("/cases/{case_id}")
async def case_history(case_id: uuid.UUID) -> dict[str, object]:
    async with transaction() as session:
        case = await session.get(SupportCase, case_id)
        if case is None:
            raise HTTPException(404, "no such case")
        transitions = (
            await session.scalars(
                select(CaseTransition)
                .where(CaseTransition.case_id == case_id)
                .order_by(CaseTransition.id)
            )
        ).all()
        pages = (
            await session.scalars(
                select(Page).where(Page.case_id == case_id).order_by(Page.attempt)
            )
        ).all()
        pending = (
            await session.scalars(
                select(Deadline).where(Deadline.case_id == case_id, Deadline.fired_at.is_(None))
            )
        ).all()
    return {
        "case_id": str(case.id),
        "incident_id": str(case.incident_id),
        "state": case.state,
        "transitions": [
            {"from": t.from_state, "to": t.to_state, "reason": t.reason, "at": t.at.isoformat()}
            for t in transitions
        ],
        "pages": [
            {"attempt": p.attempt, "peer": p.peer_staff_id, "state": p.state, "reason": p.reason}
            for p in pages
        ],
        "pending": [{"kind": d.kind, "due_at": d.due_at.isoformat()} for d in pending],
    }


class CaseAction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["contact_made", "close", "tier3"]
    note: str = Field(default="", max_length=120)


@router.post("/cases/{case_id}/actions")
async def case_action(case_id: uuid.UUID, body: CaseAction) -> dict[str, object]:
    """Record that contact happened (not what was said), close a case, or refer to Tier 3."""
    to_state = {"contact_made": "contact_made", "close": "closed", "tier3": "tier3_referred"}[
        body.action
    ]
    async with transaction() as session:
        case = await session.get(SupportCase, case_id, with_for_update=True)
        if case is None:
            raise HTTPException(404, "no such case")
        try:
            await move(session, case, to_state, f"coordinator: {body.action}")
        except IllegalTransition as exc:
            raise HTTPException(409, str(exc)) from exc
        if to_state in ("closed", "tier3_referred"):
            await flows.cancel_deadlines(
                session,
                case.id,
                flows.ALL_DEADLINES,
                body.action,
            )
        return {"case_id": str(case.id), "state": case.state}
