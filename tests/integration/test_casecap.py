"""Mass casualty: case limits held by the store, one Tier 1 prompt per lead per incident,
urgent messages ahead of bulk, numbers that cannot receive SMS, STOP honoured in matching."""

from __future__ import annotations

import asyncio
import csv
import io
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from events.consume import persistently
from notifiers.sms import PermanentSendError, SmsSender
from schemas.events import SupportNeeded
from services import clock
from services.cases import outbound, outreach
from services.config import get_settings
from services.db import transaction
from services.incidents import involvement
from services.paging import sending
from services.paging import service as paging
from services.people.importer import import_staff
from services.people.matching import ContextCache, MatchContext, load_context
from tests.integration.sealed import lookup, opened, seal
from tests.integration.test_agents import stored_incident
from tests.integration.test_flows import ahead_of_the_engine, q, reply
from tests.integration.test_sending import claim_and_send
from tests.stack import Stack, eventually

ADMIN = {"Authorization": "Bearer test-admin-token"}
STAFF_COLUMNS = "staff_id,display_name,discipline,role,home_unit,mobile,language,tier1_lead".split(
    ","
)
LOAD_STATES = "('requested', 'sending', 'sent', 'delivered', 'accepted')"


@pytest.fixture(autouse=True)
def fresh_clock() -> Iterator[None]:
    clock.reset()
    yield
    clock.reset()


_made: list[str] = []


@pytest.fixture(autouse=True)
def roster_leaves(db: Engine) -> Iterator[None]:
    """This file's people leave afterwards (inactive, never deleted), so the directory
    tests' full exports and deactivation limits see the hospital they expect."""
    yield
    with db.begin() as conn:
        conn.execute(text("UPDATE staff SET active = false WHERE staff_id = ANY(:s)"), {"s": _made})
        conn.execute(
            text("UPDATE peer_supporters SET active = false WHERE staff_id = ANY(:s)"),
            {"s": _made},
        )
    _made.clear()


@dataclass
class Roster:
    unit: str
    lead: str
    lead_number: str
    clinicians: list[str]
    peers: list[str]

    def number(self, staff_id: str) -> str:
        return f"+1555{self.tag}{int(staff_id[-3:]):03d}"

    @property
    def tag(self) -> str:
        return self.unit[-4:]


def make_roster(db: Engine, clinicians: int, peers: int, limit: int) -> Roster:
    """A unit of its own with a Tier 1 lead and its clinicians, and peers from another unit
    on call through a schedule of their own (one rotation each)."""
    tag = f"{uuid.uuid4().int % 10000:04d}"
    unit = f"MC{tag}"
    r = Roster(
        unit=unit,
        lead=f"L{tag}000",
        lead_number="",
        clinicians=[f"C{tag}{i:03d}" for i in range(1, clinicians + 1)],
        peers=[f"P{tag}{i:03d}" for i in range(501, 501 + peers)],
    )
    r.lead_number = r.number(r.lead)
    _made.extend([r.lead, *r.clinicians, *r.peers])
    with db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO units (code, name, site, time_zone, active) "
                "VALUES (:u, 'Mass casualty unit', 'main', 'America/New_York', true)"
            ),
            {"u": unit},
        )
        for sid, home in [(r.lead, unit), *((c, unit) for c in r.clinicians)] + [
            (p, "ICU") for p in r.peers
        ]:
            conn.execute(
                text(
                    "INSERT INTO staff (staff_id, display_name, discipline, role, home_unit, "
                    "mobile_e164, mobile_key, language, opted_out, active) VALUES "
                    "(:s, :n, 'RN', 'staff nurse', :u, :m, :k, 'en', false, true)"
                ),
                {
                    "s": sid,
                    "n": f"Name{sid} Surname",
                    "u": home,
                    "m": seal(r.number(sid), "staff.mobile_e164"),
                    "k": lookup(r.number(sid)),
                },
            )
        conn.execute(
            text("UPDATE units SET tier1_lead_staff_id = :l WHERE code = :u"),
            {"l": r.lead, "u": unit},
        )
        schedule = uuid.uuid4()
        conn.execute(
            text("INSERT INTO schedules (id, name, time_zone) VALUES (:i, :n, 'America/New_York')"),
            {"i": schedule, "n": f"mass casualty {tag}"},
        )
        for p in r.peers:
            conn.execute(
                text(
                    "INSERT INTO peer_supporters (staff_id, trained_on, trained_until, "
                    "supports, languages, max_open_cases, active) VALUES "
                    "(:s, '2025-01-01', '2030-01-01', '{}', '{en}', :l, true)"
                ),
                {"s": p, "l": limit},
            )
            rotation = uuid.uuid4()
            conn.execute(
                text(
                    "INSERT INTO rotations (id, schedule_id, name, kind, shift_hours, "
                    "start_local) VALUES (:i, :s, :n, 'daily', 24, '2026-01-05 07:00')"
                ),
                {"i": rotation, "s": schedule, "n": p},
            )
            conn.execute(
                text(
                    "INSERT INTO rotation_participants (rotation_id, position, staff_id) "
                    "VALUES (:r, 0, :s)"
                ),
                {"r": rotation, "s": p},
            )
    return r


