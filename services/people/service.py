"""Staff directory lookups shared by intake and outreach.

Imports live in services.people.importer, single-record edits in services.people.roster,
matching in services.people.matching.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.people.models import Staff


async def known_staff_ids(session: AsyncSession, staff_ids: list[str]) -> set[str]:
    found = await session.scalars(
        select(Staff.staff_id).where(Staff.staff_id.in_(staff_ids), Staff.active.is_(True))
    )
    return set(found)
