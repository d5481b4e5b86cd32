"""Feed intake: what a record from a hospital feed becomes, in the caller's transaction.

Every adapter (FHIR, HL7 over MLLP, the incident-reporting system, code blue, the raw topic)
hands its FeedRecords to `take`, which for each one, in order:

1. resolves its clinicians and unit against the directory (resolve.py);
2. asks the trigger rules whether it starts outreach, asks the coordinator, or is ignored
   (triggers.py; the stored table, or the defaults when the stored one fails its check);
3. matches it against the incidents already known (matching.py: the same source record, or
   the same unit within the window sharing staff), so one event reaching us from three feeds
   is one response;
4. acts: a new incident (through services.incidents.service.report, the same statement a risk
   manager's report runs, so the worker treats it the same), or the incident joined (its
   staff widened and its IncidentReported published again: the worker's involvement step is
   idempotent and opens cases only for the clinicians it has not seen), or a row `asked` on
   the coordinator's board, or a row `ignored`;
5. keeps the record (feed_records, migration 0014) as the incident's source link, the
   coordinator's question, or simply the record, and counts it (metrics, heartbeat).

Why in the caller's transaction: the sender's acknowledgement (an HTTP answer, an HL7 ACK)
must mean the record, its incident and the incident's event are committed together. A crash
before the commit leaves nothing, and the sender resends; after it, the outbox relay
publishes the event.

Why records of one unit are serialised (an advisory lock per unit key): a code blue and the
death ADT of the same night may arrive in the same second on two connections. Without the
lock, each transaction would see no incident and both would start one, and the same team
would be paged twice. With it, the second sees the first's incident and joins it. A
manual report (POST /incidents) does not take the lock: a person's report that races a feed
shows as two incidents, which the coordinator sees; a feed never races itself.

When unsure, a human looks: a record that would start outreach but names no clinician the
directory knows, or a unit it does not hold, or fits two incidents equally, is `asked`,
never dropped and never guessed.
"""

from __future__ import annotations

import enum
import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.events import HarmLevel, IncidentReported, IncidentType
from services import outbox
from services.feeds.config import Feeds, FeedSettings
from services.feeds.matching import Arrival, Candidate, Match, MatchKind, match, unit_key
from services.feeds.record import FeedRecord, Problem, Source
from services.feeds.resolve import Resolved, resolve
from services.feeds.store import load_rules
from services.feeds.triggers import DEFAULT_RULES, Action, Decision, Rule, RulesRefused, decide
from services.identity import audit
from services.identity.principal import Principal
from services.incidents.service import IncidentIn, report
from services.logs import log
from services.metrics import FEED_RECORDS, FEED_REFUSED

# A record this far in the future is the sender's clock, not an event: a human looks.
FUTURE_SLACK = timedelta(minutes=5)
# Older than this, outreach has no point: the record is kept and nothing starts (the same
# limit as a risk manager's report, services.incidents.service.IncidentIn).
TOO_OLD = timedelta(days=366)


class Disposition(enum.StrEnum):
    """What became of a record; also the `status` of its row (plus `dismissed`, which only
    the coordinator gives)."""

    started = "started"  # a new incident was made from it
    joined = "joined"  # it is another record of an incident's event; new staff join it
    linked = "linked"  # this very record was already on an incident (a replay, an update)
    asked = "asked"  # waiting on the coordinator's board
    ignored = "ignored"  # kept; the rules start nothing for it
    dismissed = "dismissed"  # the coordinator decided it starts nothing


ON_INCIDENT = (Disposition.started, Disposition.joined, Disposition.linked)


@dataclass(frozen=True)
class Taken:
    """One record's outcome; `why` is what the board shows (counts, units and times, never
    a staff id or a patient)."""

    record_id: str
    disposition: Disposition
    incident_id: uuid.UUID | None
    why: str
    row_id: uuid.UUID


class Choice(enum.StrEnum):
    """The coordinator's answer to an asked record."""

    start = "start"  # outreach for its clinicians: an incident of its own
    join = "join"  # it is another record of this incident's event
    dismiss = "dismiss"  # nothing starts


class NotAsked(LookupError):
    """No such feed record, or it is not waiting on the coordinator (decided already)."""


