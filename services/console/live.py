"""Which cases changed, for the boards open in this process, by reading the store.

Why polling and not LISTEN/NOTIFY: a NOTIFY in every case's transaction serialises commits
in PostgreSQL (one queue lock at commit), which the dispatch path cannot afford; one query
every quarter second, and only while a board is open, costs the write path nothing and
keeps a change under a second from commit to screen.

Feed records waiting for the coordinator are watched the same way, by a fingerprint of the
`asked` rows (a handful, read through their partial index): any record asked, decided or
received again changes it, and the boards get FEEDS in their batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import datetime

from sqlalchemy import text

from services import clock
from services.db import transaction
from services.logs import log

POLL_SECONDS = 0.25
#: In a batch of changed ids: the feed records waiting for the coordinator changed.
FEEDS = uuid.UUID(int=0)
_ASKED = (
    "SELECT coalesce(hashtextextended(string_agg(id::text || ':' || last_received_at::text, "
    "',' ORDER BY id), 0), 0) FROM feed_records WHERE status = 'asked'"
)

_CHANGES = f"""
SELECT 'case' AS kind, case_id, id FROM case_transitions WHERE id > :t
UNION ALL
SELECT 'page', p.case_id, pt.id FROM page_transitions pt JOIN pages p ON p.id = pt.page_id
WHERE pt.id > :p
UNION ALL
SELECT 'flag', case_id, id FROM case_attention WHERE id > :f
UNION ALL
SELECT 'cleared', case_id, 0 FROM case_attention WHERE cleared_at > :c
UNION ALL
SELECT 'asked', NULL, sig FROM ({_ASKED}) AS a(sig) WHERE sig <> :a
"""


class BoardFeed:
    """One poller per process, shared by every open board; each gets the changed case ids
    (None in a batch means a flag with no case: the loose-flag list changed)."""

    def __init__(self) -> None:
        self._queues: set[asyncio.Queue[set[uuid.UUID | None]]] = set()
        self._task: asyncio.Task[None] | None = None
        self._marks: dict[str, object] = {}

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[set[uuid.UUID | None]]]:
        queue: asyncio.Queue[set[uuid.UUID | None]] = asyncio.Queue(maxsize=100)
        self._queues.add(queue)
        if self._task is None or self._task.done():
            await self._mark()
            self._task = asyncio.create_task(self._run())
        try:
            yield queue
        finally:
            self._queues.discard(queue)

    async def _mark(self) -> None:
        async with transaction() as session:
            row = (
                await session.execute(
                    text(
                        "SELECT (SELECT coalesce(max(id), 0) FROM case_transitions), "
                        "(SELECT coalesce(max(id), 0) FROM page_transitions), "
                        "(SELECT coalesce(max(id), 0) FROM case_attention), "
                        f"({_ASKED})"
                    )
                )
            ).one()
        transitions, page_transitions, flags, asked = row
        self._marks = {
            "t": transitions,
            "p": page_transitions,
            "f": flags,
            "a": asked,
            "c": clock.now(),
        }

    async def _poll(self) -> set[uuid.UUID | None]:
        started: datetime = clock.now()
        async with transaction() as session:
            rows = (await session.execute(text(_CHANGES), self._marks)).all()
        changed: set[uuid.UUID | None] = set()
        for kind, case_id, row_id in rows:
            if kind == "asked":
                changed.add(FEEDS)
                self._marks["a"] = row_id
                continue
            changed.add(case_id)
            key = {"case": "t", "page": "p", "flag": "f"}.get(kind)
            if key is not None and row_id > self._marks[key]:  # type: ignore[operator]
                self._marks[key] = row_id
        self._marks["c"] = started
        return changed

    async def _run(self) -> None:
        while self._queues:
            try:
                changed = await self._poll()
            except Exception as exc:  # the board goes on; the next poll tries again
                log().warning("board.poll_failed", error=type(exc).__name__)
                changed = set()
            if changed:
                for queue in list(self._queues):
                    if queue.full():
                        queue.get_nowait()  # a stalled viewer misses a batch, not the feed
                    queue.put_nowait(changed)
            await asyncio.sleep(POLL_SECONDS)


feed = BoardFeed()
