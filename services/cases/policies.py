"""Escalation policies: the one place they are checked and saved.

The coordinator's API (PUT /admin/escalation-policies/{name}) and the console's policy page
both call `save_policy`, so a policy refused by one is refused by the other for the same
reason, and a policy saved by either reads the same through both.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.cases.models import EscalationPolicy

DEFAULT_STEPS: list[dict[str, object]] = [
    {"target": "peer", "wait_minutes": 5},
    {"target": "peer", "wait_minutes": 5},
    {"target": "coordinator", "wait_minutes": 15},
]


def coordinator_reason_none(why_none: str) -> str:
    """The reason stored on a coordinator page is also the "why" of its SMS: say only what
    matching found ("no peer available"), with its counts, never a peer's name."""
    detail = why_none.removeprefix("no qualified peer").lstrip(": ")
    return f"no peer available ({detail})"[:120] if detail else "no peer available"


def coordinator_reason_policy(peers_paged: int) -> str:
    if peers_paged == 0:
        return "the escalation policy pages the coordinator first"
    return f"no peer answered after {peers_paged} page{'s' if peers_paged > 1 else ''}"


@dataclass(frozen=True)
class Policy:
    steps: list[dict[str, object]]
    repeat: int


class Policies:
    """Every active policy, read once for a batch: 500 escalations ask one dict, not the
    store 500 times."""

    def __init__(self, rows: list[EscalationPolicy]) -> None:
        self.by_site = {p.site: Policy(list(p.steps), p.repeat) for p in rows}

    def for_site(self, site: str | None) -> Policy:
        """The site's policy, else the programme's default, else the built-in one."""
        if site is not None and site in self.by_site:
            return self.by_site[site]
        return self.by_site.get(None) or Policy(DEFAULT_STEPS, 0)


async def load_policies(session: AsyncSession) -> Policies:
    rows = (
        await session.scalars(select(EscalationPolicy).where(EscalationPolicy.active.is_(True)))
    ).all()
    return Policies(list(rows))


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
