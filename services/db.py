"""Engines and sessions for the store.

Why both sync and async: alembic and the CLI are synchronous; the API and the Faust worker
share one event loop each and must not block it on I/O. psycopg 3 serves both from one URL.
"""

from __future__ import annotations

import asyncio
import json
import select
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Any, TypeVar

import psycopg
from sqlalchemy import ClauseElement, MetaData, create_engine, event, text
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, SessionTransaction

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
# No pool_pre_ping: its round trip at every checkout was a transaction's worth of CPU in
# the API and the worker; replace_dropped (below) finds a dropped connection without one.
ENGINE_OPTIONS: dict[str, bool] = {"hide_parameters": True, "pool_pre_ping": False}

# Every statement is planned for the tables as they are when it runs. psycopg prepares a
# statement after a few runs, and PostgreSQL then keeps one generic plan for it, made from
# the statistics of that moment. A store that starts nearly empty (a new installation, a
# fresh database) and fills fast (a mass casualty) kept plans made for a table of one row:
# the peers' load count joined pages and cases by two sequential scans, nested, 150 ms per
# call at 3,000 pages where its plan for today's tables takes 0.3 ms, until autovacuum
# re-analysed a minute later (latency at 50 incidents/s, p50 4 s). Planning each time costs
# less than a millisecond; the parse that preparing saves is still saved.
SERVER_OPTIONS = "-c plan_cache_mode=force_custom_plan"


def connect_args(application_name: str | None = None) -> dict[str, str]:
    """What every connection of ours tells the server at connect (SERVER_OPTIONS)."""
    args = {"options": SERVER_OPTIONS}
    if application_name is not None:
        args["application_name"] = application_name
    return args


E = TypeVar("E", Engine, AsyncEngine)


def replace_dropped(engine: E) -> E:
    """Check each connection as it leaves the pool, as pool_pre_ping did, without its round
    trip: a connection the server dropped (looks_dropped) is discarded and another taken,
    before any statement of the transaction is sent. Like the ping, this cannot see a
    connection that breaks after the check; the transaction then fails and is not retried
    here, so a committed transaction is never run again."""
    event.listen(
        engine.sync_engine if isinstance(engine, AsyncEngine) else engine, "checkout", _check
    )
    return engine


def _check(dbapi_connection: Any, _record: object, _proxy: object) -> None:
    driver = getattr(dbapi_connection, "driver_connection", dbapi_connection)
    if looks_dropped(driver):
        raise DisconnectionError("the server closed this connection while it was idle")


@lru_cache(maxsize=4)
def async_engine(url: str | None = None) -> AsyncEngine:
    # Kept open for a burst's concurrency (the API's 64 requests in flight, the worker's
    # sends): overflow connections are opened and closed per checkout, ~10 ms of CPU each.
    return replace_dropped(
        create_async_engine(
            url or get_settings().database_url,
            pool_size=24,
            max_overflow=16,
            connect_args=connect_args(),
            **ENGINE_OPTIONS,
        )
    )


@lru_cache(maxsize=4)
def sync_engine(url: str | None = None) -> Engine:
    return replace_dropped(
        create_engine(
            url or get_settings().database_url, connect_args=connect_args(), **ENGINE_OPTIONS
        )
    )


@lru_cache(maxsize=4)
def sessionmaker(url: str | None = None) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(async_engine(url), expire_on_commit=False)


@asynccontextmanager
async def transaction(url: str | None = None) -> AsyncIterator[AsyncSession]:
    """One unit of work: state rows and their outbox events commit together or not at all."""
    async with sessionmaker(url)() as session, session.begin():
        session.info.pop("outbox_notified", None)
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


# The psycopg connection under each open session transaction (one bind: one connection).
_drivers: weakref.WeakKeyDictionary[SessionTransaction, psycopg.AsyncConnection[Any]] = (
    weakref.WeakKeyDictionary()
)


