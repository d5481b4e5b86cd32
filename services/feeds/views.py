"""HTTP routes of the feeds: FHIR AdverseEvent, the incident-reporting system, code blue.

Why each request is one transaction: what a sender is told (taken, refused, which incident)
must be what the store holds, so the records, the refusals (kept without a patient,
services.feeds.redact) and the feed's heartbeat commit together, and the answer is sent
only after the commit. A sender that gets no answer resends, and the intake takes a record
it already has as the same record (unique on source, feed and record id).

Why an answer names places, never values: a refused field may hold a patient's name or
record number, and a sender's logs keep our answers. Problems say where and why
(services.feeds.record.Problem); an unknown feed is told as such, not echoed.

Which feed: the reporting and code-blue routes name it in the path. A FHIR server builds
its URLs from a base (`[base]/AdverseEvent`, `[base]` for a Bundle), so the FHIR routes
read it from the `X-SVRR-Feed` header, which FHIR clients and a Subscription's rest-hook
channel (`header`) can set; without one the feed is `ehr`, the shipped FHIR feed.

Statuses, non-FHIR: 202 when anything was taken (with `refused` listing any refused rows:
a CSV export with one bad row is still an import of the rest, so the sender must read
`refused`, as with a 207), 422 when everything sent was refused, 404 for an unknown feed,
413 over the size cap, 415 for a body of the wrong type.
Statuses, FHIR: `POST /fhir/AdverseEvent` answers 201 with an informational
OperationOutcome (200 when the intake says the record was known already: `linked` to its
incident, or `dismissed` by the coordinator; a resend otherwise keeps the answer it first
had, services.feeds.intake), 400 when the body is
no FHIR resource (not JSON, not an object, the wrong resourceType or fhirVersion) and 422
when it is one we cannot use, each with an OperationOutcome. `POST /fhir` answers a batch
or collection Bundle with 200 and a batch-response Bundle, one entry per entry sent, in
order (FHIR's rule): an AdverseEvent taken says 201 or 200, one refused says 422 with its
OperationOutcome, the others are read only for the events' references. A transaction is
all or nothing, as FHIR defines it: one refused entry refuses the Bundle.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from email.message import Message
from functools import cache
from typing import Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse

from services import clock
from services.auth import FEED_CSV_BODY_LIMIT, require_feeds
from services.db import transaction
from services.feeds import codeblue, fhir, intake, redact, reporting
from services.feeds.adapters import fhir_feed, reporting_mapping
from services.feeds.config import Feeds, FeedSettings, UnknownFeed, load_feeds
from services.feeds.record import FeedRecord, FeedRefused, Problem, Source
from services.logs import log

# Who may post a feed: a hospital system's integration token with the feed role, which can
# do nothing else (services/auth.py).
router = APIRouter(dependencies=[Depends(require_feeds)])

FEED_HEADER = "X-SVRR-Feed"
DEFAULT_FHIR_FEED = "ehr"
# A FHIR resource or a report is a few kilobytes; a Bundle of a night's events well under
# a megabyte. An export of a year of reports is a few megabytes.
JSON_LIMIT = 1024 * 1024
CSV_LIMIT = FEED_CSV_BODY_LIMIT
FHIR_TYPES = frozenset({"application/fhir+json", "application/json"})
JSON_TYPES = frozenset({"application/json"})
CSV_TYPES = frozenset({"text/csv", "application/csv"})
FHIR_MEDIA = "application/fhir+json"
# Where a FHIR refusal is about the body as a whole: nothing of it reads as a resource.
BODY_PLACES = frozenset({"body", "resourceType", "fhirVersion"})


@cache
def feeds() -> Feeds:
    """The configured feeds, read once per process (SVRR_FEEDS or the shipped file)."""
    return load_feeds()


# --- what a request came to --------------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    """One refused record (or request): what the sender is told and what is kept."""

    problems: Sequence[Problem]
    kept: redact.Kept


@dataclass
class Stored:
    taken: list[intake.Taken] = field(default_factory=list)
    refusals: list[uuid.UUID] = field(default_factory=list)


async def store(
    settings: FeedSettings, records: Sequence[FeedRecord], refusals: Sequence[Refusal]
) -> Stored:
    """Records and refusals in one transaction, committed before anything is answered."""
    at = clock.now()
    out = Stored()
    async with transaction() as session:
        if records or not refusals:  # with no record at all, take still beats the heart
            out.taken = await intake.take(session, records, settings, at=at)
        for refusal in refusals:
            refusal_id = await intake.refuse(
                session, settings, refusal.problems, kept=refusal.kept, at=at
            )
            out.refusals.append(refusal_id)
    log().info(
        "feed.received",
        source=settings.source.value,
        feed=settings.feed,
        taken=len(out.taken),
        incident_ids=sorted({str(t.incident_id) for t in out.taken if t.incident_id}),
        refusal_ids=[str(r) for r in out.refusals],
    )
    return out


def problem_list(problems: Sequence[Problem]) -> list[dict[str, str]]:
    return [{"where": p.where, "why": p.why} for p in problems]


def taken_list(taken: Sequence[intake.Taken]) -> list[dict[str, str | None]]:
    return [
        {
            "record_id": t.record_id,
            "disposition": t.disposition.value,
            "incident_id": str(t.incident_id) if t.incident_id else None,
        }
        for t in taken
    ]


def feed_answer(
    taken: Sequence[intake.Taken], refused: Sequence[Problem], **more: Any
) -> JSONResponse:
    """The non-FHIR answer (module docstring: 202 with any refusals listed, 422 when all
    was refused)."""
    status = 422 if refused and not taken else 202
    body = {"records": taken_list(taken), "refused": problem_list(refused), **more}
    return JSONResponse(body, status_code=status)


def media_type(content_type: str | None) -> str:
    if not content_type:
        return ""
    header = Message()
    header["content-type"] = content_type
    return header.get_content_type().lower()


class Refused(Exception):
    """A request answered before the adapter (size, type, feed): status and message."""

    def __init__(self, status: int, why: str, code: str = "invalid") -> None:
        super().__init__(why)
        self.status, self.why, self.code = status, why, code


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it passes `limit` (counted as it arrives, so
    a body without a Content-Length is not read whole first)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise Refused(413, f"request body larger than {limit} bytes", "too-costly")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Refused(413, f"request body larger than {limit} bytes", "too-costly")
        chunks.append(chunk)
    return b"".join(chunks)


def check_type(request: Request, allowed: frozenset[str], expected: str) -> None:
    if media_type(request.headers.get("content-type")) not in allowed:
        raise Refused(415, f"Content-Type must be {expected}", "not-supported")


def settings_for(source: Source, name: str, label: str) -> FeedSettings:
    try:
        return feeds().get(source, name)
    except UnknownFeed:
        configured = ", ".join(s.feed for s in feeds().all() if s.source is source) or "none"
        why = f"no {label} feed by that name (configured: {configured})"
        raise Refused(404, why, "not-found") from None


def refused_answer(exc: Refused) -> JSONResponse:
    headers = {"Connection": "close"} if exc.status == 413 else None
    return JSONResponse({"detail": exc.why}, status_code=exc.status, headers=headers)


# --- the incident-reporting system and code blue ---------------------------------------------


@router.post("/feeds/reporting/{feed}", status_code=202)
async def reporting_webhook(feed: str, request: Request) -> JSONResponse:
    """One report as the incident-reporting system's webhook posts it."""
    try:
        settings = settings_for(Source.reporting, feed, "reporting")
        check_type(request, JSON_TYPES, "application/json")
        body = await read_body(request, JSON_LIMIT)
    except Refused as exc:
        return refused_answer(exc)
    mapping = reporting_mapping(settings)
    try:
        records = reporting.from_webhook(body, feed=settings.feed, mapping=mapping)
    except FeedRefused as exc:
        kept = redact.reporting_kept(body, exc.problems, mapping)
        await store(settings, [], [Refusal(exc.problems, kept)])
        return feed_answer([], exc.problems)
    stored = await store(settings, records, [])
    return feed_answer(stored.taken, [])


