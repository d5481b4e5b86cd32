"""The life of a support case and its pages, one transaction per step.

Each step locks what it changes, writes the new state, a transition row and its outbox event
together, and is a no-op when replayed. That is what lets Kafka redeliver anything and lets a
worker die anywhere without losing a page or sending one twice:

    requested --claim--> sending --Twilio accepted--> sent --callback--> delivered
                                                                      \\-> undelivered/failed
    sent/delivered --reply--> accepted | declined
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.events import (
    DeliveryStatus,
    PageSent,
    PageStatusChanged,
    SmsReceived,
)
from services import clock, outbox, texts
from services.cases.outbound import Unreachable, unreachable
from services.cases.refs import case_ref
from services.db import raw_pool, rows_json
from services.logs import log
from services.paging.codes import next_code, reply_codes
from services.paging.models import (
    InboundSms,
    Page,
    PageEvent,
    PageState,
    PageTransition,
)
from services.people.models import Involvement, Staff
from services.sealing import keyring_of

ANSWERED = (PageState.accepted, PageState.declined, PageState.superseded)


def transition(
    session: AsyncSession,
    page_id: uuid.UUID,
    state: PageState | PageEvent | DeliveryStatus,
    **detail: object,
) -> None:
    session.add(PageTransition(page_id=page_id, state=state, detail=detail))


# --- incident -> cases ----------------------------------------------------------------------


# --- case -> page ---------------------------------------------------------------------------


async def involved_in(session: AsyncSession, incident_id: uuid.UUID) -> set[str]:
    """Everyone named or proposed (and not removed): none of them may be paged as a peer."""
    return (await involved_in_many(session, [incident_id]))[incident_id]


async def involved_in_many(
    session: AsyncSession, incident_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, set[str]]:
    """involved_in for a batch's incidents, with two queries for any number of them."""
    ids = list(set(incident_ids))
    involved: dict[uuid.UUID, set[str]] = {i: set() for i in ids}
    named = await session.execute(
        text("SELECT id, staff_ids FROM incidents WHERE id = ANY(:ids)"), {"ids": ids}
    )
    for incident_id, staff_ids in named.all():
        involved[incident_id] |= set(staff_ids or ())
    proposed = await session.execute(
        select(Involvement.incident_id, Involvement.staff_id).where(
            Involvement.incident_id.in_(ids), Involvement.status != "removed"
        )
    )
    for incident_id, staff_id in proposed.all():
        involved[incident_id].add(staff_id)
    return involved


# --- page -> SMS ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    page_id: uuid.UUID
    case_id: uuid.UUID
    to_number: str
    body: str
    requested_at: datetime
    # True when an earlier claim went stale: the provider's log must be checked first.
    reclaimed: bool
    reply_code: str
    to_coordinator: bool


def page_body(page: Page) -> str:
    """The default text of a page (the coordinator's, or a peer's in English)."""
    if page.peer_staff_id is None:
        # A coordinator page's reason is written for the coordinator (flows.page_next).
        return texts.coordinator_page(page.reply_code, page.reason, case_ref(page.case_id))
    return texts.peer_page(page.reply_code)


async def page_text(session: AsyncSession, page: Page) -> str:
    """What the page says to its recipient: a peer's in their language (services.texts)."""
    if page.peer_staff_id is None:
        return page_body(page)
    peer = await session.get(Staff, page.peer_staff_id)  # claim_bundles loaded it already
    return await texts.text_for(session, peer, "peer_page", code=page.reply_code)


# A batch's pages as lock_pages read them, under their lock until the transaction ends.
Locked = Mapping[uuid.UUID, Page]


async def lock_pages(session: AsyncSession, page_ids: list[uuid.UUID]) -> Locked:
    """Lock a batch's pages in id order with one query, for the claim/record_* calls after
    (pass them what this returns).

    Why: recording a batch page by page cost a query each; and the id order is the one every
    other locker of several pages uses (claims, status callbacks), so none can deadlock.
    The rows are held here, strongly: the identity map holds unchanged rows weakly.
    """
    rows = (
        await session.scalars(
            select(Page).where(Page.id.in_(page_ids)).order_by(Page.id).with_for_update()
        )
    ).all()
    return {p.id: p for p in rows}


async def _for_update(
    session: AsyncSession, page_id: uuid.UUID, locked: Locked | None
) -> Page | None:
    if locked is not None and page_id in locked:
        return locked[page_id]
    return await session.get(Page, page_id, with_for_update=True)


