"""Engines and sessions for the store.

Why both sync and async: alembic and the CLI are synchronous; the API and the Faust worker
share one event loop each and must not block it on I/O. psycopg 3 serves both from one URL.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import TypeVar

import psycopg
from sqlalchemy import MetaData, create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase

from services.config import get_settings

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def libpq_url(url: str) -> str:
    """The same database as a plain libpq URL, for LISTEN connections outside SQLAlchemy."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


# Bound parameters are phone numbers and SMS bodies: SQLAlchemy puts them into the text of
# every statement error, and that text reaches the logs. Every engine hides them.
ENGINE_OPTIONS: dict[str, bool] = {"hide_parameters": True, "pool_pre_ping": True}


@lru_cache(maxsize=4)
def async_engine(url: str | None = None) -> AsyncEngine:
    # Kept open for a burst's concurrency (the API's 64 requests in flight, the worker's
    # sends): overflow connections are opened and closed per checkout, ~10 ms of CPU each.
    return create_async_engine(
        url or get_settings().database_url, pool_size=24, max_overflow=16, **ENGINE_OPTIONS
    )


@lru_cache(maxsize=4)
def sync_engine(url: str | None = None) -> Engine:
    return create_engine(url or get_settings().database_url, **ENGINE_OPTIONS)


@lru_cache(maxsize=4)
def sessionmaker(url: str | None = None) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(async_engine(url), expire_on_commit=False)


@asynccontextmanager
async def transaction(url: str | None = None) -> AsyncIterator[AsyncSession]:
    """One unit of work: state rows and their outbox events commit together or not at all."""
    async with sessionmaker(url)() as session, session.begin():
        session.info.pop("outbox_notified", None)
        session.info.pop("policies", None)
        yield session


T = TypeVar("T")
# PostgreSQL aborted the transaction to break a lock cycle or a serialisation conflict;
# nothing of it was written, so running it again is always safe.
TRANSIENT = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)


async def run_transaction(work: Callable[[AsyncSession], Awaitable[T]], attempts: int = 3) -> T:
    """`work` in one transaction, run again when PostgreSQL aborts it as a deadlock victim.

    For the webhooks: Twilio does not retry a status callback or an inbound message that got
    a 500, so a reply lost to a lock cycle with the worker would be lost for good.
    """
    for attempt in range(1, attempts + 1):
        try:
            async with transaction() as session:
                return await work(session)
        except DBAPIError as exc:
            if not isinstance(exc.orig, TRANSIENT) or attempt == attempts:
                raise
    raise AssertionError("unreachable: the last attempt returns or raises")


async def insert_rows(
    session: AsyncSession, table: str, columns: dict[str, str], rows: list[dict[str, object]]
) -> None:
    """Insert any number of rows with one statement: the rows travel as one JSON array and
    PostgreSQL unpacks them (jsonb_to_recordset).

    Why not executemany or a multi-row VALUES: the first sends a statement per row, the
    second compiles a new statement for every batch size; a batch's pages, transitions,
    deadlines and events are thousands of rows in a burst. `columns` maps each column to
    its SQL type; every row carries every column (None for NULL).
    """
    if not rows:
        return
    names = ", ".join(columns)
    spec = ", ".join(f"{name} {kind}" for name, kind in columns.items())
    await session.execute(
        text(
            f"INSERT INTO {table} ({names}) SELECT {names} "
            f"FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r({spec})"
        ),
        {"rows": json.dumps(rows, default=str, separators=(",", ":"))},
    )


def rows_json(rows: list[dict[str, object]]) -> str:
    return json.dumps(rows, default=str, separators=(",", ":"))


def insert_from_json(table: str, columns: dict[str, str], param: str) -> str:
    """`INSERT INTO table ... SELECT ... FROM jsonb_to_recordset(:param)`: a building block
    for one statement that writes several tables (data-modifying CTEs)."""
    names = ", ".join(columns)
    spec = ", ".join(f"{name} {kind}" for name, kind in columns.items())
    return (
        f"INSERT INTO {table} ({names}) SELECT {names} "
        f"FROM jsonb_to_recordset(CAST(:{param} AS jsonb)) AS r({spec})"
    )
