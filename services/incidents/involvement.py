"""Who was involved: the staff a report names, and the staff on shift proposed for review.

A report often names one or two people while a whole team worked the code blue. Staff on
shift on the unit at the time are proposed; only the named ones and those the risk manager
confirms are contacted, because outreach to someone who was not there is itself a harm.
An event touching more than N staff or several units also proposes a group debrief.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.events import (
    Event,
    GroupDebriefProposed,
    IncidentReported,
    InvolvementDecided,
    InvolvementProposed,
    SupportNeeded,
)
from services import clock, outbox
from services.logs import log
from services.people.models import GroupDebrief, Involvement, Staff


async def identify(
    session: AsyncSession, incident: IncidentReported, group_threshold: int
) -> list[SupportNeeded]:
    """One incident's involvement and cases (identify_many with one)."""
    return await identify_many(session, [incident], group_threshold)


async def identify_many(
    session: AsyncSession, incidents: Sequence[IncidentReported], group_threshold: int
) -> list[SupportNeeded]:
    """Record involvement, open a case per confirmed clinician, propose the rest: for a
    batch of incidents, five statements whatever its size.

    Idempotent: a replayed IncidentReported finds every row in place and emits nothing.
    """
    if not incidents:
        return []
    wanted = {sid for i in incidents for sid in i.staff_ids}
    units = dict(
        (
            await session.execute(
                select(Staff.staff_id, Staff.home_unit).where(
                    Staff.staff_id.in_(wanted), Staff.active.is_(True)
                )
            )
        ).all()
    )
    on_shift = await _on_shift(session, incidents)
    at = clock.now()
    rows: list[dict[str, object]] = []
    everyone: dict[uuid.UUID, dict[str, str]] = {}
    for incident in incidents:
        iid = incident.incident_id
        named = sorted({sid for sid in incident.staff_ids if sid in units})
        unresolved = len(set(incident.staff_ids)) - len(named)
        if unresolved:
            log().warning("staff.unresolved", incident_id=str(iid), count=unresolved)
        shift = {
            sid: unit
            for sid, unit in on_shift.get(iid, {}).items()
            if sid not in incident.staff_ids
        }
        everyone[iid] = {sid: units[sid] for sid in named} | shift
        rows += [_row(iid, sid, "named", "confirmed", at) for sid in named]
        rows += [_row(iid, sid, "on_shift", "proposed", None) for sid in sorted(shift)]
    fresh: list[tuple[uuid.UUID, str, str]] = []
    if rows:
        # Arrays, not a multi-row VALUES: one cached statement whatever the batch's size.
        found = await session.execute(
            text(
                "INSERT INTO involvement (id, incident_id, staff_id, source, status, decided_at) "
                "SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:incidents AS uuid[]), "
                "CAST(:staff AS text[]), CAST(:sources AS text[]), CAST(:statuses AS text[]), "
                "CAST(:decided AS timestamptz[])) "
                "ON CONFLICT (incident_id, staff_id) DO NOTHING "
                "RETURNING incident_id, staff_id, status"
            ),
            {
                "ids": [r["id"] for r in rows],
                "incidents": [r["incident_id"] for r in rows],
                "staff": [r["staff_id"] for r in rows],
                "sources": [r["source"] for r in rows],
                "statuses": [r["status"] for r in rows],
                "decided": [r["decided_at"] for r in rows],
            },
        )
        fresh = [(i, sid, status) for i, sid, status in found.all()]
    confirmed = [(i, sid) for i, sid, status in fresh if status == "confirmed"]
    needs = await open_cases(session, confirmed)
    events: list[Event] = list(needs)
    proposed: dict[uuid.UUID, list[str]] = {}
    for i, sid, status in fresh:
        if status == "proposed":
            proposed.setdefault(i, []).append(sid)
    events += [
        InvolvementProposed(incident_id=i, staff_ids=sorted(sids)) for i, sids in proposed.items()
    ]
    await outbox.add_many(session, events)
    for incident in incidents:
        people = everyone[incident.incident_id]
        homes = set(people.values())
        if len(people) > group_threshold or len(homes) > 1:
            await _propose_debrief(session, incident, len(people), len(homes | {incident.unit}))
    return needs


def _row(
    incident_id: uuid.UUID, staff_id: str, source: str, status: str, at: datetime | None
) -> dict[str, object]:
    return {
        "id": uuid.uuid4(),
        "incident_id": incident_id,
        "staff_id": staff_id,
        "source": source,
        "status": status,
        "decided_at": at,
    }


async def _on_shift(
    session: AsyncSession, incidents: Sequence[IncidentReported]
) -> dict[uuid.UUID, dict[str, str]]:
    """Who was on shift on each incident's unit at its time (staff id -> home unit)."""
    spec = [
        {"id": str(i.incident_id), "unit": i.unit, "at": i.occurred_at.isoformat()}
        for i in incidents
    ]
    rows = await session.execute(
        text(
            "SELECT i.id, s.staff_id, s.home_unit FROM jsonb_to_recordset(CAST(:spec AS jsonb)) "
            "AS i(id uuid, unit text, at timestamptz) "
            "JOIN shifts sh ON sh.unit = i.unit AND sh.starts_at <= i.at AND sh.ends_at > i.at "
            "JOIN staff s ON s.staff_id = sh.staff_id AND s.active"
        ),
        {"spec": json.dumps(spec)},
    )
    found: dict[uuid.UUID, dict[str, str]] = {}
    for iid, sid, unit in rows.all():
        found.setdefault(iid, {})[sid] = unit
    return found


async def open_cases(
    session: AsyncSession, pairs: list[tuple[uuid.UUID, str]]
) -> list[SupportNeeded]:
    """One case per clinician per incident; a replay (or a second confirmation) makes none.
    The caller queues the SupportNeeded events."""
    if not pairs:
        return []
    rows = await session.execute(
        text(
            "INSERT INTO support_cases (id, incident_id, staff_id, tier, state, "
            "escalation_step, escalation_round) "
            "SELECT id, incident_id, staff_id, 2, 'identified', 0, 0 FROM unnest("
            "CAST(:ids AS uuid[]), CAST(:incidents AS uuid[]), CAST(:staff AS text[])) "
            "AS n(id, incident_id, staff_id) "
            "ON CONFLICT (incident_id, staff_id) DO NOTHING RETURNING id, incident_id, staff_id"
        ),
        {
            "ids": [uuid.uuid4() for _ in pairs],
            "incidents": [i for i, _ in pairs],
            "staff": [sid for _, sid in pairs],
        },
    )
    made = {(r.incident_id, r.staff_id): r.id for r in rows.all()}
    return [
        SupportNeeded(case_id=made[p], incident_id=p[0], staff_id=p[1]) for p in pairs if p in made
    ]


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
            made = await open_cases(session, [(incident_id, staff_id)])
            await outbox.add_many(session, list(made))
            opened = bool(made)
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
