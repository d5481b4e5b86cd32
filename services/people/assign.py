"""Peers for a batch of cases: ranked in memory, decided by the store.

Why not case by case (matching.choose): each choice locked and counted one peer at a time,
two or three queries per page. Here a batch of any size costs two statements a round: lock
the peers the batch chose (in id order) and count their open load. A second round happens
only when a count disagreed with the context (a peer full, or being assigned by another
worker right now) and only for the cases it affects.

The rules are matching's: each choice counts at once, so one incident's cases spread
across peers; a peer another transaction holds is passed over (SKIP LOCKED) rather than
waited for, and is waited for only when nobody else is left; a context that over-counts
is recounted from the store before a case goes to the coordinator for want of a peer.
Locks are held to the end of the caller's transaction, so whoever counts next counts ours.
"""

from __future__ import annotations

import heapq
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import cast

from sqlalchemy.ext.asyncio import AsyncSession

from services.db import array_literal, fetch, psycopg_text
from services.paging.codes import CODES_IN_USE, Codes
from services.people.matching import (
    AT_LIMIT,
    Choice,
    Loads,
    Match,
    MatchContext,
    Peer,
    excluded_by,
    load_sql,
    open_loads,
    rank,
    reason_for,
)
from services.people.models import Person
from services.sealing import keyring_of

BUSY = "being assigned elsewhere"
# Groups a Ranker keeps (each a heap of the on-call peers); the oldest goes first.
MAX_GROUPS = 64
GONE = "no longer a peer"


@dataclass(frozen=True)
class Ask:
    """One case that wants a peer: the clinician, and whoever may not be their peer (the
    incident's staff, peers paged for the case before)."""

    case_id: uuid.UUID
    clinician: Person
    exclude: frozenset[str]


@dataclass(frozen=True)
class Pick:
    """The peer chosen, or None with the match that says why nobody fit."""

    match: Match | None
    chosen: Choice | None


Entry = tuple[tuple[int, int], int, int, str]  # (discipline, language), load, recent, peer


@dataclass
class _Group:
    """Clinicians alike for matching (discipline, language, the on-call peers they
    exclude): one heap of the peers eligible for all of them, best first."""

    heap: list[Entry]
    peers: dict[str, Peer]
    static: dict[str, tuple[int, int]]
    # Each peer's live entry (load, recent) in the heap; an entry that differs is an old
    # copy, dropped when it surfaces. A peer with no live entry is full or parked.
    live: dict[str, tuple[int, int]] = field(default_factory=dict)
    parked: list[str] = field(default_factory=list)  # skipped for now (busy)

    def push(self, sid: str, load: int, recent: int) -> None:
        self.live[sid] = (load, recent)
        heapq.heappush(self.heap, (self.static[sid], load, recent, sid))