async def driver(session: AsyncSession) -> psycopg.AsyncConnection[Any]:
    """The psycopg connection the session's transaction runs on, found once per transaction.

    Why: a statement through the session costs several times its own CPU in SQLAlchemy
    (a greenlet switch, compiling the parameters, result metadata): on the worker's batch
    of one incident that was most of its cost. Statements sent here are in the session's
    transaction all the same (its locks, its snapshot rules, its commit)."""
    sync = session.sync_session
    tx = sync.get_transaction()
    pg = _drivers.get(tx) if tx is not None else None
    if pg is None:
        raw = await (await session.connection()).get_raw_connection()
        pg = raw.driver_connection
        assert pg is not None
        tx = sync.get_transaction()
        assert tx is not None
        _drivers[tx] = pg
    return pg


_DIALECT = PGDialect_psycopg()


@lru_cache(maxsize=256)
def psycopg_text(statement: ClauseElement) -> str:
    """A statement's SQL with psycopg's placeholders, compiled once per statement object.
    For statements whose every value is a named parameter of the call (text() with
    `:name`, or Core with bindparam): constants bound in the statement would be lost."""
    return _DIALECT.statement_compiler(_DIALECT, statement).string


async def fetch(
    session: AsyncSession, statement: str | ClauseElement, params: Mapping[str, object]
) -> list[tuple[Any, ...]]:
    """Run one statement in the session's transaction, on its connection, without
    SQLAlchemy around it; its rows as tuples (none for a statement without any).
    `statement` is psycopg SQL, or a text()/Core statement compiled once (psycopg_text).

    As the session would: its pending ORM changes are flushed first (they must be seen),
    and a failure is raised as SQLAlchemy's DBAPIError of the same kind (a deadlock is an
    OperationalError, which the agents retry), its parameters hidden as every engine's."""
    if session.new or session.deleted or session.dirty:
        await session.flush()
    query = statement if isinstance(statement, str) else psycopg_text(statement)
    pg = await driver(session)
    try:
        cur = await pg.execute(query, params)
        return await cur.fetchall() if cur.description else []
    except psycopg.Error as exc:
        raise DBAPIError.instance(query, None, exc, psycopg.Error, hide_parameters=True) from exc


def array_literal(values: Iterable[object]) -> str:
    """A one-dimensional array in PostgreSQL's text form, for a parameter the statement casts
    to an array type (CAST(%(ids)s AS uuid[])); None is NULL, anything else its str().

    Why: psycopg adapts a list in Python, element by element, several microseconds each
    (for a batch of 2,000 incidents its arrays cost more CPU than the rest of recording
    their involvement). Every element is quoted, so a comma, a brace, a space or the word
    NULL in a value stays part of the value."""
    parts: list[str] = []
    for v in values:
        if v is None:
            parts.append("NULL")
        else:
            parts.append('"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"')
    return "{" + ",".join(parts) + "}"


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


def keyset_batch(table: str, where: str, set_: str | None = None, key: str = "uuid") -> str:
    """One bounded batch over `table` (alias t): the rows matching `where` after the key
    %(after)s, in key order, at most %(limit)s, taken FOR UPDATE SKIP LOCKED, then updated
    with `set_` (an UPDATE's SET list) or, without it, deleted. Answers one row: the last key
    taken (as text), the rows taken, the rows changed (psycopg placeholders).

    Why this shape: housekeeping beside the pager (services.retention, the outbox relay's
    purge) must never hold many rows at once nor wait on a row the pager holds, may run in
    several processes, and must move past a row it leaves (busy now, taken next run)."""
    change = (
        f"UPDATE {table} AS c SET {set_} FROM due WHERE c.id = due.id RETURNING 1"
        if set_
        else f"DELETE FROM {table} AS c USING due WHERE c.id = due.id RETURNING 1"
    )
    return (
        f"WITH due AS (SELECT t.id FROM {table} AS t "
        f"WHERE ({where}) AND t.id > CAST(%(after)s AS {key}) "
        f"ORDER BY t.id LIMIT %(limit)s FOR UPDATE OF t SKIP LOCKED), "
        f"done AS ({change}) "
        "SELECT (SELECT id::text FROM due ORDER BY id DESC LIMIT 1), (SELECT count(*) FROM due), "
        "(SELECT count(*) FROM done)"
    )


# --- one-statement work on the API's hot paths ---------------------------------------------


