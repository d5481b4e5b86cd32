"""The staff export: the whole hospital, so people absent from it become inactive."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import bindparam, case, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.config import get_settings
from services.people.fields import (
    STAFF_ID,
    normalise_discipline,
    normalise_language,
    normalise_mobile,
    yes_no,
)
from services.people.importer.common import (
    ImportReport,
    chunks,
    finish,
    lock_imports,
    missing_fields,
    read_csv,
)
from services.people.models import Staff, Unit

# A staff export that would deactivate more than this is refused unless explicitly allowed.
MASS_DEACTIVATION_SHARE = 0.2
MASS_DEACTIVATION_MIN = 25

STAFF_REQUIRED = ("staff_id", "display_name", "discipline", "home_unit", "mobile")
STAFF_OPTIONAL = ("role", "language", "tier1_lead", "opted_out")
_STAFF_FIELDS = ("display_name", "discipline", "role", "home_unit", "mobile_e164", "language")


async def import_staff(
    session: AsyncSession,
    data: bytes | str,
    *,
    dry_run: bool = False,
    allow_mass_deactivation: bool = False,
) -> ImportReport:
    """Apply a full staff export: present staff are added, updated or re-activated, absent
    ones become inactive, and each unit's Tier 1 lead is whoever the file marks.

    A blank opted_out keeps what is stored: people also opt out through the coordinator, and
    the nightly HR export must not quietly opt them back in. "N" opts someone back in.
    """
    started = time.monotonic()
    report = ImportReport("staff", dry_run=dry_run)
    rows = read_csv(data, report, STAFF_REQUIRED, STAFF_OPTIONAL)
    await lock_imports(session)
    units = {
        u.code: u
        for u in (
            await session.execute(select(Unit.code, Unit.active, Unit.tier1_lead_staff_id))
        ).all()
    }
    region = get_settings().default_phone_region
    wanted: dict[str, dict[str, Any]] = {}
    seen: dict[str, int] = {}
    numbers: dict[str, tuple[int, str]] = {}
    leads: dict[str, tuple[int, str]] = {}  # unit -> (line, staff id)
    opt: dict[str, bool | None] = {}
    for line, row in rows:
        sid = row["staff_id"]
        problems = missing_fields(row, STAFF_REQUIRED)
        if sid and not STAFF_ID.match(sid):
            problems.append(f"bad staff_id {sid!r}: letters, digits, '_', '.', '-'; at most 32")
        elif sid in seen:
            problems.append(f"duplicate staff_id {sid} (also line {seen[sid]})")
        if len(row["display_name"]) > 120:
            problems.append("display_name longer than 120 characters")
        if len(row["role"]) > 60:
            problems.append("role longer than 60 characters")
        discipline = mobile = language = None
        lead = opted_out = None
        if row["discipline"]:
            try:
                discipline = normalise_discipline(row["discipline"])
            except ValueError as exc:
                problems.append(str(exc))
        unit = row["home_unit"]
        if unit and unit not in units:
            problems.append(f"unknown unit {unit}")
        elif unit and not units[unit].active:
            problems.append(f"unit {unit} is inactive")
        if row["mobile"]:
            try:
                mobile = normalise_mobile(row["mobile"], region)
            except ValueError as exc:
                problems.append(str(exc))
            else:
                if mobile in numbers:
                    other_line, other = numbers[mobile]
                    problems.append(
                        f"mobile number also given for {other} (line {other_line}): replies "
                        "could not be told apart"
                    )
        try:
            language = normalise_language(row["language"] or "en")
        except ValueError as exc:
            problems.append(str(exc))
        for column in ("tier1_lead", "opted_out"):
            try:
                flag = yes_no(row[column], column)
            except ValueError as exc:
                problems.append(str(exc))
                continue
            if column == "tier1_lead":
                lead = flag
            else:
                opted_out = flag
        if lead and unit and unit in leads:
            other_line, other = leads[unit]
            problems.append(f"second tier1_lead for unit {unit} ({other}, line {other_line})")
        if problems:
            report.reject(line, sid, "; ".join(problems))
            continue
        assert mobile is not None and discipline is not None and language is not None
        seen[sid] = line
        numbers[mobile] = (line, sid)
        if lead:
            leads[unit] = (line, sid)
        opt[sid] = opted_out
        wanted[sid] = {
            "staff_id": sid,
            "display_name": row["display_name"],
            "discipline": discipline,
            "role": row["role"],
            "home_unit": unit,
            "mobile_e164": mobile,
            "mobile_key": mobile,  # the Lookup column hashes it (services.sealing)
            "language": language,
        }
    checked = time.monotonic()
    if not report.ok:
        return finish(report, started, checked)

    existing = {
        s.staff_id: s
        for s in (
            await session.execute(
                select(
                    Staff.staff_id,
                    *(getattr(Staff, f) for f in _STAFF_FIELDS),
                    Staff.opted_out,
                    Staff.active,
                )
            )
        ).all()
    }
    old_lead_of = {
        u.tier1_lead_staff_id: code for code, u in units.items() if u.tier1_lead_staff_id
    }
    new_lead_of = {sid: unit for unit, (_, sid) in leads.items()}
    changed: list[dict[str, Any]] = []
    for sid, values in wanted.items():
        old = existing.get(sid)
        flag = opt[sid]
        values["opted_out"] = flag if flag is not None else bool(old and old.opted_out)
        values["active"] = True
        if old is None:
            report.added += 1
            changed.append(values)
            continue
        same = (
            all(getattr(old, f) == values[f] for f in _STAFF_FIELDS)
            and old.opted_out == values["opted_out"]
            and old.active
        )
        if same and old_lead_of.get(sid) == new_lead_of.get(sid):
            report.unchanged += 1
            continue
        report.updated += 1
        if not same:
            changed.append(values)
    leaving = [sid for sid, s in existing.items() if s.active and sid not in wanted]
    report.deactivated = len(leaving)
    active = sum(1 for s in existing.values() if s.active)
    if len(leaving) > max(MASS_DEACTIVATION_MIN, active * MASS_DEACTIVATION_SHARE) and not (
        allow_mass_deactivation
    ):
        # A truncated export would otherwise silently stop outreach to most of the hospital.
        report.reject(
            1,
            None,
            f"would deactivate {len(leaving)} of {active} active staff; if this export is "
            "really complete, import it again allowing mass deactivation",
        )
        return finish(report, started, checked)
    lead_changes = [
        {"b_code": code, "b_lead": leads[code][1] if code in leads else None}
        for code, u in units.items()
        if u.tier1_lead_staff_id != (leads[code][1] if code in leads else None)
    ]
    if not dry_run:
        if changed:
            stmt = insert(Staff.__table__)
            cols = (*_STAFF_FIELDS, "mobile_key", "opted_out", "active")
            table = Staff.__table__.c
            # Sealed numbers differ each time they are sealed: their lookup values do not.
            same_number = table.mobile_key == stmt.excluded.mobile_key
            stmt = stmt.on_conflict_do_update(
                index_elements=["staff_id"],
                set_={c: stmt.excluded[c] for c in cols}
                | {
                    "updated_at": text("now()"),
                    # A mark of "cannot receive SMS" belongs to the number: a new one clears it.
                    "undeliverable_code": case((same_number, table.undeliverable_code), else_=None),
                    "undeliverable_at": case((same_number, table.undeliverable_at), else_=None),
                },
            )
            await session.execute(stmt, changed)
        for part in chunks(leaving):
            await session.execute(
                update(Staff.__table__)
                .where(Staff.__table__.c.staff_id.in_(part))
                .values(active=False, updated_at=text("now()"))
            )
        if lead_changes:
            table = Unit.__table__
            await session.execute(
                update(table)
                .where(table.c.code == bindparam("b_code"))
                .values(tier1_lead_staff_id=bindparam("b_lead")),
                lead_changes,
            )
    report.applied = not dry_run
    return finish(report, started, checked)
