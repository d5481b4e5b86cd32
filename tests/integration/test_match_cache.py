"""The worker's cached matching context: reused while nothing matching reads has changed,
reloaded as soon as something has (version counter bumped by triggers, migration 0005)."""

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
    cache = ContextCache("preferred", ttl=60)
    at = clock.now()

    async def get(when: timedelta = timedelta(0)) -> MatchContext:
        async with transaction() as session:
            return await cache.get(session, at + when)

    def sql(statement: str) -> None:
        with db.begin() as conn:
            conn.execute(text(statement), {"p": page_id, "s": peer})

    first = await get()
    assert await get(timedelta(seconds=1)) is first and cache.loads == 1

    sql("UPDATE pages SET state = 'sent' WHERE id = :p")  # not a matching input
    assert await get() is first and cache.loads == 1

    try:
        sql("UPDATE pages SET state = 'accepted' WHERE id = :p")  # the peer's open cases
        accepted = await get()
        assert accepted is not first and cache.loads == 2
        # Offered pages are load already: accepting one reloads but does not add to it.
        assert accepted.open_cases[peer] == first.open_cases[peer] >= 1
    finally:
        sql("UPDATE pages SET state = 'superseded' WHERE id = :p")
        sql(
            "UPDATE support_cases SET state = 'closed' WHERE id = "
            "(SELECT case_id FROM pages WHERE id = :p)"
        )
    released = await get()
    assert cache.loads == 3 and released.open_cases[peer] == first.open_cases[peer] - 1

    loads = cache.loads
    sql("UPDATE peer_supporters SET max_open_cases = max_open_cases WHERE staff_id = :s")
    await get()
    assert cache.loads == loads + 1, "a roster write reloads"

    await get(timedelta(seconds=61))
    assert cache.loads == loads + 2, "the clock moving past the ttl reloads"
    await get(timedelta(seconds=-1))
    assert cache.loads == loads + 3, "a clock set back reloads"
