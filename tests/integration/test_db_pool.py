"""Pooled connections the server dropped are replaced before use, without a ping.

pool_pre_ping cost a round trip at every checkout (every transaction of the API and the
worker); services.db.replace_dropped finds a dropped idle connection by its socket instead.
"""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import text
from sqlalchemy.engine import Engine

from services.db import ENGINE_OPTIONS, async_engine, sync_engine


def terminate(db: Engine, pid: int) -> None:
    with db.begin() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
    time.sleep(0.2)  # the backend is gone and its FATAL is on the socket


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
