"""`svrr feed check`: the feed adapters on files, from a shell, with no store and no broker.
(`svrr feed replay`, which runs kept refusals again, is services/feeds/replay.py's.)

Why: an integration analyst setting up a feed has an export or a captured message and needs
to see exactly what the product would take from it (the FeedRecord, and what the default
trigger rules would do with it) and why anything is refused, before a single message is
sent to a running service. The adapters are the ones the services use, so the answer here
is the answer there.

Why only what the adapters say is printed: a refused record's content may be a patient's.
A refusal line carries the adapters' Problems (a place and a reason, never a value), the
file name and the message or row number; a record line carries the FeedRecord, which holds
no patient by construction (services.feeds.record).

Exit status: 0 when every record was read (a message that is no trigger is read too), 1 when
some were refused and others taken, 2 when nothing could be read or the arguments are wrong.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services import clock
from services.db import transaction
from services.feeds import codeblue, fhir, hl7_ack, hl7v2, replay, reporting, reporting_mapping
from services.feeds.config import load_feeds
from services.feeds.mapfile import MappingInvalid
from services.feeds.record import FeedRecord, FeedRefused, Problem, Source
from services.feeds.triggers import DEFAULT_RULES, decide

SOURCES = (Source.fhir, Source.hl7v2, Source.reporting, Source.code_blue)
STDIN = "-"
_ROW = re.compile(r"^row (\d+)\b")


def _zone(name: str) -> tzinfo:
    """An IANA zone for argparse: a typo is argparse's error (exit 2), not a wrong hour."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise argparse.ArgumentTypeError(f"not a time zone: {name!r}") from None


