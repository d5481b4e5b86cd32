"""Pages for a batch of cases, written with a handful of set-based statements.

Why a batch: a burst (a mass casualty and hundreds of ordinary incidents in a second) must
page hundreds of clinicians' peers a second on two cores. Case by case, a first page cost
about 58 database round trips; here a batch of any size costs a handful (the incident
path: six, opening the cases included), and a batch of one is the same code
(outreach.start_outreach, the coordinator's "reassign", an escalation).

What one call does, in the caller's transaction:
    lock the cases still waiting for a page, and read what outreach decides them on
        (lock_cases, case_inputs: two statements; none for cases the caller just opened)
    Tier 1: prompt each unit lead once per incident    (tier1.py: none without leads)
    match every case against one context, in memory  (people.assign.Ranker, no queries;
        the worker keeps its context, units and policies while the store's counters hold)
    the store decides case limits: lock the chosen peers' rows and count their load
        (two statements a round; a round repeats only when a count disagreed)
    reply codes per phone                            (two statements)
    pages born claimed, their transitions, the cases' moves and transitions, the escalation
        deadlines and every event                    (Writes.flush: one statement)

Pages are born `sending` (claimed by this process): the caller sends them right after its
commit (services.paging.sending). A crash before the send leaves a claim that goes stale and
is reconciled against the provider's log, like any other.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import lru_cache

from sqlalchemy import TextClause, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.events import CaseStateChanged, Event, PageRequested
from services import outbox, texts
from services.cases import outbound
from services.cases.machine import CaseState, can_move
from services.cases.policies import Policies, coordinator_reason_none, coordinator_reason_policy
from services.cases.refs import case_ref
from services.config import Settings
from services.db import fetch, insert_from_json, rows_json
from services.logs import log
from services.paging.codes import next_code, reply_codes
from services.paging.models import PageState, SupportCase
from services.people.assign import Ask, assign
from services.people.matching import Match, MatchContext
from services.people.models import Person, StaffView, Unit
from services.sealing import Keyring, keyring_of


@dataclass
class Wanted:
    """One case that needs its next page: who it is for and where the policy stands."""

    case_id: uuid.UUID
    incident_id: uuid.UUID
    clinician: Person
    from_state: str
    step: int
    round_: int
    # Everyone who may not be this case's peer: the incident's staff and peers paged before.
    exclude: set[str]
    attempt: int
    peers_paged: int
    why: str | None = None  # the case move's reason; None: the usual words for the step

    @classmethod
    def after(
        cls,
        case_id: uuid.UUID,
        incident_id: uuid.UUID,
        clinician: Person,
        from_state: str,
        step: int,
        round_: int,
        involved: set[str],
        earlier: list[tuple[str | None, int]],
    ) -> Wanted:
        """The case's next page after its pages so far (peer, attempt): the next attempt's
        number, and no peer paged for the case before."""
        peers = {peer for peer, _ in earlier if peer is not None}
        return cls(
            case_id=case_id,
            incident_id=incident_id,
            clinician=clinician,
            from_state=from_state,
            step=step,
            round_=round_,
            exclude=involved | peers,
            attempt=max((a for _, a in earlier), default=0) + 1,
            peers_paged=sum(1 for peer, _ in earlier if peer is not None),
        )


@dataclass(frozen=True)
class NewPage:
    page_id: uuid.UUID
    case_id: uuid.UUID
    to_number: str
    reply_code: str
    peer_staff_id: str | None
    body: str = ""


@dataclass(frozen=True)
class Bundle:
    """One SMS carrying one or more pages to the same phone (GoAlert's rule: a peer paged
    for five colleagues at once gets one message with five codes, not five)."""

    to_number: str
    body: str
    pages: tuple[NewPage, ...]
    since: datetime
    reclaimed: bool = False


@dataclass
class Writes:
    """Rows a batch accumulates, written at the end with one statement per table."""

    at: datetime
    # Pages born claimed by the caller, who sends them after commit; else left `requested`
    # for the pager to claim.
    claim: bool = False
    case_moves: list[dict[str, object]] = field(default_factory=list)
    case_transitions: list[dict[str, object]] = field(default_factory=list)
    pages: list[dict[str, object]] = field(default_factory=list)
    page_transitions: list[dict[str, object]] = field(default_factory=list)
    deadlines: list[dict[str, object]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    def move(self, case_id: uuid.UUID, from_state: str, to_state: CaseState, reason: str) -> None:
        if not can_move(from_state, to_state):
            raise ValueError(f"case {case_id}: {from_state} -> {to_state} is not allowed")
        self.case_transitions.append(
            {
                "case_id": case_id,
                "from_state": from_state,
                "to_state": to_state.value,
                "reason": reason[:200],
                "at": self.at,
            }
        )
        self.events.append(
            CaseStateChanged(
                case_id=case_id, from_state=from_state, to_state=to_state, reason=reason[:200]
            )
        )

    async def flush(self, session: AsyncSession) -> None:
        """Everything the batch wrote, in one statement (one data-modifying CTE per table):
        one round trip, where a statement per table was six."""
        parts: list[str] = []
        params: dict[str, object] = {}

        def add(table: str, columns: dict[str, str], rows: list[dict[str, object]]) -> None:
            if rows:
                name = f"w{len(parts)}"
                parts.append(f"{name} AS ({insert_from_json(table, columns, name)})")
                params[name] = rows_json(rows)

        add("pages", PAGE_COLUMNS, sealed_pages(self.pages, keyring_of(session)))
        add("page_transitions", PAGE_TRANSITION_COLUMNS, self.page_transitions)
        add("case_transitions", CASE_TRANSITION_COLUMNS, self.case_transitions)
        add("deadlines", DEADLINE_COLUMNS, self.deadlines)
        add("outbox", outbox.COLUMNS, outbox.rows(self.events))
        if self.case_moves:
            parts.append(
                "moved AS (UPDATE support_cases AS c SET state = m.state, "
                "escalation_step = m.step, escalation_round = m.round, updated_at = m.at "
                "FROM jsonb_to_recordset(CAST(:moves AS jsonb)) "
                "AS m(id uuid, state text, step int, round int, at timestamptz) "
                "WHERE c.id = m.id)"
            )
            params["moves"] = rows_json(self.case_moves)
        if not parts:
            return
        await fetch(session, _flush_statement(tuple(parts), bool(self.events)), params)
        if self.case_moves:
            moved = {m["id"] for m in self.case_moves}
            for obj in list(session.identity_map.values()):
                if isinstance(obj, SupportCase) and obj.id in moved:
                    await session.refresh(obj)  # the ORM's copy is older than the row now


@lru_cache(maxsize=64)
def _flush_statement(parts: tuple[str, ...], wake: bool) -> TextClause:
    """One statement object per shape of batch (which tables it writes): built once, its
    compiled form reused. The relay is woken at commit, as outbox.add does it."""
    notify = f"SELECT pg_notify('{outbox.CHANNEL}', '')" if wake else "SELECT 1"
    return text(f"WITH {', '.join(parts)} {notify}")


PAGE_COLUMNS = {
    "id": "uuid",
    "case_id": "uuid",
    "attempt": "int",
    "peer_staff_id": "text",
    "to_number": "text",
    "to_number_key": "text",
    "reply_code": "text",
    "reason": "text",
    "state": "text",
    "requested_at": "timestamptz",
    "claimed_at": "timestamptz",
    "sent_body": "text",
}


def sealed_pages(rows: list[dict[str, object]], keys: Keyring) -> list[dict[str, object]]:
    """Page rows as the store keeps them: number and text sealed, the number's lookup beside
    it (services.sealing). The batch's own rows keep the clear values its sends use."""
    out = []
    for row in rows:
        number, body = str(row["to_number"]), row["sent_body"]
        out.append(
            row
            | {
                "to_number": keys.seal(number, "pages.to_number"),
                "to_number_key": keys.lookup(number),
                "sent_body": None if body is None else keys.seal(str(body), "pages.sent_body"),
            }
        )
    return out


