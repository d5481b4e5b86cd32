"""One response per event: which incident a feed record belongs to.

Why: one bad night reaches us several times. The code-team system posts the activation at
once, a nurse files an incident report an hour later, and the ADT system sends the death
message when the patient is discharged as expired. Each feed is right to send its record;
if each became an incident, the same clinicians would be paged three times for one event,
which is the duplicate paging users complain about most. So every record, after its staff
are resolved to staff ids, is matched against the open incidents before anything else
happens, and a record that adds clinicians brings them into the existing incident's cases.

The rule, applied in this order:

1. **Same source record: linked.** A record whose (source, feed, record_id) is already
   linked to an incident IS that incident: a replay after a crash, a webhook retried, a
   FHIR resource updated under the same id. Its staff not yet on the incident are added
   (none for a plain replay). An HL7 A08 after an A03 carries a new control id, so it is
   not this case but rule 2's.
2. **Same event: joined.** Otherwise a candidate incident is one on the same unit (compared
   without case or surrounding blanks: "ICU" and "icu " are one unit) whose time is
   within the window of the record's time (default 12 hours, either side), and which
   shares at least one staff id with the record, or where either side names no staff (a
   code blue posted without its team, a report naming nobody: nothing says it is another
   event). The times compared are the events' own times, never when the records arrived:
   a report filed the next morning is still about 02:10.
3. **Several candidates: the best, or the coordinator.** The candidate sharing the most
   staff wins, then the one nearest in time. A tie neither breaks is not guessed: the
   result is `ambiguous` and lists the tied incidents, and the coordinator decides on the
   board.
4. **No candidate: new.** The record starts an incident of its own.

A record without a unit never joins by rule 2: "same event" rests on the unit, and without
it a shared clinician (who works many shifts) is too weak a sign. It is `ambiguous`,
listing the incidents within the window that share staff with it (perhaps none), so the
coordinator places it. Rule 1 still applies to it.

Example, the night from issue 12 (window 12 h, all on ICU):

- 02:10 code blue, team A, B. No incident yet: **new** incident X with A, B.
- Report for 02:05 naming B, C. X is 5 min away and shares B: **joined** X, adds C.
- 03:40 death ADT naming A, D. X shares A: **joined** X, adds D.
- The ADT delivered again: its (hl7v2, feed, control id) is on X: **linked** X, adds nobody.
- 03:40 on 5W naming A: another unit, so **new**, although A is on X.
- ICU at 16:30 next day: outside the window of X's 02:10, so **new**.

Why "why" holds counts, units and times but no staff id or record id: it is shown on the
board, and the board shows what the decision rests on, not who.

An incident's time is the one the store gives with the candidate; the store should keep
the earliest of its records' times (the event began then), so the window is measured from
the start of the event and a chain of late records cannot drag an incident forward.

Pure code: the store gives the candidates (the incidents in the window, with their links)
and keeps the result; nothing here reads a clock, a database or a broker.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from schemas.events import HarmLevel, IncidentType
from services.feeds.record import FeedRecord, Source

DEFAULT_WINDOW = timedelta(hours=12)


class SourceLink(NamedTuple):
    """One source record an incident was made from: the key of rule 1."""

    source: Source
    feed: str
    record_id: str


def _aware(value: datetime, what: str) -> datetime:
    """A naive time compared with an aware one raises deep inside a sort; refusing it
    where it enters names the culprit."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must carry its UTC offset")
    return value


def unit_key(unit: str | None) -> str | None:
    """Feeds spell one unit differently ("ICU", "icu"); a blank unit is no unit."""
    if unit is None:
        return None
    key = unit.strip().casefold()
    return key or None


@dataclass(frozen=True)
class Arrival:
    """The new record after staff resolution: only what matching needs."""

    source: Source
    feed: str
    record_id: str
    occurred_at: datetime
    unit: str | None
    event_type: IncidentType
    harm_level: HarmLevel
    staff_ids: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        _aware(self.occurred_at, "occurred_at")
        object.__setattr__(self, "source", Source(self.source))
        object.__setattr__(self, "staff_ids", frozenset(self.staff_ids))

    @property
    def link(self) -> SourceLink:
        return SourceLink(self.source, self.feed, self.record_id)

    @classmethod
    def of(cls, record: FeedRecord, staff_ids: Iterable[str]) -> Arrival:
        """A FeedRecord with the staff ids its StaffRefs resolved to (resolution is the
        directory's job, before matching)."""
        return cls(
            source=record.source,
            feed=record.feed,
            record_id=record.record_id,
            occurred_at=record.occurred_at,
            unit=record.unit,
            event_type=record.event_type,
            harm_level=record.harm_level,
            staff_ids=frozenset(staff_ids),
        )


@dataclass(frozen=True)
class Candidate:
    """An incident from the store, as matching sees it."""

    incident_id: uuid.UUID
    unit: str | None
    occurred_at: datetime
    staff_ids: frozenset[str] = frozenset()
    links: frozenset[SourceLink] = frozenset()

    def __post_init__(self) -> None:
        _aware(self.occurred_at, "occurred_at")
        object.__setattr__(self, "staff_ids", frozenset(self.staff_ids))
        # The store hands plain rows back: (source, feed, record_id) as text.
        links = frozenset(SourceLink(Source(s), f, r) for s, f, r in self.links)
        object.__setattr__(self, "links", links)


