"""The scheduling export: shifts upserted on (staff, start), wall-clock times refused when
the clocks make them ambiguous."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.people.fields import (
    wall_clock,
)
from services.people.importer.common import (
    ImportReport,
    chunks,
    finish,
    lock_imports,
    missing_fields,
    read_csv,
)
from services.people.models import Shift, Staff, Unit

MAX_SHIFT = timedelta(hours=24)

SHIFT_COLUMNS = ("staff_id", "unit", "starts_at", "ends_at")


async def import_shifts(
    session: AsyncSession, data: bytes | str, *, dry_run: bool = False
) -> ImportReport:
    """Upsert shifts on (staff_id, starts_at); shifts absent from the file are kept, since a
    scheduling export covers a window of time, not all of history.

    Staff who have since left are accepted: a past shift still says who was on the unit.
    """
    started = time.monotonic()
    report = ImportReport("shifts", dry_run=dry_run)
    rows = read_csv(data, report, SHIFT_COLUMNS)
    await lock_imports(session)
    staff = set((await session.scalars(select(Staff.staff_id))).all())
    zones: dict[str, tuple[str, ZoneInfo | None]] = {}
    for code, zone_name in (await session.execute(select(Unit.code, Unit.time_zone))).all():
        try:
            zones[code] = (zone_name, ZoneInfo(zone_name))
        except (ZoneInfoNotFoundError, ValueError):
            zones[code] = (zone_name, None)
    wanted: dict[tuple[str, datetime], dict[str, Any]] = {}
    seen: dict[tuple[str, datetime], int] = {}
    for line, row in rows:
        sid, unit = row["staff_id"], row["unit"]
        problems = missing_fields(row, SHIFT_COLUMNS)
        if sid and sid not in staff:
            problems.append(f"unknown staff id {sid}")
        zone: ZoneInfo | None = None
        zone_name = ""
        if unit and unit not in zones:
            problems.append(f"unknown unit {unit}")
        elif unit:
            zone_name, zone = zones[unit]
            if zone is None:
                problems.append(f"unit {unit} has an unknown time zone {zone_name!r}")
        starts = ends = None
        if zone is not None:
            for column in ("starts_at", "ends_at"):
                if not row[column]:
                    continue
                try:
                    moment = wall_clock(row[column], zone, zone_name, column)
                except ValueError as exc:
                    problems.append(str(exc))
                    continue
                if column == "starts_at":
                    starts = moment
                else:
                    ends = moment
        if starts and ends:
            if ends < starts:
                problems.append("ends before it starts")
            elif ends == starts:
                problems.append("ends when it starts")
            elif ends - starts > MAX_SHIFT:
                hours = (ends - starts).total_seconds() / 3600
                problems.append(f"longer than 24 hours ({hours:g} h)")
        if starts and sid and (sid, starts) in seen:
            problems.append(
                f"duplicate shift for {sid} starting {starts.isoformat()} "
                f"(also line {seen[(sid, starts)]})"
            )
        if problems:
            report.reject(line, sid, "; ".join(problems))
            continue
        assert starts is not None and ends is not None
        seen[(sid, starts)] = line
        wanted[(sid, starts)] = {
            "staff_id": sid,
            "unit": unit,
            "starts_at": starts,
            "ends_at": ends,
        }
    checked = time.monotonic()
    if not report.ok or not wanted:
        report.applied = report.ok and not dry_run
        return finish(report, started, checked)

    ids = sorted({sid for sid, _ in wanted})
    first = min(s for _, s in wanted)
    last = max(s for _, s in wanted)
    existing: dict[tuple[str, datetime], tuple[str, datetime]] = {}
    for part in chunks(ids):
        found = await session.execute(
            select(Shift.staff_id, Shift.starts_at, Shift.unit, Shift.ends_at).where(
                Shift.staff_id.in_(part), Shift.starts_at.between(first, last)
            )
        )
        existing.update({(r.staff_id, r.starts_at): (r.unit, r.ends_at) for r in found})
    changed = []
    for key, values in wanted.items():
        old = existing.get(key)
        if old is None:
            report.added += 1
        elif old != (values["unit"], values["ends_at"]):
            report.updated += 1
        else:
            report.unchanged += 1
            continue
        changed.append(values)
    if changed and not dry_run:
        stmt = insert(Shift.__table__)
        stmt = stmt.on_conflict_do_update(
            index_elements=["staff_id", "starts_at"],
            set_={"unit": stmt.excluded.unit, "ends_at": stmt.excluded.ends_at},
        )
        await session.execute(stmt, changed)
    report.applied = not dry_run
    return finish(report, started, checked)
