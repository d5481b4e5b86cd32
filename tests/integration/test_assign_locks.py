"""The peers' lock in people.assign also locks their numbers and reads their reply codes:
two open pages to one phone never share a code (paging.codes.reply_codes' rule), with the
number locked in the same statement as the peer and read with the peer's load."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from services.db import transaction
from services.people import assign
from tests.integration.sealed import lookup, opened


def number_free(db: Engine, number: str) -> bool:
    """Whether another transaction could take the number's lock now (numbers are locked by
    their lookup value: services.sealing)."""
    with db.begin() as conn:
        return bool(
            conn.execute(
                text("SELECT pg_try_advisory_xact_lock(hashtext(:n))"), {"n": lookup(number)}
            ).scalar()
        )


def first_peer(db: Engine) -> tuple[str, str]:
    """The first peer supporter and their number."""
    with db.connect() as conn:
        peer, number = conn.execute(
            text(
                "SELECT p.staff_id, s.mobile_e164 FROM peer_supporters p "
                "JOIN staff s USING (staff_id) ORDER BY p.staff_id LIMIT 1"
            )
        ).one()
    return str(peer), str(opened(number, "staff.mobile_e164"))


@pytest.mark.parametrize("skip_locked", [True, False])
async def test_a_locked_peer_has_its_number_locked_and_its_codes_read(
    db: Engine, skip_locked: bool
) -> None:
    peer, number = first_peer(db)
    with db.connect() as conn:
        codes = {
            code
            for (code,) in conn.execute(
                text(
                    "SELECT reply_code FROM pages WHERE to_number_key = :n AND reply_code IS NOT "
                    "NULL AND state IN ('requested', 'sending', 'sent', 'delivered')"
                ),
                {"n": lookup(number)},
            )
        }
    gone, gone_number = "NO-SUCH-PEER", "+15005550999"
    async with transaction() as session:
        loads, used = await assign._lock_and_count(
            session, [peer, gone], [number, gone_number], skip_locked=skip_locked
        )
        assert set(loads) == {peer}
        assert used == {number: codes}
        assert not number_free(db, number)  # held to our commit, as reply_codes holds it
        assert number_free(db, gone_number)  # not a peer: nothing to page, nothing locked
    assert number_free(db, number)


async def test_a_peer_held_elsewhere_leaves_its_number_unlocked(db: Engine) -> None:
    """SKIP LOCKED passes over the peer; their number is not taken either (a number is
    locked only behind its peer, so no lock is held for a page this batch will not write)."""
    peer, number = first_peer(db)
    holder = db.connect()
    try:
        holder.execute(
            text("SELECT 1 FROM peer_supporters WHERE staff_id = :p FOR UPDATE"), {"p": peer}
        )
        async with transaction() as session:
            loads, used = await assign._lock_and_count(session, [peer], [number], skip_locked=True)
            assert loads == {} and used == {}
            assert number_free(db, number)
    finally:
        holder.rollback()
        holder.close()
