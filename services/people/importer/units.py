"""The units export: upserted, never deleted (staff, shifts and incidents refer to units)."""

from __future__ import annotations

import time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.identity.models import Site
from services.people.fields import (
    UNIT_CODE,
)
from services.people.importer.common import (
    ImportReport,
    finish,
    lock_imports,
    missing_fields,
    read_csv,
)
from services.people.models import Unit


async def import_units(
    session: AsyncSession, data: bytes | str, *, dry_run: bool = False
) -> ImportReport:
    """Upsert units. Units absent from the file are left alone: staff, shifts and incidents
    refer to them, and no export we know of is the complete list of a hospital's units."""
    started = time.monotonic()
    report = ImportReport("units", dry_run=dry_run)
    rows = read_csv(data, report, ("code", "name", "time_zone"), ("site",))
    await lock_imports(session)
    wanted: dict[str, dict[str, Any]] = {}
    seen: dict[str, int] = {}
    for line, row in rows:
        code = row["code"]
        problems = missing_fields(row, ("code", "name", "time_zone"))
        if code and not UNIT_CODE.match(code):
            problems.append(
                f"bad code {code!r}: letters, digits, ' ', '_', '.', '/', '-'; at most 32"
            )
        elif code in seen:
            problems.append(f"duplicate unit {code} (also line {seen[code]})")
        if len(row["name"]) > 120:
            problems.append("name longer than 120 characters")
        if len(row["site"]) > 32:
            problems.append("site longer than 32 characters")
        if row["time_zone"]:
            try:
                ZoneInfo(row["time_zone"])
            except (ZoneInfoNotFoundError, ValueError):
                problems.append(f"unknown time zone {row['time_zone']!r}: IANA name expected")
        if problems:
            report.reject(line, code, "; ".join(problems))
            continue
        seen[code] = line
        wanted[code] = {
            "code": code,
            "name": row["name"],
            "site": row["site"] or "main",
            "time_zone": row["time_zone"],
            "active": True,
        }
    checked = time.monotonic()
    if not report.ok:
        return finish(report, started, checked)
    existing = {
        u.code: u
        for u in (
            await session.execute(
                select(Unit.code, Unit.name, Unit.site, Unit.time_zone, Unit.active)
            )
        ).all()
    }
    changed = []
    for code, values in wanted.items():
        old = existing.get(code)
        if old is None:
            report.added += 1
        elif (old.name, old.site, old.time_zone, old.active) != (
            values["name"],
            values["site"],
            values["time_zone"],
            True,
        ):
            report.updated += 1
        else:
            report.unchanged += 1
            continue
        changed.append(values)
    if changed and not dry_run:
        stmt = insert(Unit.__table__)
        stmt = stmt.on_conflict_do_update(
            index_elements=["code"],
            set_={c: stmt.excluded[c] for c in ("name", "site", "time_zone", "active")},
        )
        await session.execute(stmt, changed)
        # A new site gets its row (its clock for the console, the crisis line its texts give);
        # an existing site keeps what the programme set for it.
        sites = {v["site"]: v["time_zone"] for v in changed}
        new_sites = insert(Site.__table__).on_conflict_do_nothing(index_elements=["code"])
        await session.execute(
            new_sites, [{"code": c, "name": c, "time_zone": tz} for c, tz in sites.items()]
        )
    report.applied = not dry_run
    return finish(report, started, checked)
