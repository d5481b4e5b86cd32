"""Coverage: for each discipline the programme supports, the spans in a window when nobody
on call could be matched to a clinician of that discipline.

Built from the schedules' spans (`shifts_of_all`, the same resolution paging uses) and the
peers matching would consider (`load_context`: active, not paused, textable), with the same
rules for "supports" and "training current" as matching (`covers`, `training_ends`). No loop
over hours: each discipline's covering spans are merged and the holes read off.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.people.matching import Peer, covers, training_ends
from services.people.models import DISCIPLINES, Staff
from services.people.roster import PeerOut
from services.schedules.rules import Shift


@dataclass(frozen=True)
class Gap:
    discipline: str
    starts_at: datetime
    ends_at: datetime
    # True when nobody covers the discipline at any moment of the window.
    whole_window: bool


def gaps(
    shifts: Iterable[Shift],
    peers: Mapping[str, Peer],
    disciplines: Iterable[str],
    start: datetime,
    end: datetime,
) -> list[Gap]:
    """Holes in [start, end) per discipline, in the order `disciplines` gives, then by time.

    A span counts for a discipline when its person is a peer matching would consider, who
    supports the discipline, while their training holds. Several schedules may put the same
    or different people on call: their spans are simply merged.
    """
    spans = list(shifts)
    found: list[Gap] = []
    for discipline in disciplines:
        covering = sorted(
            (max(s.starts_at, start), min(s.ends_at, end, training_ends(p.trained_until)))
            for s in spans
            if (p := peers.get(s.staff_id)) is not None
            and p.unreachable is None
            and covers(p.supports, discipline)
        )
        holes: list[tuple[datetime, datetime]] = []
        reached = start
        for lo, hi in covering:
            if hi <= lo:
                continue
            if lo > reached:
                holes.append((reached, lo))
            reached = max(reached, hi)
        if reached < end:
            holes.append((reached, end))
        found.extend(
            Gap(discipline, lo, hi, whole_window=(lo, hi) == (start, end)) for lo, hi in holes
        )
    return found


async def programme_disciplines(session: AsyncSession, roster: Iterable[PeerOut]) -> list[str]:
    """The disciplines the programme supports: those some peer on the roster (paused or not,
    so a discipline whose only peer is paused still shows as a gap) supports, an empty list
    meaning all, that some active member of staff holds: a hospital without midwives is not
    warned about midwives."""
    supported: set[str] = set()
    for peer in roster:
        if peer.staff_active:
            supported.update(peer.supports or DISCIPLINES)
    held = set(await session.scalars(select(Staff.discipline).where(Staff.active).distinct()))
    return [d for d in DISCIPLINES if d in supported and d in held]