@contextmanager
def only_these_peers(db: Engine, peers: list[str]) -> Iterator[None]:
    """Every other peer paused for the test (and back after), so the counts are ours."""
    with db.begin() as conn:
        conn.execute(
            text("UPDATE peer_supporters SET active = true WHERE staff_id = ANY(:p)"), {"p": peers}
        )
        paused = [
            row[0]
            for row in conn.execute(
                text(
                    "UPDATE peer_supporters SET active = false "
                    "WHERE active AND NOT (staff_id = ANY(:p)) RETURNING staff_id"
                ),
                {"p": peers},
            )
        ]
    try:
        yield
    finally:
        with db.begin() as conn:
            conn.execute(
                text("UPDATE peer_supporters SET active = false WHERE staff_id = ANY(:p)"),
                {"p": peers},
            )
            conn.execute(
                text("UPDATE peer_supporters SET active = true WHERE staff_id = ANY(:p)"),
                {"p": paused},
            )


def loads(db: Engine, peers: list[str]) -> dict[str, int]:
    """Each peer's open load as the issue defines it: offered and not answered, or accepted,
    on a case still open."""
    rows = q(
        db,
        "SELECT p.peer_staff_id, count(*) FROM pages p JOIN support_cases c ON c.id = p.case_id "
        f"WHERE p.state IN {LOAD_STATES} AND c.state NOT IN ('closed', 'declined') "
        "AND p.peer_staff_id = ANY(:p) GROUP BY 1",
        p=peers,
    )
    found = {str(sid): int(str(n)) for sid, n in rows}
    return {p: found.get(p, 0) for p in peers}


def reasons_hold(db: Engine, r: Roster, limit: int) -> None:
    """Each page's stored 'N/limit open cases' was the peer's load when it was written: with
    none of them answered in between, a peer's k pages say 0/2, 1/2, ..., k-1/2, once each
    (in whatever order concurrent workers wrote them)."""
    rows = q(db, "SELECT peer_staff_id, reason FROM pages WHERE peer_staff_id = ANY(:p)", p=r.peers)
    said: dict[str, list[int]] = {}
    for sid, reason in rows:
        found = re.search(r"(\d+)/(\d+) open cases", str(reason))
        assert found is not None, reason
        assert int(found[2]) == limit, reason
        said.setdefault(str(sid), []).append(int(found[1]))
    for sid, counts in said.items():
        assert sorted(counts) == list(range(len(counts))), (sid, counts)


async def run_outreach(need: SupportNeeded, ctx: MatchContext | None) -> None:
    """As the worker does it: a transaction that PostgreSQL aborts (two assignments waiting on
    each other's peer locks once every free peer is full) is retried, never half-done."""

    async def once() -> None:
        async with transaction() as session:
            await outreach.start_outreach(session, need, get_settings(), ctx)

    await persistently(once, "outreach")