async def claim(
    session: AsyncSession,
    page_id: uuid.UUID,
    stale_after: float,
    reach: Mapping[str, Unreachable | None] | None = None,
    locked: Locked | None = None,
    mobiles: Mapping[str, str] | None = None,
) -> Claim | None:
    """Take the right to send this page, or None when it is sent or being sent by another,
    or when its number may no longer be texted (STOP, opted out, undeliverable since it was
    requested): then the page fails at once and the case escalates to the next step.

    `reach` is what the caller already knows about numbers (claim_bundles asks for a whole
    batch in one query); a number it does not cover is asked about here. `locked` and
    `mobiles` (peers' numbers now) are what claim_bundles read for the whole batch.
    """
    page = await _for_update(session, page_id, locked)
    if page is None:
        raise LookupError(f"page {page_id} not in store")
    t = clock.now()
    if page.state == PageState.requested:
        reclaimed = False
    elif (
        page.state == PageState.sending
        and page.claimed_at is not None
        and page.claimed_at < t - timedelta(seconds=stale_after)
    ):
        reclaimed = True
    else:
        return None
    if not reclaimed and page.peer_staff_id is not None:
        await _follow_number_change(session, page, mobiles)
    if not reclaimed:
        # A stale claim is not refused here: it may already be at Twilio, and must be
        # reconciled against the provider's log first.
        if reach is not None and page.to_number in reach:
            why = reach[page.to_number]
        else:
            why = (await unreachable(session, [page.to_number])).get(page.to_number)
        # The coordinator's pages yield only to STOP (outbound.EXEMPT_FROM_RECORD).
        if why is not None and (page.peer_staff_id is not None or why is Unreachable.stop):
            await _refuse(session, page, why)
            return None
    page.state = PageState.sending
    page.claimed_at = t
    # A stale claim looks for what was really sent (perhaps a bundle); a fresh one sends its own.
    if not reclaimed or page.sent_body is None:
        page.sent_body = await page_text(session, page)
    transition(session, page.id, PageState.sending, reclaimed=reclaimed)
    return Claim(
        page.id,
        page.case_id,
        page.to_number,
        page.sent_body,
        page.requested_at,
        reclaimed,
        page.reply_code,
        page.peer_staff_id is None,
    )


async def _refuse(session: AsyncSession, page: Page, why: Unreachable) -> None:
    """Never sent: the number may not be texted. The case moves on at once, as it does when
    Twilio refuses a number for good."""
    from services.cases.flows import escalate_now  # flows builds on this module

    await _fail(session, page, None, unreachable=why.name)
    await escalate_now(session, page.case_id, page.id)
    log().info("page.not_textable", page_id=str(page.id), case_id=str(page.case_id), why=why.name)


@dataclass(frozen=True)
class Bundle:
    """One SMS for one or more pages to the same phone."""

    claims: tuple[Claim, ...]
    body: str

    @property
    def to_number(self) -> str:
        return self.claims[0].to_number

    @property
    def since(self) -> datetime:
        return min(c.requested_at for c in self.claims)

    @property
    def reclaimed(self) -> bool:
        return any(c.reclaimed for c in self.claims)


async def claim_bundles(
    session: AsyncSession, page_ids: list[uuid.UUID], stale_after: float
) -> list[Bundle]:
    """Claim pages and bundle fresh ones to the same phone into one SMS (GoAlert's rule):
    a peer paged for five colleagues at once gets one message with five codes, not five."""
    # Lock the batch's pages and read the peers' numbers in two queries, not two per page.
    rows = await lock_pages(session, page_ids)
    peers = {p.peer_staff_id for p in rows.values() if p.peer_staff_id is not None}
    # Whole rows, held here: the pages' texts read each peer's language from the identity map.
    peer_rows = {
        s.staff_id: s
        for s in (await session.scalars(select(Staff).where(Staff.staff_id.in_(peers)))).all()
    }
    mobiles = {sid: s.mobile_e164 for sid, s in peer_rows.items()}
    numbers = {p.to_number for p in rows.values()} | set(mobiles.values())
    found = await unreachable(session, numbers)
    reach = {n: found.get(n) for n in numbers}
    claims = [
        c
        for pid in page_ids
        if (c := await claim(session, pid, stale_after, reach, rows, mobiles)) is not None
    ]
    bundles: list[Bundle] = []
    fresh: dict[str, list[Claim]] = {}
    for c in claims:
        if c.reclaimed or c.to_coordinator:
            bundles.append(Bundle((c,), c.body))
        else:
            fresh.setdefault(c.to_number, []).append(c)
    for group in fresh.values():
        if len(group) == 1:
            bundles.append(Bundle((group[0],), group[0].body))
            continue
        codes = [c.reply_code for c in group]
        peer_id = rows[group[0].page_id].peer_staff_id
        body = await texts.text_for(
            session,
            peer_rows.get(peer_id) if peer_id is not None else None,
            "bundled_pages",
            codes=", ".join(codes),
            count=len(codes),
            accept="/".join(f"{c}A" for c in codes),
            passes="/".join(f"{c}P" for c in codes),
        )
        await session.execute(
            update(Page).where(Page.id.in_([c.page_id for c in group])).values(sent_body=body)
        )
        bundles.append(Bundle(tuple(group), body))
    return bundles


