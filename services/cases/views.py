"""The coordinator's routes for cases and escalation policies.

Policies are data, edited here without code. Case history is visible to the coordinator
only: it says who accepted, which risk management must never learn.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select

from services.auth import require_coordinator
from services.cases import coordinator, machine, policies
from services.cases.outcomes import CloseReason
from services.cases.policies import PolicyIn, PolicyRefused
from services.cases.refs import case_ref, ref_bounds
from services.config import get_settings
from services.db import transaction
from services.identity import audit
from services.identity.principal import Principal
from services.paging.models import SupportCase
from services.people.models import Staff

router = APIRouter(prefix="/admin", dependencies=[Depends(require_coordinator)])


@router.get("/escalation-policies")
async def list_policies() -> list[dict[str, object]]:
    async with transaction() as session:
        return await policies.list_policies(session)


@router.put("/escalation-policies/{name}")
async def put_policy(name: str, body: PolicyIn) -> dict[str, object]:
    """Create or replace a policy; at most one per site, and one default (no site)."""
    try:
        async with transaction() as session:
            return await policies.save_policy(session, name, body)
    except PolicyRefused as exc:
        if exc.status == 409:
            raise HTTPException(409, exc.message) from exc
        raise HTTPException(exc.status, {"fields": {exc.field: exc.message}}) from exc


CASE_STATES = frozenset(machine.ALLOWED)


@router.get("/cases")
async def list_cases(
    state: str = Query("open", max_length=24),
    tier: int | None = Query(None, ge=1, le=3),
    ref: str | None = Query(None, max_length=12),
    limit: int = Query(50, ge=1, le=200),
    offset: int = Query(0, ge=0, le=1_000_000),
) -> dict[str, object]:
    """Cases newest first; `state` is one state, "open" (the default) or "all"; `ref` is the
    short reference a coordinator SMS carries (C-3F9A2B) and wins over the other filters."""
    if state not in CASE_STATES | {"open", "all"}:
        raise HTTPException(
            422, {"fields": {"state": "one of: open, all, " + ", ".join(sorted(CASE_STATES))}}
        )
    query = select(SupportCase, Staff.display_name).join(
        Staff, Staff.staff_id == SupportCase.staff_id
    )
    if ref is not None:
        try:
            low, high = ref_bounds(ref)
        except ValueError as exc:
            raise HTTPException(422, {"fields": {"ref": str(exc)}}) from exc
        query = query.where(SupportCase.id.between(low, high))
    else:
        if state == "open":
            query = query.where(SupportCase.state.in_(list(machine.OPEN_STATES)))
        elif state != "all":
            query = query.where(SupportCase.state == state)
        if tier is not None:
            query = query.where(SupportCase.tier == tier)
    async with transaction() as session:
        total = await session.scalar(select(func.count()).select_from(query.subquery()))
        rows = (
            await session.execute(
                query.order_by(SupportCase.created_at.desc(), SupportCase.id)
                .limit(limit)
                .offset(offset)
            )
        ).all()
    cases = [
        {
            "ref": case_ref(c.id),
            "case_id": str(c.id),
            "incident_id": str(c.incident_id),
            "state": c.state,
            "tier": c.tier,
            "clinician": {"staff_id": c.staff_id, "name": name},
            "created_at": c.created_at.isoformat(),
            "updated_at": c.updated_at.isoformat(),
        }
        for c, name in rows
    ]
    more = offset + len(cases) < (total or 0)
    return {"cases": cases, "total": total, "next_offset": offset + len(cases) if more else None}


@router.get("/cases/{case_id}")
async def case_history(
    case_id: uuid.UUID, who: Principal = Depends(require_coordinator)
) -> dict[str, object]:
    """The coordinator is inside the programme: they see who the clinician is and how to
    reach them (risk management's views never do). Every view is audited."""
    async with transaction() as session:
        found = await coordinator.history(session, case_id)
        if found is None:
            raise HTTPException(404, "no such case")
        await audit.record(session, who, "case.view", "case", str(case_id))
    case, clinician = found.case, found.clinician
    return {
        "ref": case_ref(case.id),
        "case_id": str(case.id),
        "incident_id": str(case.incident_id),
        "state": case.state,
        "tier": case.tier,
        "clinician": {
            "staff_id": clinician.staff_id,
            "name": clinician.display_name,
            "mobile": clinician.mobile_e164,
        },
        "transitions": [
            {"from": t.from_state, "to": t.to_state, "reason": t.reason, "at": t.at.isoformat()}
            for t in found.transitions
        ],
        "pages": [
            {"attempt": p.attempt, "peer": p.peer_staff_id, "state": p.state, "reason": p.reason}
            for p, _ in found.pages
        ],
        "pending": [{"kind": d.kind, "due_at": d.due_at.isoformat()} for d in found.pending],
    }


class CaseAction(BaseModel):
    """No free text: the programme records that support happened, never what was said."""

    model_config = ConfigDict(extra="forbid")

    action: coordinator.Action
    # Required to close: why, as a code.
    close_reason: CloseReason | None = None


@router.post("/cases/{case_id}/actions")
async def case_action(
    case_id: uuid.UUID, body: CaseAction, who: Principal = Depends(require_coordinator)
) -> dict[str, object]:
    """The coordinator's actions on a case, the same as the console's buttons."""
    try:
        async with transaction() as session:
            case = await coordinator.act(
                session, case_id, body.action, get_settings(), f"token:{who.id}", body.close_reason
            )
            await audit.record(
                session,
                who,
                f"case.{body.action.value}",
                "case",
                str(case_id),
                {"close_reason": body.close_reason.value} if body.close_reason else None,
            )
            return {"case_id": str(case.id), "state": case.state}
    except LookupError as exc:
        raise HTTPException(404, "no such case") from exc
    except coordinator.ActionRefused as exc:
        raise HTTPException(409, str(exc)) from exc