PAGE_TRANSITION_COLUMNS = {
    "page_id": "uuid",
    "state": "text",
    "at": "timestamptz",
    "detail": "jsonb",
}
CASE_TRANSITION_COLUMNS = {
    "case_id": "uuid",
    "from_state": "text",
    "to_state": "text",
    "reason": "text",
    "at": "timestamptz",
}
DEADLINE_COLUMNS = {"case_id": "uuid", "kind": "text", "due_at": "timestamptz", "payload": "jsonb"}


@dataclass(frozen=True)
class LockedCase:
    id: uuid.UUID
    incident_id: uuid.UUID
    staff_id: str
    state: str
    step: int
    round_: int


async def lock_cases(
    session: AsyncSession, case_ids: Sequence[uuid.UUID], *, skip_locked: bool = False
) -> dict[uuid.UUID, LockedCase]:
    """Lock the cases in id order (every locker of several cases uses it, so two batches
    cannot deadlock), with what the caller decides on. With `skip_locked`, cases another
    transaction holds are left out (the deadline engine: it holds deadline rows, which a
    person's action on a case locks after the case, so waiting could close a cycle)."""
    rows = await session.execute(LOCK_CASES[skip_locked], {"ids": list(case_ids)})
    return {r[0]: LockedCase(*r) for r in rows.all()}


