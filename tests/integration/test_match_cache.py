"""The worker's cached matching context: reused while nothing matching reads has changed,
reloaded as soon as something has (version counter bumped by triggers, migrations 0005,
0010), its open loads counted again when a page leaves someone's load (loads_version), and
reloaded when who is on call may change (the next hand-off)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.engine import Engine

from services import clock
from services.db import transaction
from services.people.matching import ContextCache, MatchContext
from tests.integration.test_flows import open_case, pages


async def test_cache_follows_every_change_to_what_matching_reads(db: Engine) -> None:
    case = await open_case(db)
    ((page_id, _attempt, peer, _number, _code),) = [
        (r[0], r[1], r[2], r[3], r[4])
        for r in db.connect().execute(
            text(
                "SELECT id, attempt, peer_staff_id, to_number, reply_code FROM pages "
                "WHERE case_id = :c"
            ),
            {"c": case.id},
        )
    ]
    assert peer is not None and pages(db, case)
    cache = ContextCache("preferred", ttl=60, recount_every=0)
    at = clock.now()

    async def get(when: timedelta = timedelta(0)) -> MatchContext:
        async with transaction() as session:
            return await cache.get(session, at + when)

    def sql(statement: str) -> None:
        with db.begin() as conn:
            conn.execute(text(statement), {"p": page_id, "s": peer})

    first = await get()
    assert await get(timedelta(seconds=1)) is first and cache.loads == 1
    load = first.open_cases[peer]
    assert load >= 1

    sql("UPDATE pages SET state = 'sent' WHERE id = :p")  # not a matching input
    assert await get() is first and cache.loads == 1 and cache.recounts == 0

    try:
        sql("UPDATE pages SET state = 'accepted' WHERE id = :p")  # the peer's open cases
        accepted = await get()
        # Loads alone are counted again; the roster is kept.
        assert accepted is first and cache.loads == 1 and cache.recounts == 1
        # Offered pages are load already: accepting one recounts but does not add to it.
        assert accepted.open_cases[peer] == load
    finally:
        sql("UPDATE pages SET state = 'superseded' WHERE id = :p")
        sql(
            "UPDATE support_cases SET state = 'closed', closed_at = now() WHERE id = "
            "(SELECT case_id FROM pages WHERE id = :p)"
        )
    released = await get()
    assert released is first and cache.loads == 1 and cache.recounts == 2
    assert released.open_cases[peer] == load - 1
    assert peer in first.open_cases.lowered, "the batch ranker offers them again"

    loads = cache.loads
    sql("UPDATE peer_supporters SET max_open_cases = max_open_cases WHERE staff_id = :s")
    await get()
    assert cache.loads == loads + 1, "a roster write reloads"

    sql(
        "UPDATE units SET name = name "
        "WHERE code = (SELECT home_unit FROM staff WHERE staff_id = :s)"
    )
    await get()
    assert cache.loads == loads + 2, "a unit's write reloads (units are kept with the context)"

    await get(timedelta(seconds=61))
    assert cache.loads == loads + 3, "the clock moving past the ttl reloads"
    await get(timedelta(seconds=-1))
    assert cache.loads == loads + 4, "a clock set back reloads"


async def test_cache_is_kept_until_the_next_hand_off(db: Engine) -> None:
    """No TTL guesses when who is on call changes: the schedules say it (valid_until), and
    a context is kept up to that instant and reloaded from it."""
    cache = ContextCache("preferred", ttl=24 * 3600)
    at = clock.now()
    async with transaction() as session:
        first = await cache.get(session, at)
    until = first.valid_until
    assert until is not None and at < until <= at + timedelta(hours=1)
    async with transaction() as session:
        assert await cache.get(session, until - timedelta(microseconds=1)) is first
        later = await cache.get(session, until)
    assert later is not first and cache.loads == 2
    assert later.valid_until is not None and later.valid_until > until


async def test_the_counters_move_once_per_transaction(db: Engine) -> None:
    """Compared, never summed: a transaction that moves many pages out of their peers' loads
    bumps loads_version once (an engine round of 500 updated the one row 500 times), and
    every transaction that changes a load still bumps it."""

    def counters() -> tuple[int, int]:
        with db.connect() as conn:
            row = conn.execute(text("SELECT version, loads_version FROM match_inputs")).one()
            return int(row[0]), int(row[1])

    cases = [await open_case(db) for _ in range(3)]
    with db.connect() as conn:
        ids = [
            conn.execute(text("SELECT id FROM pages WHERE case_id = :c"), {"c": c.id}).scalar_one()
            for c in cases
        ]
    version, loads = counters()
    with db.begin() as conn:
        for pid in ids:  # one statement each, as a round's rows would be
            conn.execute(text("UPDATE pages SET state = 'accepted' WHERE id = :p"), {"p": pid})
    assert counters() == (version, loads + 1)
    with db.begin() as conn:
        conn.execute(text("UPDATE pages SET state = 'superseded' WHERE id = ANY(:ps)"), {"ps": ids})
    assert counters() == (version, loads + 2)


async def test_what_is_kept_survives_a_rolled_back_transaction(db: Engine) -> None:
    """The worker keeps units and policies beside its context across batches. A batch whose
    transaction rolls back (PostgreSQL restarted under it) must not leave them expired: the
    next batch read a kept unit and met DetachedInstanceError, and its incidents became dead
    letters (found by the fault suite's PostgreSQL restart)."""
    from services.cases import dispatch
    from services.cases.policies import load_policies

    cache = ContextCache("preferred")

    class Restarted(Exception):
        pass

    try:
        async with transaction() as session:
            await cache.get(session, clock.now())
            units = await cache.kept(session, "units", dispatch.all_units)
            policies = await cache.kept(session, "policies", load_policies)
            raise Restarted
    except Restarted:
        pass
    async with transaction() as session:
        await cache.get(session, clock.now())
        kept = await cache.kept(session, "units", dispatch.all_units)
        assert kept is units  # the same kept value, still readable
        assert all(u.code and u.time_zone for u in kept.values())  # attributes still read
        assert (await cache.kept(session, "policies", load_policies)) is policies
