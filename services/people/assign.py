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

import uuid
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.paging.models import Page
from services.people.matching import (
    AT_LIMIT,
    Choice,
    Match,
    MatchContext,
    _load_query,
    open_loads,
    rank,
)
from services.people.models import PeerSupporter, Staff

BUSY = "being assigned elsewhere"
GONE = "no longer a peer"


@dataclass(frozen=True)
class Ask:
    """One case that wants a peer: the clinician, and whoever may not be their peer (the
    incident's staff, peers paged for the case before)."""

    case_id: uuid.UUID
    clinician: Staff
    exclude: frozenset[str]


@dataclass(frozen=True)
class Pick:
    """The peer chosen, or None with the match that says why nobody fit."""

    match: Match
    chosen: Choice | None


async def assign(
    session: AsyncSession, ctx: MatchContext, asks: list[Ask]
) -> dict[uuid.UUID, Pick]:
    """A peer for each case, in the order given, each under their limit by the store's count."""
    locked: dict[str, tuple[int, int]] = {}  # peer -> (open load incl. this batch, limit)
    skip: dict[str, str] = {}
    waiting = False  # True once only busy peers are left: lock them, waiting for the holder
    recounted = False
    picks: dict[uuid.UUID, Pick] = {}
    pending = list(asks)
    while pending:
        tentative: list[tuple[Ask, Match, int]] = []
        bumped: Counter[str] = Counter()
        for ask in pending:
            match = rank(ctx, ask.clinician, set(ask.exclude), skip)
            i = 0 if match.ranked else -1
            if i >= 0:
                # Counted at once, so the next case of the batch sees it (and spreads).
                sid = match.ranked[0].staff_id
                ctx.open_cases[sid] = ctx.open_cases.get(sid, 0) + 1
                bumped[sid] += 1
            tentative.append((ask, match, i))
        to_lock = sorted({m.ranked[i].staff_id for _, m, i in tentative if i >= 0} - set(locked))
        if to_lock:
            got = await _lock_and_count(session, to_lock, skip_locked=not waiting)
            locked.update(got)
            for sid in set(to_lock) - set(got):
                skip[sid] = GONE if waiting else BUSY
        again: list[Ask] = []
        nobody: list[tuple[Ask, Match]] = []
        for ask, match, i in tentative:
            if i < 0:
                nobody.append((ask, match))
                continue
            peer = match.ranked[i]
            load, limit = locked.get(peer.staff_id, (0, 0))
            if peer.staff_id not in locked or load >= limit:
                again.append(ask)
                continue
            best = match.candidate(i, (load, limit))
            picks[ask.case_id] = Pick(match, Choice(best.staff_id, best.mobile, best.reason))
            locked[peer.staff_id] = (load + 1, limit)
        # The store's counts (with this batch's picks) are the context's from here on.
        for sid, (load, _) in locked.items():
            ctx.open_cases[sid] = load
        for sid, n in bumped.items():
            if sid not in locked:  # busy or gone: this round's guesses are undone
                ctx.open_cases[sid] = max(0, ctx.open_cases.get(sid, 0) - n)
        if nobody:
            busy = [sid for sid, why in skip.items() if why == BUSY]
            if busy and not waiting:
                waiting = True  # nobody free is left: wait for the busy ones after all
                for sid in busy:
                    del skip[sid]
                again.extend(ask for ask, _ in nobody)
            elif not recounted and any(m.excluded.get(AT_LIMIT) for _, m in nobody):
                recounted = True  # the context may over-count: ask the store once
                fresh = await open_loads(session)
                ctx.open_cases = fresh
                for sid, (load, _) in locked.items():
                    ctx.open_cases[sid] = load
                again.extend(ask for ask, _ in nobody)
            else:
                for ask, match in nobody:
                    picks[ask.case_id] = Pick(match, None)
        pending = again
    return picks


async def _lock_and_count(
    session: AsyncSession, staff_ids: list[str], skip_locked: bool
) -> dict[str, tuple[int, int]]:
    """Lock the peers' rows (those another transaction holds are left out with SKIP
    LOCKED) and count each one's open load: two statements for any number of peers."""
    lock = (
        select(PeerSupporter.staff_id, PeerSupporter.max_open_cases)
        .where(PeerSupporter.staff_id.in_(staff_ids))
        .order_by(PeerSupporter.staff_id)
        .with_for_update(skip_locked=skip_locked)
    )
    limits = {sid: int(n) for sid, n in (await session.execute(lock)).all()}
    if not limits:
        return {}
    query = _load_query().where(Page.peer_staff_id.in_(list(limits)))
    loads = {sid: int(n) for sid, n in (await session.execute(query)).all()}
    return {sid: (loads.get(sid, 0), limit) for sid, limit in limits.items()}
