"""`svrr on-call` and `svrr schedule show`: the coordinator's view from a shell.

Both print what the admin API returns, from the same functions (services/schedules/admin.py),
so a coordinator at a terminal at 3 a.m. sees exactly what paging sees.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Coroutine
from datetime import datetime

from services.db import async_engine, transaction
from services.schedules import admin


def _aware(value: str) -> datetime:
    at = datetime.fromisoformat(value)
    if at.utcoffset() is None:
        raise argparse.ArgumentTypeError(
            "give a time zone offset, e.g. 2026-11-22T03:12:00Z or 2026-11-21T22:12:00-05:00"
        )
    return at


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    on_call = subparsers.add_parser("on-call", help="who is on call now (or --at), and why")
    on_call.add_argument("--at", type=_aware, default=None, help="ISO time with offset")
    schedule = subparsers.add_parser("schedule", help="on-call schedules")
    actions = schedule.add_subparsers(dest="schedule_cmd", required=True)
    show = actions.add_parser("show", help="a schedule's rotations and overrides")
    show.add_argument("name")


def run(args: argparse.Namespace) -> int | None:
    """The exit code, or None when the command is not one of ours."""
    if args.cmd == "on-call":
        return asyncio.run(_with_engine(_on_call(args.at)))
    if args.cmd == "schedule" and args.schedule_cmd == "show":
        return asyncio.run(_with_engine(_show(args.name)))
    return None


async def _with_engine(step: Coroutine[object, object, int]) -> int:
    try:
        return await step
    except admin.ScheduleError as exc:
        for fld, msg in exc.fields.items():
            print(f"{fld}: {msg}", file=sys.stderr)
        return 2
    finally:
        await async_engine().dispose()


async def _on_call(at: datetime | None) -> int:
    async with transaction() as session:
        view = await admin.who_is_on_call(session, at)
    print(f"On call at {view['at']}:")
    people = view["on_call"]
    assert isinstance(people, list)
    if not people:
        print("  nobody: pages go to the programme coordinator")
    for p in people:
        line = f"  {p['staff_id']:<10} {p['display_name']:<24} via {', '.join(p['schedules'])}"
        if p["warnings"]:
            line += f"  [{'; '.join(p['warnings'])}]"
        print(line)
    turns = view["rotations"]
    assert isinstance(turns, list)
    if turns:
        print("Turns:")
    for t in turns:
        who = t["staff_id"] or "(not started)"
        print(
            f"  {t['schedule']} / {t['rotation']}: {who} until {t['turn_ends_local']}"
            f" ({t['turn_ends_at']})"
        )
    return 0


async def _show(name: str) -> int:
    async with transaction() as session:
        schedule_id = await admin.schedule_id_by_name(session, name)
        view = await admin.get_schedule(session, schedule_id)
    print(f"{view['name']}  ({view['time_zone']})  id {view['id']}")
    rotations = view["rotations"]
    overrides = view["overrides"]
    assert isinstance(rotations, list) and isinstance(overrides, list)
    if not rotations:
        print("  no rotations: this schedule puts nobody on call")
    for r in rotations:
        people = ", ".join(f"{p['staff_id']} ({p['display_name']})" for p in r["participants"])
        print(
            f"  rotation {r['name']}: {r['kind']}, {r['shift_hours']} h turns from "
            f"{r['start_local']} local; in order: {people}"
        )
    for o in overrides:
        change = " ".join(
            part
            for part in (
                f"add {o['add_staff_id']}" if o["add_staff_id"] else "",
                f"remove {o['remove_staff_id']}" if o["remove_staff_id"] else "",
            )
            if part
        )
        print(f"  override {o['id']}: {change} from {o['starts_at']} to {o['ends_at']}")
    return 0
