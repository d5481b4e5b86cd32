"""The append-only record of who looked at what and did what, from where.

Written in the same transaction as the view or action it records: a case shown without its
audit row cannot happen, because the row and the read commit together.
"""

from __future__ import annotations

import json

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

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
    # A plain statement, compiled once: every API call and console view writes one, and
    # building an ORM insert each time was a third of an incident report's CPU.
    await session.execute(
        INSERT,
        {
            "kind": who.kind,
            "id": str(who.id),
            "name": who.name,
            "role": who.role.value,
            "action": action,
            "target_kind": target_kind,
            "target_id": target_id,
            "ip": who.ip,
            "detail": json.dumps(detail or {}),
        },
    )


INSERT = text(
    "INSERT INTO audit_log (actor_kind, actor_id, actor_name, actor_role, action, "
    "target_kind, target_id, ip, detail) VALUES (:kind, :id, :name, :role, :action, "
    ":target_kind, :target_id, :ip, CAST(:detail AS jsonb))"
)