async def _follow_number_change(
    session: AsyncSession, page: Page, mobiles: Mapping[str, str] | None
) -> None:
    """A page not yet sent goes to the number the directory holds now, not at request time:
    a re-import that changed a phone must not send a page to a number the peer gave up.
    `mobiles` is the peers' numbers as the caller already read them."""
    if mobiles is not None and page.peer_staff_id in mobiles:
        current: str | None = mobiles[page.peer_staff_id]
    else:
        current = await session.scalar(
            select(Staff.mobile_e164).where(Staff.staff_id == page.peer_staff_id)
        )
    if current is None or current == page.to_number:
        return
    page.to_number = current
    page.reply_code = next_code((await reply_codes(session, [current]))[current])
    transition(session, page.id, PageEvent.renumbered)


async def record_sent(
    session: AsyncSession,
    page_id: uuid.UUID,
    sid: str,
    reconciled: bool = False,
    locked: Locked | None = None,
) -> PageSent | None:
    page = await _for_update(session, page_id, locked)
    if page is None or page.sent_at is not None:
        return None  # a status callback got here first, or a replay
    return await _mark_sent(session, page, sid, reconciled)


async def _mark_sent(session: AsyncSession, page: Page, sid: str, reconciled: bool) -> PageSent:
    page.provider_sid = sid
    page.sent_at = clock.now()
    if page.state in (PageState.requested, PageState.sending):
        page.state = PageState.sent
    transition(session, page.id, PageState.sent, sid=sid, reconciled=reconciled)
    event = PageSent(page_id=page.id, case_id=page.case_id, provider_sid=sid, reconciled=reconciled)
    await outbox.add(session, event)
    return event


# Record the sids of sent pages in one statement (psycopg's %(name)s parameters, so the same
# text runs on a session's connection and alone on a RawPool): the pages locked in id order
# (as every locker of several pages does), updated, their transitions and PageSent events
# written, the relay woken at commit (as outbox.add does: once, if any event was written).
RECORD_SENT = (
    "WITH locked AS (SELECT id FROM pages WHERE id = ANY(%(ids)s) ORDER BY id FOR UPDATE), "
    "done AS (UPDATE pages AS p SET provider_sid = v.sid, sent_at = %(at)s, state = CASE "
    "WHEN p.state IN ('requested', 'sending') THEN 'sent' ELSE p.state END "
    "FROM locked, unnest(CAST(%(ids)s AS uuid[]), CAST(%(sids)s AS text[]), "
    "CAST(%(rec)s AS boolean[])) AS v(id, sid, reconciled) "
    "WHERE p.id = locked.id AND p.id = v.id AND p.sent_at IS NULL "
    "RETURNING p.id, v.sid, v.reconciled), "
    "moves AS (INSERT INTO page_transitions (page_id, state, at, detail) "
    "SELECT id, 'sent', %(at)s, jsonb_build_object('sid', sid, 'reconciled', reconciled) "
    "FROM done), "
    "events AS (INSERT INTO outbox (topic, key, payload) "
    "SELECT e.topic, e.key, e.payload FROM jsonb_to_recordset(CAST(%(events)s AS jsonb)) "
    "AS e(topic text, key text, payload jsonb, page_id uuid, n int) "
    "JOIN done ON done.id = e.page_id ORDER BY e.n RETURNING 1) "
    f"SELECT (SELECT count(*) FROM done), (SELECT pg_notify('{outbox.CHANNEL}', '') "
    "WHERE EXISTS (SELECT 1 FROM events))"
)
# The RawPool the sender records on when a batch's outcomes are all sids (nearly always).
RECORDER = "svrr-send-record"


def _record_sent_params(sent: list[tuple[uuid.UUID, uuid.UUID, str, bool]]) -> dict[str, object]:
    events = [
        PageSent(page_id=p, case_id=c, provider_sid=sid, reconciled=r) for p, c, sid, r in sent
    ]
    return {
        "ids": [p for p, _, _, _ in sent],
        "sids": [sid for _, _, sid, _ in sent],
        "rec": [r for _, _, _, r in sent],
        "at": clock.now(),
        "events": rows_json(
            [
                row | {"page_id": p, "n": n}
                for n, (row, (p, _, _, _)) in enumerate(
                    zip(outbox.rows(list(events)), sent, strict=True)
                )
            ]
        ),
    }