class CannotStart(ValueError):
    """The record cannot start outreach as it is: no clinician or unit the directory knows."""


@dataclass(frozen=True)
class AskedRow:
    row_id: uuid.UUID
    source: Source
    feed: str
    unit: str | None  # our unit when the directory knows it, else the source's
    unit_known: bool
    occurred_at: datetime
    event_type: IncidentType
    harm_level: HarmLevel
    raw_event: str | None
    raw_harm: str | None
    staff_resolved: int
    unresolved: int
    why: str
    candidates: tuple[uuid.UUID, ...]
    received_at: datetime
    times_received: int


@dataclass(frozen=True)
class Silence:
    """A feed that has said nothing for longer than it should; never heard from: None."""

    source: Source
    feed: str
    last_seen_at: datetime | None
    silent_after: timedelta


async def current_rules(session: AsyncSession) -> tuple[tuple[Rule, ...], bool]:
    """The stored rule table, or the defaults when the stored one fails its check (edited
    outside the console, or a newer check refuses it); the flag says which, for the board's
    warning. A bad table never stops a feed: the defaults never ignore a death."""
    try:
        return await load_rules(session), True
    except RulesRefused as exc:
        log().error("feed.rules_refused", problems=len(exc.problems))
        return DEFAULT_RULES, False


LOCK_UNITS = text(
    "SELECT count(pg_advisory_xact_lock(hashtextextended('svrr-feed-unit:' || k, 0))) "
    "FROM (SELECT k FROM unnest(CAST(:keys AS text[])) AS k ORDER BY k) AS ordered"
)
# The incident this very record is on (rule 1), and the incidents of its unit within the
# window (rule 2), with their staff: one round trip.
CANDIDATES = text(
    "WITH mine AS (SELECT incident_id FROM feed_records "
    "WHERE source = :source AND feed = :feed AND record_id = :record_id) "
    "SELECT i.id, i.unit, i.occurred_at, i.staff_ids, (i.id = (SELECT incident_id FROM mine)) "
    "FROM incidents i WHERE i.id = (SELECT incident_id FROM mine) "
    "OR (CAST(:unit AS text) IS NOT NULL AND lower(btrim(i.unit)) = :unit "
    "AND i.occurred_at BETWEEN :since AND :until)"
)
MINE = text(
    "SELECT id, status, incident_id FROM feed_records "
    "WHERE source = :source AND feed = :feed AND record_id = :record_id"
)
KEEP = text(
    "INSERT INTO feed_records (id, source, feed, record_id, occurred_at, unit, unit_code, "
    "event_type, harm_level, raw_event, raw_harm, staff, staff_ids, unresolved, action, "
    "status, incident_id, why, candidates, received_at, last_received_at) "
    "VALUES (:id, :source, :feed, :record_id, :occurred_at, :unit, :unit_code, :event_type, "
    ":harm_level, :raw_event, :raw_harm, CAST(:staff AS jsonb), CAST(:staff_ids AS text[]), "
    ":unresolved, :action, :status, :incident_id, :why, CAST(:candidates AS uuid[]), :at, :at) "
    "ON CONFLICT (source, feed, record_id) DO UPDATE SET occurred_at = EXCLUDED.occurred_at, "
    "unit = EXCLUDED.unit, unit_code = EXCLUDED.unit_code, event_type = EXCLUDED.event_type, "
    "harm_level = EXCLUDED.harm_level, raw_event = EXCLUDED.raw_event, "
    "raw_harm = EXCLUDED.raw_harm, staff = EXCLUDED.staff, staff_ids = EXCLUDED.staff_ids, "
    "unresolved = EXCLUDED.unresolved, action = EXCLUDED.action, status = EXCLUDED.status, "
    "incident_id = EXCLUDED.incident_id, why = EXCLUDED.why, "
    "candidates = EXCLUDED.candidates, last_received_at = EXCLUDED.last_received_at, "
    "times_received = feed_records.times_received + 1 RETURNING id"
)
# Widen an incident's named staff; the row as it now is, for its IncidentReported again.
WIDEN = text(
    "UPDATE incidents SET staff_ids = ARRAY(SELECT DISTINCT s FROM unnest(staff_ids || "
    "CAST(:adds AS text[])) AS s ORDER BY s) WHERE id = :id "
    "RETURNING id, incident_key, occurred_at, unit, event_type, harm_level, staff_ids, "
    "reporter_ref"
)
BEAT = text(
    "INSERT INTO feed_heartbeats (source, feed, first_seen_at, last_seen_at, last_record_at, "
    "received, refused) VALUES (:source, :feed, :at, :at, :record_at, :received, :refused) "
    "ON CONFLICT (source, feed) DO UPDATE SET "
    "last_seen_at = GREATEST(feed_heartbeats.last_seen_at, EXCLUDED.last_seen_at), "
    "last_record_at = COALESCE(GREATEST(feed_heartbeats.last_record_at, "
    "EXCLUDED.last_record_at), feed_heartbeats.last_record_at, EXCLUDED.last_record_at), "
    "received = feed_heartbeats.received + EXCLUDED.received, "
    "refused = feed_heartbeats.refused + EXCLUDED.refused"
)
REFUSAL = text(
    "INSERT INTO feed_refusals (id, source, feed, received_at, problems, kept) "
    "VALUES (:id, :source, :feed, :at, CAST(:problems AS jsonb), CAST(:kept AS jsonb))"
)


