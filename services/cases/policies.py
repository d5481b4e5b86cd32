"""Escalation policies: the one place they are checked and saved.

The coordinator's API (PUT /admin/escalation-policies/{name}) and the console's policy page
both call `save_policy`, so a policy refused by one is refused by the other for the same
reason, and a policy saved by either reads the same through both.
"""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.cases.models import EscalationPolicy


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


class PolicyRefused(Exception):
    """A policy that cannot be saved: `status` is the HTTP answer (422 a bad field, 409 a
    site another policy already covers), `field` the input to show the reason beside."""

    def __init__(self, status: int, field: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.field = field
        self.message = message


def check_name(name: str) -> str:
    if not name.strip() or len(name) > 80:
        raise PolicyRefused(422, "name", "1 to 80 characters")
    return name


def policy_view(p: EscalationPolicy) -> dict[str, object]:
    return {
        "name": p.name,
        "site": p.site,
        "steps": p.steps,
        "repeat": p.repeat,
        "active": p.active,
    }


async def list_policies(session: AsyncSession) -> list[dict[str, object]]:
    rows = await session.scalars(select(EscalationPolicy).order_by(EscalationPolicy.name))
    return [policy_view(p) for p in rows]


async def get_policy(session: AsyncSession, name: str) -> dict[str, object] | None:
    found = await session.scalar(select(EscalationPolicy).where(EscalationPolicy.name == name))
    return policy_view(found) if found is not None else None


async def save_policy(session: AsyncSession, name: str, body: PolicyIn) -> dict[str, object]:
    """Create or replace a policy; at most one per site, and one default (no site)."""
    check_name(name)
    values = {
        "name": name,
        "site": body.site,
        "steps": [s.model_dump() for s in body.steps],
        "repeat": body.repeat,
        "active": body.active,
    }
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
        raise PolicyRefused(409, "site", f"policy {clash!r} already covers {where}")
    stmt = insert(EscalationPolicy).values(id=uuid.uuid4(), **values)
    await session.execute(stmt.on_conflict_do_update(index_elements=["name"], set_=values))
    saved = await get_policy(session, name)
    assert saved is not None
    return saved
