"""Tier 1 for a batch of cases: each unit lead prompted once per incident, naming no one.

Why a batch: a mass casualty opens dozens of cases on a handful of units; a lead learns
"5 people on your team may have had a hard shift" once, whichever worker opens the cases and
however often the incident is redelivered (the tier1_prompts key is the guard).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services import texts
from services.cases import outbound
from services.cases.dispatch import Writes
from services.cases.machine import CaseState
from services.db import array_literal, fetch
from services.people.models import STAFF_VIEW_COLUMNS, Person, StaffView, Unit
from services.sealing import Keyring, keyring_of


async def prompt_leads(
    session: AsyncSession,
    cases: list[tuple[uuid.UUID, uuid.UUID, str, Person]],
    units: dict[str, Unit],
    writes: Writes,
    *,
    at: datetime,
    leads: Mapping[str, Person] | None = None,
    blocked: Mapping[str, outbound.Unreachable] | None = None,
) -> dict[uuid.UUID, str]:
    """Tier 1: one prompt per unit lead per incident, naming no one ("3 of your team").

    `cases` are (case id, incident id, from state, clinician). Returns the cases' states
    after: tier1_notified where their unit has a lead who is not themselves. `leads` (the
    units' leads by staff id) and `blocked` (staff numbers that may not be texted) are the
    worker's kept copies (unit_leads, read with its matching context and as fresh); without
    them they are read here.
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
    if leads is None:
        leads = await _staff(session, {lead for _, lead in by_lead})
    if blocked is None:
        by_key = keyring_of(session).by_lookup(s.mobile_e164 for s in leads.values())
        rows = await fetch(session, outbound.UNREACHABLE, {"ns": sorted(by_key)})
        blocked = outbound.unreachable_from(((k, why) for k, why in rows), by_key)
    promptable = [
        key
        for key in by_lead
        if (lead := leads.get(key[1])) is not None
        and lead.active
        and lead.mobile_e164 not in blocked
    ]
    counts: dict[tuple[uuid.UUID, str], int] = {}
    if promptable:
        rows = await fetch(
            session,
            PROMPT,
            {
                "i": array_literal(i for i, _ in promptable),
                "l": array_literal(lead for _, lead in promptable),
            },
        )
        counts = {(i, lead): int(n) for i, lead, n in rows}
    prompts: list[outbound.Outgoing] = []
    for key, case_ids in by_lead.items():
        incident_id, lead_id = key
        lead = leads.get(lead_id)
        if key in counts and lead is not None:
            count = counts[key]
            prompts.append(
                outbound.Outgoing(
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
    await outbound.enqueue_many(session, prompts, blocked, at)
    return states


# Each (incident, lead) prompt, once (the key is the guard), with how many of the lead's
# staff the incident involves, not counting those who opted out (their lead is not
# prompted about them; at least one: the case at hand). One statement: the count reads the
# cases this transaction opened. Returns the prompts written now, with their count.
PROMPT = (
    "WITH k AS (SELECT * FROM unnest(CAST(%(i)s AS uuid[]), CAST(%(l)s AS text[])) "
    "AS k(incident_id, lead_staff_id)), "
    "n AS (SELECT c.incident_id, u.tier1_lead_staff_id AS lead_staff_id, count(*) AS n "
    "FROM support_cases c JOIN staff s ON s.staff_id = c.staff_id "
    "JOIN units u ON u.code = s.home_unit "
    "JOIN k ON k.incident_id = c.incident_id AND k.lead_staff_id = u.tier1_lead_staff_id "
    "WHERE c.staff_id <> u.tier1_lead_staff_id AND NOT s.opted_out "
    "AND s.mobile_key NOT IN (SELECT number_key FROM sms_opt_outs) GROUP BY 1, 2) "
    "INSERT INTO tier1_prompts (incident_id, lead_staff_id, staff_count) "
    "SELECT k.incident_id, k.lead_staff_id, coalesce(n.n, 1) FROM k "
    "LEFT JOIN n USING (incident_id, lead_staff_id) "
    "ON CONFLICT DO NOTHING RETURNING incident_id, lead_staff_id, staff_count"
)

LEADS = (
    f"SELECT {STAFF_VIEW_COLUMNS} FROM staff WHERE staff_id IN "
    "(SELECT tier1_lead_staff_id FROM units WHERE tier1_lead_staff_id IS NOT NULL)"
)
STAFF = f"SELECT {STAFF_VIEW_COLUMNS} FROM staff WHERE staff_id = ANY(CAST(%(ids)s AS text[]))"


def _views(rows: list[tuple[object, ...]], keys: Keyring) -> dict[str, Person]:
    return {str(r[0]): StaffView.of(r, keys) for r in rows}


async def unit_leads(session: AsyncSession) -> dict[str, Person]:
    """Every unit's lead, by staff id: what prompt_leads needs of them, for the worker to
    keep beside its matching context (staff and unit writes bump the counter it checks)."""
    return _views(await fetch(session, LEADS, {}), keyring_of(session))


async def _staff(session: AsyncSession, staff_ids: set[str]) -> dict[str, Person]:
    rows = await fetch(session, STAFF, {"ids": array_literal(sorted(staff_ids))})
    return _views(rows, keyring_of(session))


async def _prompted(session: AsyncSession, incident_id: uuid.UUID, lead_id: str) -> bool:
    found = await session.scalar(
        text("SELECT 1 FROM tier1_prompts WHERE incident_id = :i AND lead_staff_id = :l"),
        {"i": incident_id, "l": lead_id},
    )
    return found is not None