async def context() -> MatchContext:
    async with transaction() as session:
        return await load_context(session, clock.now(), "preferred")


async def sweep() -> None:
    """What the worker's sweeps do: send due pages and due messages."""
    async with transaction() as session:
        due_pages = await paging.due_pages(session, stale_after=3, older_than=0)
        due_messages = await outbound.due(session, clock.now(), stale_after=3)
    if due_pages:
        await sending.deliver_pages(due_pages)
    for message_id in due_messages:
        await sending.deliver_message(message_id)


async def second_page_goes_to(db: Engine, case_id: uuid.UUID) -> object:
    """Fire what is due, wait for the case's second page (the live engine may write it), say
    whose."""
    await fire_all()
    await eventually(
        lambda: len(q(db, "SELECT 1 FROM pages WHERE case_id = :c", c=case_id)) == 2 or None,
        15,
        "the next page",
    )
    ((peer,),) = q(
        db, "SELECT peer_staff_id FROM pages WHERE case_id = :c AND attempt = 2", c=case_id
    )
    return peer


async def fire_all() -> None:
    from services.cases import engine

    while await engine.fire_due(get_settings()):
        pass


def lead_prompts(db: Engine, r: Roster) -> list[str]:
    return [
        str(opened(str(b), "messages.body"))
        for (b,) in q(
            db,
            "SELECT body FROM messages WHERE to_number_key = :n AND kind = 'tier1_prompt' "
            "ORDER BY created_at",
            n=lookup(r.lead_number),
        )
    ]


def standin_messages(stack: Stack, number: str) -> list[dict[str, object]]:
    found: list[dict[str, object]] = httpx.get(
        f"{stack.standin_url}/_standin/messages", params={"to": number}
    ).json()
    return found


# --------------------------------------------------------------------------- case limits


async def test_mass_casualty_holds_every_case_limit(stack: Stack, db: Engine) -> None:
    limit = 2
    r = make_roster(db, clinicians=12, peers=4, limit=limit)
    with only_these_peers(db, r.peers):
        incident = stored_incident(db, r.clinicians, unit=r.unit)
        async with transaction() as session:
            needs = await involvement.identify(session, incident, group_threshold=5)
        assert len(needs) == 12
        # Two workers, each with a context loaded before any page existed, open the cases
        # at once; then every event is redelivered.
        first, second = await context(), await context()
        await asyncio.gather(
            *(run_outreach(n, first if i % 2 else second) for i, n in enumerate(needs))
        )
        await asyncio.gather(*(run_outreach(n, None) for n in needs))
        assert max(loads(db, r.peers).values()) == limit
        assert sum(loads(db, r.peers).values()) == 4 * limit
        reasons_hold(db, r, limit)
        coordinator = q(
            db,
            "SELECT p.reason FROM pages p JOIN support_cases c ON c.id = p.case_id "
            "WHERE c.incident_id = :i AND p.peer_staff_id IS NULL",
            i=incident.incident_id,
        )
        assert len(coordinator) == 12 - 4 * limit
        assert all("4 at their case limit" in str(x) for (x,) in coordinator)

        await sweep()  # the pages go out
        # Every peer accepts every page they hold.
        for p in r.peers:
            held = q(
                db,
                "SELECT reply_code FROM pages WHERE peer_staff_id = :p AND state IN "
                "('requested', 'sending', 'sent', 'delivered') ORDER BY reply_code",
                p=p,
            )
            for (code,) in held:
                assert await reply(db, r.number(p), f"{code}A") == "accepted"
            assert loads(db, r.peers)[p] == limit
        # Every escalation, retry and sweep that could fire does: nobody goes over.
        for step in (timedelta(minutes=5, seconds=1), timedelta(minutes=16), timedelta(hours=3)):
            clock.advance(step)
            await fire_all()
            await sweep()
            assert max(loads(db, r.peers).values()) <= limit, loads(db, r.peers)
        reasons_hold(db, r, limit)

        # One Tier 1 message for the lead, naming no one, however many workers and sweeps.
        prompts = lead_prompts(db, r)
        assert len(prompts) == 1 and "12 people on your team" in prompts[0]
        assert not any(f"Name{c}" in prompts[0] for c in r.clinicians)
        await eventually(
            lambda: standin_messages(stack, r.lead_number) or None, 10, "the Tier 1 SMS"
        )
        await asyncio.sleep(1.5)  # the worker's sender runs every 0.5 s: nothing more comes
        assert len(standin_messages(stack, r.lead_number)) == 1
        states = q(
            db,
            "SELECT DISTINCT t.to_state FROM case_transitions t JOIN support_cases c "
            "ON c.id = t.case_id WHERE c.incident_id = :i",
            i=incident.incident_id,
        )
        assert ("tier1_notified",) in states


