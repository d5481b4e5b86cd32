"""What risk management may know about an incident's outreach, in one definition.

The API's GET /incidents/{id} and the risk manager's console pages both answer from here, so
neither can drift into saying more: how many staff the report named, how many were offered
support, and whether a group debrief was proposed. Never who accepted, deferred or declined,
never a peer, never a case state or a reply (domain.md: confidential).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.incidents.models import Incident
from services.paging.models import SupportCase
from services.people.models import GroupDebrief


@dataclass(frozen=True)
class SupportSummary:
    incident_id: uuid.UUID
    received_at: datetime
    staff_involved: int
    support_offered_to: int
    # The debrief proposal's status ("proposed", ...) or None when none was proposed.
    group_debrief: str | None

    @property
    def debrief_proposed(self) -> bool:
        return self.group_debrief is not None

    def as_json(self) -> dict[str, object]:
        return {
            "incident_id": str(self.incident_id),
            "received_at": self.received_at.isoformat(),
            "staff_involved": self.staff_involved,
            "support_offered_to": self.support_offered_to,
            "group_debrief": self.group_debrief,
        }


async def summaries(
    session: AsyncSession, incidents: Sequence[Incident]
) -> dict[uuid.UUID, SupportSummary]:
    """Two grouped queries for a whole page of incidents, not two per incident."""
    ids = [i.id for i in incidents]
    if not ids:
        return {}
    offered = dict(
        (
            await session.execute(
                select(SupportCase.incident_id, func.count())
                .where(SupportCase.incident_id.in_(ids))
                .group_by(SupportCase.incident_id)
            )
        ).all()
    )
    debriefs = dict(
        (
            await session.execute(
                select(GroupDebrief.incident_id, GroupDebrief.status).where(
                    GroupDebrief.incident_id.in_(ids)
                )
            )
        ).all()
    )
    return {
        i.id: SupportSummary(
            incident_id=i.id,
            received_at=i.received_at,
            staff_involved=len(i.staff_ids),
            support_offered_to=int(offered.get(i.id, 0)),
            group_debrief=debriefs.get(i.id),
        )
        for i in incidents
    }


async def summary(session: AsyncSession, incident: Incident) -> SupportSummary:
    return (await summaries(session, [incident]))[incident.id]
