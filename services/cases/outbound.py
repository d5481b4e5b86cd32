"""Queueing and sending the SMS that are not pages, with GoAlert's sending discipline.

- One identical pending message per number: queueing the same (kind, case, number) again
  while one waits is a no-op, so a replayed event never sends a reminder twice.
- One rule for whether a number may be texted at all (`unreachable`): it sent STOP, its
  owner opted out on the record, or the carrier said it cannot take SMS. Matching, the claim
  before a page is sent, Tier 1, the coordinator and this queue all ask it.
- Per-number rate limit: at most RATE_PER_MINUTE SMS (pages included) to one number in a
  minute, so the carrier does not filter or block our sender for flooding one handset. A
  bundle of pages is one SMS and counts once, as the handset sees it.
  What waits is ordered by priority, then time. Bulk and conversation may use only
  RATE_PER_MINUTE - URGENT_RESERVE of the minute. Urgent messages (a clinician's details
  to the peer who accepted, a crisis reply, the coordinator) may use the whole minute, and
  URGENT_RESERVE of them go in any minute whatever else went: pages are never held by this
  limit, and a peer paged in several SMS a minute would otherwise wait for the details of
  the case they just accepted until the pages stopped. Only urgent traffic itself can hold
  urgent traffic back.
- A crisis alert to the coordinator waits for nothing: in a mass casualty the coordinator's
  handset takes a page SMS for every case no peer could take, and those must not hold the
  one message that has to reach a human at once. It is one SMS per crisis, to the
  programme's own number, so it cannot flood anyone.
- `not_before` holds a message (a clinician's quiet hours, a deferred offer) in the store.

Claiming a message before it is sent, and reconciling a stale claim against the provider's
log, is the same discipline as for pages (notifiers/pager.py).
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Text, cast, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.events import DeliveryStatus
from services import clock
from services.cases.models import Message, MessageState
from services.db import array_literal, fetch
from services.paging.delivery import Delivery, advance
from services.paging.models import Page
from services.people.models import Staff
from services.sealing import Keyring, as_stored, keyring_of

RATE_PER_MINUTE = 6
# Slots of each minute per number that only urgent messages may use.
URGENT_RESERVE = 2
# The limit's window: what one number got in the last WINDOW counts.
WINDOW = timedelta(minutes=1)
# How long a message the limit held waits before it is looked at again.
HELD_FOR = timedelta(seconds=10)


class Priority(enum.IntEnum):
    crisis = -1  # a crisis alert to the coordinator: first in line, never held by the limit
    urgent = 0  # the peer who accepted needs the clinician's details now; crisis; coordinator
    conversation = 1  # answers and offers in a conversation that is going on
    bulk = 2  # prompts and reminders that can wait a minute


PRIORITY_OF_KIND: dict[str, Priority] = {
    "peer_details": Priority.urgent,
    "crisis_reply": Priority.urgent,
    "coordinator": Priority.urgent,
    "tier1_prompt": Priority.bulk,
    "offer_reminder": Priority.bulk,
    "follow_up": Priority.bulk,
}


def priority_of(kind: str) -> Priority:
    return PRIORITY_OF_KIND.get(kind, Priority.conversation)


class Unreachable(enum.StrEnum):
    stop = "sent STOP"
    opted_out = "opted out on the record"
    undeliverable = "cannot receive SMS"


# Sent whatever the staff record says, stopped only by STOP (which the carrier enforces
# anyway): the crisis line goes to whoever just wrote in crisis, from that very number; the
# coordinator is the programme's human fallback, never silenced by a directory entry.
EXEMPT_FROM_RECORD = frozenset({"crisis_reply", "coordinator"})


# The rule as SQL, over the numbers' lookup values (services.sealing) in the array parameter
# `:ns`: (lookup, why) rows, why one of Unreachable's names; a number may come twice (STOP
# and a record). Also for callers that read reachability inside a statement of their own (a
# CTE); unreachable_from reads it.
UNREACHABLE_SQL = (
    "SELECT number_key, 'stop' AS why FROM sms_opt_outs WHERE number_key = ANY(:ns) "
    "UNION ALL "
    "SELECT mobile_key, CASE WHEN undeliverable_code IS NOT NULL "
    "THEN 'undeliverable' ELSE 'opted_out' END FROM staff "
    "WHERE mobile_key = ANY(:ns) "
    "AND (undeliverable_code IS NOT NULL OR (active AND opted_out))"
)
UNREACHABLE = text(UNREACHABLE_SQL)


async def unreachable(session: AsyncSession, numbers: Iterable[str]) -> dict[str, Unreachable]:
    """The numbers among `numbers` that must not be texted, and why; one query for all.

    The only rule for it, so the queue, the page claim, matching and Tier 1 cannot disagree.
    """
    by_key = keyring_of(session).by_lookup(numbers)
    if not by_key:
        return {}
    rows = await session.execute(UNREACHABLE, {"ns": sorted(by_key)})
    return unreachable_from(rows.all(), by_key)


def unreachable_from(
    rows: Iterable[tuple[str, str]], by_key: Mapping[str, str]
) -> dict[str, Unreachable]:
    """(lookup, why) rows of UNREACHABLE_SQL (run alone or inside a caller's statement) as
    `unreachable` returns them, by number (`by_key`: Keyring.by_lookup)."""
    found: dict[str, Unreachable] = {}
    for key, why in rows:
        number = by_key[key]
        # STOP first: it is the one no exception overrides.
        if found.get(number) is not Unreachable.stop:
            found[number] = Unreachable[why]
    return found


async def mark_undeliverable(session: AsyncSession, number_key: str, code: int) -> None:
    """The carrier said `number` cannot take SMS: kept on whoever has it, with the code and
    when, so the next incident skips it (matching, Tier 1, this queue) until the directory
    gives them another number (services.people.importer clears the mark). The number is
    named by its lookup value (services.sealing): what a page or message row holds of it."""
    await session.execute(
        update(Staff)
        .where(
            Staff.mobile_key == as_stored(number_key),
            Staff.undeliverable_code.is_distinct_from(code),
        )
        .values(undeliverable_code=code, undeliverable_at=clock.now())
    )


async def mark_undeliverable_sent_to(
    session: AsyncSession, page_ids: list[uuid.UUID], message_id: uuid.UUID | None, code: int
) -> None:
    """A status callback's verdict on the number its pages or message went to."""
    keys = set(await session.scalars(select(Page.to_number_key).where(Page.id.in_(page_ids))))
    if message_id is not None:
        keys |= set(
            await session.scalars(select(Message.to_number_key).where(Message.id == message_id))
        )
    for key in sorted(k for k in keys if k is not None):  # None: purged (retention)
        await mark_undeliverable(session, key, code)


async def can_text(session: AsyncSession, number: str) -> bool:
    return number not in await unreachable(session, [number])


def holds_back(kind: str, why: Unreachable | None) -> bool:
    """Whether a message of `kind` waits unsent for a number that is `why`: every kind
    yields to STOP, the exempt kinds (EXEMPT_FROM_RECORD) to nothing else."""
    return why is not None and (why is Unreachable.stop or kind not in EXEMPT_FROM_RECORD)


async def _blocked(session: AsyncSession, kind: str, number: str) -> Unreachable | None:
    why = (await unreachable(session, [number])).get(number)
    return why if holds_back(kind, why) else None


async def enqueue(
    session: AsyncSession,
    *,
    kind: str,
    to_number: str,
    body: str,
    case_id: uuid.UUID | None = None,
    not_before: datetime | None = None,
    dedupe: str | None = None,
    priority: Priority | None = None,
) -> uuid.UUID | None:
    """Queue one SMS in the caller's transaction; None when an identical one is pending or
    the number may not be texted. `priority` overrides the kind's (PRIORITY_OF_KIND) where
    the same kind can be more pressing: a coordinator alert about a crisis."""
    if await _blocked(session, kind, to_number) is not None:
        return None
    key = Outgoing(kind, to_number, body, case_id, dedupe).dedupe_key(keyring_of(session))
    return await session.scalar(
        insert(Message)
        .values(
            id=uuid.uuid4(),
            case_id=case_id,
            kind=kind,
            to_number=to_number,
            to_number_key=to_number,
            body=body,
            dedupe_key=key,
            state=MessageState.queued,
            priority=priority if priority is not None else priority_of(kind),
            not_before=not_before or clock.now(),
        )
        .on_conflict_do_nothing(
            index_elements=["dedupe_key"], index_where=text("state IN ('queued', 'sending')")
        )
        .returning(Message.id)
    )


@dataclass(frozen=True)
class Outgoing:
    """One SMS to queue with others in one statement (enqueue_many)."""

    kind: str
    to_number: str
    body: str
    case_id: uuid.UUID | None = None
    dedupe: str | None = None

    def dedupe_key(self, keys: Keyring) -> str:
        """Names the number by its lookup value: the key is stored in the clear."""
        number = keys.lookup(self.to_number)
        return f"{self.kind}:{self.case_id}:{number}:{self.dedupe or ''}"[:200]


ENQUEUE_MANY = (
    "INSERT INTO messages (id, case_id, kind, to_number, to_number_key, body, dedupe_key, state, "
    "priority, not_before) SELECT gen_random_uuid(), m.case_id, m.kind, m.to_number, m.lookup, "
    "m.body, m.key, 'queued', m.priority, %(at)s FROM unnest(CAST(%(case)s AS uuid[]), "
    "CAST(%(kind)s AS text[]), CAST(%(to)s AS text[]), CAST(%(lookup)s AS text[]), "
    "CAST(%(body)s AS text[]), CAST(%(key)s AS text[]), CAST(%(priority)s AS smallint[])) "
    "AS m(case_id, kind, to_number, lookup, body, key, priority) "
    "ON CONFLICT (dedupe_key) WHERE state IN ('queued', 'sending') DO NOTHING RETURNING id"
)


async def enqueue_many(
    session: AsyncSession,
    outgoing: list[Outgoing],
    blocked: Mapping[str, Unreachable],
    at: datetime,
) -> int:
    """enqueue() for a batch's messages in one statement; how many were queued.

    Why: a mass casualty prompts a unit lead per unit and incident, and two statements a
    message (the number's check, the insert) were most of such a batch's statements.
    `blocked` is what the caller read of the numbers (unreachable over all of them: a number
    it does not name may be texted); the same rule as enqueue() drops the rest.
    """
    keep = [m for m in outgoing if not holds_back(m.kind, blocked.get(m.to_number))]
    if not keep:
        return 0
    keys = keyring_of(session)
    rows = await fetch(
        session,
        ENQUEUE_MANY,
        {
            "at": at,
            "case": array_literal(m.case_id for m in keep),
            "kind": array_literal(m.kind for m in keep),
            "to": array_literal(keys.seal(m.to_number, "messages.to_number") for m in keep),
            "lookup": array_literal(keys.lookup(m.to_number) for m in keep),
            "body": array_literal(keys.seal(m.body, "messages.body") for m in keep),
            "key": array_literal(m.dedupe_key(keys) for m in keep),
            "priority": array_literal(int(priority_of(m.kind)) for m in keep),
        },
    )
    return len(rows)


async def cancel_pending(session: AsyncSession, case_id: uuid.UUID, kinds: tuple[str, ...]) -> None:
    """Drop queued messages a case no longer needs (a reminder after the clinician answered)."""
    await session.execute(
        update(Message)
        .where(
            Message.case_id == case_id,
            Message.kind.in_(kinds),
            Message.state == MessageState.queued,
        )
        .values(state=MessageState.cancelled)
    )


@dataclass(frozen=True)
class SentLastMinute:
    """What one number got in the last minute: every SMS (a bundle of pages once), and the
    urgent messages among them."""

    total: int
    urgent: int


async def sent_last_minute(session: AsyncSession, number: str, at: datetime) -> SentLastMinute:
    """SMS that reached the carrier for `number` in the minute before `at`. The pages of one
    bundle share the SMS's provider sid and count once: the handset got one message."""
    since = at - WINDOW
    messages = (
        await session.execute(
            select(func.count(), func.count().filter(Message.priority <= Priority.urgent)).where(
                Message.to_number_key == number, Message.sent_at > since
            )
        )
    ).one()
    pages = await session.scalar(
        select(
            func.count(func.distinct(func.coalesce(Page.provider_sid, cast(Page.id, Text))))
        ).where(Page.to_number_key == number, Page.sent_at > since)
    )
    return SentLastMinute(int(messages[0]) + int(pages or 0), int(messages[1]))


def may_go_now(priority: Priority, sent: SentLastMinute) -> bool:
    """The per-number limit (the module's docstring says why each rule is there)."""
    if priority <= Priority.crisis:
        return True
    if priority == Priority.urgent:
        return sent.total < RATE_PER_MINUTE or sent.urgent < URGENT_RESERVE
    return sent.total < RATE_PER_MINUTE - URGENT_RESERVE


async def due(
    session: AsyncSession, at: datetime, stale_after: float, limit: int = 200
) -> list[uuid.UUID]:
    """Messages due now (queued and past not_before, or claimed by a dead sender), urgent
    first: a sender working down this list never sends bulk while urgent waits."""
    rows = await session.scalars(
        select(Message.id)
        .where(
            ((Message.state == MessageState.queued) & (Message.not_before <= at))
            | (
                (Message.state == MessageState.sending)
                & (Message.claimed_at < at - timedelta(seconds=stale_after))
            )
        )
        .order_by(Message.priority, Message.not_before)
        .limit(limit)
    )
    return list(rows)


@dataclass(frozen=True)
class MessageClaim:
    message_id: uuid.UUID
    case_id: uuid.UUID | None
    to_number: str
    body: str
    created_at: datetime
    reclaimed: bool


async def claim(
    session: AsyncSession, message_id: uuid.UUID, stale_after: float
) -> MessageClaim | None:
    msg = await session.get(Message, message_id, with_for_update=True)
    if msg is None:
        return None
    at = clock.now()
    if msg.state == MessageState.queued and msg.not_before <= at:
        reclaimed = False
    elif (
        msg.state == MessageState.sending
        and msg.claimed_at is not None
        and msg.claimed_at < at - timedelta(seconds=stale_after)
    ):
        reclaimed = True
    else:
        return None
    if msg.to_number is None or msg.body is None:
        msg.state = MessageState.cancelled  # purged (retention): nobody left to send it to
        return None
    if await _blocked(session, msg.kind, msg.to_number) is not None:
        msg.state = MessageState.suppressed  # STOP, an opt-out or a bad number since it was queued
        return None
    priority = Priority(msg.priority)
    if (
        not reclaimed
        and priority > Priority.crisis
        and not may_go_now(priority, await sent_last_minute(session, msg.to_number, at))
    ):
        msg.not_before = at + HELD_FOR  # wait its turn; order is kept by time
        return None
    msg.state = MessageState.sending
    msg.claimed_at = at
    return MessageClaim(msg.id, msg.case_id, msg.to_number, msg.body, msg.created_at, reclaimed)


async def record_sent(session: AsyncSession, message_id: uuid.UUID, sid: str) -> None:
    await session.execute(
        update(Message)
        .where(Message.id == message_id, Message.sent_at.is_(None))
        .values(state=MessageState.sent, provider_sid=sid, sent_at=clock.now())
    )


async def record_failed(session: AsyncSession, message_id: uuid.UUID, code: int | None) -> None:
    await session.execute(
        update(Message)
        .where(Message.id == message_id, Message.state == MessageState.sending)
        .values(state=MessageState.failed, error_code=code)
    )


async def release(session: AsyncSession, message_id: uuid.UUID, stale_after: float) -> None:
    """After a transient failure: stale at once, so the next sweep reconciles then retries."""
    await session.execute(
        update(Message)
        .where(Message.id == message_id, Message.state == MessageState.sending)
        .values(claimed_at=clock.now() - timedelta(seconds=stale_after + 1))
    )


def message_delivery(msg: Message) -> Delivery:
    """How far the message got; 'cancelled'/'suppressed' never left, so they are final too."""
    if msg.state in (MessageState.delivered, MessageState.undelivered, MessageState.failed):
        return Delivery(msg.state)
    if msg.state in (MessageState.cancelled, MessageState.suppressed):
        return Delivery.failed
    if msg.state == MessageState.sent or msg.sent_at is not None:
        return Delivery.sent
    return Delivery.none


async def record_status(
    session: AsyncSession,
    message_id: uuid.UUID,
    sid: str,
    status: DeliveryStatus,
    error_code: int | None,
) -> bool:
    """Record a delivery status if it moves the message forward (delivery.advance); True when
    something was written. A replay or a failure after delivery writes nothing."""
    msg = await session.get(Message, message_id, with_for_update=True)
    if msg is None:
        return False
    return await apply_status(session, msg, sid, status, error_code)


async def apply_status(
    session: AsyncSession,
    msg: Message,
    sid: str,
    status: DeliveryStatus,
    error_code: int | None,
) -> bool:
    """record_status on a message the caller has locked already (status callbacks applied
    in sets lock a batch's messages with one statement)."""
    if msg.provider_sid is not None and msg.provider_sid != sid:
        return False
    new = advance(message_delivery(msg), status)
    if new is None:
        return False
    if msg.sent_at is None:
        # The callback got here before the sender recorded: Twilio has it, so it is sent
        # (and record_sent, which only writes while sent_at is empty, cannot move it back).
        msg.sent_at = clock.now()
        taken = await session.scalar(select(Message.id).where(Message.provider_sid == sid))
        if msg.provider_sid is None and taken is None:
            msg.provider_sid = sid
    if new in (Delivery.queued, Delivery.sent):
        if msg.state in (MessageState.queued, MessageState.sending):
            msg.state = MessageState.sent
        return True
    msg.state = MessageState(new.value)
    if new != Delivery.delivered:
        msg.error_code = error_code
    return True