async def test_a_peer_over_their_limit_is_thanked_and_the_case_moves_on(db: Engine) -> None:
    ahead_of_the_engine()  # "over limit" escalates at once: fired below, not by the engine
    r = make_roster(db, clinicians=3, peers=2, limit=3)
    busy, other = r.peers
    with only_these_peers(db, [busy]):
        incident = stored_incident(db, r.clinicians, unit=r.unit)
        async with transaction() as session:
            needs = await involvement.identify(session, incident, group_threshold=5)
        for need in needs:
            await run_outreach(need, None)
        assert loads(db, r.peers)[busy] == 3
    with db.begin() as conn:  # the coordinator lowers the limit; the other peer comes on
        conn.execute(
            text("UPDATE peer_supporters SET max_open_cases = 2 WHERE staff_id = :p"), {"p": busy}
        )
    with only_these_peers(db, r.peers):
        codes = [
            str(c)
            for (c,) in q(
                db,
                "SELECT reply_code FROM pages WHERE peer_staff_id = :p ORDER BY reply_code",
                p=busy,
            )
        ]
        assert await reply(db, r.number(busy), f"{codes[0]}A") == "accepted"
        assert await reply(db, r.number(busy), f"{codes[1]}A") == "accepted"
        assert await reply(db, r.number(busy), f"{codes[2]}A") == "over limit"
        thanks = [
            (opened(str(b), "messages.body"),)
            for (b,) in q(
                db,
                "SELECT body FROM messages WHERE to_number_key = :n AND kind = 'over_limit'",
                n=lookup(r.number(busy)),
            )
        ]
        assert thanks == [
            (
                "Thank you, you already have 2 open cases; we've asked another peer. "
                "No action needed.",
            )
        ]
        await fire_all()  # at once: no waiting out the step
        third = q(
            db,
            "SELECT p.peer_staff_id FROM pages p JOIN pages mine ON mine.case_id = p.case_id "
            "WHERE mine.peer_staff_id = :b AND mine.reply_code = :c AND mine.state = 'declined' "
            "AND p.attempt = 2",
            b=busy,
            c=codes[2],
        )
        assert third == [(other,)]
        assert loads(db, r.peers)[busy] == 2


async def test_one_batch_of_escalations_moves_the_load_case_by_case(db: Engine) -> None:
    """Deadlines fire 25 to a transaction, their pages written at the end: the second case
    of the batch must already see the page the first one gave the peer."""
    r = make_roster(db, clinicians=3, peers=2, limit=3)
    first, spare = r.peers
    with db.begin() as conn:
        conn.execute(
            text("UPDATE peer_supporters SET max_open_cases = 1 WHERE staff_id = :p"),
            {"p": spare},
        )
    with only_these_peers(db, [first]):
        incident = stored_incident(db, r.clinicians, unit=r.unit)
        async with transaction() as session:
            needs = await involvement.identify(session, incident, group_threshold=5)
        for need in needs:
            await run_outreach(need, None)
    assert loads(db, r.peers) == {first: 3, spare: 0}
    with only_these_peers(db, r.peers):
        clock.advance(timedelta(minutes=5, seconds=1))
        await fire_all()  # three escalations, one batch: the spare peer has room for one
        second_pages = q(
            db,
            "SELECT p.peer_staff_id, p.reason FROM pages p JOIN support_cases c "
            "ON c.id = p.case_id WHERE c.incident_id = :i AND p.attempt = 2",
            i=incident.incident_id,
        )
        assert sorted(str(p) for p, _ in second_pages) == sorted([spare, "None", "None"])
        assert loads(db, r.peers) == {first: 3, spare: 1}
        assert [str(x) for p, x in second_pages if p == spare][0].count("0/1 open cases") == 1