async def record_sent_many(
    session: AsyncSession, sent: list[tuple[uuid.UUID, uuid.UUID, str, bool]]
) -> int:
    """Record the sids of a batch's pages, (page id, case id, sid, reconciled) each, with one
    statement (RECORD_SENT), in the caller's transaction. A page a status callback recorded
    first is left, and gets no transition and no event. Returns how many pages were recorded.

    Why one statement: as four (the update, the transitions row by row through
    executemany, the events, the NOTIFY) it was a third of the engine's cost of sending."""
    if not sent:
        return 0
    conn = await session.connection()
    rows = await conn.exec_driver_sql(RECORD_SENT, _record_sent_params(sent))
    return int(rows.one()[0])


async def record_sent_alone(sent: list[tuple[uuid.UUID, uuid.UUID, str, bool]]) -> int:
    """record_sent_many as a transaction of its own: the one statement in autocommit on a
    RawPool, without a session, a BEGIN or a COMMIT.

    Why: at a steady rate the sender records a batch of one or two pages at a time, and the
    ORM session around the statement (checkout, ping, BEGIN, COMMIT, the greenlet) cost
    more CPU than the statement. Safe to run twice if the connection drops mid-statement:
    a page already recorded is left alone (sent_at IS NULL), so a second run writes nothing
    for it."""
    if not sent:
        return 0
    rows = await raw_pool(RECORDER, max_size=8).fetch(
        RECORD_SENT, _record_sent_params(sent), idempotent=True
    )
    return int(rows[0][0])


async def release(
    session: AsyncSession, page_id: uuid.UUID, error: str, stale_after: float
) -> None:
    """Make a claim stale at once after a transient failure, so the next sweep retries it.

    The page stays `sending`, not `requested`: a timeout may hide a message Twilio did take,
    so every retry asks the provider's log before sending again.
    """
    await session.execute(
        update(Page)
        .where(Page.id == page_id, Page.state == PageState.sending, Page.sent_at.is_(None))
        .values(claimed_at=clock.now() - timedelta(seconds=stale_after + 1))
    )
    transition(session, page_id, PageEvent.retry, error=error)


async def record_failed(
    session: AsyncSession, page_id: uuid.UUID, code: int | None, locked: Locked | None = None
) -> None:
    page = await _for_update(session, page_id, locked)
    if page is None or page.state != PageState.sending:
        return
    await _fail(session, page, code, error_code=code)


async def _fail(session: AsyncSession, page: Page, code: int | None, **detail: object) -> None:
    """A page that will never be delivered: its row, its transition and its event together."""
    page.state = PageState.failed
    page.error_code = code
    transition(session, page.id, PageState.failed, **detail)
    await outbox.add(
        session,
        PageStatusChanged(
            page_id=page.id,
            case_id=page.case_id,
            provider_sid="",
            status=DeliveryStatus.failed,
            error_code=code,
        ),
    )


async def due_pages(
    session: AsyncSession, stale_after: float, older_than: float
) -> list[uuid.UUID]:
    """Pages a sweep must drive: never claimed (a lost event) or claimed by a dead worker."""
    t = clock.now()
    rows = await session.scalars(
        select(Page.id)
        .where(
            (
                (Page.state == PageState.requested)
                & (Page.requested_at < t - timedelta(seconds=older_than))
            )
            | (
                (Page.state == PageState.sending)
                & (Page.claimed_at < t - timedelta(seconds=stale_after))
            )
        )
        .limit(200)
    )
    return list(rows)


# --- delivery status: services/paging/callbacks.py (stored, then applied in sets) --------------


# --- inbound SMS ----------------------------------------------------------------------------


async def record_inbound(
    session: AsyncSession,
    provider_sid: str,
    from_number: str,
    to_number: str,
    body: str,
) -> SmsReceived | None:
    """Store a verified inbound SMS once; Twilio may deliver the same sid again.

    The event is a claim check on the row (schemas.events.SmsReceived): it names the row and
    carries `sender`, the number's lookup value (services.sealing: the record's key, so one
    sender's replies stay in order), never the number or the text.

    `received_at` is on the tiered response's clock, not the database's: quiet hours give way
    when the clinician "wrote within the hour" of a send time on that clock.
    """
    sms_id = await session.scalar(
        insert(InboundSms)
        .values(
            id=uuid.uuid4(),
            provider_sid=provider_sid,
            from_number=from_number,
            from_number_key=from_number,  # hashed by its column's type (services.sealing)
            to_number=to_number,
            body=body,
            received_at=clock.now(),
        )
        .on_conflict_do_nothing(index_elements=["provider_sid"])
        .returning(InboundSms.id)
    )
    if sms_id is None:
        return None
    sender = keyring_of(session).lookup(from_number)
    event = SmsReceived(sms_id=sms_id, provider_sid=provider_sid, sender=sender)
    await outbox.add(session, event)
    return event
