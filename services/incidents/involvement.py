"""Who was involved: the staff a report names, and the staff on shift proposed for review.

A report often names one or two people while a whole team worked the code blue. Staff on
shift on the unit at the time are proposed; only the named ones and those the risk manager
confirms are contacted, because outreach to someone who was not there is itself a harm.
An event touching more than N staff or several units also proposes a group debrief.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.events import (
    GroupDebriefProposed,
    IncidentReported,
    InvolvementDecided,
    InvolvementProposed,
    SupportNeeded,
)
from services import clock, outbox
from services.logs import log
from services.paging.service import open_case
from services.people.models import GroupDebrief, Involvement, Shift, Staff


async def identify(
    session: AsyncSession, incident: IncidentReported, group_threshold: int
) -> list[SupportNeeded]:
    """Record involvement, open a case per confirmed clinician, propose the rest.

    Idempotent: a replayed IncidentReported finds every row in place and emits nothing.
    """
    named = (
        await session.scalars(
            select(Staff).where(Staff.staff_id.in_(incident.staff_ids), Staff.active.is_(True))
        )
    ).all()
    unresolved = len(set(incident.staff_ids) - {s.staff_id for s in named})
    if unresolved:
        log().warning("staff.unresolved", incident_id=str(incident.incident_id), count=unresolved)
    on_shift = (
        await session.scalars(
            select(Staff)
            .join(Shift, Shift.staff_id == Staff.staff_id)
            .where(
                Shift.unit == incident.unit,
                Shift.starts_at <= incident.occurred_at,
                Shift.ends_at > incident.occurred_at,
                Staff.active.is_(True),
                Staff.staff_id.not_in(incident.staff_ids),
            )
        )
    ).all()
    fresh_named = await _involve(session, incident.incident_id, named, "named", "confirmed")
    proposed = await _involve(session, incident.incident_id, on_shift, "on_shift", "proposed")

    events: list[SupportNeeded] = []
    for staff in sorted(named, key=lambda s: s.staff_id):
        if staff.staff_id not in fresh_named:
            continue
        need = await open_case(session, incident.incident_id, staff.staff_id)
        if need is not None:
            events.append(need)
    if proposed:
        await outbox.add(
            session,
            InvolvementProposed(incident_id=incident.incident_id, staff_ids=sorted(proposed)),
        )
    everyone = [*named, *on_shift]
    units = {s.home_unit for s in everyone} | {incident.unit}
    if len(everyone) > group_threshold or len({s.home_unit for s in everyone}) > 1:
        await _propose_debrief(session, incident, len(everyone), len(units))
    return events


async def _involve(
    session: AsyncSession,
    incident_id: uuid.UUID,
    staff: list[Staff] | tuple[Staff, ...],
    source: str,
    status: str,
) -> set[str]:
    """Insert involvement rows; return the staff ids that were new (not a replay)."""
    if not staff:
        return set()
    rows = [
        {
            "id": uuid.uuid4(),
            "incident_id": incident_id,
            "staff_id": s.staff_id,
            "source": source,
            "status": status,
            "decided_at": clock.now() if status == "confirmed" else None,
        }
        for s in staff
    ]
    inserted = await session.scalars(
        insert(Involvement)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["incident_id", "staff_id"])
        .returning(Involvement.staff_id)
    )
    return set(inserted)


async def _propose_debrief(
    session: AsyncSession, incident: IncidentReported, staff_count: int, unit_count: int
) -> None:
    reason = f"{staff_count} staff involved across {unit_count} unit(s)"
    debrief_id = await session.scalar(
        insert(GroupDebrief)
        .values(id=uuid.uuid4(), incident_id=incident.incident_id, reason=reason)
        .on_conflict_do_nothing(index_elements=["incident_id"])
        .returning(GroupDebrief.id)
    )
    if debrief_id is None:
        return
    await outbox.add(
        session,
        GroupDebriefProposed(
            debrief_id=debrief_id,
            incident_id=incident.incident_id,
            staff_count=staff_count,
            unit_count=unit_count,
        ),
    )
    log().info("group_debrief.proposed", incident_id=str(incident.incident_id))


class NotProposed(LookupError):
    """The staff member was not proposed for this incident."""


@dataclass(frozen=True)
class Decision:
    status: str
    changed: bool
    case_opened: bool


async def decide(
    session: AsyncSession, incident_id: uuid.UUID, staff_id: str, confirm: bool
) -> Decision:
    """Confirm (contact them) or remove (never contact them) one proposed person.

    Deciding the same way twice is a no-op; a confirmed person with an open case cannot be
    removed, because outreach has already begun.
    """
    row = await session.scalar(
        select(Involvement)
        .where(Involvement.incident_id == incident_id, Involvement.staff_id == staff_id)
        .with_for_update()
    )
    if row is None:
        raise NotProposed(f"{staff_id} is not listed for this incident")
    wanted = "confirmed" if confirm else "removed"
    if row.status == wanted:
        return Decision(wanted, changed=False, case_opened=False)
    if row.status == "confirmed":
        raise ValueError(f"{staff_id} is already confirmed and outreach has begun")
    row.status = wanted
    row.decided_at = clock.now()
    await outbox.add(
        session,
        InvolvementDecided(incident_id=incident_id, staff_id=staff_id, decision=wanted),
    )
    opened = False
    if confirm:
        staff = await session.get(Staff, staff_id)
        if staff is not None and staff.active:  # opted out: a case the coordinator sees
            opened = await open_case(session, incident_id, staff_id) is not None
    return Decision(wanted, changed=True, case_opened=opened)


async def listing(session: AsyncSession, incident_id: uuid.UUID) -> list[dict[str, object]]:
    rows = await session.execute(
        select(Involvement, Staff.display_name, Staff.home_unit)
        .join(Staff, Staff.staff_id == Involvement.staff_id)
        .where(Involvement.incident_id == incident_id)
        .order_by(Involvement.source, Involvement.staff_id)
    )
    return [
        {
            "staff_id": inv.staff_id,
            "display_name": name,
            "home_unit": unit,
            "source": inv.source,
            "status": inv.status,
        }
        for inv, name, unit in rows.all()
    ]
