"""Staff identifiers (migration 0013, `svrr import staff-ids`) and resolving a feed record's
clinicians and unit against the directory (services.feeds.resolve).

Every test makes its own unit, staff and identifier systems under a fresh prefix, written
straight to the tables: a staff import is a full export and would deactivate other tests'
people, and fresh ids mean no other test's rows can match or collide.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from schemas.events import HarmLevel, IncidentType
from services.db import Base, transaction
from services.feeds.record import FeedRecord, Source, StaffRef
from services.feeds.resolve import Resolved, resolve
from services.people.importer import IMPORTERS, ImportReport, import_staff_ids
from services.people.models import StaffIdentifier
from tests.integration.sealed import lookup, seal
from tests.integration.wards import unused_numbers
from tests.stack import ROOT, letter_tag

HEADER = "staff_id,system,value\n"
MIGRATION = ROOT / "services" / "migrations" / "versions" / "0013_staff_identifiers.py"


@dataclass(frozen=True)
class Ward:
    """This test's own unit, staff (the last one inactive) and identifier system."""

    unit: str
    staff: tuple[str, ...]
    left: str  # an inactive member of staff
    system: str


@pytest.fixture
def ward(db: Engine) -> Iterator[Ward]:
    tag = letter_tag()
    unit = f"Rsv{tag}"
    staff = tuple(f"RS{tag}{n}" for n in range(3))
    left = f"RS{tag}x"
    with db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO units (code, name, site, time_zone, active) "
                "VALUES (:code, 'Resolve test', 'main', 'America/New_York', true)"
            ),
            {"code": unit},
        )
        conn.execute(
            text(
                "INSERT INTO staff (staff_id, display_name, discipline, role, home_unit, "
                "mobile_e164, mobile_key, language, opted_out, active) VALUES (:sid, "
                "'Resolve Test', 'RN', '', :unit, :mobile, :key, 'en', false, :active)"
            ),
            [
                {
                    "sid": sid,
                    "unit": unit,
                    "mobile": seal(mobile, "staff.mobile_e164"),
                    "key": lookup(mobile),
                    "active": sid != left,
                }
                for sid, mobile in zip((*staff, left), unused_numbers(conn, 4), strict=True)
            ],
        )
    yield Ward(unit, staff, left, f"urn:test:{tag}:hr")


async def _import(data: str, dry_run: bool = False) -> ImportReport:
    async with transaction() as session:
        return await import_staff_ids(session, data, dry_run=dry_run)


async def _mapped(system: str) -> dict[str, str]:
    async with transaction() as session:
        rows = await session.execute(
            select(StaffIdentifier.value, StaffIdentifier.staff_id).where(
                StaffIdentifier.system == system
            )
        )
        return {r.value: r.staff_id for r in rows}


def _record(*refs: StaffRef, unit: str | None = None) -> FeedRecord:
    return FeedRecord(
        source=Source.hl7v2,
        feed="resolve-test",
        record_id=uuid.uuid4().hex,
        occurred_at=datetime(2026, 11, 30, 12, tzinfo=UTC),
        unit=unit,
        event_type=IncidentType.unexpected_death,
        harm_level=HarmLevel.death,
        staff=refs,
    )


async def test_import_adds_and_reimport_changes_nothing(ward: Ward) -> None:
    a, b, _ = ward.staff
    other = f"{ward.system}:other"
    data = (
        f"\ufeff{HEADER}{a},{ward.system},E100\n{a},{other},P-1\n"
        f"{b},{ward.system},E200\n{ward.left},{ward.system},E900\n"
    )
    assert "staff-ids" in IMPORTERS
    dry = await _import(data, dry_run=True)
    assert dry.ok and not dry.applied and (dry.rows, dry.added) == (4, 4)
    assert dry.summary().startswith("staff-ids: would apply 4 rows: 4 added")
    assert await _mapped(ward.system) == {}

    report = await _import(data)
    assert report.ok and report.applied and (report.added, report.unchanged) == (4, 0)
    assert await _mapped(ward.system) == {"E100": a, "E200": b, "E900": ward.left}
    assert await _mapped(other) == {"P-1": a}

    again = await _import(data)
    assert again.ok and (again.added, again.updated, again.unchanged) == (0, 0, 4)
    assert await _mapped(ward.system) == {"E100": a, "E200": b, "E900": ward.left}

    # Upserted only: a file of one new mapping keeps the others.
    more = await _import(f"{HEADER}{b},{other},P-2\n")
    assert (more.added, more.unchanged) == (1, 0)
    assert await _mapped(other) == {"P-1": a, "P-2": b}