class MatchKind(enum.StrEnum):
    linked = "linked"  # rule 1: this very source record is already on the incident
    joined = "joined"  # rule 2/3: the same event, another record of it
    ambiguous = "ambiguous"  # the coordinator decides: a tie, or a record without a unit
    new = "new"  # rule 4: an incident of its own


@dataclass(frozen=True)
class Match:
    """What to do with the record. `adds_staff`: its staff not on the incident yet, who join
    that incident's cases (empty unless linked or joined). `candidates`: for `ambiguous`,
    the incidents the coordinator chooses among, best first; empty when a record without a
    unit shares staff with no incident, so the coordinator's only question is whether it
    starts one."""

    kind: MatchKind
    incident_id: uuid.UUID | None
    adds_staff: frozenset[str]
    why: str
    candidates: tuple[uuid.UUID, ...] = field(default=())


def _span(delta: timedelta) -> str:
    minutes = int(abs(delta).total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    if hours and minutes:
        return f"{hours} h {minutes:02d} min"
    return f"{hours} h" if hours else f"{minutes} min"


def _shared(record: Arrival, incident: Candidate) -> int:
    return len(record.staff_ids & incident.staff_ids)


def _staff_fits(record: Arrival, incident: Candidate) -> bool:
    return not record.staff_ids or not incident.staff_ids or _shared(record, incident) > 0


def _rank(record: Arrival, incident: Candidate) -> tuple[int, timedelta]:
    """Lower is better: most shared staff, then nearest in time."""
    return (-_shared(record, incident), abs(incident.occurred_at - record.occurred_at))


def _order(record: Arrival, incidents: Iterable[Candidate]) -> list[Candidate]:
    """Best first; the incident id last only so the listing does not depend on the
    store's row order (it never decides between tied incidents)."""
    return sorted(incidents, key=lambda c: (*_rank(record, c), str(c.incident_id)))


def match(
    record: Arrival, incidents: Iterable[Candidate], window: timedelta = DEFAULT_WINDOW
) -> Match:
    """The incident this record belongs to, by the rule in the module's docstring."""
    if window <= timedelta(0):
        raise ValueError("the matching window must be longer than zero")
    incidents = list(incidents)

    # Rule 1: the same source record.
    holders = _order(record, (c for c in incidents if record.link in c.links))
    if len(holders) == 1:
        (incident,) = holders
        adds = record.staff_ids - incident.staff_ids
        why = f"this {record.source} record is already linked to the incident"
        if adds:
            why += f"; it adds {len(adds)} staff"
        return Match(MatchKind.linked, incident.incident_id, adds, why)
    if holders:  # the store should never allow it; if it did, a human untangles it
        why = f"this {record.source} record is linked to {len(holders)} incidents"
        ids = tuple(c.incident_id for c in holders)
        return Match(MatchKind.ambiguous, None, frozenset(), why, ids)

    near = [
        c
        for c in incidents
        if abs(c.occurred_at - record.occurred_at) <= window and _staff_fits(record, c)
    ]
    unit = unit_key(record.unit)
    if unit is None:
        shortlist = _order(record, (c for c in near if _shared(record, c) > 0))
        why = (
            f"the {record.source} record names no unit, so it cannot be matched by unit; "
            f"{len(shortlist)} incident(s) within {_span(window)} share staff with it"
        )
        ids = tuple(c.incident_id for c in shortlist)
        return Match(MatchKind.ambiguous, None, frozenset(), why, ids)

    # Rule 2: same unit, within the window, staff overlapping (or unknown on a side).
    fits = _order(record, (c for c in near if unit_key(c.unit) == unit))
    if not fits:
        why = f"no incident on {record.unit} within {_span(window)} shares staff with it"
        return Match(MatchKind.new, None, frozenset(), why)

    # Rule 3: the best, unless tied.
    best = _rank(record, fits[0])
    tied = [c for c in fits if _rank(record, c) == best]
    shared, apart = -best[0], _span(best[1])
    if len(tied) > 1:
        why = (
            f"{len(tied)} incidents on {record.unit} fit equally well "
            f"({shared} shared staff, {apart} apart): the coordinator decides"
        )
        ids = tuple(c.incident_id for c in tied)
        return Match(MatchKind.ambiguous, None, frozenset(), why, ids)

    incident = fits[0]
    adds = record.staff_ids - incident.staff_ids
    if shared:
        because = f"shares {shared} staff"
    else:
        because = "no staff named on one side"
    why = f"same unit {record.unit}, {apart} apart, {because}"
    if len(fits) > 1:
        why += f"; best of {len(fits)} candidates"
    if adds:
        why += f"; adds {len(adds)} staff"
    return Match(MatchKind.joined, incident.incident_id, adds, why)