LOCK_CASES = {
    skip: text(
        "SELECT id, incident_id, staff_id, state, escalation_step, escalation_round "
        "FROM support_cases WHERE id = ANY(:ids) ORDER BY id FOR UPDATE"
        + (" SKIP LOCKED" if skip else "")
    )
    for skip in (True, False)
}


@dataclass(frozen=True)
class CaseInputs:
    """What outreach decides a locked case on, read in one statement with the store's
    match-input counters (so a kept matching context is checked without one of its own)."""

    case: LockedCase
    clinician: Person
    # The incident's staff (named, or proposed and not removed): never this case's peer.
    involved: set[str]
    earlier: list[tuple[str | None, int]]  # the case's pages so far: (peer, attempt)
    versions: tuple[int, int]  # match_inputs (version, loads_version)


CASE_INPUTS = text(
    "SELECT c.id, c.incident_id, c.state, c.escalation_step, c.escalation_round, "
    "s.staff_id, s.display_name, s.discipline, s.role, s.home_unit, "
    "s.mobile_e164, s.language, s.opted_out, s.active, "
    "ARRAY(SELECT unnest(i.staff_ids) UNION SELECT v.staff_id FROM involvement v "
    "WHERE v.incident_id = c.incident_id AND v.status <> 'removed') AS involved, "
    "ARRAY(SELECT p.peer_staff_id FROM pages p WHERE p.case_id = c.id ORDER BY p.id), "
    "ARRAY(SELECT p.attempt FROM pages p WHERE p.case_id = c.id ORDER BY p.id), "
    "m.version, m.loads_version "
    "FROM support_cases c JOIN staff s ON s.staff_id = c.staff_id "
    "LEFT JOIN incidents i ON i.id = c.incident_id CROSS JOIN match_inputs m "
    "WHERE c.id = ANY(:ids) ORDER BY c.id"
)


async def case_inputs(
    session: AsyncSession, case_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, CaseInputs]:
    """For cases this transaction holds (locked, or opened by it): the case, the clinician,
    the incident's staff, the case's pages so far and the match-input counters, in one
    statement (it was six: the clinicians, two for the involved, the pages, the counter).
    After the lock, not with it: it must read what the lock may have waited for."""
    rows = await session.execute(CASE_INPUTS, {"ids": list(case_ids)})
    keys = keyring_of(session)
    found: dict[uuid.UUID, CaseInputs] = {}
    for r in rows.all():
        case = LockedCase(r[0], r[1], r[5], r[2], r[3], r[4])
        clinician = StaffView.of(r[5:14], keys)  # the staff columns, in StaffView.of's order
        earlier = list(zip(r[15] or [], r[16] or [], strict=True))
        found[r[0]] = CaseInputs(case, clinician, set(r[14] or ()), earlier, (r[17], r[18]))
    return found


EARLIER_PAGES = text("SELECT case_id, peer_staff_id, attempt FROM pages WHERE case_id = ANY(:ids)")