@router.post("/feeds/reporting/{feed}/csv", status_code=202)
async def reporting_export(feed: str, request: Request) -> JSONResponse:
    """An export of the reporting system: every good row taken, every bad row refused with
    its row and column (one refusal kept per row), in one transaction. The text is read in
    the mapping's encoding (`csv.encoding`) whatever charset the request names: the mapping
    is what the hospital set up for its export, a client's header is often a default."""
    try:
        settings = settings_for(Source.reporting, feed, "reporting")
        check_type(request, CSV_TYPES, "text/csv")
        body = await read_body(request, CSV_LIMIT)
    except Refused as exc:
        return refused_answer(exc)
    mapping = reporting_mapping(settings)
    try:
        result = reporting.from_csv(body, feed=settings.feed, mapping=mapping)
    except FeedRefused as exc:  # the file as a whole: not text, no usable header
        await store(settings, [], [Refusal(exc.problems, None)])
        return feed_answer([], exc.problems, rows=0)
    kept = redact.csv_kept(body, result.problems, mapping)
    by_row: dict[int | None, list[Problem]] = {}
    for problem in result.problems:
        by_row.setdefault(csv_row(problem), []).append(problem)
    refusals = [
        Refusal(problems, kept.get(row) if row else None) for row, problems in by_row.items()
    ]
    stored = await store(settings, result.records, refusals)
    return feed_answer(stored.taken, result.problems, rows=result.rows)