def _array(values: Sequence[object]) -> list[str]:
    return [str(v) for v in values]


async def take(
    session: AsyncSession,
    records: Sequence[FeedRecord],
    feed: FeedSettings,
    *,
    at: datetime,
    heartbeat: bool = True,
) -> list[Taken]:
    """Every record of one feed, in order, in the caller's transaction (module docstring).
    A record of another feed than `feed` is a caller's bug and raises ValueError.
    `heartbeat`: False when the records come from our own store (a replay), not the feed:
    a replay must not make a silent feed look alive."""
    for record in records:
        if (record.source, record.feed) != (feed.source, feed.feed):
            raise ValueError(f"a record of {record.source}/{record.feed} given as {feed.label}")
    if not records:
        if heartbeat:
            await beat(session, feed, at=at)
        return []
    rules, _ = await current_rules(session)
    keys = sorted({unit_key(r.unit) or "" for r in records})
    await session.execute(LOCK_UNITS, {"keys": keys})
    taken = [await _take_one(session, record, feed, rules, at) for record in records]
    if heartbeat:
        await beat(session, feed, at=at, received=len(records), record_at=at)
    return taken


async def _take_one(
    session: AsyncSession,
    record: FeedRecord,
    feed: FeedSettings,
    rules: Sequence[Rule],
    at: datetime,
) -> Taken:
    resolved = await resolve(session, record, staff_id_systems=feed.staff_id_systems)
    decision = decide(record, rules)
    arrival = Arrival.of(record, resolved.staff_ids)
    if resolved.unit is not None:
        arrival = Arrival(
            arrival.source,
            arrival.feed,
            arrival.record_id,
            arrival.occurred_at,
            resolved.unit,
            arrival.event_type,
            arrival.harm_level,
            arrival.staff_ids,
        )
    key = {"source": record.source.value, "feed": record.feed, "record_id": record.record_id}
    mine = (await session.execute(MINE, key)).one_or_none()
    unit = unit_key(arrival.unit)
    rows = await session.execute(
        CANDIDATES,
        key
        | {
            "unit": unit,
            "since": record.occurred_at - feed.window,
            "until": record.occurred_at + feed.window,
        },
    )
    candidates = []
    for iid, i_unit, i_at, i_staff, is_mine in rows:
        if iid is None:
            continue
        links = {(record.source.value, record.feed, record.record_id)} if is_mine else set()
        candidates.append(Candidate(iid, i_unit, i_at, frozenset(i_staff or ()), links))  # type: ignore[arg-type]
    found = match(arrival, candidates, feed.window)
    status, incident_id, why, options = await _act(
        session, record, feed, resolved, decision, found, mine, at
    )
    row_id = await _keep(session, record, resolved, decision, status, incident_id, why, options, at)
    FEED_RECORDS.labels(record.source.value, record.feed, status.value).inc()
    log().info(
        "feed.record",
        feed=feed.label,
        row_id=str(row_id),
        disposition=status.value,
        incident_id=str(incident_id) if incident_id else None,
    )
    return Taken(record.record_id, status, incident_id, why, row_id)