async def earlier_pages(
    session: AsyncSession, case_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, list[tuple[str | None, int]]]:
    """Each case's pages so far (peer, attempt): the next attempt's number, and the peers
    not to page again for it."""
    ids = list(set(case_ids))
    found: dict[uuid.UUID, list[tuple[str | None, int]]] = {i: [] for i in ids}
    rows = await session.execute(EARLIER_PAGES, {"ids": ids})
    for case_id, peer, attempt in rows.all():
        found[case_id].append((peer, attempt))
    return found


async def all_units(session: AsyncSession) -> dict[str, Unit]:
    return {u.code: u for u in (await session.scalars(select(Unit))).all()}


def log_pages(pages: Iterable[NewPage]) -> None:
    for p in pages:
        log().info(
            "page.requested",
            case_id=str(p.case_id),
            page_id=str(p.page_id),
            to_coordinator=p.peer_staff_id is None,
        )


def deadline_row(
    case_id: uuid.UUID, kind: str, due_at: datetime, **payload: object
) -> dict[str, object]:
    return {"case_id": case_id, "kind": kind, "due_at": due_at, "payload": payload}


async def page_cases(
    session: AsyncSession,
    wanted: list[Wanted],
    ctx: MatchContext,
    settings: Settings,
    units: dict[str, Unit],
    policies: Policies,
    writes: Writes,
) -> list[NewPage]:
    """Each case's next page as its policy step says: the best peer under limit, else the
    coordinator (with why), born claimed, with its deadline for an answer."""
    plan: list[tuple[Wanted, str, float]] = []
    asks: list[Ask] = []
    for w in wanted:
        unit = units.get(w.clinician.home_unit)
        step = policies.for_site(unit.site if unit else None).steps[w.step]
        target = str(step.get("target", "peer"))
        plan.append((w, target, float(str(step.get("wait_minutes", 5)))))
        if target == "peer":
            asks.append(Ask(w.case_id, w.clinician, frozenset(w.exclude)))
    assigned = await assign(session, ctx, asks) if asks else None
    picks = assigned.picks if assigned is not None else {}
    # What a page's text needs of its peer (their language) is in the context already.
    peers: dict[str, Person] = {}
    for pick in picks.values():
        peer = ctx.by_id.get(pick.chosen.staff_id) if pick.chosen is not None else None
        if peer is not None:
            peers[peer.staff_id] = StaffView(
                staff_id=peer.staff_id,
                display_name="",
                discipline=peer.discipline,
                home_unit=peer.home_unit,
                mobile_e164=peer.mobile,
                language=peer.language,
            )
    rows: list[tuple[Wanted, str | None, str, str, float]] = []
    for w, _target, wait in plan:
        pick = picks.get(w.case_id)
        if pick is not None and pick.chosen is not None:
            c = pick.chosen
            rows.append((w, c.staff_id, c.mobile, c.reason, wait))
        elif pick is not None:
            rows.append((w, None, settings.coordinator_number, reason_none(pick.match), wait))
        else:
            why = coordinator_reason_policy(w.peers_paged)
            rows.append((w, None, settings.coordinator_number, why, wait))
    numbers = {number for _, _, number, _, _ in rows}
    # The peers' numbers were locked and their codes read with the peers (assign); the
    # others (the coordinator's) are locked and read here.
    used = dict(assigned.codes) if assigned is not None else {}
    used.update(await reply_codes(session, numbers - used.keys()))
    # A peer's number was checked by matching (a hard rule, from a context as fresh as the
    # counters this transaction read); the store is asked about the others (the
    # coordinator's) only.
    peer_numbers = {number for _, peer_id, number, _, _ in rows if peer_id is not None}
    blocked = await outbound.unreachable(session, numbers - peer_numbers)
    at = writes.at
    pages: list[NewPage] = []
    for w, peer_id, number, reason, wait in rows:
        page_id = uuid.uuid4()
        code = next_code(used[number])
        why = blocked.get(number)
        # A number that may not be texted (a coordinator's only by STOP) is not claimed:
        # the pager refuses it and the case moves on, as when Twilio refuses a number.
        refused = why is not None and (peer_id is not None or why is outbound.Unreachable.stop)
        claimed = writes.claim and not refused
        writes.pages.append(
            {
                "id": page_id,
                "case_id": w.case_id,
                "attempt": w.attempt,
                "peer_staff_id": peer_id,
                "to_number": number,
                "reply_code": code,
                "reason": reason,
                "state": PageState.sending if claimed else PageState.requested,
                "requested_at": at,
                "claimed_at": at if claimed else None,
                "sent_body": None,
            }
        )
        writes.page_transitions.append(
            {
                "page_id": page_id,
                "state": PageState.requested,
                "at": at,
                "detail": {"reason": reason},
            }
        )
        if claimed:
            writes.page_transitions.append(
                {
                    "page_id": page_id,
                    "state": PageState.sending,
                    "at": at,
                    "detail": {"reclaimed": False},
                }
            )
        if not refused:
            pages.append(NewPage(page_id, w.case_id, number, code, peer_id))
        to_state = CaseState.peer_paged if peer_id is not None else CaseState.waiting_coordinator
        writes.case_moves.append(
            {"id": w.case_id, "state": to_state.value, "step": w.step, "round": w.round_, "at": at}
        )
        if w.from_state != to_state or w.attempt > 1:
            why_move = w.why or (
                "first page"
                if w.attempt == 1
                else f"escalation step {w.step + 1}, round {w.round_ + 1}"
            )
            if peer_id is None:
                why_move = f"coordinator paged: {reason}"[:200]
            writes.move(w.case_id, w.from_state, to_state, why_move)
        writes.deadlines.append(
            deadline_row(
                w.case_id,
                "page_timeout",
                at + timedelta(minutes=wait),
                page_id=str(page_id),
                step=w.step,
                round=w.round_,
            )
        )
        if peer_id is not None:
            ctx.recent_pages[peer_id] += 1
        writes.events.append(
            PageRequested(
                page_id=page_id,
                case_id=w.case_id,
                attempt=w.attempt,
                peer_staff_id=peer_id,
                reason=reason,
            )
        )
    return await _with_bodies(session, pages, peers, writes)