async def test_import_refuses_every_bad_row_and_applies_nothing(ward: Ward) -> None:
    a, b, _ = ward.staff
    first = await _import(f"{HEADER}{a},{ward.system},TAKEN\n")
    assert first.ok
    rows = [
        f"{a},{ward.system},GOOD1",  # 2: fine on its own
        f"NOBODY{ward.staff[0]},{ward.system},X1",  # 3
        f"{a},,X2",  # 4
        f"{a},{ward.system},",  # 5
        f"{b},{ward.system},GOOD1",  # 6: same (system, value) as line 2
        f"{b},{ward.system},TAKEN",  # 7: already mapped to a
        f"{a},{ward.system},{'v' * 65}",  # 8
        f"{a},{'s' * 201},X3",  # 9
        f"{a},{ward.system},TAKEN",  # 10: already a's: fine
    ]
    report = await _import(HEADER + "\n".join(rows) + "\n")
    assert not report.ok and not report.applied and report.rows == 9
    got = {r.line: (r.id, r.reason) for r in report.rejected}
    assert sorted(got) == [3, 4, 5, 6, 7, 8, 9]
    assert got[3] == (f"NOBODY{a}", f"unknown staff id NOBODY{a}")
    assert got[4] == (a, "missing field: system")
    assert got[5] == (a, "missing field: value")
    assert got[6] == (b, "duplicate system and value (also line 2)")
    assert got[7] == (b, f"system and value already belong to {a}")
    assert got[8] == (a, "value longer than 64 characters")
    assert got[9] == (a, "system longer than 200 characters")
    assert report.summary() == "staff-ids: nothing applied: 7 of 9 rows rejected"
    assert await _mapped(ward.system) == {"TAKEN": a}

    wrong = await _import("staff_id,system,identifier\n")
    assert [r.reason for r in wrong.rejected] == [
        "missing column: value; unknown column: identifier"
    ]