async def test_cache_reloads_when_a_page_leaves_the_load_or_a_number_opts_out(
    db: Engine,
) -> None:
    r = make_roster(db, clinicians=1, peers=1, limit=2)
    (peer,) = r.peers
    cache = ContextCache("preferred", ttl=60, recount_every=0)
    at = clock.now()

    async def get() -> MatchContext:
        async with transaction() as session:
            return await cache.get(session, at)

    with only_these_peers(db, r.peers):
        incident = stored_incident(db, r.clinicians, unit=r.unit)
        async with transaction() as session:
            (need,) = await involvement.identify(session, incident, group_threshold=5)
        await run_outreach(need, None)
        first = await get()
        assert first.open_cases[peer] == 1
        with db.begin() as conn:  # answered elsewhere: the page leaves the peer's load
            conn.execute(
                text("UPDATE pages SET state = 'superseded' WHERE peer_staff_id = :p"),
                {"p": peer},
            )
        failed = await get()  # the loads alone are counted again
        assert failed is first and failed.open_cases[peer] == 0 and cache.recounts == 1
        loads = cache.loads
        assert await reply(db, r.number(peer), "STOP") == "stop"
        stopped = await get()
        assert stopped is not failed and cache.loads == loads + 1
        (ranked,) = [p for p in stopped.peers if p.staff_id == peer]
        assert ranked.unreachable == "sent STOP"
        assert await reply(db, r.number(peer), "START") == "start"
        started = await get()
        assert started is not stopped and cache.loads == loads + 2
        async with transaction() as session:
            await outbound.mark_undeliverable(session, lookup(r.number(peer)), 30006)
        assert (await get()) is not started and cache.loads == loads + 3


# --------------------------------------------------------------------------- Tier 1


async def test_one_tier1_prompt_per_lead_across_workers_and_redelivery(db: Engine) -> None:
    r = make_roster(db, clinicians=5, peers=2, limit=5)
    with only_these_peers(db, r.peers):
        incident = stored_incident(db, r.clinicians, unit=r.unit)
        async with transaction() as session:
            needs = await involvement.identify(session, incident, group_threshold=10)
        await asyncio.gather(*(run_outreach(n, None) for n in needs))  # several at once
        await asyncio.gather(*(run_outreach(n, None) for n in needs))  # redelivered
        prompts = lead_prompts(db, r)
        assert prompts == [
            "Peer support: 5 people on your team may have had a hard shift. When you can, a "
            "quiet 'are you OK?' helps. Trained peers will also reach out."
        ]
        # The prompt is sent, then the same incident's cases are handled again: still one.
        with db.begin() as conn:
            conn.execute(
                text(
                    "UPDATE messages SET state = 'sent', sent_at = now() WHERE to_number_key = :n"
                ),
                {"n": lookup(r.lead_number)},
            )
            conn.execute(
                text("UPDATE support_cases SET state = 'identified' WHERE incident_id = :i"),
                {"i": incident.incident_id},
            )
        await asyncio.gather(*(run_outreach(n, None) for n in needs))
        assert len(lead_prompts(db, r)) == 1
        # A second incident is a new prompt.
        again = stored_incident(db, r.clinicians[:2], unit=r.unit)
        async with transaction() as session:
            for need in await involvement.identify(session, again, group_threshold=10):
                await outreach.start_outreach(session, need, get_settings())
        assert len(lead_prompts(db, r)) == 2
        assert "2 people on your team" in lead_prompts(db, r)[-1]


