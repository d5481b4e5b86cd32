"""Replaying kept refusals: a record refused yesterday is taken today, once its cause is fixed.

Why: a refusal is often the hospital's to fix, not the sender's: a feed's zone was not set,
the mapping lacked a harm code of the local scale, a FHIR code system was not mapped. The
record is still an adverse event with clinicians who may need support, and asking the
sender to resend last week's messages rarely works. So each refusal keeps the part of the
record its adapter reads, without the patient (redact.py, redact_hl7.py), and a replay runs
that part through the feed's adapter as configured now and, when it reads, through intake
like any record: matching makes it one response with anything already known of its event.

A refusal is replayed once: when it is taken, `replayed_at` is set in the same transaction,
so a second replay (or two at once: rows are claimed with SKIP LOCKED) takes nothing twice.
One still refused stays for the next fix, with the adapter's new problems reported.
Nothing kept (not JSON, a row out of line, the raw topic's records, whose bytes stay on
the hospital's topic) cannot be replayed, and says so.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.feeds import intake
from services.feeds.adapters import read_kept
from services.feeds.config import Feeds, UnknownFeed
from services.feeds.record import FeedRefused, Problem, Source
from services.logs import log


class Outcome(enum.StrEnum):
    taken = "taken"  # read, and every record taken by intake
    still_refused = "still_refused"  # the adapter still refuses it: see `problems`
    nothing_kept = "nothing_kept"  # nothing of the record could be kept to replay
    unknown_feed = "unknown_feed"  # its feed is no longer configured


@dataclass(frozen=True)
class Replayed:
    refusal_id: uuid.UUID
    source: Source
    feed: str
    outcome: Outcome
    taken: tuple[intake.Taken, ...] = ()
    problems: tuple[Problem, ...] = ()


PENDING = text(
    "SELECT id, source, feed, kept FROM feed_refusals WHERE replayed_at IS NULL "
    "AND (CAST(:source AS text) IS NULL OR source = :source) "
    "AND (CAST(:feed AS text) IS NULL OR feed = :feed) "
    "AND (CAST(:ids AS uuid[]) IS NULL OR id = ANY(CAST(:ids AS uuid[]))) "
    "ORDER BY received_at, id LIMIT :limit FOR UPDATE SKIP LOCKED"
)
DONE = text("UPDATE feed_refusals SET replayed_at = :at WHERE id = :id")


async def replay(
    session: AsyncSession,
    feeds: Feeds,
    *,
    at: datetime,
    source: Source | None = None,
    feed: str | None = None,
    ids: Sequence[uuid.UUID] | None = None,
    limit: int = 1000,
) -> list[Replayed]:
    """Replay the refusals not yet replayed (of one feed, or these ids), oldest first, in
    the caller's transaction."""
    rows = await session.execute(
        PENDING,
        {
            "source": source.value if source else None,
            "feed": feed,
            "ids": [str(i) for i in ids] if ids is not None else None,
            "limit": limit,
        },
    )
    out = []
    for row in rows.all():
        done = await _one(session, feeds, row, at)
        log().info("feed.replayed", refusal_id=str(row.id), outcome=done.outcome.value)
        out.append(done)
    return out


async def _one(session: AsyncSession, feeds: Feeds, row: object, at: datetime) -> Replayed:
    refusal_id, source, name, kept = row.id, Source(row.source), row.feed, row.kept  # type: ignore[attr-defined]
    if kept is None:
        return Replayed(refusal_id, source, name, Outcome.nothing_kept)
    try:
        settings = feeds.get(source, name)
    except UnknownFeed:
        return Replayed(refusal_id, source, name, Outcome.unknown_feed)
    try:
        records = read_kept(settings, kept)
    except FeedRefused as refused:
        return Replayed(
            refusal_id, source, name, Outcome.still_refused, problems=tuple(refused.problems)
        )
    taken = await intake.take(session, records, settings, at=at, heartbeat=False)
    await session.execute(DONE, {"id": refusal_id, "at": at})
    return Replayed(refusal_id, source, name, Outcome.taken, tuple(taken))