class Ranker:
    """The best candidate for each of many clinicians against one context.

    Why not matching.rank per case: it scores every on-call peer for every case, half the
    worker's time at a burst (500 peers x 700 cases). Here clinicians alike share one heap
    of eligible peers, keyed as rank keys them (discipline, language, open load, recent
    pages, id; another unit first is applied at the top). The hard rules that do not depend
    on load or unit are applied once per group.

    Counts move while it lives (with its context, a few seconds, across batches). A count
    that went up is seen when the peer's entry reaches the top, and the entry is re-keyed.
    A count that went down (a guess undone, the store counting fewer, a page answered) is
    recorded by the context's Loads, and the peer gets a fresh entry before the next
    answer, also when they had been found full. So `best` answers what `rank` would of the
    context as it stands (tests/unit/test_ranker.py holds the two equal).
    """

    def __init__(self, ctx: MatchContext) -> None:
        self.ctx = ctx
        self.on_call = frozenset(p.staff_id for p in ctx.on_call_peers)
        self.groups: dict[tuple[str, str, frozenset[str]], _Group] = {}
        self.loads = cast(Loads, ctx.open_cases)  # MatchContext keeps its loads a Loads

    def reset(self) -> None:
        """The context's counts were replaced (recounted from the store): rebuild."""
        self.groups.clear()
        self.loads = cast(Loads, self.ctx.open_cases)
        self.loads.lowered.clear()

    def _group(self, clinician: Person, exclude: frozenset[str]) -> _Group:
        out = (exclude | {clinician.staff_id}) & self.on_call
        key = (clinician.discipline, clinician.language, out)
        group = self.groups.get(key)
        if group is not None and len(group.heap) <= 2 * len(group.peers) + 64:
            return group
        # New, or its heap is mostly old copies of re-keyed entries: (re)build it. The
        # context lives until the next hand-off, so the groups are kept to the busiest few.
        self.groups.pop(key, None)
        while len(self.groups) >= MAX_GROUPS:
            del self.groups[next(iter(self.groups))]
        ctx = self.ctx
        today, discipline = ctx.at.date(), clinician.discipline
        group = _Group([], {}, {})
        for peer in ctx.on_call_peers:
            sid = peer.staff_id
            if sid in out:
                continue
            # Every hard rule but load and unit, once per group; those two at the top.
            if excluded_by(peer, "", "", discipline, set(), today, 0, False):
                continue
            group.static[sid] = (
                int(peer.discipline != discipline),
                int(clinician.language not in peer.languages),
            )
            group.peers[sid] = peer
            load, recent = ctx.open_cases.get(sid, 0), ctx.recent_pages.get(sid, 0)
            group.live[sid] = (load, recent)
            group.heap.append((group.static[sid], load, recent, sid))
        heapq.heapify(group.heap)
        self.groups[key] = group
        return group

    def _catch_up(self) -> None:
        """Peers whose count went down get a fresh entry in every group they are in."""
        if self.ctx.open_cases is not self.loads:
            self.reset()  # replaced wholesale (a recount): start again
            return
        lowered = self.loads.lowered
        if not lowered:
            return
        ctx = self.ctx
        for sid in lowered:
            for group in self.groups.values():
                if sid in group.peers and sid not in group.parked:
                    group.push(sid, ctx.open_cases.get(sid, 0), ctx.recent_pages.get(sid, 0))
        lowered.clear()

    def best(
        self, clinician: Person, exclude: frozenset[str], skip: Mapping[str, str]
    ) -> tuple[Peer, int] | None:
        """The best peer under their limit now, and how many are still candidates.

        Another unit comes first (the programme's preference, or its rule): peers of the
        clinician's own unit are set aside while the heap is searched, and put back."""
        self._catch_up()
        group = self._group(clinician, exclude)
        heap, ctx, unit = group.heap, self.ctx, clinician.home_unit
        prefer_other = ctx.other_unit != "off"
        require_other = ctx.other_unit == "required"
        aside: list[Entry] = []
        chosen: Peer | None = None
        while heap:
            static, n_open, recent, sid = heap[0]
            if group.live.get(sid) != (n_open, recent):
                heapq.heappop(heap)  # an old copy of a re-keyed entry
                continue
            if sid in skip:
                heapq.heappop(heap)
                del group.live[sid]
                group.parked.append(sid)
                continue
            now_open, now_recent = ctx.open_cases.get(sid, 0), ctx.recent_pages.get(sid, 0)
            if (now_open, now_recent) != (n_open, recent):
                group.live[sid] = (now_open, now_recent)
                heapq.heapreplace(heap, (static, now_open, now_recent, sid))
                continue
            peer = group.peers[sid]
            if now_open >= peer.max_open_cases:
                heapq.heappop(heap)  # full: back only when their count goes down
                del group.live[sid]
                continue
            if prefer_other and peer.home_unit == unit:
                aside.append(heapq.heappop(heap))
                continue
            chosen = peer
            break
        if chosen is None and aside and not require_other:
            chosen = group.peers[aside[0][3]]  # nobody from another unit: the best of ours
        for entry in aside:
            heapq.heappush(heap, entry)
        return (chosen, len(group.live)) if chosen is not None else None

    def unpark(self) -> None:
        """Peers skipped as busy become candidates again (nobody else was left, or a new
        batch: busy was this batch's finding)."""
        ctx = self.ctx
        for group in self.groups.values():
            if not group.parked:
                continue
            for sid in group.parked:
                group.push(sid, ctx.open_cases.get(sid, 0), ctx.recent_pages.get(sid, 0))
            group.parked.clear()