async def _act(
    session: AsyncSession,
    record: FeedRecord,
    feed: FeedSettings,
    resolved: Resolved,
    decision: Decision,
    found: Match,
    mine: Any,
    at: datetime,
) -> tuple[Disposition, uuid.UUID | None, str, tuple[uuid.UUID, ...]]:
    """(status, incident, why, candidates shown to the coordinator)."""
    if found.kind is MatchKind.linked:
        assert found.incident_id is not None
        await _join(session, found.incident_id, found.adds_staff)
        # The record keeps what it first was (started, joined); a replay changes nothing.
        before = Disposition(mine.status) if mine is not None else Disposition.linked
        status = before if before in ON_INCIDENT else Disposition.linked
        return status, found.incident_id, found.why, ()
    if mine is not None and mine.status == Disposition.dismissed:
        # The coordinator said no to this record; an update the rules would start on is
        # shown to them again, never started over their answer.
        if decision.action is Action.start:
            why = f"{decision.why}; updated after the coordinator dismissed it"
            return Disposition.asked, None, why, ()
        return Disposition.dismissed, None, "dismissed by the coordinator; received again", ()
    if record.occurred_at > at + FUTURE_SLACK:
        why = "its time is in the future: the sender's clock or the record is wrong"
        return Disposition.asked, None, why, ()
    if record.occurred_at < at - TOO_OLD:
        return Disposition.ignored, None, "happened more than a year ago: no outreach", ()
    if decision.action is Action.ignore:
        return Disposition.ignored, None, decision.why, ()
    options = found.candidates or ((found.incident_id,) if found.incident_id else ())
    if decision.action is Action.ask:
        return Disposition.asked, None, f"{decision.why}; {found.why}", options
    # Action.start
    if found.kind is MatchKind.joined:
        assert found.incident_id is not None
        await _join(session, found.incident_id, found.adds_staff)
        return Disposition.joined, found.incident_id, found.why, ()
    if found.kind is MatchKind.ambiguous:
        return Disposition.asked, None, f"{decision.why}; {found.why}", options
    problem = _cannot_start(resolved)
    if problem:
        return Disposition.asked, None, f"{decision.why}; {problem}", ()
    try:
        incident = _incident(record, resolved)
    except ValidationError as exc:
        # The directory's own unit or staff code that reads like a record number, say:
        # the record is kept and a human places it, never a failed feed.
        return Disposition.asked, None, f"{decision.why}; {_errors(exc)}", ()
    accepted = await report(session, incident, reported_by=f"feed:{feed.label}"[:64])
    return Disposition.started, accepted.incident_id, f"{decision.why}; {found.why}", ()


def _cannot_start(resolved: Resolved) -> str | None:
    if resolved.unit is None:
        return "its unit is not one of the directory's: the coordinator places it"
    if not resolved.staff_ids:
        return (
            f"no clinician it names is in the directory ({len(resolved.unresolved)} "
            "unresolved): the coordinator decides who is contacted"
        )
    return None


def incident_key(source: Source, feed: str, record_id: str) -> str:
    """The incident's idempotency key, from its first record: two transactions that both
    decided to start one for the same record make one incident (the store's unique key).
    A UUID in form, because a key of hex digits could hold a run that reads as a record
    number and be refused (IncidentIn takes a UUID key as opaque)."""
    digest = hashlib.sha256(f"{source}\x1f{feed}\x1f{record_id}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16]))


def _incident(record: FeedRecord, resolved: Resolved) -> IncidentIn:
    """The incident a record starts, checked by the rules a risk manager's report meets."""
    assert resolved.unit is not None
    return IncidentIn(
        occurred_at=record.occurred_at,
        unit=resolved.unit,
        event_type=record.event_type,
        harm_level=record.harm_level,
        staff_ids=sorted(resolved.staff_ids),
        incident_key=incident_key(record.source, record.feed, record.record_id),
    )


def _errors(exc: ValidationError) -> str:
    """Where and why, never the value (pydantic's `msg` does not quote the input)."""
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())


