"""Statements sent on a session's connection without SQLAlchemy (services.db.fetch) behave
as the session's own: same transaction, its pending changes seen, failures of the kinds the
agents retry."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from services.db import array_literal, fetch, transaction
from services.deadletter import DeadLetter


class Undone(Exception):
    """Ends a transaction with a rollback."""


async def test_fetch_sees_pending_changes_and_rolls_back_with_the_session(db: Engine) -> None:
    topic = f"fetch-{uuid.uuid4().hex[:8]}"
    with pytest.raises(Undone):
        async with transaction() as session:
            session.add(DeadLetter(topic=topic, reason="test", payload=b"x"))  # not flushed
            rows = await fetch(
                session, "SELECT count(*) FROM dead_letters WHERE topic = %(t)s", {"t": topic}
            )
            assert rows == [(1,)]
            await fetch(
                session,
                text("INSERT INTO dead_letters (topic, reason, payload) VALUES (:t, 'b', 'y')"),
                {"t": topic},
            )
            raise Undone
    with db.connect() as conn:
        left = conn.execute(
            text("SELECT count(*) FROM dead_letters WHERE topic = :t"), {"t": topic}
        ).scalar()
    assert left == 0


async def test_a_lock_failure_is_an_error_the_agents_retry(db: Engine) -> None:
    """events.consume retries SQLAlchemy's OperationalError (a deadlock, a lock timeout):
    the same failure through fetch must be one, not a bare psycopg error."""
    holder = db.connect()
    try:
        holder.execute(text("SELECT pg_advisory_xact_lock(hashtext('test_db_fetch'))"))
        with pytest.raises(OperationalError):
            async with transaction() as session:
                await fetch(session, "SET LOCAL lock_timeout = '50ms'", {})
                await fetch(session, "SELECT pg_advisory_xact_lock(hashtext('test_db_fetch'))", {})
    finally:
        holder.rollback()
        holder.close()


async def test_array_literal_keeps_every_value_as_it_was(db: Engine) -> None:
    """Values with the array syntax's own characters come back unchanged, None as NULL."""
    texts = ["a,b", "{x}", "NULL", 'say "hi"', "back\\slash", " spaced ", "", None, "5W"]
    ids = [uuid.uuid4(), uuid.uuid4()]
    ats = [datetime(2026, 11, 30, 12, 0, 1, 250, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)]
    async with transaction() as session:
        ((got_texts, got_ids, got_ats),) = await fetch(
            session,
            "SELECT CAST(%(t)s AS text[]), CAST(%(i)s AS uuid[]), CAST(%(a)s AS timestamptz[])",
            {"t": array_literal(texts), "i": array_literal(ids), "a": array_literal(ats)},
        )
    assert got_texts == texts
    assert got_ids == ids
    assert got_ats == ats
