"""What the imports share: the report, a CSV export read into rows, one import at a time."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, TypeVar

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.logs import log

Kind = Literal["units", "staff", "shifts", "peers", "staff-ids"]

# Rows per statement when a list of keys is sent to PostgreSQL: well under its 65,535
# bind-parameter limit, so a hospital of any size imports in a handful of round trips.
CHUNK = 10_000


@dataclass(frozen=True)
class Rejection:
    line: int  # 1 is the header
    id: str | None  # the row's staff id or unit code, when it has one
    reason: str


@dataclass
class ImportReport:
    kind: Kind
    rows: int = 0
    added: int = 0
    updated: int = 0
    deactivated: int = 0
    unchanged: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    applied: bool = False
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return not self.rejected

    def reject(self, line: int, key: str | None, reason: str) -> None:
        self.rejected.append(Rejection(line, key or None, reason))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        if self.rejected:
            return (
                f"{self.kind}: nothing applied: {len(self.rejected)} of {self.rows} rows rejected"
            )
        verb = "would apply" if self.dry_run else "applied"
        return (
            f"{self.kind}: {verb} {self.rows} rows: {self.added} added, {self.updated} "
            f"updated, {self.deactivated} deactivated, {self.unchanged} unchanged"
        )


def read_csv(
    data: bytes | str,
    report: ImportReport,
    required: Sequence[str],
    optional: Sequence[str] = (),
) -> list[tuple[int, dict[str, str]]]:
    """Rows as (line, stripped values), or [] with the reason in the report.

    utf-8-sig because spreadsheets save CSV with a byte-order mark, which would otherwise
    turn the first column name into an unknown one. Unknown columns are refused: a
    misspelt "opted-out" would otherwise be silently ignored.
    """
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            report.reject(line, None, "not UTF-8 text: save the export as CSV UTF-8")
            return []
    else:
        data = data.removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(data, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        report.reject(1, None, "empty file: a header row is expected")
        return []
    except csv.Error as exc:
        report.reject(1, None, f"unreadable CSV: {exc}")
        return []
    known = set(required) | set(optional)
    problems = [f"missing column: {c}" for c in required if c not in header]
    problems += [f"unknown column: {c or '(blank)'}" for c in header if c not in known]
    dupes = sorted({c for c in header if header.count(c) > 1})
    problems += [f"duplicate column: {c}" for c in dupes]
    if problems:
        report.reject(1, None, "; ".join(problems))
        return []
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        for values in reader:
            line = reader.line_num
            if not any(v.strip() for v in values):
                continue  # blank lines and spreadsheets' trailing ",,,," rows
            report.rows += 1
            if len(values) > len(header):
                report.reject(
                    line,
                    values[0].strip() or None,
                    f"{len(values)} fields, the header has {len(header)}",
                )
                continue
            row = {c: "" for c in known}
            row.update({c: v.strip() for c, v in zip(header, values, strict=False)})
            rows.append((line, row))
    except csv.Error as exc:
        report.reject(reader.line_num, None, f"unreadable CSV: {exc}")
        return []
    return rows


def missing_fields(row: dict[str, str], columns: Iterable[str]) -> list[str]:
    gone = [c for c in columns if not row[c]]
    if not gone:
        return []
    return [f"missing field{'s' if len(gone) > 1 else ''}: {', '.join(gone)}"]


T = TypeVar("T")


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


async def lock_imports(session: AsyncSession) -> None:
    """One directory import at a time: a staff import checked against units that a
    concurrent units import is changing would apply against rows it never saw."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext('svrr.people.import'))"))


def finish(report: ImportReport, started: float, checked: float) -> ImportReport:
    log().info(
        "people.import",
        kind=report.kind,
        rows=report.rows,
        rejected=len(report.rejected),
        added=report.added,
        updated=report.updated,
        deactivated=report.deactivated,
        unchanged=report.unchanged,
        applied=report.applied,
        validate_ms=round((checked - started) * 1000),
        apply_ms=round((time.monotonic() - checked) * 1000),
    )
    return report