def add_commands(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    feed = subparsers.add_parser("feed", help="run a feed adapter on files (no store needed)")
    feed_sub = feed.add_subparsers(dest="feed_cmd", required=True)
    check = feed_sub.add_parser(
        "check",
        help="print what a feed would take from files, and why anything is refused",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("--source", required=True, choices=[s.value for s in SOURCES])
    check.add_argument("--feed", default="cli", help="the feed name the records carry")
    check.add_argument(
        "--format",
        choices=["csv", "json"],
        default=None,
        help="reporting only: csv export or json webhook body (default: the file's suffix)",
    )
    check.add_argument(
        "--mapping", type=Path, default=None, help="fhir or reporting: a mapping YAML file"
    )
    check.add_argument("--fhir-version", choices=["4.0", "4.3", "5.0"], default=None)
    check.add_argument(
        "--zone",
        type=_zone,
        default=None,
        help="how times sent without an offset are read (hl7v2, code_blue; reporting when "
        "the mapping names no timezone)",
    )
    check.add_argument(
        "--unit-system", default=None, help="fhir: the Location identifier system of unit codes"
    )
    check.add_argument(
        "--staff-system",
        action="append",
        default=[],
        help="the staff identifier system (fhir: repeat, most preferred first; hl7v2 and "
        "code_blue: the system of ids sent without one)",
    )
    check.add_argument("--ack", action="store_true", help="hl7v2: also print the ACK it sends")
    check.add_argument("files", nargs="+", metavar="FILE", help="files to read; - for stdin")
    serve = feed_sub.add_parser(
        "http",
        help="serve the feeds' HTTP routes on their own (services.feeds.app); the API "
        "serves them too",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8010)
    again = feed_sub.add_parser(
        "replay",
        help="run refused records again, once their cause is fixed (services/feeds/replay.py)",
        description=replay.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    again.add_argument("--source", choices=[s.value for s in Source], default=None)
    again.add_argument("--feed", default=None, help="only this feed's refusals")
    again.add_argument("--id", action="append", type=uuid.UUID, default=None, dest="ids")
    again.add_argument("--limit", type=int, default=1000)
    again.add_argument(
        "--dry-run", action="store_true", help="say what would be taken, and keep nothing"
    )
    mllp = feed_sub.add_parser(
        "mllp",
        help="serve an HL7 v2 feed over MLLP: ACK once stored (services.feeds.mllp_service)",
    )
    mllp.add_argument("--feed", default="adt", help="the configured hl7v2 feed (feeds.yaml)")
    mllp.add_argument("--host", default="127.0.0.1", help="address to listen on")
    mllp.add_argument("--port", type=int, default=2575, help="port (2575: HL7's own)")
    mllp.add_argument(
        "--staff-system",
        default=None,
        help="the identifier system of clinicians sent without an assigning authority "
        "(default: the feed's staff_system in feeds.yaml, else such ids are our staff ids)",
    )
    mllp.add_argument(
        "--max-batch", type=int, default=500, help="messages in one transaction at most"
    )
    mllp.add_argument(
        "--metrics-port",
        type=int,
        default=0,
        help="serve Prometheus metrics (the feed's records and refusals) on this port",
    )


@dataclass
class _Tally:
    """Why a tally: the exit status depends on what happened across every file."""

    taken: int = 0
    refused: int = 0
    lines: list[dict[str, Any]] = field(default_factory=list)

    def record(self, name: str, record: FeedRecord, **where: int) -> None:
        self.taken += 1
        decision = decide(record, DEFAULT_RULES)
        self.lines.append(
            {
                "file": name,
                **where,
                "record": record.model_dump(mode="json"),
                "trigger": {
                    "action": decision.action.value,
                    "rule": decision.position,
                    "why": decision.why,
                },
            }
        )

    def refusal(self, name: str, problems: Sequence[Problem], **where: int) -> None:
        self.refused += 1
        self.lines.append(
            {
                "file": name,
                **where,
                "refused": [{"where": p.where, "why": p.why} for p in problems],
            }
        )

    def status(self) -> int:
        if not self.refused:
            return 0
        return 1 if self.taken else 2


def run(args: argparse.Namespace) -> int | None:
    """The exit status of `svrr feed check`, or None when the command is another."""
    if args.cmd != "feed":
        return None
    if args.feed_cmd == "replay":
        return asyncio.run(_replay(args))
    if args.feed_cmd == "http":
        import uvicorn

        uvicorn.run("services.feeds.app:app", host=args.host, port=args.port)
        return 0
    if args.feed_cmd == "mllp":  # a service, with the store: imported only when run
        from services.feeds import mllp_service

        return mllp_service.main(args)
    source = Source(args.source)
    if wrong := _not_for(args, source):
        print(f"svrr feed check: {wrong} does not apply to --source {source}", file=sys.stderr)
        return 2
    formats = {name: _format(args, name) for name in args.files}
    if source is Source.reporting and None in formats.values():
        unknown = [name for name, fmt in formats.items() if fmt is None]
        print(
            f"svrr feed check: give --format csv or json for {', '.join(unknown)}",
            file=sys.stderr,
        )
        return 2
    try:
        reader = _Reader(args, source)
    except (MappingInvalid, OSError) as exc:
        # A mapping's problems name its lines, never the file's values.
        print(f"svrr feed check: mapping refused: {_os_why(exc)}", file=sys.stderr)
        return 2
    tally = _Tally()
    for name in args.files:
        try:
            data = sys.stdin.buffer.read() if name == STDIN else Path(name).read_bytes()
        except OSError as exc:
            tally.refusal(name, [Problem("file", _os_why(exc))])
            continue
        reader.read(name, data, formats[name], tally)
    for line in tally.lines:
        print(json.dumps(line, ensure_ascii=False))
    return tally.status()


# Options that only some adapters read: given to another, they would be silently ignored and
# the analyst would believe the output reflects them.
_ONLY_FOR = {
    "format": ("--format", {Source.reporting}),
    "mapping": ("--mapping", {Source.fhir, Source.reporting}),
    "fhir_version": ("--fhir-version", {Source.fhir}),
    "unit_system": ("--unit-system", {Source.fhir}),
    "ack": ("--ack", {Source.hl7v2}),
}


def _not_for(args: argparse.Namespace, source: Source) -> str | None:
    for dest, (option, sources) in _ONLY_FOR.items():
        if getattr(args, dest) and source not in sources:
            return option
    if len(args.staff_system) > 1 and source is not Source.fhir:
        return "--staff-system more than once"
    return None


def _os_why(exc: Exception) -> str:
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    return str(exc)


def _format(args: argparse.Namespace, name: str) -> str | None:
    if args.format:
        return str(args.format)
    suffix = Path(name).suffix.lower().lstrip(".")
    return suffix if suffix in ("csv", "json") else None


class _Reader:
    """One configured adapter, as the service would configure it from the same options."""

    def __init__(self, args: argparse.Namespace, source: Source) -> None:
        self.source = source
        self.feed: str = args.feed
        self.zone: tzinfo | None = args.zone
        self.staff_systems: tuple[str, ...] = tuple(args.staff_system)
        self.fhir_version: str | None = args.fhir_version
        self.ack: bool = args.ack
        self.fhir_feed = fhir.FhirFeed(self.feed, args.unit_system, self.staff_systems)
        self.mapping: reporting_mapping.ReportingMapping | None = None
        if args.mapping is not None and source is Source.fhir:
            text = args.mapping.read_text(encoding="utf-8")
            codes = fhir.load_mapping(text, origin=args.mapping.name)
            self.fhir_feed = replace(self.fhir_feed, mapping=codes)
        if source is Source.reporting:
            m = (
                reporting_mapping.load_mapping(args.mapping)
                if args.mapping is not None
                else reporting_mapping.default_mapping()
            )
            if m.timezone is None and self.zone is not None:
                m = replace(m, timezone=self.zone)
            self.mapping = m

    def read(self, name: str, data: bytes, fmt: str | None, tally: _Tally) -> None:
        if self.source is Source.hl7v2:
            self._hl7(name, data, tally)
        elif self.source is Source.reporting and fmt == "csv":
            self._csv(name, data, tally)
        else:
            try:
                records = self._one(data)
            except FeedRefused as refused:
                tally.refusal(name, refused.problems)
                return
            for record in records:
                tally.record(name, record)

    def _one(self, data: bytes) -> list[FeedRecord]:
        if self.source is Source.fhir:
            return fhir.read(data, self.fhir_feed, fhir_version=self.fhir_version)
        if self.source is Source.code_blue:
            return codeblue.from_webhook(
                data, feed=self.feed, staff_system=self._one_system(), default_zone=self.zone
            )
        return reporting.from_webhook(data, feed=self.feed, mapping=self.mapping)

    def _one_system(self) -> str | None:
        return self.staff_systems[0] if self.staff_systems else None

    def _csv(self, name: str, data: bytes, tally: _Tally) -> None:
        """One refusal line a row, so an analyst fixes the export row by row."""
        try:
            result = reporting.from_csv(data, feed=self.feed, mapping=self.mapping)
        except FeedRefused as refused:
            tally.refusal(name, refused.problems)
            return
        for record in result.records:
            tally.record(name, record)
        by_row: dict[int | None, list[Problem]] = {}
        for problem in result.problems:
            match = _ROW.match(problem.where)
            by_row.setdefault(int(match[1]) if match else None, []).append(problem)
        for row, problems in by_row.items():
            tally.refusal(name, problems, **({"row": row} if row is not None else {}))

    def _hl7(self, name: str, data: bytes, tally: _Tally) -> None:
        """A file may hold several messages (a batch, or one after another)."""
        try:
            messages = hl7v2.split(data)
        except hl7v2.Hl7Refused as refused:
            tally.refusal(name, refused.problems)
            if self.ack:  # what the listener would answer to these bytes sent as one block
                nak = hl7_ack.ack(data, refused.ack_code, refused.problems)
                tally.lines.append(
                    {"file": name, "ack_code": refused.ack_code.value, "ack": str(nak)}
                )
            return
        if not messages:
            tally.refusal(name, [Problem("file", "no HL7 v2 message in it")])
            return
        for n, message in enumerate(messages, start=1):
            received = hl7_ack.receive(
                message.encode("utf-8"),
                feed=self.feed,
                zone=self.zone or UTC,
                staff_system=self._one_system(),
            )
            if received.problems:
                tally.refusal(name, received.problems, message=n)
            elif not received.records:
                tally.lines.append(
                    {
                        "file": name,
                        "message": n,
                        "ignored": "read, but no trigger: no rule matches it, or MSH-11 is "
                        "not production",
                    }
                )
            for record in received.records:
                tally.record(name, record, message=n)
            if self.ack:
                ack = received.ack.decode("utf-8", "replace")
                tally.lines.append(
                    {"file": name, "message": n, "ack_code": received.code.value, "ack": ack}
                )


class _DryRun(Exception):
    """Raised inside the replay's transaction to roll it back after printing."""


async def _replay(args: argparse.Namespace) -> int:
    """One JSON line per refusal replayed; exit 0 when every one was taken (or there was
    none), 1 when some are still refused or could not be replayed."""
    feeds = load_feeds()
    source = Source(args.source) if args.source else None
    done: list[replay.Replayed] = []
    try:
        async with transaction() as session:
            done = await replay.replay(
                session, feeds, at=clock.now(), source=source, feed=args.feed,
                ids=args.ids, limit=args.limit,
            )  # fmt: skip
            if args.dry_run:
                raise _DryRun
    except _DryRun:
        pass
    for r in done:
        line: dict[str, Any] = {
            "refusal": str(r.refusal_id),
            "feed": f"{r.source}/{r.feed}",
            "outcome": r.outcome.value,
        }
        if r.taken:
            line["records"] = [
                {
                    "record_id": t.record_id,
                    "disposition": t.disposition.value,
                    "incident_id": str(t.incident_id) if t.incident_id else None,
                }
                for t in r.taken
            ]
        if r.problems:
            line["problems"] = [{"where": p.where, "why": p.why} for p in r.problems]
        if args.dry_run:
            line["dry_run"] = True
        print(json.dumps(line, ensure_ascii=False))
    if not done:
        print(json.dumps({"replayed": 0, "why": "no refusal waiting to be replayed"}))
    return 0 if all(r.outcome is replay.Outcome.taken for r in done) else 1
