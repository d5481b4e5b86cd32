"""Who was involved: the staff a report names, and the staff on shift proposed for review.

A report often names one or two people while a whole team worked the code blue. Staff on
shift on the unit at the time are proposed; only the named ones and those the risk manager
confirms are contacted, because outreach to someone who was not there is itself a harm.
An event touching more than N staff or several units also proposes a group debrief.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

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
from services.db import array_literal, fetch
from services.logs import log
from services.people.models import GroupDebrief, Involvement, Staff, StaffView
from services.sealing import keyring_of


async def identify(
    session: AsyncSession, incident: IncidentReported, group_threshold: int
) -> list[SupportNeeded]:
    """One incident's involvement and cases (identify_many with one)."""
    return await identify_many(session, [incident], group_threshold)


async def identify_many(
    session: AsyncSession,
    incidents: Sequence[IncidentReported],
    group_threshold: int,
    *,
    events: list[Event] | None = None,
    opened: list[Opened] | None = None,
) -> list[SupportNeeded]:
    """Record involvement, open a case per confirmed clinician, propose the rest: for a
    batch of incidents, one statement whatever its size (INVOLVE).

    The events (SupportNeeded, InvolvementProposed, GroupDebriefProposed) are queued on the
    outbox here, or appended to `events` for the caller to write with its own (the worker
    writes a batch's events in one statement: services.cases.outreach.start_outreach_many).
    `opened`, when given, receives what outreach needs of each case opened (its `opened`).
    Idempotent: a replayed IncidentReported finds every row in place and emits nothing.
    """
    if not incidents:
        return []
    incidents = one_per_incident(incidents)
    pairs = [(i.incident_id, sid) for i in incidents for sid in dict.fromkeys(i.staff_ids)]
    found = await fetch(
        session,
        INVOLVE,
        {
            "ids": array_literal(i.incident_id for i in incidents),
            "units": array_literal(i.unit for i in incidents),
            "ats": array_literal(i.occurred_at for i in incidents),
            "named_ids": array_literal(i for i, _ in pairs),
            "named": array_literal(sid for _, sid in pairs),
            "now": clock.now(),
        },
    )
    everyone: dict[uuid.UUID, dict[str, str]] = {i.incident_id: {} for i in incidents}
    named: Counter[uuid.UUID] = Counter()
    needs: list[SupportNeeded] = []
    proposed: dict[uuid.UUID, list[str]] = {}
    recorded_now: dict[uuid.UUID, set[str]] = {}
    for r in found:
        iid, sid, unit, source, recorded, case_id = r[:6]
        everyone[iid][sid] = unit
        named[iid] += source == "named"
        if recorded is not None:
            recorded_now.setdefault(iid, set()).add(sid)
        if recorded == "confirmed" and case_id is not None:
            needs.append(SupportNeeded(case_id=case_id, incident_id=iid, staff_id=sid))
        elif recorded == "proposed":
            proposed.setdefault(iid, []).append(sid)
    if opened is not None:
        keys = keyring_of(session)
        staff_ids = {i.incident_id: i.staff_ids for i in incidents}
        for r in found:
            if r[5] is None:
                continue
            iid, sid = r[0], r[1]
            clinician = StaffView(
                staff_id=sid,
                display_name=r[6],
                discipline=r[7],
                home_unit=r[2],
                mobile_e164=keys.open(r[9], "staff.mobile_e164"),
                language=r[10],
                role=r[8],
                opted_out=r[11],
            )
            # involved_in's rule: named in the report, or on record and not removed.
            involved = set(staff_ids[iid]) | recorded_now.get(iid, set()) | set(r[12] or ())
            opened.append(Opened(r[5], iid, clinician, involved, (r[13], r[14])))
    queue: list[Event] = list(needs)
    queue += [
        InvolvementProposed(incident_id=i, staff_ids=sorted(sids)) for i, sids in proposed.items()
    ]
    for incident in incidents:
        iid = incident.incident_id
        unresolved = len(set(incident.staff_ids)) - named[iid]
        if unresolved:
            log().warning("staff.unresolved", incident_id=str(iid), count=unresolved)
        people = everyone[iid]
        homes = set(people.values())
        if len(people) > group_threshold or len(homes) > 1:
            debrief = await _propose_debrief(
                session, incident, len(people), len(homes | {incident.unit})
            )
            if debrief is not None:
                queue.append(debrief)
    if events is None:
        await outbox.add_many(session, queue)
    else:
        events.extend(queue)
    return needs


def one_per_incident(incidents: Sequence[IncidentReported]) -> list[IncidentReported]:
    """A batch may hold one incident twice: a feed record that joins an incident publishes it
    again with the newcomers (services.feeds.intake), and Kafka may deliver an event twice.
    Counted twice, every clinician on both copies came back from INVOLVE twice, and each
    got two outreach needs for one case. One copy per incident, with every staff id either
    copy names (in the order first named), and the latest copy's other fields."""
    merged: dict[uuid.UUID, IncidentReported] = {}
    for incident in incidents:
        prior = merged.get(incident.incident_id)
        if prior is not None:
            staff = list(dict.fromkeys([*prior.staff_ids, *incident.staff_ids]))
            incident = incident.model_copy(update={"staff_ids": staff})
        merged[incident.incident_id] = incident
    return list(merged.values())


