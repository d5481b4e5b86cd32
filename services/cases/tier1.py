"""Tier 1 for a batch of cases: each unit lead prompted once per incident, naming no one.

Why a batch: a mass casualty opens dozens of cases on a handful of units; a lead learns
"5 people on your team may have had a hard shift" once, whichever worker opens the cases and
however often the incident is redelivered (the tier1_prompts key is the guard).
"""

from __future__ import annotations

import uuid
from collections import defaultdict

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services import texts
from services.cases import outbound
from services.cases.dispatch import Writes
from services.cases.machine import CaseState
from services.people.models import Person, Staff, Unit


async def prompt_leads(
    session: AsyncSession,
    cases: list[tuple[uuid.UUID, uuid.UUID, str, Person]],
    units: dict[str, Unit],
    writes: Writes,
) -> dict[uuid.UUID, str]:
    """Tier 1: one prompt per unit lead per incident, naming no one ("3 of your team").

    `cases` are (case id, incident id, from state, clinician). Returns the cases' states
    after: tier1_notified where their unit has a lead who is not themselves.
    """
    states = {cid: st for cid, _, st, _ in cases}
    by_lead: dict[tuple[uuid.UUID, str], list[uuid.UUID]] = defaultdict(list)
    for case_id, incident_id, _, clinician in cases:
        unit = units.get(clinician.home_unit)
        lead_id = unit.tier1_lead_staff_id if unit else None
        if lead_id and lead_id != clinician.staff_id:
            by_lead[(incident_id, lead_id)].append(case_id)
    if not by_lead:
        return states
    leads = {
        s.staff_id: s
        for s in (
            await session.scalars(
                select(Staff).where(Staff.staff_id.in_({lead for _, lead in by_lead}))
            )
        ).all()
    }
    blocked = await outbound.unreachable(session, (s.mobile_e164 for s in leads.values()))
    promptable = [
        key
        for key in by_lead
        if (lead := leads.get(key[1])) is not None
        and lead.active
        and lead.mobile_e164 not in blocked
    ]
    counts = await _lead_counts(session, promptable)
    fresh: set[tuple[uuid.UUID, str]] = set()
    if promptable:
        rows = await session.execute(
            text(
                "INSERT INTO tier1_prompts (incident_id, lead_staff_id, staff_count) "
                "SELECT * FROM unnest(CAST(:i AS uuid[]), CAST(:l AS text[]), "
                "CAST(:n AS int[])) ON CONFLICT DO NOTHING RETURNING incident_id, lead_staff_id"
            ),
            {
                "i": [i for i, _ in promptable],
                "l": [lead for _, lead in promptable],
                "n": [counts.get(k, 1) for k in promptable],
            },
        )
        fresh = {(i, lead) for i, lead in rows.all()}
    for key, case_ids in by_lead.items():
        incident_id, lead_id = key
        lead = leads.get(lead_id)
        if key in fresh and lead is not None:
            count = counts.get(key, 1)
            await outbound.enqueue(
                session,
                kind="tier1_prompt",
                case_id=case_ids[0],
                to_number=lead.mobile_e164,
                body=await texts.text_for(
                    session,
                    lead,
                    "tier1_prompt_one" if count == 1 else "tier1_prompt_many",
                    count=count,
                ),
                dedupe=str(incident_id),
            )
            reasons = ["unit lead prompted to check in"] + ["unit lead already prompted"] * (
                len(case_ids) - 1
            )
        elif key in promptable or await _prompted(session, incident_id, lead_id):
            reasons = ["unit lead already prompted"] * len(case_ids)
        else:
            continue  # the lead cannot be texted: no Tier 1 step for these cases
        for case_id, reason in zip(case_ids, reasons, strict=True):
            writes.move(case_id, states[case_id], CaseState.tier1_notified, reason)
            states[case_id] = CaseState.tier1_notified
    return states


async def _prompted(session: AsyncSession, incident_id: uuid.UUID, lead_id: str) -> bool:
    found = await session.scalar(
        text("SELECT 1 FROM tier1_prompts WHERE incident_id = :i AND lead_staff_id = :l"),
        {"i": incident_id, "l": lead_id},
    )
    return found is not None


async def _lead_counts(
    session: AsyncSession, keys: list[tuple[uuid.UUID, str]]
) -> dict[tuple[uuid.UUID, str], int]:
    """How many of each lead's staff an incident involves, not counting those who opted
    out (their lead is not prompted about them): one query for every lead of the batch."""
    if not keys:
        return {}
    rows = await session.execute(
        text(
            "SELECT c.incident_id, u.tier1_lead_staff_id, count(*) FROM support_cases c "
            "JOIN staff s ON s.staff_id = c.staff_id JOIN units u ON u.code = s.home_unit "
            "WHERE c.incident_id = ANY(:i) AND u.tier1_lead_staff_id = ANY(:l) "
            "AND c.staff_id <> u.tier1_lead_staff_id AND NOT s.opted_out "
            "AND s.mobile_e164 NOT IN (SELECT number FROM sms_opt_outs) "
            "GROUP BY 1, 2"
        ),
        {"i": list({i for i, _ in keys}), "l": list({lead for _, lead in keys})},
    )
    return {(i, lead): int(n) for i, lead, n in rows.all()}