def reason_none(match: Match) -> str:
    return coordinator_reason_none(match.why_none())


async def _with_bodies(
    session: AsyncSession, pages: list[NewPage], peers: dict[str, Person], writes: Writes
) -> list[NewPage]:
    """Each page's text, fixed before it leaves (a stale claim finds it in the provider's
    log by it): a peer's in their language, several to one phone as one bundled SMS."""
    by_number: dict[str, list[NewPage]] = defaultdict(list)
    out: list[NewPage] = []
    reasons = {r["id"]: str(r["reason"]) for r in writes.pages}
    for p in pages:
        if p.peer_staff_id is None:
            body = texts.coordinator_page(p.reply_code, reasons[p.page_id], case_ref(p.case_id))
            out.append(replace(p, body=body))
        else:
            by_number[p.to_number].append(p)
    for group in by_number.values():
        peer = peers.get(str(group[0].peer_staff_id))
        if len(group) == 1:
            body = await texts.text_for(session, peer, "peer_page", code=group[0].reply_code)
        else:
            codes = [p.reply_code for p in group]
            body = await texts.text_for(
                session,
                peer,
                "bundled_pages",
                codes=", ".join(codes),
                count=len(codes),
                accept="/".join(f"{c}A" for c in codes),
                passes="/".join(f"{c}P" for c in codes),
            )
        out.extend(replace(p, body=body) for p in group)
    bodies = {p.page_id: p.body for p in out}
    for row in writes.pages:
        if row["id"] in bodies:
            row["sent_body"] = bodies[row["id"]]
    return out


def bundle(pages: list[NewPage], since: datetime) -> list[Bundle]:
    """Pages to one phone with one text (bundled above) go as one SMS."""
    groups: dict[tuple[str, str], list[NewPage]] = defaultdict(list)
    for p in pages:
        groups[(p.to_number, p.body)].append(p)
    return [Bundle(n, body, tuple(g), since) for (n, body), g in groups.items()]