def csv_row(problem: Problem) -> int | None:
    """The row a CSV problem is about (`row 4, column harm`), None for the file's."""
    head = problem.where.split(",", 1)[0].split()
    if len(head) == 2 and head[0] == "row" and head[1].isdigit():
        return int(head[1])
    return None


@router.post("/feeds/code-blue/{feed}", status_code=202)
async def code_blue_webhook(feed: str, request: Request) -> JSONResponse:
    """One code blue or rapid-response activation; times without an offset are read in
    the feed's zone (config: `zone`)."""
    try:
        settings = settings_for(Source.code_blue, feed, "code blue")
        check_type(request, JSON_TYPES, "application/json")
        body = await read_body(request, JSON_LIMIT)
    except Refused as exc:
        return refused_answer(exc)
    try:
        records = codeblue.from_webhook(
            body, feed=settings.feed, staff_system=settings.staff_system, default_zone=settings.zone
        )
    except FeedRefused as exc:
        kept = redact.code_blue_kept(body, exc.problems)
        await store(settings, [], [Refusal(exc.problems, kept)])
        return feed_answer([], exc.problems)
    stored = await store(settings, records, [])
    return feed_answer(stored.taken, [])


# --- FHIR --------------------------------------------------------------------------------------


def outcome(code: str, why: str, severity: str = "error") -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": why}],
    }


def fhir_json(content: dict[str, Any], status: int) -> JSONResponse:
    headers = {"Connection": "close"} if status == 413 else None
    return JSONResponse(content, status_code=status, media_type=FHIR_MEDIA, headers=headers)


def fhir_refusal_status(problems: Sequence[Problem]) -> int:
    """400 when nothing of the body reads as a FHIR resource, 422 when it is one we
    cannot use."""
    return 400 if any(p.where in BODY_PLACES for p in problems) else 422


def taken_outcome(taken: intake.Taken) -> dict[str, Any]:
    """What a taken AdverseEvent became, as FHIR tells success: an informational issue."""
    why = taken.disposition.value
    if taken.incident_id is not None:
        why += f"; incident {taken.incident_id}"
    return outcome("informational", why, "information")