async def test_urgent_messages_never_wait_behind_bulk_to_the_same_number(db: Engine) -> None:
    number = f"+1555882{uuid.uuid4().int % 10000:04d}"
    # Due an hour from now by this test's clock, so the stack's worker leaves them alone.
    later = clock.now() + timedelta(hours=1)
    mine: set[uuid.UUID | None] = set()
    async with transaction() as session:
        for i in range(10):
            message_id = await outbound.enqueue(
                session,
                kind="tier1_prompt",
                to_number=number,
                body=f"b{i}",
                dedupe=str(i),
                not_before=later,
            )
            mine.add(message_id)
        details = await outbound.enqueue(
            session,
            kind="peer_details",
            to_number=number,
            body="details",
            not_before=later + timedelta(seconds=1),
        )
    assert details is not None
    mine.add(details)
    clock.advance(timedelta(hours=1, seconds=2))

    sent: list[str] = []
    for _ in range(3):  # a sender working down the due list, three passes in the minute
        async with transaction() as session:
            due = await outbound.due(session, clock.now(), stale_after=30)
        for message_id in (m for m in due if m in mine):
            if (body := await claim_and_send(message_id)) is not None:
                sent.append(body)
    assert sent[0] == "details"
    assert len(sent) == outbound.RATE_PER_MINUTE - outbound.URGENT_RESERVE
    # The minute's last slots are kept for urgent traffic: it goes now, bulk waits.
    async with transaction() as session:
        coordinator = await outbound.enqueue(
            session, kind="coordinator", to_number=number, body="c"
        )
        crisis = await outbound.enqueue(session, kind="crisis_reply", to_number=number, body="x")
        third = await outbound.enqueue(session, kind="peer_details", to_number=number, body="d2")
    assert coordinator and crisis and third
    assert await claim_and_send(coordinator) == "c" and await claim_and_send(crisis) == "x"
    # The number's limit still holds for everything: a seventh in the minute waits.
    assert await claim_and_send(third) is None
    clock.advance(timedelta(minutes=1, seconds=1))
    assert await claim_and_send(third) == "d2"


# --------------------------------------------------------------------------- reachability


def undeliverable(db: Engine, staff_id: str) -> tuple[object, object]:
    return q(
        db,
        "SELECT undeliverable_code, undeliverable_at FROM staff WHERE staff_id = :s",
        s=staff_id,
    )[0]


async def test_a_landline_is_remembered_skipped_and_cleared_by_a_new_number(
    stack: Stack, db: Engine, client: httpx.AsyncClient
) -> None:
    r = make_roster(db, clinicians=2, peers=2, limit=5)
    landline, mobile = r.peers
    with db.begin() as conn:  # the landline peer is the first choice: the other speaks es
        conn.execute(
            text("UPDATE peer_supporters SET languages = '{es}' WHERE staff_id = :p"),
            {"p": mobile},
        )
    # The carrier: Twilio takes the message, then reports 30006 (landline) by callback.
    httpx.post(
        f"{stack.standin_url}/_standin/numbers",
        json={"number": r.number(landline), "delivery": "failed", "error_code": 30006},
    ).raise_for_status()
    with only_these_peers(db, r.peers):
        first = stored_incident(db, r.clinicians[:1], unit=r.unit)
        async with transaction() as session:
            (need,) = await involvement.identify(session, first, group_threshold=5)
        await run_outreach(need, None)
        ((page_id, peer),) = q(
            db, "SELECT id, peer_staff_id FROM pages WHERE case_id = :c", c=need.case_id
        )
        assert peer == landline
        await sending.deliver_pages([uuid.UUID(str(page_id))])  # unless the worker did already
        await eventually(lambda: undeliverable(db, landline)[0], 15, "the landline mark")
        code, when = undeliverable(db, landline)
        assert code == 30006 and isinstance(when, datetime)
        # The failure escalated at once (the worker, or us): the next peer has the case.
        assert await second_page_goes_to(db, need.case_id) == mobile
        # The coordinator sees it on the staff record and in the peer list.
        seen = (await client.get(f"/admin/staff/{landline}", headers=ADMIN)).json()
        assert seen["undeliverable_code"] == 30006 and seen["undeliverable_at"]
        peers = (await client.get("/admin/peers", headers=ADMIN)).json()
        assert [p["undeliverable_code"] for p in peers if p["staff_id"] == landline] == [30006]

        # The next incident does not page the landline, first or at all.
        second = stored_incident(db, r.clinicians[1:], unit=r.unit)
        async with transaction() as session:
            (need2,) = await involvement.identify(session, second, group_threshold=5)
        await run_outreach(need2, await context())
        assert q(db, "SELECT peer_staff_id FROM pages WHERE case_id = :c", c=need2.case_id) == [
            (mobile,)
        ]

        # The directory gives them a mobile: the mark is gone and they can be paged again.
        export = staff_export(db, changes={landline: f"+1555{r.tag}999"})
        async with transaction() as session:
            report = await import_staff(session, export)
        assert report.ok, report.as_dict()
        assert undeliverable(db, landline) == (None, None)
        ctx = await context()
        assert [p.unreachable for p in ctx.peers if p.staff_id == landline] == [None]
    httpx.delete(f"{stack.standin_url}/_standin/numbers")