def looks_dropped(conn: psycopg.AsyncConnection[Any] | psycopg.Connection[Any]) -> bool:
    """Whether an idle connection was closed by the server, without a round trip.

    An idle connection has nothing to read: the server speaks only when asked. A readable
    socket means it said something unasked, in practice the FATAL it sends before closing
    (a restart, pg_terminate_backend, idle timeouts), or the socket is at EOF. Such a
    connection is replaced before a statement is sent on it, so no statement ever meets
    it; this is what pool_pre_ping's round trip was for, at a syscall's cost.
    """
    if conn.closed or conn.broken:
        return True
    try:
        poller = select.poll()
        poller.register(conn.pgconn.socket, select.POLLIN | select.POLLERR | select.POLLHUP)
        return bool(poller.poll(0))
    except (OSError, ValueError, psycopg.Error):
        return True


class RawPool:
    """A few autocommit psycopg connections for statements that are a unit of work alone.

    Why not SQLAlchemy here: a status callback's insert and an incident's one statement are
    the API's hot path, and a pooled SQLAlchemy connection cost more CPU than the statement
    (checkout and return, the ping, compiling the parameters): measured in-process with
    benchmarks/api_requests.py. Statements are prepared by psycopg after a few runs.

    A connection the server dropped is found before use (looks_dropped) and replaced. A
    statement that fails because the connection broke under it is tried again on a new one
    only when the caller says the statement may run twice (`idempotent`): an autocommit
    statement cut off mid-flight may have committed, and it is never run a second time
    unless a second run changes nothing that matters.
    """

    def __init__(self, url: str, application_name: str, max_size: int = 32) -> None:
        self.url = libpq_url(url)
        self.application_name = application_name
        self.max_size = max_size
        self._idle: list[psycopg.AsyncConnection[Any]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots: asyncio.Semaphore | None = None

    def _bind(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._slots is None:
            # Connections belong to the loop that opened them (a test run may use several).
            self._idle = []
            self._loop = loop
            self._slots = asyncio.Semaphore(self.max_size)
        return self._slots

    async def _checkout(self) -> psycopg.AsyncConnection[Any]:
        while self._idle:
            conn = self._idle.pop()
            if not looks_dropped(conn):
                return conn
            await conn.close()
        return await psycopg.AsyncConnection.connect(
            self.url, autocommit=True, **connect_args(self.application_name)
        )

    def _checkin(self, conn: psycopg.AsyncConnection[Any]) -> None:
        if not conn.closed and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
            self._idle.append(conn)

    async def fetch(
        self,
        query: str,
        params: Sequence[object] | Mapping[str, object],
        idempotent: bool = False,
    ) -> list[tuple[Any, ...]]:
        """Run one statement in autocommit; its rows (none for a statement without any)."""
        slots = self._bind()
        async with slots:
            for attempt in (1, 2):
                conn = await self._checkout()
                try:
                    cur = await conn.execute(query, params, prepare=True)
                    rows = await cur.fetchall() if cur.description else []
                except psycopg.OperationalError:
                    lost = conn.closed or conn.broken
                    await conn.close()
                    if lost and idempotent and attempt == 1:
                        continue
                    raise
                except psycopg.Error:
                    self._checkin(conn)  # the statement failed; the connection did not
                    raise
                except BaseException:
                    await conn.close()  # cancelled mid-statement: its state is unknown
                    raise
                self._checkin(conn)
                return rows
        raise AssertionError("unreachable: the last attempt returns or raises")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """One transaction on a pooled connection: a few statements that commit together
        without an ORM session around them (the status-callback applier's plain rounds).
        Committed when the block ends, rolled back when it raises; the connection goes back
        only when it is idle and whole (one that broke, or was cancelled mid-statement, is
        closed). Never retried here: the caller knows whether its block may run twice."""
        async with self._bind():
            conn = await self._checkout()
            try:
                async with conn.transaction():
                    yield conn
            finally:
                if conn.broken or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                    await conn.close()
                else:
                    self._checkin(conn)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.close()


_raw_pools: dict[tuple[str, str], RawPool] = {}


def raw_pool(application_name: str, max_size: int = 16) -> RawPool:
    """The process's RawPool of this name, on the configured database."""
    url = get_settings().database_url
    pool = _raw_pools.get((application_name, url))
    if pool is None:
        pool = _raw_pools[(application_name, url)] = RawPool(url, application_name, max_size)
    return pool


async def close_raw_pools() -> None:
    for pool in list(_raw_pools.values()):
        await pool.close()
