"""`svrr bootstrap`, `svrr user add` and `svrr demo-users`: people who sign in, from a shell.

The first administrator comes from here (or the environment); everyone after is made by an
administrator in the console.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys

from sqlalchemy import select

from services import clock
from services.config import get_settings
from services.db import async_engine, transaction
from services.identity.models import USER_ROLES, Role, User
from services.identity.users import (
    UserRefused,
    bootstrap,
    create_user,
    generated_password,
    set_access,
    set_password,
)
from services.people.models import PeerSupporter, Staff
from services.schedules.service import on_call_staff


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    subparsers.add_parser(
        "bootstrap",
        help="adopt API_TOKENS/ADMIN_TOKENS as integration tokens and create the first admin",
    )
    add = subparsers.add_parser("user", help="add a person who signs in to the console")
    add.add_argument("action", choices=["add"])
    add.add_argument("--username", required=True)
    add.add_argument("--name", required=True, help="display name")
    add.add_argument("--role", required=True, choices=[r.value for r in USER_ROLES])
    add.add_argument("--staff-id", default=None, help="required for a peer supporter")
    add.add_argument("--site", default=None, help="their site: the clock the console shows")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    demo = subparsers.add_parser(
        "demo-users",
        help="one user per role with fresh passwords, printed (demo only, never production)",
    )
    demo.add_argument(
        "--peer", default=None, help="the staff id the peer user is linked to (default: on call)"
    )


def run(args: argparse.Namespace) -> int | None:
    if args.cmd == "bootstrap":
        return asyncio.run(_bootstrap())
    if args.cmd == "user":
        return asyncio.run(_add(args))
    if args.cmd == "demo-users":
        return asyncio.run(_demo_users(args.peer))
    return None


async def _bootstrap() -> int:
    try:
        async with transaction() as session:
            done = await bootstrap(session, get_settings())
    except UserRefused as exc:
        print(f"refused: {exc.field}: {exc}", file=sys.stderr)
        return 2
    finally:
        await async_engine().dispose()
    print("\n".join(done) if done else "nothing to bootstrap")
    return 0


async def _add(args: argparse.Namespace) -> int:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("password: ")
    try:
        async with transaction() as session:
            user = await create_user(
                session,
                username=args.username,
                display_name=args.name,
                role=Role(args.role),
                password=password,
                staff_id=args.staff_id,
                site=args.site,
            )
    except UserRefused as exc:
        print(f"refused: {exc.field}: {exc}", file=sys.stderr)
        return 2
    finally:
        await async_engine().dispose()
    print(f"user {user.username} ({user.role}) added")
    return 0


DEMO_SITE = "main"


async def _demo_users(peer: str | None) -> int:
    """Fresh passwords every run, so a demo's printed passwords are never reused anywhere."""
    now = clock.now()
    lines = []
    try:
        async with transaction() as session:
            # The demo's peer is one on call now, so the scripted incident's page (and the
            # case it leads to) shows on their phone.
            on_call = await on_call_staff(session, now)
            peers = (
                await session.scalars(
                    select(PeerSupporter.staff_id)
                    .join(Staff, Staff.staff_id == PeerSupporter.staff_id)
                    .where(PeerSupporter.active, Staff.active)
                    .order_by(PeerSupporter.staff_id)
                )
            ).all()
            if peer is not None and peer not in peers:
                print(f"refused: --peer {peer} is not an active peer supporter", file=sys.stderr)
                return 2
            peer_staff = peer or next((p for p in peers if p in on_call), None)
            wanted = [
                ("risk", "Riley Risk (demo)", Role.risk_manager, None),
                ("coordinator", "Casey Coordinator (demo)", Role.coordinator, None),
                ("peer", "Demo peer supporter", Role.peer, peer_staff),
                ("admin", "Ada Admin (demo)", Role.admin, None),
            ]
            for username, name, role, staff_id in wanted:
                password = generated_password()
                user = await session.scalar(select(User).where(User.username == username))
                if user is None:
                    await create_user(
                        session,
                        username=username,
                        display_name=name,
                        role=role,
                        password=password,
                        staff_id=staff_id,
                        site=DEMO_SITE,
                    )
                else:
                    await set_access(session, user, role=role, active=True, now=now)
                    await set_password(session, user, password, now)
                lines.append(f"  {role.value:<13} {username:<12} {password}")
    except UserRefused as exc:
        print(f"refused: {exc.field}: {exc}", file=sys.stderr)
        return 2
    finally:
        await async_engine().dispose()
    print("console users (role, username, password):")
    print("\n".join(lines))
    return 0