def test_cli_import_staff_ids(ward: Ward, tmp_path: Path) -> None:
    path = tmp_path / "ids.csv"
    path.write_text(f"{HEADER}{ward.staff[0]},{ward.system},C1\n")
    for extra, words in ((["--dry-run"], "would apply 1 rows: 1 added"), ([], "applied 1")):
        out = subprocess.run(
            [sys.executable, "-m", "services.cli", "import", "staff-ids", str(path), *extra],
            capture_output=True,
            text=True,
        )
        assert out.returncode == 0, out.stderr
        assert f"staff-ids: {words}" in out.stdout
    path.write_text(f"{HEADER}NOBODY,{ward.system},C2\n")
    out = subprocess.run(
        [sys.executable, "-m", "services.cli", "import", "staff-ids", str(path)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 1
    assert f"{path}:2: NOBODY: unknown staff id NOBODY" in out.stderr


async def test_resolve_staff_ids_identifiers_and_staff_id_systems(ward: Ward) -> None:
    a, b, c = ward.staff
    other = f"{ward.system}:npi"
    report = await _import(
        f"{HEADER}{b},{ward.system},E200\n{c},{other},N300\n{ward.left},{ward.system},E900\n"
    )
    assert report.ok
    record = _record(
        StaffRef(value=a),  # our staff id
        StaffRef(value="E200", system=ward.system, role="attending"),
        StaffRef(value=c, system="STAFFID"),  # the feed's authority is our directory
        StaffRef(value="N300", system=other),
        StaffRef(value="e200", system=ward.system),  # identifiers are case-sensitive
        StaffRef(value="E900", system=ward.system),  # mapped, but inactive
        StaffRef(value=ward.left),  # inactive, by staff id
        StaffRef(value=f"NOBODY{a}"),  # no such staff id
        StaffRef(value="E200", system=f"{ward.system}:unknown"),  # no such system
        StaffRef(value="N300", system=other, role="author"),  # same person, named again
    )
    async with transaction() as session:
        got = await resolve(session, record, staff_id_systems=frozenset({"STAFFID"}))
    assert got.staff_ids == frozenset({a, b, c})
    assert [(r.value, r.system) for r in got.unresolved] == [
        ("e200", ward.system),
        ("E900", ward.system),
        (ward.left, None),
        (f"NOBODY{a}", None),
        ("E200", f"{ward.system}:unknown"),
    ]
    assert got.unit is None

    # Without STAFFID as a staff-id system, that ref goes through staff_identifiers: no one.
    async with transaction() as session:
        plain = await resolve(session, _record(StaffRef(value=c, system="STAFFID")))
    assert plain.staff_ids == frozenset()
    assert plain.unresolved == (StaffRef(value=c, system="STAFFID"),)


async def test_resolve_unit(ward: Ward, db: Engine) -> None:
    async def unit_of(code: str | None) -> str | None:
        async with transaction() as session:
            return (await resolve(session, _record(unit=code))).unit

    assert await unit_of(ward.unit) == ward.unit
    assert await unit_of(ward.unit.upper()) == ward.unit
    assert await unit_of(ward.unit.lower()) == ward.unit
    assert await unit_of(f"{ward.unit}X") is None
    assert await unit_of(None) is None
    empty = await _record_resolved(_record())
    assert (empty.staff_ids, empty.unresolved, empty.unit) == (frozenset(), (), None)

    # Two codes differing only in case: the exact one wins, any other casing is no one's.
    twin = ward.unit.upper()
    gone = f"{ward.unit}Old"
    with db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO units (code, name, site, time_zone, active) VALUES "
                "(:twin, 'Twin', 'main', 'UTC', true), (:gone, 'Closed', 'main', 'UTC', false)"
            ),
            {"twin": twin, "gone": gone},
        )
    assert await unit_of(ward.unit) == ward.unit
    assert await unit_of(twin) == twin
    assert await unit_of(ward.unit.lower()) is None
    # An inactive unit is not a unit to open outreach on.
    assert await unit_of(gone) is None
    assert await unit_of(gone.lower()) is None


async def _record_resolved(record: FeedRecord) -> Resolved:
    async with transaction() as session:
        return await resolve(session, record)


def test_the_migration_matches_the_model_and_its_downgrade_drops_it(db: Engine) -> None:
    """In one rolled-back transaction, so the run's other tests never see the table gone."""
    spec = importlib.util.spec_from_file_location("migration_0013", MIGRATION)
    assert spec and spec.loader
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    with db.connect() as conn, conn.begin() as tx:
        context = MigrationContext.configure(
            conn, opts={"target_metadata": Base.metadata, "compare_type": True}
        )
        with Operations.context(context):
            migration.downgrade()
            assert conn.execute(text("SELECT to_regclass('staff_identifiers')")).scalar() is None
            migration.upgrade()
        diffs = [
            d for d in compare_metadata(context, Base.metadata) if "staff_identifiers" in str(d)
        ]
        assert diffs == []
        index = conn.execute(text("SELECT to_regclass('ix_staff_identifiers_staff_id')")).scalar()
        assert index is not None
        with pytest.raises(IntegrityError, match="fk_staff_identifiers_staff_id_staff"):
            conn.execute(
                text("INSERT INTO staff_identifiers VALUES ('urn:x', 'v', 'NOBODY-AT-ALL')")
            )
        tx.rollback()
