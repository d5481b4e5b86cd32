"""The tiered response as a state machine: which step may follow which, and nothing else.

RISE-style tiers: Tier 1 (the unit lead checks in), Tier 2 (a trained peer), Tier 3 (an
expedited professional referral, reachable from any open state). Every change goes through
`move`, which checks it, records a transition row and emits CaseStateChanged in the same
transaction, so the store and the topic never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from schemas.events import CaseStateChanged
from services import clock, outbox
from services.cases.models import CaseTransition
from services.logs import log
from services.paging.models import SupportCase


class CaseState(StrEnum):
    """Where a case is in the tiered response; stored as its value in support_cases.state."""

    identified = "identified"
    tier1_notified = "tier1_notified"
    peer_paged = "peer_paged"
    waiting_coordinator = "waiting_coordinator"
    peer_accepted = "peer_accepted"
    clinician_offered = "clinician_offered"
    deferred = "deferred"
    clinician_accepted = "clinician_accepted"
    contact_made = "contact_made"
    follow_up = "follow_up"
    tier3_referred = "tier3_referred"
    opted_out = "opted_out"
    declined = "declined"
    closed = "closed"


S = CaseState

TERMINAL = frozenset({S.declined, S.closed})
OPEN_STATES = frozenset(
    {
        S.identified,
        S.tier1_notified,
        S.peer_paged,
        S.waiting_coordinator,
        S.peer_accepted,
        S.clinician_offered,
        S.deferred,
        S.clinician_accepted,
        S.contact_made,
        S.follow_up,
        S.tier3_referred,
        S.opted_out,
    }
)
# Before the clinician has been offered anything: a decline, an opt-out or a peer's withdrawal
# can still end or reroute outreach here without a word to them being taken back.
BEFORE_OFFER = frozenset(
    {S.identified, S.tier1_notified, S.peer_paged, S.waiting_coordinator, S.peer_accepted}
)
# A peer holds the case: if they withdraw (crisis of their own, STOP), the next peer is paged.
PEER_HOLDS = frozenset({S.peer_accepted, S.clinician_offered, S.deferred, S.clinician_accepted})
ALLOWED: dict[CaseState, frozenset[CaseState]] = {
    # peer_accepted straight from here: a peer's yes to an open page is always taken.
    S.identified: frozenset(
        {S.tier1_notified, S.peer_paged, S.waiting_coordinator, S.peer_accepted}
    ),
    S.tier1_notified: frozenset({S.peer_paged, S.waiting_coordinator, S.peer_accepted}),
    # Re-entering peer_paged is an escalation to the next step.
    S.peer_paged: frozenset({S.peer_paged, S.peer_accepted, S.waiting_coordinator}),
    S.waiting_coordinator: frozenset(
        {S.waiting_coordinator, S.peer_paged, S.peer_accepted, S.closed}
    ),
    S.peer_accepted: frozenset({S.clinician_offered, S.peer_paged}),
    S.clinician_offered: frozenset(
        {S.clinician_accepted, S.deferred, S.declined, S.waiting_coordinator, S.peer_paged}
    ),
    # A second "later" is a new deferral, not an error.
    S.deferred: frozenset(
        {S.clinician_offered, S.declined, S.clinician_accepted, S.deferred, S.peer_paged}
    ),
    S.clinician_accepted: frozenset({S.contact_made, S.follow_up, S.closed, S.peer_paged}),
    S.contact_made: frozenset({S.follow_up, S.closed}),
    S.follow_up: frozenset({S.follow_up, S.closed}),
    S.tier3_referred: frozenset({S.closed}),
    # STOP from the clinician: nobody may text them; the coordinator decides what happens.
    S.opted_out: frozenset({S.closed, S.peer_paged}),
    S.declined: frozenset(),
    S.closed: frozenset(),
}


class IllegalTransition(ValueError):
    pass


def can_move(from_state: str, to_state: str) -> bool:
    if to_state == S.tier3_referred:
        return from_state in OPEN_STATES and from_state != S.tier3_referred
    if to_state == S.closed:  # the coordinator may close any open case
        return from_state in OPEN_STATES
    if to_state == S.declined and from_state in BEFORE_OFFER:
        return True  # "no thanks" before the offer came (after the unit lead asked) is final
    if to_state == S.opted_out:
        return from_state in OPEN_STATES and from_state not in (S.opted_out, S.tier3_referred)
    return to_state in ALLOWED.get(from_state, frozenset())


async def move(session: AsyncSession, case: SupportCase, to_state: CaseState, reason: str) -> None:
    """Change the case's state, with its transition row and event, or refuse."""
    if not can_move(case.state, to_state):
        raise IllegalTransition(f"case {case.id}: {case.state} -> {to_state} is not allowed")
    from_state = case.state
    case.state = to_state
    case.updated_at = clock.now()
    if to_state in TERMINAL:
        case.closed_at = case.updated_at
    session.add(
        CaseTransition(case_id=case.id, from_state=from_state, to_state=to_state, reason=reason)
    )
    await outbox.add(
        session,
        CaseStateChanged(
            case_id=case.id, from_state=from_state, to_state=to_state, reason=reason[:200]
        ),
    )
    log().info("case.moved", case_id=str(case.id), from_state=from_state, to_state=to_state)


def replay(events: Iterable[CaseStateChanged], start: str = S.identified) -> str:
    """A case's state from its events alone; a gap or a reordering is an error, not a guess."""
    state = start
    for e in events:
        if e.from_state != state:
            raise IllegalTransition(f"event {e.event_id} starts from {e.from_state}, not {state}")
        if not can_move(state, e.to_state):
            raise IllegalTransition(f"event {e.event_id}: {state} -> {e.to_state}")
        state = e.to_state
    return state