@dataclass
class Assigned:
    """A batch's picks, and the reply codes in use on the locked peers' numbers: their
    pages' codes (paging.codes.reply_codes), already locked and read with the peers."""

    picks: dict[uuid.UUID, Pick]
    codes: dict[str, set[str]]


async def assign(session: AsyncSession, ctx: MatchContext, asks: list[Ask]) -> Assigned:
    """A peer for each case, in the order given, each under their limit by the store's count."""
    locked: dict[str, tuple[int, int]] = {}  # peer -> (open load incl. this batch, limit)
    codes: dict[str, set[str]] = {}
    skip: dict[str, str] = {}
    waiting = False  # True once only busy peers are left: lock them, waiting for the holder
    recounted = False
    ranker = ctx.ranker if isinstance(ctx.ranker, Ranker) else Ranker(ctx)
    ctx.ranker = ranker
    ranker.unpark()  # whom the last batch found busy is a candidate again
    picks: dict[uuid.UUID, Pick] = {}
    pending = list(asks)
    while pending:
        tentative: list[tuple[Ask, Peer | None, int]] = []
        bumped: Counter[str] = Counter()
        for ask in pending:
            found = ranker.best(ask.clinician, ask.exclude, skip)
            if found is None:
                tentative.append((ask, None, 0))
                continue
            # Counted at once, so the next case of the batch sees it (and spreads).
            peer, total = found
            ctx.open_cases[peer.staff_id] = ctx.open_cases.get(peer.staff_id, 0) + 1
            bumped[peer.staff_id] += 1
            tentative.append((ask, peer, total))
        to_lock = sorted({p.staff_id for _, p, _ in tentative if p is not None} - set(locked))
        if to_lock:
            numbers = [ctx.by_id[sid].mobile for sid in to_lock]
            got, used = await _lock_and_count(session, to_lock, numbers, skip_locked=not waiting)
            locked.update(got)
            codes.update(used)
            for sid in set(to_lock) - set(got):
                skip[sid] = GONE if waiting else BUSY
        again: list[Ask] = []
        nobody: list[Ask] = []
        for ask, peer, total in tentative:
            if peer is None:
                nobody.append(ask)
                continue
            load, limit = locked.get(peer.staff_id, (0, 0))
            if peer.staff_id not in locked or load >= limit:
                again.append(ask)
                continue
            reason = reason_for(ctx, peer, ask.clinician, 1, total, (load, limit))
            picks[ask.case_id] = Pick(None, Choice(peer.staff_id, peer.mobile, reason))
            locked[peer.staff_id] = (load + 1, limit)
        # The store's counts (with this batch's picks) are the context's from here on.
        for sid, (load, _) in locked.items():
            ctx.open_cases[sid] = load
        for sid, n in bumped.items():
            if sid not in locked:  # busy or gone: this round's guesses are undone
                ctx.open_cases[sid] = max(0, ctx.open_cases.get(sid, 0) - n)
        if nobody:
            busy = [sid for sid, why in skip.items() if why == BUSY]
            matches = {a.case_id: rank(ctx, a.clinician, set(a.exclude), skip) for a in nobody}
            if busy and not waiting:
                waiting = True  # nobody free is left: wait for the busy ones after all
                for sid in busy:
                    del skip[sid]
                ranker.unpark()
                again.extend(nobody)
            elif not recounted and any(m.excluded.get(AT_LIMIT) for m in matches.values()):
                recounted = True  # the context may over-count: ask the store once
                ctx.open_cases = await open_loads(session)
                for sid, (load, _) in locked.items():
                    ctx.open_cases[sid] = load
                ranker.reset()
                again.extend(nobody)
            else:
                for ask in nobody:
                    picks[ask.case_id] = Pick(matches[ask.case_id], None)
        pending = again
    return Assigned(picks, codes)


