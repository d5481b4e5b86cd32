"""Matching: for one affected clinician, the peers who may be paged, best first, with reasons.

Hard rules (a peer who fails one is never paged): on call now, training current, active and
not paused, their number can be texted (no STOP, no opt-out on the record, not known to be
undeliverable: services.cases.outbound.unreachable), not involved in the same incident,
supports the clinician's discipline, under their open-case limit, and, when the programme
requires it, from another unit. Preferences, in order: another unit, same discipline, same
language, fewest open cases, fewest pages in the last 7 days (so the load is fair), then
staff id for a stable order. Everything is loaded once per incident (`MatchContext`) and
ranked in memory, so a 50-clinician incident costs a handful of queries, not hundreds. A
worker keeps one context until who is on call next changes (a rotation's hand-off, an
override's edge, a new UTC day for training) or the store's counter says the roster, the
schedules, STOP/START, the units or the policies changed (`ContextCache`); a second counter
for open loads has the loads alone counted again.

Open load is every page offered and not yet answered (requested, sending, sent, delivered)
plus every accepted page, on a case still open. The context's counts rank; the store
decides: people.assign locks the chosen peers' rows and counts their load again before a
page is written, so two cases of one batch, or two workers, cannot both take a peer's last
slot.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as wall_time
from typing import TypeVar, cast

from sqlalchemy import Select, func, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from services.cases.machine import CaseState
from services.cases.outbound import unreachable
from services.paging.models import Page, PageState, SupportCase
from services.people.models import PeerSupporter, Person, Staff
from services.schedules.service import on_call_until

OPEN_PAGE_STATES = (PageState.requested, PageState.sending, PageState.sent, PageState.delivered)
# A peer's open load: pages offered and not yet answered, and pages accepted.
LOAD_PAGE_STATES = (*OPEN_PAGE_STATES, PageState.accepted)
CLOSED_CASE_STATES = (CaseState.closed, CaseState.declined)
AT_LIMIT = "at their case limit"
RECENT = timedelta(days=7)
T = TypeVar("T")
# How far ahead a context looks for the next change of who is on call.
HORIZON = timedelta(hours=1)


def covers(supports: tuple[str, ...] | list[str], discipline: str) -> bool:
    """Whether a peer who supports `supports` may be matched to a clinician of `discipline`:
    an empty list means any discipline. Matching and the coverage check both ask this."""
    return not supports or discipline in supports


def training_ends(trained_until: date) -> datetime:
    """The instant a peer's training stops counting: matching compares `trained_until` with
    the UTC date of the moment it ranks, so training holds to the end of that UTC day."""
    after = trained_until + timedelta(days=1)
    return datetime(after.year, after.month, after.day, tzinfo=UTC)


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
    # Why their number must not be texted (STOP, opted out, undeliverable), if it must not.
    unreachable: str | None = None
    # The language of the SMS they receive (the staff record's).
    language: str = "en"


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
    explain: Callable[[Peer, int, int, tuple[int, int] | None], str] | None = field(
        default=None, repr=False
    )

    def candidate(self, i: int, load: tuple[int, int] | None = None) -> Candidate:
        """The i-th best (0-based). Why not a ready list: a page needs only the first, and
        building hundreds of candidates per page was a third of the matching time.

        `load` is (open cases, limit) as the store counted them, for the reason to quote."""
        peer, total, explain = self.ranked[i], len(self.ranked), self.explain
        assert explain is not None
        return Candidate(peer.staff_id, peer.mobile, lambda: explain(peer, i + 1, total, load))

    @property
    def candidates(self) -> list[Candidate]:
        return [self.candidate(i) for i in range(len(self.ranked))]

    def why_none(self) -> str:
        if not self.excluded:
            return "no qualified peer: no trained peers on the roster"
        parts = ", ".join(f"{n} {why}" for why, n in self.excluded.most_common())
        return f"no qualified peer: {parts}"


class Loads(Counter[str]):
    """Open loads per peer that remember whose went down: the batch ranker
    (people.assign.Ranker) must offer those peers again, in their new place."""

    def __init__(self, *args: object, **kwargs: int) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.lowered: set[str] = set()

    def __setitem__(self, key: str, value: int) -> None:
        if value < self.get(key, 0):
            self.lowered.add(key)
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self.lowered.add(key)
        super().__delitem__(key)


@dataclass
class MatchContext:
    """What ranking needs, loaded once for an incident at one instant."""

    at: datetime
    peers: list[Peer]
    on_call: dict[str, list[str]]
    open_cases: Counter[str]
    recent_pages: Counter[str]
    other_unit: str  # "preferred" | "required" | "off"
    # Until when who is on call (and whose training counts) stays as loaded; None: unknown.
    valid_until: datetime | None = None
    # Split once per context, not per clinician: most peers are off call at any moment, and
    # ranking each of them only to say "not on call" was most of rank()'s time.
    on_call_peers: list[Peer] = field(init=False, repr=False)
    off_call: frozenset[str] = field(init=False, repr=False)
    by_id: dict[str, Peer] = field(init=False, repr=False)
    # Ranking state built from this context for batches (people.assign.Ranker): kept with
    # the context, so a batch of one does not rebuild it (it lives as long as the cache).
    ranker: object | None = field(default=None, init=False, repr=False)

    def __setattr__(self, name: str, value: object) -> None:
        if name == "open_cases" and not isinstance(value, Loads):
            value = Loads(value)  # type: ignore[arg-type]
        super().__setattr__(name, value)

    def __post_init__(self) -> None:
        self.on_call_peers = [p for p in self.peers if p.staff_id in self.on_call]
        self.off_call = frozenset(p.staff_id for p in self.peers if p.staff_id not in self.on_call)
        self.by_id = {p.staff_id: p for p in self.peers}


async def load_context(session: AsyncSession, at: datetime, other_unit: str) -> MatchContext:
    # Plain columns, not ORM entities: 300 peers x 2 objects was most of the load time.
    rows = await session.execute(
        select(
            Staff.staff_id,
            Staff.home_unit,
            Staff.discipline,
            Staff.mobile_e164,
            Staff.language,
            PeerSupporter.trained_until,
            PeerSupporter.supports,
            PeerSupporter.languages,
            PeerSupporter.max_open_cases,
        )
        .join(PeerSupporter, PeerSupporter.staff_id == Staff.staff_id)
        .where(Staff.active.is_(True), PeerSupporter.active.is_(True))
    )
    found = rows.all()
    blocked = await unreachable(session, (r.mobile_e164 for r in found))
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
            unreachable=str(blocked[r.mobile_e164]) if r.mobile_e164 in blocked else None,
            language=r.language or "en",
        )
        for r in found
    ]
    recent_rows = await session.execute(
        select(Page.peer_staff_id, func.count())
        .where(Page.requested_at > at - RECENT, Page.peer_staff_id.is_not(None))
        .group_by(Page.peer_staff_id)
    )
    on_call, until = await on_call_until(session, at, HORIZON)
    # Training counts to the end of its UTC day (training_ends): a new day may end some.
    tomorrow = datetime.combine(at.astimezone(UTC).date() + timedelta(days=1), wall_time(), UTC)
    return MatchContext(
        at=at,
        peers=peers,
        on_call=on_call,
        open_cases=await open_loads(session),
        recent_pages=Counter({sid: n for sid, n in recent_rows.all()}),
        other_unit=other_unit,
        valid_until=min(until, tomorrow),
    )


# The counters as one statement reads them (also fused into the batch's first read:
# services.cases.dispatch.lock_cases).
VERSIONS_SQL = "SELECT version, loads_version FROM match_inputs"


async def match_inputs_version(session: AsyncSession) -> int:
    """The counter migration 0005's triggers bump in the same transaction as any change to
    what load_context reads but open loads (migration 0010's `loads_version`) and pages in
    the last 7 days (a preference, not a rule)."""
    return int((await session.execute(text("SELECT version FROM match_inputs"))).scalar_one())


def _load_query(states: tuple[str, ...] = LOAD_PAGE_STATES) -> Select[tuple[str | None, int]]:
    """Pages in `states` on cases still open, counted per peer: the one definition of load."""
    return (
        select(Page.peer_staff_id, func.count())
        .join(SupportCase, SupportCase.id == Page.case_id)
        .where(
            Page.state.in_(states),
            Page.peer_staff_id.is_not(None),
            SupportCase.state.not_in(CLOSED_CASE_STATES),
        )
        .group_by(Page.peer_staff_id)
    )


def load_sql(states: tuple[str, ...] = LOAD_PAGE_STATES) -> str:
    """_load_query as SQL text with its states written in (no parameters): for statements
    that run without SQLAlchemy (people.assign) and still count load as this module does."""
    query = _load_query(states).compile(
        dialect=postgresql.psycopg.dialect(), compile_kwargs={"literal_binds": True}
    )
    return str(query)


async def open_loads(session: AsyncSession) -> Counter[str]:
    """Every peer's open load as the store (and this transaction) holds it now."""
    return Counter({sid: n for sid, n in (await session.execute(_load_query())).all() if sid})


async def locked_load(
    session: AsyncSession,
    staff_id: str,
    *,
    accepted_only: bool = False,
    excluding: uuid.UUID | None = None,
) -> tuple[int, int] | None:
    """(open load, limit) of one peer, counted under a lock on their peer row; None when
    they are no longer a peer. The lock is held to the end of the caller's transaction, so
    whoever counts next (an assignment, another acceptance) waits for this one to commit and
    then counts it: the store is the arbiter.

    `accepted_only` counts the cases they have taken (what accepting one more would exceed).
    """
    lock = select(PeerSupporter.max_open_cases).where(PeerSupporter.staff_id == staff_id)
    limit = await session.scalar(lock.with_for_update())
    if limit is None:
        return None
    query = _load_query((PageState.accepted,) if accepted_only else LOAD_PAGE_STATES).where(
        Page.peer_staff_id == staff_id
    )
    if excluding is not None:
        query = query.where(Page.id != excluding)
    row = (await session.execute(query)).first()
    n = int(row[1]) if row is not None else 0
    return n, int(limit)


@dataclass(frozen=True)
class Choice:
    staff_id: str
    mobile: str
    reason: str


def _detach(session: AsyncSession, value: object, depth: int = 2) -> None:
    """Take the ORM rows in something kept across transactions out of the session that
    loaded them. Left in it, a rollback of that transaction (PostgreSQL restarted mid-batch)
    expired them for good: every later batch met DetachedInstanceError on a kept unit, and
    its incidents became dead letters until the directory changed."""
    if hasattr(value, "_sa_instance_state"):
        if value in session.sync_session:
            session.expunge(value)
        return
    if depth == 0 or isinstance(value, str | bytes):
        return
    if isinstance(value, Mapping):
        items: Iterable[object] = value.values()
    elif isinstance(value, list | tuple | set | frozenset):
        items = value
    else:
        items = getattr(value, "__dict__", {}).values()
    for item in items:
        _detach(session, item, depth - 1)


class ContextCache:
    """One worker's matching context, reused while nothing it depends on has changed.

    Why: loading the roster, computing who is on call and counting open cases takes tens of
    milliseconds, more than the rest of a page at a steady rate. Reusing it is exact for
    every hard rule but the case limit:
    - the roster, schedules, STOP/START, units and policies: any write bumps `version`
      (migrations 0005, 0006, 0010), and a changed version reloads;
    - time: who is on call changes only at a rotation's hand-off or an override's edge, and
      training only at the end of a UTC day; the context knows the first of these
      (`valid_until`) and is reloaded from then on; a clock set back reloads too;
    - open loads only rank, and the store decides the limit (people.assign locks the peers
      it chose and counts their load before a page is written). Pages this worker assigns
      are counted in as it goes; a page leaving someone's load elsewhere bumps
      `loads_version`, and the loads alone are counted again (at most every
      `recount_every` seconds); other workers' new pages are seen when assign counts them.
    `ttl` bounds the age of what only orders the candidates (other workers' recent pages).
    """

    def __init__(self, other_unit: str, ttl: float = 300.0, recount_every: float = 1.0) -> None:
        self.other_unit = other_unit
        self.ttl = ttl
        self.recount_every = recount_every
        self._ctx: MatchContext | None = None
        self._version = -1
        self._loads_version = -1
        self._loaded = 0.0
        self._recounted = 0.0
        self.loads = 0  # contexts loaded
        self.recounts = 0  # open loads counted again in a kept context
        self._kept: dict[str, tuple[int, object]] = {}

    @property
    def version(self) -> int | None:
        """The `version` the current context was loaded at: what else a process keeps
        beside it (units, policies) is as fresh as this."""
        return self._version if self._ctx is not None else None

    async def kept(
        self, session: AsyncSession, key: str, load: Callable[[AsyncSession], Awaitable[T]]
    ) -> T:
        """Something else read from tables whose writes bump `version` (units, escalation
        policies: migration 0010), kept beside the context as long as it is as fresh."""
        version = self._version
        found = self._kept.get(key)
        if found is not None and found[0] == version and self._ctx is not None:
            return cast(T, found[1])
        value = await load(session)
        _detach(session, value)
        self._kept[key] = (version, value)
        return value

    async def get(self, session: AsyncSession, at: datetime) -> MatchContext:
        version, loads_version = (await session.execute(text(VERSIONS_SQL))).one()
        return await self.at_versions(session, at, int(version), int(loads_version))

    async def at_versions(
        self, session: AsyncSession, at: datetime, version: int, loads_version: int
    ) -> MatchContext:
        """get() with the counters already read in this transaction (one statement fewer)."""
        ctx = self._ctx
        now = time.monotonic()
        fresh = (
            ctx is not None
            and version == self._version
            and now - self._loaded < self.ttl
            and timedelta(0) <= at - ctx.at < timedelta(seconds=self.ttl)
            and (ctx.valid_until is None or at < ctx.valid_until)
        )
        if fresh:
            assert ctx is not None
            if loads_version != self._loads_version and now - self._recounted >= self.recount_every:
                counted = await open_loads(session)
                for sid in set(ctx.open_cases) | set(counted):
                    if ctx.open_cases.get(sid, 0) != counted.get(sid, 0):
                        ctx.open_cases[sid] = counted.get(sid, 0)  # Loads notes who went down
                self._loads_version, self._recounted = loads_version, now
                self.recounts += 1
            return ctx
        ctx = await load_context(session, at, self.other_unit)
        self._ctx, self._version, self._loaded = ctx, version, now
        self._loads_version, self._recounted = loads_version, now
        self.loads += 1
        return ctx


def rank(
    ctx: MatchContext,
    clinician: Person,
    involved: set[str],
    skip: Mapping[str, str] | None = None,
) -> Match:
    """Candidates for one clinician, best first; never anyone involved in the incident.

    Runs once per page over every on-call peer, so the loop reads plain locals: the
    clinician's ORM attributes and Counter misses cost more than the rules themselves.
    `skip` names peers a batch found unavailable (busy elsewhere, no longer a peer), with
    the words the coordinator's page gives for them.
    """
    skip = skip or {}
    match = Match(
        explain=lambda peer, i, total, load: reason_for(ctx, peer, clinician, i, total, load)
    )
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
        if sid in skip:
            match.excluded[skip[sid]] += 1
            continue
        n_open = open_cases.get(sid, 0)
        why_not = excluded_by(peer, me, unit, discipline, involved, today, n_open, require_other)
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


def excluded_by(
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
    if peer.unreachable is not None:
        return f"cannot be texted ({peer.unreachable})"
    if peer.trained_until < today:
        return "training expired"
    if not covers(peer.supports, discipline):
        return f"not supporting {discipline}"
    if n_open >= peer.max_open_cases:
        return AT_LIMIT
    if require_other and peer.home_unit == unit:
        return "from the clinician's unit"
    return None


def reason_for(
    ctx: MatchContext,
    peer: Peer,
    clinician: Person,
    i: int,
    total: int,
    load: tuple[int, int] | None,
) -> str:
    n_open, limit = (
        load if load is not None else (ctx.open_cases[peer.staff_id], peer.max_open_cases)
    )
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
        f"{n_open}/{limit} open cases, "
        f"{ctx.recent_pages[peer.staff_id]} pages in 7 days"
    )
