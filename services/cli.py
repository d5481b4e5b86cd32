"""`svrr` command line: migrations, directory imports, the seed, logging an incident, feeds.

`svrr incident` runs the same validation and the same transaction as POST /incidents, so a
risk manager without the web form gets exactly the API's guarantees and errors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from services import clock, logs, retention
from services import keys as key_commands
from services.config import get_settings
from services.db import async_engine, transaction
from services.feeds import commands as feed_commands
from services.identity import commands as identity_commands
from services.incidents import commands as involvement_commands
from services.incidents.service import IncidentIn, KeyReused, NotInDirectory, report
from services.people import commands as people_commands
from services.schedules import commands as schedule_commands

MIGRATIONS = Path(__file__).parent / "migrations"


def migrate(url: str | None = None) -> None:
    from alembic import command
    from alembic.config import Config

    cfg = Config(str(MIGRATIONS / "alembic.ini"))
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url:
        cfg.cmd_opts = argparse.Namespace(x=[f"url={url}"])
    command.upgrade(cfg, "head")


async def _incident(args: argparse.Namespace) -> int:
    try:
        incident = IncidentIn(
            occurred_at=args.occurred_at or clock.now(),
            unit=args.unit,
            event_type=args.event_type,
            harm_level=args.harm_level,
            staff_ids=args.staff,
            reporter_ref=args.reporter_ref,
            incident_key=args.key,
        )
    except ValidationError as exc:
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"])
            print(f"{field}: {str(err['msg']).removeprefix('Value error, ')}", file=sys.stderr)
        return 2
    try:
        async with transaction() as session:
            accepted = await report(session, incident)
    except (NotInDirectory, KeyReused) as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    finally:
        await async_engine().dispose()
    print(json.dumps({"incident_id": str(accepted.incident_id), "created": accepted.created}))
    return 0


def main(argv: list[str] | None = None) -> int:
    settings = get_settings()
    logs.configure(settings.log_format, "warning")
    parser = argparse.ArgumentParser(prog="svrr", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("migrate", help="apply database migrations")
    sub.add_parser("engine", help="run the deadline engine (escalations, reminders, follow-ups)")
    people_commands.add_commands(sub)
    inc = sub.add_parser("incident", help="log an incident (same path as POST /incidents)")
    inc.add_argument("--unit", required=True)
    inc.add_argument("--event-type", required=True)
    inc.add_argument("--harm-level", required=True)
    inc.add_argument("--staff", required=True, nargs="+", help="staff ids involved")
    inc.add_argument("--occurred-at", type=datetime.fromisoformat, default=None)
    inc.add_argument("--reporter-ref", default=None)
    inc.add_argument("--key", default=None, help="incident key: retries with it are idempotent")
    schedule_commands.add_commands(sub)
    identity_commands.add_commands(sub)
    involvement_commands.add_commands(sub)
    feed_commands.add_commands(sub)
    key_commands.add_commands(sub)
    retention.add_commands(sub)
    args = parser.parse_args(argv)
    if (code := key_commands.run(args)) is not None:
        return code
    if (code := retention.run(args)) is not None:
        return code
    if (code := feed_commands.run(args)) is not None:
        return code
    if (code := schedule_commands.run(args)) is not None:
        return code
    if (code := involvement_commands.run(args)) is not None:
        return code
    if (code := identity_commands.run(args)) is not None:
        return code
    if args.cmd == "engine":
        from services.cases import engine

        logs.configure(settings.log_format, settings.log_level)
        return engine.main(settings)
    if args.cmd == "migrate":
        migrate()
        print("database at head")
        return 0
    status = people_commands.run(args)
    if status is not None:
        return status
    return asyncio.run(_incident(args))


if __name__ == "__main__":
    sys.exit(main())