# The peers' rows, locked in id order (those another transaction holds are left out with
# SKIP LOCKED, the waiting round waits for them), then the numbers of those locked, as
# paging.codes.LOCK_NUMBERS locks a number (in sorted order, held to commit): one statement.
# A number is locked only once its peer is, as it was locked after the peers before.
LOCK = {
    skip: (
        "WITH p AS MATERIALIZED (SELECT staff_id, max_open_cases FROM peer_supporters "
        "WHERE staff_id = ANY(CAST(%(ids)s AS text[])) ORDER BY staff_id FOR UPDATE"
        + (" SKIP LOCKED" if skip else "")
        + "), n AS MATERIALIZED (SELECT pg_advisory_xact_lock(hashtext(number)) FROM "
        "(SELECT DISTINCT x.number FROM unnest(CAST(%(ids)s AS text[]), "
        "CAST(%(ns)s AS text[])) AS x(staff_id, number) JOIN p USING (staff_id) "
        "ORDER BY 1) AS ordered) "
        "SELECT p.staff_id, p.max_open_cases FROM p, (SELECT count(*) FROM n) AS numbers"
    )
    for skip in (True, False)
}
# After the locks, in a snapshot of its own (it must read what they waited for): each
# peer's open load (the one definition of load, matching._load_query) and the reply codes
# in use on their numbers (paging.codes.CODES_IN_USE), one statement for both.
COUNT = (
    f"SELECT l.peer, l.n, CAST(NULL AS text) FROM ({load_sql()}) AS l(peer, n) "
    "WHERE l.peer = ANY(CAST(%(ids)s AS text[])) UNION ALL "
    "SELECT c.to_number_key, CAST(NULL AS bigint), c.reply_code "
    f"FROM ({psycopg_text(CODES_IN_USE)}) AS c"
)


async def _lock_and_count(
    session: AsyncSession, staff_ids: list[str], numbers: list[str], skip_locked: bool
) -> tuple[dict[str, tuple[int, int]], dict[str, set[str]]]:
    """Lock the peers' rows and their numbers (`numbers[i]` is `staff_ids[i]`'s), then
    count each locked peer's open load and read the codes in use on their numbers: two
    statements for any number of peers, where they were four with the reply codes'.
    (Two, not one: the reads must see what the locks waited for, a newer snapshot.)"""
    keys = keyring_of(session)
    lookup = {n: keys.lookup(n) for n in set(numbers)}  # numbers are locked and read by these
    rows = await fetch(
        session,
        LOCK[skip_locked],
        {"ids": array_literal(staff_ids), "ns": array_literal(lookup[n] for n in numbers)},
    )
    limits = {sid: int(n) for sid, n in rows}
    if not limits:
        return {}, {}
    mine = sorted({n for sid, n in zip(staff_ids, numbers, strict=True) if sid in limits})
    by_key = {lookup[n]: n for n in mine}
    loads: dict[str, int] = {}
    codes: dict[str, set[str]] = {n: Codes() for n in mine}
    read = {"ids": array_literal(limits), "ns": array_literal(sorted(by_key))}
    for key, load, code in await fetch(session, COUNT, read):
        if code is None:
            loads[key] = int(load)
        else:
            codes[by_key[key]].add(code)
    return {sid: (loads.get(sid, 0), limit) for sid, limit in limits.items()}, codes