async def test_a_number_twilio_refuses_as_not_mobile_is_marked(
    stack: Stack, db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Twilio refuses 21614 (not a mobile) when the message is created, not by callback."""
    r = make_roster(db, clinicians=1, peers=1, limit=5)
    real_send = SmsSender.send

    async def carrier(self: SmsSender, to: str, body: str, callback: str | None) -> object:
        if to == r.lead_number:
            raise PermanentSendError(21614, 400)
        return await real_send(self, to, body, callback)

    monkeypatch.setattr(SmsSender, "send", carrier)
    async with transaction() as session:  # due in an hour by our clock: the worker waits
        message_id = await outbound.enqueue(
            session,
            kind="tier1_prompt",
            to_number=r.lead_number,
            body="x",
            not_before=clock.now() + timedelta(hours=1),
        )
    assert message_id is not None
    clock.advance(timedelta(hours=1, seconds=1))
    await sending.deliver_message(message_id)
    assert undeliverable(db, r.lead)[0] == 21614
    async with transaction() as session:
        assert not await outbound.can_text(session, r.lead_number)


async def test_a_lead_whose_number_cannot_take_sms_gets_no_tier1(db: Engine) -> None:
    r = make_roster(db, clinicians=2, peers=1, limit=5)
    async with transaction() as session:
        await outbound.mark_undeliverable(session, lookup(r.lead_number), 30006)
    with only_these_peers(db, r.peers):
        incident = stored_incident(db, r.clinicians, unit=r.unit)
        async with transaction() as session:
            needs = await involvement.identify(session, incident, group_threshold=5)
        for need in needs:
            await run_outreach(need, None)
        assert lead_prompts(db, r) == []
        assert len(q(db, "SELECT 1 FROM pages WHERE peer_staff_id = :p", p=r.peers[0])) == 2


def staff_export(db: Engine, changes: dict[str, str]) -> str:
    """The full staff export as it stands, with some mobiles changed."""
    rows = q(
        db,
        "SELECT s.staff_id, s.display_name, s.discipline, s.role, s.home_unit, s.mobile_e164, "
        "s.language, EXISTS (SELECT 1 FROM units u WHERE u.code = s.home_unit "
        "AND u.tier1_lead_staff_id = s.staff_id) FROM staff s WHERE s.active "
        "ORDER BY s.staff_id",
    )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(STAFF_COLUMNS)
    for sid, name, discipline, role, unit, mobile, language, lead in rows:
        number = changes.get(str(sid)) or str(opened(str(mobile), "staff.mobile_e164"))
        writer.writerow([sid, name, discipline, role, unit, number, language, "Y" if lead else ""])
    return out.getvalue()


# --------------------------------------------------------------------------- STOP


async def test_a_peer_who_sent_stop_is_not_paged(stack: Stack, db: Engine) -> None:
    r = make_roster(db, clinicians=3, peers=2, limit=5)
    stopped, willing = r.peers
    with db.begin() as conn:  # the peer who will send STOP is the first choice
        conn.execute(
            text("UPDATE peer_supporters SET languages = '{es}' WHERE staff_id = :p"),
            {"p": willing},
        )
    with only_these_peers(db, r.peers):
        # A worker chose with a context from before the STOP: the page is refused at the
        # claim, never sent, and the case moves on at once.
        stale = await context()
        assert await reply(db, r.number(stopped), "STOP") == "stop"
        incident = stored_incident(db, r.clinicians[:1], unit=r.unit)
        async with transaction() as session:
            (need,) = await involvement.identify(session, incident, group_threshold=5)
        await run_outreach(need, stale)
        ((page_id, peer),) = q(
            db, "SELECT id, peer_staff_id FROM pages WHERE case_id = :c", c=need.case_id
        )
        assert peer == stopped
        async with transaction() as session:  # unless the worker's claim got there first
            assert await paging.claim_bundles(session, [uuid.UUID(str(page_id))], 3) == []
        assert q(db, "SELECT state FROM pages WHERE id = :p", p=page_id) == [("failed",)]
        assert await second_page_goes_to(db, need.case_id) == willing
        assert standin_messages(stack, r.number(stopped)) == []

        # The next incident never picks them.
        later = stored_incident(db, r.clinicians[1:2], unit=r.unit)
        async with transaction() as session:
            (need2,) = await involvement.identify(session, later, group_threshold=5)
        await run_outreach(need2, await context())
        assert q(db, "SELECT peer_staff_id FROM pages WHERE case_id = :c", c=need2.case_id) == [
            (willing,)
        ]
    with only_these_peers(db, [stopped]):  # and say why when nobody else is there
        last = stored_incident(db, r.clinicians[2:], unit=r.unit)
        async with transaction() as session:
            (need3,) = await involvement.identify(session, last, group_threshold=5)
        await run_outreach(need3, await context())
        ((peer3, reason),) = q(
            db, "SELECT peer_staff_id, reason FROM pages WHERE case_id = :c", c=need3.case_id
        )
        assert peer3 is None and "1 cannot be texted (sent STOP)" in str(reason)


async def test_one_rule_for_every_message(db: Engine) -> None:
    r = make_roster(db, clinicians=1, peers=1, limit=5)
    number = r.number(r.clinicians[0])
    async with transaction() as session:
        assert await outbound.can_text(session, number)
    with db.begin() as conn:
        conn.execute(
            text("UPDATE staff SET opted_out = true WHERE mobile_key = :n"), {"n": lookup(number)}
        )
    async with transaction() as session:
        assert (await outbound.unreachable(session, [number]))[number] is (
            outbound.Unreachable.opted_out
        )
        assert await outbound.enqueue(session, kind="follow_up", to_number=number, body="x") is None
        # Whoever writes in crisis gets the crisis line, and the coordinator their alerts,
        # whatever the staff record says; only STOP stops those.
        assert (
            await outbound.enqueue(session, kind="coordinator", to_number=number, body="c")
            is not None
        )
        assert (
            await outbound.enqueue(session, kind="crisis_reply", to_number=number, body="988")
            is not None
        )
    async with transaction() as session:
        await outbound.mark_undeliverable(session, lookup(number), 21211)
    async with transaction() as session:
        why = (await outbound.unreachable(session, [number]))[number]
    assert why is outbound.Unreachable.undeliverable
    with db.begin() as conn:
        conn.execute(
            text("INSERT INTO sms_opt_outs (number_key, number) VALUES (:k, :n)"),
            {"k": lookup(number), "n": seal(number, "sms_opt_outs.number")},
        )
    async with transaction() as session:
        assert (await outbound.unreachable(session, [number]))[number] is outbound.Unreachable.stop
        assert (
            await outbound.enqueue(session, kind="crisis_reply", to_number=number, body="again")
            is None
        )
