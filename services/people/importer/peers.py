"""The peer roster file: upserted only, since the coordinator also edits peers one by one."""

from __future__ import annotations

import time
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.people.importer.common import (
    ImportReport,
    finish,
    lock_imports,
    missing_fields,
    read_csv,
)
from services.people.models import PeerSupporter, Staff
from services.people.roster import PEER_FIELDS, PeerIn, write_peers


def _pydantic_reasons(exc: ValidationError) -> list[str]:
    reasons = []
    for err in exc.errors():
        column = ".".join(str(p) for p in err["loc"][:1])
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "missing":
            reasons.append(f"missing field: {column}")
        elif err["type"] == "extra_forbidden":
            reasons.append(f"unknown column: {column}")
        elif column and not msg.startswith(("bad ", "unknown ")):
            reasons.append(f"bad {column}: {msg}")
        else:
            reasons.append(msg)
    return reasons


PEER_COLUMNS = ("staff_id", "trained_until")
PEER_OPTIONAL = ("trained_on", "supports", "languages", "max_open_cases", "status")


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(";") if v.strip()]


async def _peer_values(session: AsyncSession) -> dict[str, tuple[Any, ...]]:
    cols = [getattr(PeerSupporter, f) for f in PEER_FIELDS]
    found = await session.execute(select(PeerSupporter.staff_id, *cols))
    return {r[0]: tuple(r[1:]) for r in found}


async def import_peers(
    session: AsyncSession, data: bytes | str, *, dry_run: bool = False
) -> ImportReport:
    """Upsert peer supporters. Peers absent from the file are untouched: the coordinator
    also adds and pauses peers one at a time, and a file is often just this term's class."""
    started = time.monotonic()
    report = ImportReport("peers", dry_run=dry_run)
    rows = read_csv(data, report, PEER_COLUMNS, PEER_OPTIONAL)
    await lock_imports(session)
    found = await session.execute(select(Staff.staff_id, Staff.active))
    staff = {r.staff_id: r.active for r in found}
    wanted: dict[str, dict[str, Any]] = {}
    seen: dict[str, int] = {}
    for line, row in rows:
        sid = row["staff_id"]
        problems = missing_fields(row, ("staff_id",))
        if sid and sid not in staff:
            problems.append(f"unknown staff id {sid}")
        elif sid and not staff[sid]:
            problems.append(f"staff {sid} is inactive")
        elif sid in seen:
            problems.append(f"duplicate staff_id {sid} (also line {seen[sid]})")
        fields: dict[str, Any] = {
            "trained_on": row["trained_on"] or None,
            "supports": _split(row["supports"]),
            "languages": _split(row["languages"]),
        }
        for column in ("trained_until", "max_open_cases", "status"):
            if row[column]:
                fields[column] = row[column]
        try:
            peer = PeerIn(**fields)
        except ValidationError as exc:
            problems.extend(_pydantic_reasons(exc))
            peer = None
        if problems or peer is None:
            report.reject(line, sid, "; ".join(problems))
            continue
        seen[sid] = line
        wanted[sid] = {"staff_id": sid, **peer.values()}
    checked = time.monotonic()
    if not report.ok:
        return finish(report, started, checked)
    existing = await _peer_values(session)
    changed = []
    for sid, values in wanted.items():
        old = existing.get(sid)
        if old is None:
            report.added += 1
        elif _peer_differs(old, values):
            report.updated += 1
        else:
            report.unchanged += 1
            continue
        changed.append(values)
    if changed and not dry_run:
        await write_peers(session, changed)
    report.applied = not dry_run
    return finish(report, started, checked)


def _peer_differs(old: tuple[Any, ...], values: dict[str, Any]) -> bool:
    return any(
        (list(o) if isinstance(o, list | tuple) else o) != values[f]
        for o, f in zip(old, PEER_FIELDS, strict=True)
    )
