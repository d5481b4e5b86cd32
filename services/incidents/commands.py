"""`svrr involvement INCIDENT [confirm|remove STAFF]`: the risk manager's review from a shell.

Same rules as the HTTP routes: only confirmed staff are contacted, a confirmation with
outreach under way cannot be undone.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid

from services.db import async_engine, transaction
from services.incidents import involvement
from services.incidents.models import Incident


def add_commands(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    inv = subparsers.add_parser(
        "involvement", help="list who was involved in an incident, or confirm/remove a proposal"
    )
    inv.add_argument("incident_id", type=uuid.UUID)
    inv.add_argument("decision", nargs="?", choices=["confirm", "remove"])
    inv.add_argument("staff_id", nargs="?")


def run(args: argparse.Namespace) -> int | None:
    if args.cmd != "involvement":
        return None
    if bool(args.decision) != bool(args.staff_id):
        print("give both a decision and a staff id, or neither", file=sys.stderr)
        return 2
    return asyncio.run(_run(args.incident_id, args.decision, args.staff_id))


async def _run(incident_id: uuid.UUID, decision: str | None, staff_id: str | None) -> int:
    try:
        async with transaction() as session:
            if await session.get(Incident, incident_id) is None:
                print(f"no incident {incident_id}", file=sys.stderr)
                return 2
            if decision and staff_id:
                try:
                    result = await involvement.decide(
                        session, incident_id, staff_id, decision == "confirm"
                    )
                except (involvement.NotProposed, ValueError) as exc:
                    print(f"refused: {exc}", file=sys.stderr)
                    return 2
                started = " (outreach started)" if result.case_opened else ""
                print(f"{staff_id}: {result.status}{started}")
                return 0
            for row in await involvement.listing(session, incident_id):
                print(
                    f"{row['staff_id']:<10} {row['source']:<9} {row['status']:<10} "
                    f"{row['display_name']} ({row['home_unit']})"
                )
            return 0
    finally:
        await async_engine().dispose()