# What the intake says of a record it knew before the request: nothing new began.
RECEIVED_BEFORE = frozenset({intake.Disposition.linked, intake.Disposition.dismissed})


def taken_status(taken: intake.Taken) -> str:
    return "200 OK" if taken.disposition in RECEIVED_BEFORE else "201 Created"


async def fhir_request(request: Request, feed: str) -> tuple[FeedSettings, bytes, str | None]:
    settings = settings_for(Source.fhir, feed, "FHIR")
    check_type(request, FHIR_TYPES, "application/fhir+json")
    body = await read_body(request, JSON_LIMIT)
    return settings, body, fhir.version_from_content_type(request.headers.get("content-type"))


@router.post("/fhir/AdverseEvent", status_code=201)
async def fhir_adverse_event(
    request: Request, feed: str = Header(DEFAULT_FHIR_FEED, alias=FEED_HEADER)
) -> JSONResponse:
    """One AdverseEvent (R4, R4B or R5; fhirVersion in Content-Type wins over what its
    elements suggest)."""
    try:
        settings, body, version = await fhir_request(request, feed)
    except Refused as exc:
        return fhir_json(outcome(exc.code, exc.why), exc.status)
    try:
        records = fhir.read(body, fhir_feed(settings), fhir_version=version, expect="AdverseEvent")
    except FeedRefused as exc:
        kept = redact.fhir_kept(body, exc.problems, version=version)
        await store(settings, [], [Refusal(exc.problems, kept)])
        return fhir_json(fhir.operation_outcome(exc.problems), fhir_refusal_status(exc.problems))
    stored = await store(settings, records, [])
    if not stored.taken:  # an R5 event entered-in-error: it withdraws, nothing is taken
        return fhir_json(
            outcome("informational", "entered-in-error: nothing taken", "information"), 200
        )
    [taken] = stored.taken
    return fhir_json(taken_outcome(taken), 200 if taken_status(taken).startswith("200") else 201)


@dataclass
class BundleRead:
    """A Bundle read entry by entry: the records of the events taken, each refused entry's
    problems (by its index as sent), and which entry each record came from."""

    kind: str
    entries: list[Any]
    records: list[FeedRecord] = field(default_factory=list)
    record_entry: list[int] = field(default_factory=list)
    refused: dict[int, list[Problem]] = field(default_factory=dict)

    def is_event(self, index: int) -> bool:
        entry = self.entries[index]
        resource = entry.get("resource") if isinstance(entry, dict) else None
        return isinstance(resource, dict) and resource.get("resourceType") == "AdverseEvent"


def _entry_of(problem: Problem) -> int | None:
    parts = redact.segments(problem.where)
    if len(parts) >= 3 and parts[:2] == ("Bundle", "entry") and isinstance(parts[2], int):
        return parts[2]
    return None


def _renumbered(problem: Problem, index: int) -> Problem:
    """A problem of a Bundle read without some entries, told in the numbering sent."""
    where = problem.where
    head = "Bundle.entry["
    rest = where[len(head) :].split("]", 1)[1]
    return replace(problem, where=f"{head}{index}]{rest}")


