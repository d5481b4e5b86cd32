"""A feed record's clinicians and unit, resolved against the directory.

After an adapter and before the trigger rules and matching: those compare our staff ids and
unit codes, while a feed names people and units in its own terms. The rules, and why:

- A StaffRef with no system is our staff id: the adapter found it in a field that holds
  one (a reporting system keyed on our directory).
- A ref whose system is in `staff_id_systems` is also looked up as a staff id: some feeds'
  assigning authority IS our staff directory (an HL7 XCN with authority "STAFFID"), and
  mapping every staff id to itself in staff_identifiers would only be a copy to keep in
  step with the staff export.
- Any other system goes through staff_identifiers (`svrr import staff-ids`), matched on
  system and value exactly: identifiers are case-sensitive in FHIR and in HL7.
- Only active staff resolve. Someone who has left is not contacted, and an identifier
  still mapped to them must not quietly turn into nobody: such refs, and refs that match
  no one, are returned as `unresolved` so the coordinator is shown how many clinicians
  the record named that outreach will not reach. A ref is never silently dropped.
- The unit resolves when it is an active unit's code, exactly, or else case-insensitively
  when that names one unit only (feeds write "icu" for our "ICU"; two codes differing only
  in case would make the guess a coin toss, so that gives None). The directory's code is
  returned, since that is what incidents, shifts and staff refer to.

The whole record takes at most two statements (arrays, not one per ref): a code blue may
name a dozen clinicians, and a feed backlog is replayed record after record.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import Text

from services.feeds.record import FeedRecord, StaffRef

# Refs looked up as staff ids, and refs looked up through staff_identifiers, in one round
# trip; each row says which lookup found it (system NULL: a staff id).
STAFF = text(
    "SELECT NULL::text AS system, s.staff_id AS value, s.staff_id FROM staff s "
    "WHERE s.active AND s.staff_id = ANY(:ids) "
    "UNION ALL "
    "SELECT i.system, i.value, s.staff_id FROM staff_identifiers i "
    "JOIN staff s ON s.staff_id = i.staff_id AND s.active "
    "JOIN unnest(:systems, :values) AS r(system, value) "
    "ON r.system = i.system AND r.value = i.value"
).bindparams(
    bindparam("ids", type_=ARRAY(Text)),
    bindparam("systems", type_=ARRAY(Text)),
    bindparam("values", type_=ARRAY(Text)),
)
UNIT = text("SELECT code FROM units WHERE active AND lower(code) = lower(:unit)")


@dataclass(frozen=True)
class Resolved:
    """What the directory made of a record: whom outreach may reach, whom it cannot (shown
    to the coordinator as a count), and the unit as our code, or None when unknown."""

    staff_ids: frozenset[str]
    unresolved: tuple[StaffRef, ...]
    unit: str | None


def _key(ref: StaffRef, staff_id_systems: frozenset[str]) -> tuple[str | None, str]:
    """(None, staff id) for a ref read as a staff id, else (system, value)."""
    if ref.system is None or ref.system in staff_id_systems:
        return (None, ref.value)
    return (ref.system, ref.value)


async def resolve(
    session: AsyncSession,
    record: FeedRecord,
    *,
    staff_id_systems: frozenset[str] = frozenset(),
) -> Resolved:
    """The record's clinicians as active staff ids and its unit as an active unit code.

    A ref named twice (the same person as attending and as author) counts once in
    `unresolved`, so the coordinator's count is of people, not of mentions.
    """
    keys: dict[tuple[str | None, str], StaffRef] = {}
    for ref in record.staff:
        keys.setdefault(_key(ref, staff_id_systems), ref)
    found: dict[tuple[str | None, str], str] = {}
    if keys:
        ids = [value for system, value in keys if system is None]
        pairs = [(system, value) for system, value in keys if system is not None]
        rows = await session.execute(
            STAFF,
            {
                "ids": ids,
                "systems": [system for system, _ in pairs],
                "values": [value for _, value in pairs],
            },
        )
        found = {(r.system, r.value): r.staff_id for r in rows}
    unit = None
    if record.unit is not None:
        codes = list(await session.scalars(UNIT, {"unit": record.unit}))
        if record.unit in codes:
            unit = record.unit
        elif len(codes) == 1:
            unit = codes[0]
    return Resolved(
        staff_ids=frozenset(found.values()),
        unresolved=tuple(ref for key, ref in keys.items() if key not in found),
        unit=unit,
    )
