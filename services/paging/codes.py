"""Reply codes: the short numbers a peer answers a page with ("2A"), unique among the open
pages to one phone, and how a batch hands them out.

Why a module of their own: the batch's dispatch, the peers' lock in assign and a page that
follows its peer's new number all take codes under the same per-number lock.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Set as AbstractSet

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.db import array_literal, fetch
from services.paging.models import OPEN_STATES
from services.sealing import keyring_of

# Built once: SQLAlchemy's cache keys and IN expansion per call showed in the batch profile.
# Both take the numbers' lookup values (services.sealing), as every locker of a number does.
LOCK_NUMBERS = text(
    "SELECT pg_advisory_xact_lock(hashtext(n)) "
    "FROM (SELECT unnest(CAST(:ns AS text[])) AS n ORDER BY 1) AS ordered"
)
CODES_IN_USE = text(
    "SELECT to_number_key, reply_code FROM pages WHERE to_number_key = ANY(CAST(:ns AS text[])) "
    f"AND state IN ({', '.join(repr(s.value) for s in OPEN_STATES)}) "
    "AND reply_code IS NOT NULL"
)


async def reply_codes(session: AsyncSession, numbers: Iterable[str]) -> dict[str, set[str]]:
    """The codes open pages to each number use, under a lock per number (taken in a fixed
    order, so concurrent batches cannot deadlock): two open pages never share a code. Two
    statements, sent without SQLAlchemy around them (db.fetch): the batch path runs them."""
    by_key = keyring_of(session).by_lookup(numbers)
    if not by_key:
        return {}
    numbers_param = {"ns": array_literal(sorted(by_key))}
    await fetch(session, LOCK_NUMBERS, numbers_param)
    used: dict[str, set[str]] = {n: Codes() for n in by_key.values()}
    for key, code in await fetch(session, CODES_IN_USE, numbers_param):
        used[by_key[key]].add(code)
    return used


class Codes(set[str]):
    """The codes in use on one number, remembering below which every code is taken.

    Why: next_code looks for the lowest free code, and a number with thousands of open pages
    (the coordinator's, when no peer can be paged during a wave of escalations) made each
    look a scan from 1: 30% of the engine's CPU in the escalation benchmark. Codes are only
    added while a batch hands them out; one given back lowers the floor again."""

    floor = 1

    def discard(self, code: str) -> None:
        super().discard(code)
        if code.isdigit():
            self.floor = min(self.floor, int(code))

    def remove(self, code: str) -> None:
        super().remove(code)
        if code.isdigit():
            self.floor = min(self.floor, int(code))

    def _forget(self, *args: object) -> None:
        self.floor = 1  # any other removal: start from 1 again (correct, only slower)

    def pop(self) -> str:
        self._forget()
        return super().pop()

    def clear(self) -> None:
        self._forget()
        super().clear()

    def difference_update(self, *others: Iterable[object]) -> None:
        self._forget()
        super().difference_update(*others)

    def intersection_update(self, *others: Iterable[object]) -> None:
        self._forget()
        super().intersection_update(*others)

    def symmetric_difference_update(self, other: Iterable[str]) -> None:
        self._forget()
        super().symmetric_difference_update(other)

    def __isub__(self, other: AbstractSet[object]) -> Codes:
        self._forget()
        return super().__isub__(other)  # type: ignore[return-value]

    def __iand__(self, other: AbstractSet[object]) -> Codes:
        self._forget()
        return super().__iand__(other)  # type: ignore[return-value]

    def __ixor__(self, other: AbstractSet[str]) -> Codes:  # type: ignore[override]
        self._forget()
        return super().__ixor__(other)  # type: ignore[return-value]


def next_code(used: set[str]) -> str:
    """The lowest code not in `used`, added to it."""
    n = used.floor if isinstance(used, Codes) else 1
    while str(n) in used:
        n += 1
    code = str(n)
    used.add(code)
    if isinstance(used, Codes):
        used.floor = n + 1
    return code
