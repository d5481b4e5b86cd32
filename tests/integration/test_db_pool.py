"""Pooled connections the server dropped are replaced before use, without a ping.

pool_pre_ping cost a round trip at every checkout (every transaction of the API and the
worker); services.db.replace_dropped finds a dropped idle connection by its socket instead.
"""

from __future__ import annotations

import asyncio
import time

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from services.db import ENGINE_OPTIONS, async_engine, raw_pool, sync_engine
from services.paging.callbacks import _applier_sessions


def terminate(db: Engine, pid: int) -> None:
    with db.begin() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
    time.sleep(0.2)  # the backend is gone and its FATAL is on the socket


async def drop_connections(db: Engine, application_name: str) -> int:
    """End every connection of that name to this database, as PostgreSQL does to idle
    connections on a restart or a network cut; how many there were."""
    with db.begin() as conn:
        dropped = conn.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = :n AND datname = current_database()"
            ),
            {"n": application_name},
        ).scalar()
    await asyncio.sleep(0.2)  # the backends are gone and their FATAL is on the sockets
    return int(dropped or 0)


def test_no_ping_at_checkout() -> None:
    assert ENGINE_OPTIONS["pool_pre_ping"] is False


def test_a_dropped_sync_connection_is_replaced(db: Engine) -> None:
    engine = sync_engine()
    with engine.connect() as conn:
        first = conn.execute(text("SELECT pg_backend_pid()")).scalar()
    terminate(db, int(first or 0))
    with engine.connect() as conn:
        second = conn.execute(text("SELECT pg_backend_pid()")).scalar()
    assert second and second != first


async def test_a_dropped_async_connection_is_replaced(db: Engine) -> None:
    engine = async_engine()
    async with engine.connect() as conn:
        first = await conn.scalar(text("SELECT pg_backend_pid()"))
    await asyncio.to_thread(terminate, db, int(first or 0))
    async with engine.begin() as conn:
        second = await conn.scalar(text("SELECT pg_backend_pid()"))
    assert second and second != first


def _plan_after_growth(conn: Connection) -> str:
    """Prepare a join while its tables hold a row each (as a fresh store does), run it past
    the point where PostgreSQL settles on a generic plan, fill the tables, and return the
    plan the prepared statement now runs with."""
    conn.execute(text("CREATE TEMP TABLE c (id int PRIMARY KEY, open bool)"))
    conn.execute(text("CREATE TEMP TABLE p (id int PRIMARY KEY, c_id int, who text)"))
    conn.execute(text("CREATE INDEX ON p (who)"))
    conn.execute(text("INSERT INTO c VALUES (0, true); INSERT INTO p VALUES (0, 0, 'w0')"))
    conn.execute(text("ANALYZE c; ANALYZE p"))
    conn.execute(
        text(
            "PREPARE load(text[]) AS SELECT p.who, count(*) FROM p JOIN c ON c.id = p.c_id "
            "WHERE c.open AND p.who = ANY($1) GROUP BY p.who"
        )
    )
    for _ in range(8):
        conn.execute(text("EXECUTE load(ARRAY['w0'])"))
    conn.execute(text("INSERT INTO c SELECT g, true FROM generate_series(1, 5000) g"))
    conn.execute(
        text("INSERT INTO p SELECT g, g, 'w' || (g % 500) FROM generate_series(1, 5000) g")
    )
    rows = conn.execute(text("EXPLAIN EXECUTE load(ARRAY['w1', 'w2'])")).scalars()
    return "\n".join(rows)


def test_a_statement_is_planned_for_the_tables_as_they_are_now() -> None:
    """The class behind a p50 of 4 s at 50 incidents/s on a fresh store: a generic plan made
    while the tables were nearly empty (two sequential scans, nested) kept after they grew.
    Our connections ask for a plan per run (services.db.SERVER_OPTIONS)."""
    with sync_engine().connect() as conn:
        assert conn.execute(text("SHOW plan_cache_mode")).scalar() == "force_custom_plan"
        plan = _plan_after_growth(conn)
        conn.rollback()
    assert "Index Scan" in plan and "Seq Scan on c" not in plan, plan


def test_without_the_option_the_plan_is_the_stale_one(db: Engine) -> None:
    """The server's default, so the test above is seen to test something."""
    with db.connect() as conn:
        conn.execute(text("SET plan_cache_mode = auto"))
        plan = _plan_after_growth(conn)
        conn.rollback()
    assert "Seq Scan on c" in plan, plan


async def test_every_pool_of_ours_plans_each_run() -> None:
    async with async_engine().connect() as conn:
        assert await conn.scalar(text("SHOW plan_cache_mode")) == "force_custom_plan"
    row = await raw_pool("test").fetch("SHOW plan_cache_mode", ())
    assert row[0][0] == "force_custom_plan"
    async with _applier_sessions()() as session:
        assert await session.scalar(text("SHOW plan_cache_mode")) == "force_custom_plan"


async def test_a_pooled_transaction_commits_or_rolls_back_and_keeps_only_whole_connections(
    db: Engine,
) -> None:
    pool = raw_pool("test-tx")
    with db.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS pool_tx (n int)"))
        conn.execute(text("TRUNCATE pool_tx"))
    async with pool.transaction() as pg:
        await pg.execute("INSERT INTO pool_tx VALUES (1)")
        first = (await (await pg.execute("SELECT pg_backend_pid()")).fetchone())[0]
    with pytest.raises(ZeroDivisionError):
        async with pool.transaction() as pg:
            await pg.execute("INSERT INTO pool_tx VALUES (2)")
            assert (await (await pg.execute("SELECT pg_backend_pid()")).fetchone())[0] == first
            raise ZeroDivisionError  # the block fails: nothing of it stays
    async with pool.transaction() as pg:  # the same connection, back in the pool, idle
        assert (await (await pg.execute("SELECT pg_backend_pid()")).fetchone())[0] == first
        await asyncio.to_thread(terminate, db, first)
        with pytest.raises(psycopg.OperationalError):
            await pg.execute("SELECT 1")
    async with pool.transaction() as pg:  # the broken one was closed, not kept
        assert (await (await pg.execute("SELECT pg_backend_pid()")).fetchone())[0] != first
    with db.begin() as conn:
        assert conn.execute(text("SELECT array_agg(n) FROM pool_tx")).scalar() == [1]
        conn.execute(text("DROP TABLE pool_tx"))
