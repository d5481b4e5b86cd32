"""Matching: for one affected clinician, the peers who may be paged, best first, with reasons.

Hard rules (a peer who fails one is never paged): on call now, training current, active and
not paused, not opted out, not involved in the same incident, supports the clinician's
discipline, under their open-case limit, and, when the programme requires it, from another
unit. Preferences, in order: another unit, same discipline, same language, fewest open
cases, fewest pages in the last 7 days (so the load is fair), then staff id for a stable
order. Everything is loaded once per incident (`MatchContext`) and ranked in memory, so a
50-clinician incident costs a handful of queries, not hundreds. A worker keeps one context
for a few seconds (`ContextCache`), checked against a version counter the store bumps on
every change to the roster, the schedules or anyone's open cases.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.paging.models import Page, SupportCase
from services.people.models import PeerSupporter, Staff
from services.schedules.service import on_call_staff

OPEN_PAGE_STATES = ("requested", "sending", "sent", "delivered")
CLOSED_CASE_STATES = ("closed", "declined")
RECENT = timedelta(days=7)


@dataclass(frozen=True)
class Peer:
    staff_id: str
    home_unit: str
    discipline: str
    mobile: str
    trained_until: date
    supports: tuple[str, ...]
    languages: tuple[str, ...]
    max_open_cases: int


@dataclass(frozen=True)
class Candidate:
    staff_id: str
    mobile: str
    _explain: Callable[[], str] = field(repr=False, compare=False)

    @property
    def reason(self) -> str:
        """Why this peer, in words; built only when asked (usually for the first only)."""
        return self._explain()


@dataclass
class Match:
    # The peers who passed every hard rule, best first.
    ranked: list[Peer] = field(default_factory=list)
    # How many peers each hard rule left out: the coordinator's page says why nobody fit.
    excluded: Counter[str] = field(default_factory=Counter)
    explain: Callable[[Peer, int, int], str] | None = field(default=None, repr=False)

    def candidate(self, i: int) -> Candidate:
        """The i-th best (0-based). Why not a ready list: a page needs only the first, and
        building hundreds of candidates per page was a third of the matching time."""
        peer, total, explain = self.ranked[i], len(self.ranked), self.explain
        assert explain is not None
        return Candidate(peer.staff_id, peer.mobile, lambda: explain(peer, i + 1, total))

    @property
    def candidates(self) -> list[Candidate]:
        return [self.candidate(i) for i in range(len(self.ranked))]

    def why_none(self) -> str:
        if not self.excluded:
            return "no qualified peer: no trained peers on the roster"
        parts = ", ".join(f"{n} {why}" for why, n in self.excluded.most_common())
        return f"no qualified peer: {parts}"


@dataclass
class MatchContext:
    """What ranking needs, loaded once for an incident at one instant."""

    at: datetime
    peers: list[Peer]
    on_call: dict[str, list[str]]
    open_cases: Counter[str]
    recent_pages: Counter[str]
    other_unit: str  # "preferred" | "required" | "off"
    # Split once per context, not per clinician: most peers are off call at any moment, and
    # ranking each of them only to say "not on call" was most of rank()'s time.
    on_call_peers: list[Peer] = field(init=False, repr=False)
    off_call: frozenset[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.on_call_peers = [p for p in self.peers if p.staff_id in self.on_call]
        self.off_call = frozenset(p.staff_id for p in self.peers if p.staff_id not in self.on_call)


async def load_context(session: AsyncSession, at: datetime, other_unit: str) -> MatchContext:
    # Plain columns, not ORM entities: 300 peers x 2 objects was most of the load time.
    rows = await session.execute(
        select(
            Staff.staff_id,
            Staff.home_unit,
            Staff.discipline,
            Staff.mobile_e164,
            PeerSupporter.trained_until,
            PeerSupporter.supports,
            PeerSupporter.languages,
            PeerSupporter.max_open_cases,
        )
        .join(PeerSupporter, PeerSupporter.staff_id == Staff.staff_id)
        .where(
            Staff.active.is_(True),
            Staff.opted_out.is_(False),
            PeerSupporter.active.is_(True),
        )
    )
    peers = [
        Peer(
            staff_id=r.staff_id,
            home_unit=r.home_unit,
            discipline=r.discipline,
            mobile=r.mobile_e164,
            trained_until=r.trained_until,
            supports=tuple(r.supports or ()),
            languages=tuple(r.languages or ("en",)),
            max_open_cases=r.max_open_cases,
        )
        for r in rows.all()
    ]
    open_rows = await session.execute(
        select(Page.peer_staff_id, func.count())
        .join(SupportCase, SupportCase.id == Page.case_id)
        .where(
            Page.state == "accepted",
            Page.peer_staff_id.is_not(None),
            SupportCase.state.not_in(CLOSED_CASE_STATES),
        )
        .group_by(Page.peer_staff_id)
    )
    recent_rows = await session.execute(
        select(Page.peer_staff_id, func.count())
        .where(Page.requested_at > at - RECENT, Page.peer_staff_id.is_not(None))
        .group_by(Page.peer_staff_id)
    )
    return MatchContext(
        at=at,
        peers=peers,
        on_call=await on_call_staff(session, at),
        open_cases=Counter({sid: n for sid, n in open_rows.all()}),
        recent_pages=Counter({sid: n for sid, n in recent_rows.all()}),
        other_unit=other_unit,
    )


async def match_inputs_version(session: AsyncSession) -> int:
    """The counter migration 0005's triggers bump in the same transaction as any change to
    what load_context reads, except pages in the last 7 days (a preference, not a rule)."""
    return int((await session.execute(text("SELECT version FROM match_inputs"))).scalar_one())


class ContextCache:
    """One worker's matching context, reused while nothing it depends on has changed.

    Why: loading the roster, computing who is on call and counting open cases takes about
    20 ms, which is most of the worker's time per page at a steady rate. Reusing it is exact
    for every hard rule: a change to staff, training, schedules or open cases bumps the
    version counter, and a changed counter reloads. What the cache can miss is bounded by
    `ttl`: a rotation handing off (schedules are rules in time, not rows that change) and other
    workers' recent pages, which only order the candidates. Pages this worker assigns are
    counted in as it goes. The clock is checked too, so a test that moves `now` reloads.
    """

    def __init__(self, other_unit: str, ttl: float = 5.0) -> None:
        self.other_unit = other_unit
        self.ttl = ttl
        self._ctx: MatchContext | None = None
        self._version = -1
        self._loaded = 0.0
        self.loads = 0

    async def get(self, session: AsyncSession, at: datetime) -> MatchContext:
        version = await match_inputs_version(session)
        ctx = self._ctx
        fresh = (
            ctx is not None
            and version == self._version
            and time.monotonic() - self._loaded < self.ttl
            and timedelta(0) <= at - ctx.at < timedelta(seconds=self.ttl)
        )
        if fresh:
            assert ctx is not None
            return ctx
        ctx = await load_context(session, at, self.other_unit)
        self._ctx, self._version, self._loaded = ctx, version, time.monotonic()
        self.loads += 1
        return ctx


def rank(ctx: MatchContext, clinician: Staff, involved: set[str]) -> Match:
    """Candidates for one clinician, best first; never anyone involved in the incident.

    Runs once per page over every on-call peer, so the loop reads plain locals: the
    clinician's ORM attributes and Counter misses cost more than the rules themselves.
    """
    match = Match(explain=lambda peer, i, total: _reason(ctx, peer, clinician, i, total))
    today = ctx.at.date()
    me, unit, discipline, language = (
        clinician.staff_id,
        clinician.home_unit,
        clinician.discipline,
        clinician.language,
    )
    # Off-call peers are counted, not ranked; being involved is reported before being off call.
    off_involved = len(ctx.off_call & (involved | {me}))
    if off_involved:
        match.excluded["involved in this incident"] += off_involved
    if len(ctx.off_call) > off_involved:
        match.excluded["not on call"] += len(ctx.off_call) - off_involved
    open_cases, recent = ctx.open_cases, ctx.recent_pages
    prefer_other = ctx.other_unit != "off"
    require_other = ctx.other_unit == "required"
    scored: list[tuple[tuple[int, int, int, int, int, str], Peer]] = []
    for peer in ctx.on_call_peers:
        sid = peer.staff_id
        n_open = open_cases.get(sid, 0)
        why_not = _excluded(peer, me, unit, discipline, involved, today, n_open, require_other)
        if why_not:
            match.excluded[why_not] += 1
            continue
        key = (
            int(prefer_other and peer.home_unit == unit),
            int(peer.discipline != discipline),
            int(language not in peer.languages),
            n_open,
            recent.get(sid, 0),
            sid,
        )
        scored.append((key, peer))
    scored.sort(key=lambda kp: kp[0])
    match.ranked = [peer for _, peer in scored]
    return match


def _excluded(
    peer: Peer,
    me: str,
    unit: str,
    discipline: str,
    involved: set[str],
    today: date,
    n_open: int,
    require_other: bool,
) -> str | None:
    """The first hard rule `peer` fails (on call is known: only on-call peers get here)."""
    if peer.staff_id == me or peer.staff_id in involved:
        return "involved in this incident"
    if peer.trained_until < today:
        return "training expired"
    if peer.supports and discipline not in peer.supports:
        return f"not supporting {discipline}"
    if n_open >= peer.max_open_cases:
        return "at their case limit"
    if require_other and peer.home_unit == unit:
        return "from the clinician's unit"
    return None


def _reason(ctx: MatchContext, peer: Peer, clinician: Staff, i: int, total: int) -> str:
    unit = (
        "same unit (no other unit available)"
        if peer.home_unit == clinician.home_unit
        else "other unit"
    )
    discipline = (
        f"same discipline ({peer.discipline})"
        if peer.discipline == clinician.discipline
        else f"different discipline ({peer.discipline})"
    )
    language = (
        f"speaks {clinician.language}"
        if clinician.language in peer.languages
        else f"does not speak {clinician.language}"
    )
    schedules = ", ".join(ctx.on_call.get(peer.staff_id, []))
    return (
        f"candidate {i} of {total}: on call ({schedules}), training to {peer.trained_until}, "
        f"not involved, {unit}, {discipline}, {language}, "
        f"{ctx.open_cases[peer.staff_id]}/{peer.max_open_cases} open cases, "
        f"{ctx.recent_pages[peer.staff_id]} pages in 7 days"
    )
