"""Each source system's identifiers for our staff: what a feed's clinicians resolve through.

Upserted only: a mapping absent from the file is kept, because each source system's
identifiers often come from a separate export, and a file holding one system's must not
remove another's. A (system, value) already mapped to someone else is refused rather than
moved: a feed's clinician resolving to a different person from one import to the next
would send outreach to the wrong colleague, so a reassignment is never a side effect of an
import. No patient data: every column is a staff identifier.
"""

from __future__ import annotations

import time

from sqlalchemy import select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.people.importer.common import (
    ImportReport,
    chunks,
    finish,
    lock_imports,
    missing_fields,
    read_csv,
)
from services.people.models import Staff, StaffIdentifier

STAFF_IDS_COLUMNS = ("staff_id", "system", "value")
# The sizes StaffRef accepts from a feed: a longer identifier could never be looked up.
MAX_VALUE = 64
MAX_SYSTEM = 200


async def import_staff_ids(
    session: AsyncSession, data: bytes | str, *, dry_run: bool = False
) -> ImportReport:
    """Add the file's (system, value) -> staff id mappings; every row is checked first.

    Unknown staff are refused (the foreign key would fail the whole import with a database
    error instead of a line number); inactive staff are accepted, since resolving decides
    who is active when a feed record arrives, and someone who returns keeps their
    identifiers.
    """
    started = time.monotonic()
    report = ImportReport("staff-ids", dry_run=dry_run)
    rows = read_csv(data, report, STAFF_IDS_COLUMNS)
    await lock_imports(session)
    wanted_ids = sorted({row["staff_id"] for _, row in rows if row["staff_id"]})
    known: set[str] = set()
    for part in chunks(wanted_ids):
        found = await session.scalars(select(Staff.staff_id).where(Staff.staff_id.in_(part)))
        known.update(found)
    keys = sorted({(row["system"], row["value"]) for _, row in rows})
    existing: dict[tuple[str, str], str] = {}
    for part in chunks(keys):
        found_keys = await session.execute(
            select(StaffIdentifier.system, StaffIdentifier.value, StaffIdentifier.staff_id).where(
                tuple_(StaffIdentifier.system, StaffIdentifier.value).in_(part)
            )
        )
        existing.update({(r.system, r.value): r.staff_id for r in found_keys})
    seen: dict[tuple[str, str], int] = {}
    wanted: dict[tuple[str, str], str] = {}
    for line, row in rows:
        sid, system, value = row["staff_id"], row["system"], row["value"]
        problems = missing_fields(row, STAFF_IDS_COLUMNS)
        if sid and sid not in known:
            problems.append(f"unknown staff id {sid}")
        if len(system) > MAX_SYSTEM:
            problems.append(f"system longer than {MAX_SYSTEM} characters")
        if len(value) > MAX_VALUE:
            problems.append(f"value longer than {MAX_VALUE} characters")
        key = (system, value)
        if system and value:
            if key in seen:
                problems.append(f"duplicate system and value (also line {seen[key]})")
            elif key in existing and sid and existing[key] != sid:
                problems.append(f"system and value already belong to {existing[key]}")
        if problems:
            report.reject(line, sid, "; ".join(problems))
            continue
        seen[key] = line
        wanted[key] = sid
    checked = time.monotonic()
    if not report.ok:
        return finish(report, started, checked)
    added = [
        {"system": s, "value": v, "staff_id": sid}
        for (s, v), sid in wanted.items()
        if (s, v) not in existing
    ]
    report.added = len(added)
    report.unchanged = len(wanted) - len(added)
    if added and not dry_run:
        # Nothing can conflict under the import lock; DO NOTHING only keeps a mapping made
        # outside an import from failing this one with a database error.
        stmt = insert(StaffIdentifier.__table__).on_conflict_do_nothing(
            index_elements=["system", "value"]
        )
        await session.execute(stmt, added)
    report.applied = not dry_run
    return finish(report, started, checked)
