"""The append-only record of who looked at what and did what, from where.

Written in the same transaction as the view or action it records: a case shown without its
audit row cannot happen, because the row and the read commit together.
"""

from __future__ import annotations

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.identity.models import AuditEntry
from services.identity.principal import Principal


async def record(
    session: AsyncSession,
    who: Principal,
    action: str,
    target_kind: str,
    target_id: str,
    detail: dict[str, object] | None = None,
) -> None:
    """`detail` holds codes and ids only (a state, a reason code), never a name, a number or
    a reply: the audit log is read by administrators, who are outside the programme."""
    await session.execute(
        insert(AuditEntry).values(
            actor_kind=who.kind,
            actor_id=str(who.id),
            actor_name=who.name,
            actor_role=who.role.value,
            action=action,
            target_kind=target_kind,
            target_id=target_id,
            ip=who.ip,
            detail=detail or {},
        )
    )
