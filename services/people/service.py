"""Staff directory seeding and choosing an on-call peer.

The minimal roster of the backbone: who is a trained peer and who is on call now. Full
schedules and matching replace `choose_peer` later without changing its callers.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlalchemy import and_, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.people.models import PeerSupporter, Staff

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
STAFF_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
REQUIRED = ("staff_id", "display_name", "discipline", "home_unit", "mobile")


@dataclass
class ImportReport:
    applied: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)

    @property
    def ok(self) -> bool:
        return not self.rejected


def parse_staff_csv(path: Path) -> tuple[list[dict[str, str]], ImportReport]:
    """Check every row before anything is written: an import applies whole or not at all."""
    report = ImportReport()
    rows: list[dict[str, str]] = []
    seen: set[str] = set()
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing_cols = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing_cols:
            report.rejected.append((1, f"missing columns: {', '.join(missing_cols)}"))
            return [], report
        for line, row in enumerate(reader, start=2):
            row = {k: (v or "").strip() for k, v in row.items() if k}
            missing = [c for c in REQUIRED if not row.get(c)]
            if missing:
                report.rejected.append((line, f"missing field: {', '.join(missing)}"))
            elif not STAFF_ID.match(row["staff_id"]):
                report.rejected.append((line, "bad staff_id"))
            elif row["staff_id"] in seen:
                report.rejected.append((line, f"duplicate staff_id {row['staff_id']}"))
            elif not E164.match(row["mobile"]):
                report.rejected.append(
                    (line, "bad mobile number: E.164 expected, e.g. +15551234567")
                )
            elif row.get("peer_trained_until") and not _is_date(row["peer_trained_until"]):
                report.rejected.append((line, "bad peer_trained_until: YYYY-MM-DD expected"))
            else:
                seen.add(row["staff_id"])
                rows.append(row)
    return rows, report


def _is_date(value: str) -> bool:
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


async def import_staff(session: AsyncSession, path: Path) -> ImportReport:
    rows, report = parse_staff_csv(path)
    if not report.ok:
        return report
    for row in rows:
        values = {
            "staff_id": row["staff_id"],
            "display_name": row["display_name"],
            "discipline": row["discipline"],
            "home_unit": row["home_unit"],
            "mobile_e164": row["mobile"],
            "language": row.get("language") or "en",
            "active": True,
        }
        stmt = insert(Staff).values(**values)
        await session.execute(
            stmt.on_conflict_do_update(index_elements=[Staff.staff_id], set_=values)
        )
        if row.get("peer_trained_until"):
            peer = {
                "staff_id": row["staff_id"],
                "trained_until": date.fromisoformat(row["peer_trained_until"]),
                "on_call": row.get("on_call", "").lower() in ("true", "yes", "1"),
                "active": True,
            }
            pstmt = insert(PeerSupporter).values(**peer)
            await session.execute(
                pstmt.on_conflict_do_update(index_elements=[PeerSupporter.staff_id], set_=peer)
            )
    report.applied = len(rows)
    return report


async def known_staff_ids(session: AsyncSession, staff_ids: list[str]) -> set[str]:
    found = await session.scalars(
        select(Staff.staff_id).where(Staff.staff_id.in_(staff_ids), Staff.active.is_(True))
    )
    return set(found)


@dataclass(frozen=True)
class Choice:
    staff: Staff
    reason: str


async def choose_peer(
    session: AsyncSession, clinician: Staff, involved: list[str], recent_pages: dict[str, int]
) -> Choice | None:
    """The on-call trained peer best placed to help, or None.

    Never someone involved in the same event; another unit than the clinician's first, the
    same discipline next, then whoever was paged least recently, so the load is fair.
    """
    today = date.today()
    candidates = (
        await session.scalars(
            select(Staff)
            .join(PeerSupporter, PeerSupporter.staff_id == Staff.staff_id)
            .where(
                and_(
                    PeerSupporter.on_call.is_(True),
                    PeerSupporter.active.is_(True),
                    PeerSupporter.trained_until >= today,
                    Staff.active.is_(True),
                    Staff.staff_id.not_in(involved),
                )
            )
        )
    ).all()
    if not candidates:
        return None

    def rank(s: Staff) -> tuple[bool, bool, int, str]:
        return (
            s.home_unit == clinician.home_unit,
            s.discipline != clinician.discipline,
            recent_pages.get(s.staff_id, 0),
            s.staff_id,
        )

    best = min(candidates, key=rank)
    parts = ["on call", "training current", "not involved"]
    parts.append("other unit" if best.home_unit != clinician.home_unit else "same unit (no other)")
    if best.discipline == clinician.discipline:
        parts.append(f"same discipline ({best.discipline})")
    parts.append(f"{recent_pages.get(best.staff_id, 0)} pages in 7 days")
    return Choice(best, ", ".join(parts))


async def count_staff(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Staff)) or 0)
