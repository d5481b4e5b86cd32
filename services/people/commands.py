"""`svrr import units|staff|shifts|peers|staff-ids FILE`, `svrr seed`: the directory from a shell.

The same importers as the admin API, so a coordinator at a terminal gets the same checks,
the same all-or-nothing rule and the same report.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from sqlalchemy import func, select

from services.db import async_engine, transaction
from services.people.importer import IMPORTERS, ImportReport
from services.people.models import Staff
from services.schedules.demo import DEMO_SCHEDULE, seed_schedule

SEED = Path(__file__).resolve().parent.parent / "seed"
# Order matters: staff need their units, peers need their staff.
SEED_FILES = (("units", "units.csv"), ("staff", "staff.csv"), ("peers", "peers.csv"))


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    imp = subparsers.add_parser(
        "import", help="import a units, staff, shifts, peers or staff-ids CSV (all or nothing)"
    )
    imp.add_argument("kind", choices=sorted(IMPORTERS))
    imp.add_argument("file", type=Path)
    imp.add_argument(
        "--dry-run", action="store_true", help="check every row and report, change nothing"
    )
    imp.add_argument(
        "--allow-mass-deactivation",
        action="store_true",
        help="staff only: accept an export that deactivates more than 20%% of active staff",
    )
    seed = subparsers.add_parser(
        "seed", help="import the demo hospital (units, staff, peers) and its on-call schedule"
    )
    seed.add_argument(
        "--if-empty",
        action="store_true",
        help="only when the directory has no staff yet (safe on every start of a container)",
    )


def run(args: argparse.Namespace) -> int | None:
    """The exit status of a directory command, or None when the command is not one."""
    if args.cmd == "import":
        staff_only = args.allow_mass_deactivation and args.kind == "staff"
        options = {"allow_mass_deactivation": True} if staff_only else {}
        return asyncio.run(_import(args.kind, args.file, args.dry_run, **options))
    if args.cmd == "seed":
        return asyncio.run(_seed(args.if_empty))
    return None


def _print(report: ImportReport, name: str) -> int:
    if report.ok:
        print(report.summary())
        return 0
    for r in report.rejected:
        where = f"{r.id}: " if r.id else ""
        print(f"{name}:{r.line}: {where}{r.reason}", file=sys.stderr)
    print(report.summary(), file=sys.stderr)
    return 1


async def _import(kind: str, path: Path, dry_run: bool, **options: bool) -> int:
    try:
        data = path.read_bytes()
    except OSError as exc:
        print(f"cannot read {path}: {exc.strerror}", file=sys.stderr)
        return 2
    try:
        async with transaction() as session:
            report = await IMPORTERS[kind](session, data, dry_run=dry_run, **options)
    finally:
        await async_engine().dispose()
    return _print(report, str(path))


async def _seed(if_empty: bool = False) -> int:
    """The demo hospital in one transaction: it is there whole, or not at all."""
    try:
        async with transaction() as session:
            if if_empty and await session.scalar(select(func.count()).select_from(Staff)):
                print("directory already has staff: not seeding")
                return 0
            for kind, filename in SEED_FILES:
                path = SEED / filename
                report = await IMPORTERS[kind](session, path.read_bytes())
                if _print(report, str(path)):
                    await session.rollback()
                    return 1
            await seed_schedule(session)
            print(f"on-call schedule: {DEMO_SCHEDULE!r} in place")
    finally:
        await async_engine().dispose()
    return 0