async def _join(session: AsyncSession, incident_id: uuid.UUID, adds: frozenset[str]) -> None:
    """The clinicians a later record names join the incident: its named staff widened, and
    its IncidentReported published again with all of them. The worker's involvement step
    records only who is new and opens a case for each (services.incidents.involvement)."""
    if not adds:
        return
    row = (await session.execute(WIDEN, {"id": incident_id, "adds": _array(sorted(adds))})).one()
    await outbox.add(
        session,
        IncidentReported(
            incident_id=row.id,
            incident_key=row.incident_key,
            occurred_at=row.occurred_at,
            unit=row.unit,
            event_type=IncidentType(row.event_type),
            harm_level=HarmLevel(row.harm_level),
            staff_ids=list(row.staff_ids),
            reporter_ref=row.reporter_ref,
        ),
    )


async def _keep(
    session: AsyncSession,
    record: FeedRecord,
    resolved: Resolved,
    decision: Decision,
    status: Disposition,
    incident_id: uuid.UUID | None,
    why: str,
    options: tuple[uuid.UUID, ...],
    at: datetime,
) -> uuid.UUID:
    staff = [ref.model_dump(mode="json") for ref in record.staff]
    row = await session.execute(
        KEEP,
        {
            "id": uuid.uuid4(),
            "source": record.source.value,
            "feed": record.feed,
            "record_id": record.record_id,
            "occurred_at": record.occurred_at,
            "unit": record.unit,
            "unit_code": resolved.unit,
            "event_type": record.event_type.value,
            "harm_level": record.harm_level.value,
            "raw_event": record.raw_event,
            "raw_harm": record.raw_harm,
            "staff": json.dumps(staff),
            "staff_ids": _array(sorted(resolved.staff_ids)),
            "unresolved": len(resolved.unresolved),
            "action": decision.action.value,
            "status": status.value,
            "incident_id": incident_id,
            "why": why[:1000],
            "candidates": _array(options),
            "at": at,
        },
    )
    return row.scalar_one()


async def refuse(
    session: AsyncSession,
    feed: FeedSettings,
    problems: Sequence[Problem],
    *,
    kept: Mapping[str, Any] | None,
    at: datetime,
) -> uuid.UUID:
    """Keep a refused record: where and why (never the value), and `kept`, the PHI-free part
    an adapter's redaction whitelisted (None when nothing could be read), for replay once the
    sender or a mapping is fixed. Counted, and the feed's heartbeat moves: a feed sending
    only refusals is broken, not silent."""
    row_id = uuid.uuid4()
    await session.execute(
        REFUSAL,
        {
            "id": row_id,
            "source": feed.source.value,
            "feed": feed.feed,
            "at": at,
            "problems": json.dumps([{"where": p.where, "why": p.why} for p in problems]),
            "kept": json.dumps(kept) if kept is not None else None,
        },
    )
    await beat(session, feed, at=at, refused=1)
    FEED_REFUSED.labels(feed.source.value, feed.feed).inc()
    log().warning("feed.refused", feed=feed.label, refusal_id=str(row_id), problems=len(problems))
    return row_id


async def beat(
    session: AsyncSession,
    feed: FeedSettings,
    *,
    at: datetime,
    received: int = 0,
    refused: int = 0,
    record_at: datetime | None = None,
) -> None:
    """The feed spoke at `at` (a message with no trigger counts: the interface is alive).
    `record_at`: when it last sent a record that was taken."""
    await session.execute(
        BEAT,
        {
            "source": feed.source.value,
            "feed": feed.feed,
            "at": at,
            "record_at": record_at,
            "received": received,
            "refused": refused,
        },
    )


SETTLE_ROW = text(
    "SELECT id, source, feed, record_id, occurred_at, unit_code, event_type, harm_level, "
    "staff_ids, status FROM feed_records WHERE id = :id FOR UPDATE"
)
SETTLED = text(
    "UPDATE feed_records SET status = :status, incident_id = :incident_id, why = :why, "
    "decided_at = :at, decided_by = :by WHERE id = :id"
)