# Who was involved in each incident of a batch, recorded, with a case for each clinician
# newly confirmed, in one statement:
# - named: the active staff the report names; confirmed at once (they are contacted);
# - on shift: active staff with a shift on the incident's unit at its time who are not
#   named; proposed, for the risk manager to confirm or remove;
# - a case per confirmed clinician newly recorded: a replay (or a second confirmation)
#   records and opens nothing.
# Returns every person involved (with their home unit, for the group-debrief rule) and
# what was newly recorded: status and case, NULL when already there.
INVOLVE = text(
    "WITH i AS (SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:units AS text[]), "
    "CAST(:ats AS timestamptz[])) AS i(id, unit, at)), "
    "n AS (SELECT * FROM unnest(CAST(:named_ids AS uuid[]), CAST(:named AS text[])) "
    "AS n(id, staff_id)), "
    "who AS (SELECT n.id AS incident_id, s.staff_id, s.home_unit, 'named' AS source, "
    "'confirmed' AS status, CAST(:now AS timestamptz) AS decided_at FROM n "
    "JOIN staff s ON s.staff_id = n.staff_id AND s.active "
    "UNION ALL "
    "SELECT DISTINCT i.id, s.staff_id, s.home_unit, 'on_shift', 'proposed', "
    "CAST(NULL AS timestamptz) FROM i "
    "JOIN shifts sh ON sh.unit = i.unit AND sh.starts_at <= i.at AND sh.ends_at > i.at "
    "JOIN staff s ON s.staff_id = sh.staff_id AND s.active "
    "WHERE NOT EXISTS (SELECT 1 FROM n WHERE n.id = i.id AND n.staff_id = s.staff_id)), "
    "inv AS (INSERT INTO involvement (id, incident_id, staff_id, source, status, decided_at) "
    "SELECT gen_random_uuid(), incident_id, staff_id, source, status, decided_at FROM who "
    "ORDER BY incident_id, source, staff_id "
    "ON CONFLICT (incident_id, staff_id) DO NOTHING RETURNING incident_id, staff_id, status), "
    "cases AS (INSERT INTO support_cases (id, incident_id, staff_id, tier, state, "
    "escalation_step, escalation_round) "
    "SELECT gen_random_uuid(), incident_id, staff_id, 2, 'identified', 0, 0 FROM inv "
    "WHERE status = 'confirmed' ORDER BY incident_id, staff_id "
    "ON CONFLICT (incident_id, staff_id) DO NOTHING RETURNING id, incident_id, staff_id) "
    "SELECT who.incident_id, who.staff_id, who.home_unit, who.source, inv.status, cases.id, "
    # What outreach needs of a case just opened (the clinician; whoever the incident
    # already had on record, not removed; the match-input counters): no read of its own.
    "s.display_name, s.discipline, s.role, s.mobile_e164, s.language, s.opted_out, "
    "CASE WHEN cases.id IS NOT NULL THEN ARRAY(SELECT v.staff_id FROM involvement v "
    "WHERE v.incident_id = who.incident_id AND v.status <> 'removed') END, "
    "m.version, m.loads_version "
    "FROM who JOIN staff s ON s.staff_id = who.staff_id CROSS JOIN match_inputs m "
    "LEFT JOIN inv ON inv.incident_id = who.incident_id AND inv.staff_id = who.staff_id "
    "LEFT JOIN cases ON cases.incident_id = who.incident_id AND cases.staff_id = who.staff_id "
    "ORDER BY who.incident_id, who.source, who.staff_id"
)


@dataclass(frozen=True)
class Opened:
    """A case identify_many opened, with what outreach decides it on (as
    services.cases.dispatch.case_inputs would read it: the case is new, so it has no pages)."""

    case_id: uuid.UUID
    incident_id: uuid.UUID
    clinician: StaffView
    involved: set[str]
    versions: tuple[int, int]  # match_inputs (version, loads_version)


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
) -> GroupDebriefProposed | None:
    """The incident's group debrief, once: its event for the caller to queue, or None."""
    reason = f"{staff_count} staff involved across {unit_count} unit(s)"
    debrief_id = await session.scalar(
        insert(GroupDebrief)
        .values(id=uuid.uuid4(), incident_id=incident.incident_id, reason=reason)
        .on_conflict_do_nothing(index_elements=["incident_id"])
        .returning(GroupDebrief.id)
    )
    if debrief_id is None:
        return None
    log().info("group_debrief.proposed", incident_id=str(incident.incident_id))
    return GroupDebriefProposed(
        debrief_id=debrief_id,
        incident_id=incident.incident_id,
        staff_count=staff_count,
        unit_count=unit_count,
    )


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