def read_bundle(body: bytes, feed: fhir.FhirFeed, version: str | None) -> BundleRead:
    """Every AdverseEvent of a batch or collection that can be taken, and the problems of
    each entry that cannot. The adapter refuses a Bundle whole; here an entry it refuses
    is set aside and the rest read again (each round sets at least one aside), so one bad
    event does not hold back the others. A problem of the Bundle itself (its type, its
    version, no event in it), or any in a transaction, refuses the Bundle: FeedRefused."""
    try:
        records = fhir.read(body, feed, fhir_version=version, expect="Bundle")
        problems: list[Problem] = []
    except FeedRefused as exc:
        records, problems = [], list(exc.problems)
    if any(_entry_of(p) is None for p in problems):
        raise FeedRefused(problems)  # the body, its type or version: nothing per entry
    root = json.loads(body.decode("utf-8-sig"))  # the adapter read it as a Bundle object
    entries: list[Any] = root["entry"]
    out = BundleRead(kind=str(root.get("type")), entries=entries)
    if problems and out.kind == "transaction":
        raise FeedRefused(problems)
    positions = list(range(len(entries)))
    while problems:
        if any((_entry_of(p) or 0) >= len(positions) for p in problems):
            raise FeedRefused(problems)  # not an entry sent: told as it is, not guessed
        for problem in problems:
            original = positions[_entry_of(problem) or 0]
            out.refused.setdefault(original, []).append(_renumbered(problem, original))
        positions = [p for p in positions if p not in out.refused]
        if not any(out.is_event(p) for p in positions):
            break
        current = {**root, "entry": [entries[p] for p in positions]}
        try:
            records = fhir.read(current, feed, fhir_version=version, expect="Bundle")
            problems = []
        except FeedRefused as exc:
            problems = list(exc.problems)
            if any(_entry_of(p) is None for p in problems):
                raise FeedRefused(problems) from None
    events = [
        p
        for p in positions
        if out.is_event(p) and entries[p]["resource"].get("status") != "entered-in-error"
    ]
    out.records = records
    out.record_entry = events[: len(records)]
    return out


def bundle_response(read: BundleRead, taken: Sequence[intake.Taken]) -> dict[str, Any]:
    """One response entry per entry sent, in order (FHIR's batch-response rule)."""
    by_entry = dict(zip(read.record_entry, taken, strict=False))
    entries: list[dict[str, Any]] = []
    for index in range(len(read.entries)):
        if index in read.refused:
            response = {
                "status": "422 Unprocessable Entity",
                "outcome": fhir.operation_outcome(read.refused[index]),
            }
        elif index in by_entry:
            response = {
                "status": taken_status(by_entry[index]),
                "outcome": taken_outcome(by_entry[index]),
            }
        elif read.is_event(index):
            why = "entered-in-error: nothing taken"
            response = {"status": "200 OK", "outcome": outcome("informational", why, "information")}
        else:
            why = "not an AdverseEvent: read only for the events' references, nothing stored"
            response = {"status": "200 OK", "outcome": outcome("informational", why, "information")}
        entries.append({"response": response})
    kind = "transaction-response" if read.kind == "transaction" else "batch-response"
    return {"resourceType": "Bundle", "type": kind, "entry": entries}


@router.post("/fhir", status_code=200)
async def fhir_bundle(
    request: Request, feed: str = Header(DEFAULT_FHIR_FEED, alias=FEED_HEADER)
) -> JSONResponse:
    """A Bundle (transaction, batch or collection) of AdverseEvents and the practitioners
    and places they name."""
    try:
        settings, body, version = await fhir_request(request, feed)
    except Refused as exc:
        return fhir_json(outcome(exc.code, exc.why), exc.status)
    adapter = fhir_feed(settings)
    try:
        read = read_bundle(body, adapter, version)
    except FeedRefused as exc:
        kept = redact.fhir_kept(body, exc.problems, version=version)
        await store(settings, [], [Refusal(exc.problems, kept)])
        return fhir_json(fhir.operation_outcome(exc.problems), fhir_refusal_status(exc.problems))
    # Every refused entry's problems drop what they name from each kept event: an event
    # refused because its practitioner's entry was keeps that entry without the fault.
    named = [p for problems in read.refused.values() for p in problems]
    refusals = [
        Refusal(problems, redact.fhir_kept(body, named, version=version, entry=index))
        for index, problems in read.refused.items()
        if read.is_event(index)
    ]
    stored = await store(settings, read.records, refusals)
    return fhir_json(bundle_response(read, stored.taken), 200)