async def settle(
    session: AsyncSession,
    row_id: uuid.UUID,
    choice: Choice,
    who: Principal,
    *,
    at: datetime,
    incident_id: uuid.UUID | None = None,
) -> Taken:
    """The coordinator's answer to an asked record, audited. Deciding twice, or on a record
    the rules already acted on, raises NotAsked: the board the coordinator looked at was
    stale, and they are told so rather than shown a success that did nothing."""
    row = (await session.execute(SETTLE_ROW, {"id": row_id})).one_or_none()
    if row is None:
        raise NotAsked("no such feed record")
    if row.status != Disposition.asked:
        raise NotAsked(f"this record was already decided ({row.status})")
    if choice is Choice.join and incident_id is None:
        raise ValueError("joining needs the incident to join")
    status: Disposition
    target: uuid.UUID | None = None
    if choice is Choice.dismiss:
        status, why = Disposition.dismissed, "dismissed by the coordinator"
    elif choice is Choice.join:
        assert incident_id is not None
        staff = await session.scalar(
            text("SELECT staff_ids FROM incidents WHERE id = :id FOR UPDATE"), {"id": incident_id}
        )
        if staff is None:
            raise NotAsked("no such incident to join")
        await _join(session, incident_id, frozenset(row.staff_ids) - set(staff))
        status, target, why = Disposition.joined, incident_id, "joined by the coordinator"
    else:
        if row.unit_code is None or not row.staff_ids:
            raise CannotStart(
                "no unit or no clinician of the directory on this record: log the incident "
                "by hand with the people involved"
            )
        try:
            incident = IncidentIn(
                occurred_at=row.occurred_at,
                unit=row.unit_code,
                event_type=IncidentType(row.event_type),
                harm_level=HarmLevel(row.harm_level),
                staff_ids=sorted(row.staff_ids),
                incident_key=incident_key(Source(row.source), row.feed, row.record_id),
            )
        except ValidationError as exc:
            raise CannotStart(_errors(exc)) from None
        accepted = await report(session, incident, reported_by=f"feed:{row.source}/{row.feed}")
        status, target, why = (
            Disposition.started,
            accepted.incident_id,
            "started by the coordinator",
        )
    await session.execute(
        SETTLED,
        {
            "id": row_id,
            "status": status.value,
            "incident_id": target,
            "why": why,
            "at": at,
            "by": who.name[:200],
        },
    )
    await audit.record(
        session, who, "feed_record.settled", "feed_record", str(row_id), {"choice": choice.value}
    )
    log().info(
        "feed.settled",
        row_id=str(row_id),
        choice=choice.value,
        incident_id=str(target) if target else None,
    )
    return Taken(row.record_id, status, target, why, row_id)


ASKED = text(
    "SELECT id, source, feed, coalesce(unit_code, unit), unit_code IS NOT NULL, occurred_at, "
    "event_type, harm_level, raw_event, raw_harm, cardinality(staff_ids), unresolved, why, "
    "candidates, received_at, times_received FROM feed_records WHERE status = 'asked' "
    "ORDER BY received_at, id"
)


async def asked(session: AsyncSession) -> list[AskedRow]:
    """The records waiting on the coordinator, oldest first."""
    rows = await session.execute(ASKED)
    return [
        AskedRow(
            r[0],
            Source(r[1]),
            r[2],
            r[3],
            r[4],
            r[5],
            IncidentType(r[6]),
            HarmLevel(r[7]),
            r[8],
            r[9],
            r[10],
            r[11],
            r[12],
            tuple(r[13] or ()),
            r[14],
            r[15],
        )
        for r in rows
    ]


async def silent(session: AsyncSession, feeds: Feeds, *, at: datetime) -> list[Silence]:
    """Configured feeds quiet longer than their `silent_after`, in the file's order. A feed
    never heard from is silent too: an interface that was never connected is the worst
    kind of quiet."""
    rows = await session.execute(text("SELECT source, feed, last_seen_at FROM feed_heartbeats"))
    seen = {(r.source, r.feed): r.last_seen_at for r in rows}
    out = []
    for f in feeds:
        last = seen.get((f.source.value, f.feed))
        if last is None or at - last > f.silent_after:
            out.append(Silence(f.source, f.feed, last, f.silent_after))
    return out
