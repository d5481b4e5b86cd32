"""From validated FHIR models to FeedRecords: references resolved, codes mapped, staff chosen.

Why a module of its own: this is the part a hospital's quirks change (which identifier, which
code, which participant), and it reads only models fhir.resources has already checked, so it
can be read and changed without the parsing and refusal code around it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import pydantic

from schemas.events import HarmLevel, IncidentType
from services.feeds.fhir_checks import FhirProblem, FhirVersion, IssueCode, Pruned, path
from services.feeds.record import FeedRecord, Problem, Source, StaffRef, merge_staff

if TYPE_CHECKING:  # fhir.py imports this module: the feed's type is named for the checker only
    from services.feeds.fhir import FhirFeed

STAFF_TYPES = frozenset({"Practitioner", "PractitionerRole"})
BUNDLE_TYPES = frozenset({"collection", "transaction", "batch"})
ACTUALITY = frozenset({"actual", "potential"})
STATUS_R5 = frozenset({"in-progress", "completed", "entered-in-error", "unknown"})
ACTUALITY_SYSTEM = "http://hl7.org/fhir/adverse-event-actuality"

UNIT_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _./-]{0,31}$")
# The `Type/id` tail of a literal reference (relative, or absolute on a FHIR server).
REFERENCE_TAIL = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")
HARM_RANK = {
    HarmLevel.unknown: 0,
    HarmLevel.none: 1,
    HarmLevel.mild: 2,
    HarmLevel.moderate: 3,
    HarmLevel.severe: 4,
    HarmLevel.death: 5,
}


@dataclass
class _Scope:
    """Where references of one AdverseEvent are looked up: its contained resources, and
    (in a Bundle) the other entries."""

    contained: dict[str, Any] = field(default_factory=dict)
    dropped_contained: dict[str, str] = field(default_factory=dict)
    entries: dict[str, Any] = field(default_factory=dict)
    dropped_entries: dict[str, str] = field(default_factory=dict)


class Reader:
    def __init__(self, feed: FhirFeed, version: FhirVersion, pruned: Pruned) -> None:
        self.feed = feed
        self.version = version
        self.pruned = pruned
        self.codes = feed.codes()
        self.problems: list[Problem] = []

    def single(self, event: Any) -> list[FeedRecord]:
        record = self.event(event, "AdverseEvent", None, self.scope(event, None, {}))
        return [record] if record is not None else []

    def bundle(self, bundle: Any) -> list[FeedRecord]:
        if bundle.type not in BUNDLE_TYPES:
            self.problems.append(
                FhirProblem(
                    "Bundle.type",
                    "must be collection, transaction or batch",
                    IssueCode.not_supported,
                )
            )
            return []
        entries: dict[str, Any] = {}
        for entry in bundle.entry or []:
            if entry.resource is None:
                continue
            if entry.fullUrl:
                entries[entry.fullUrl] = entry.resource
            if entry.resource.id:
                entries[f"{entry.resource.get_resource_type()}/{entry.resource.id}"] = (
                    entry.resource
                )
        originals = self.pruned.kept.get(("entry",), [])
        records: list[FeedRecord] = []
        seen_event = False
        for index, entry in enumerate(bundle.entry or []):
            resource = entry.resource
            if resource is None or resource.get_resource_type() != "AdverseEvent":
                continue
            seen_event = True
            number = originals[index] if index < len(originals) else index
            scope = self.scope(resource, index, entries)
            record = self.event(resource, f"Bundle.entry[{number}].resource", entry.fullUrl, scope)
            if record is not None:
                records.append(record)
        if not seen_event:
            self.problems.append(
                FhirProblem("Bundle.entry", "holds no AdverseEvent", IssueCode.required)
            )
        return records

    def scope(self, event: Any, entry: int | None, entries: dict[str, Any]) -> _Scope:
        contained = {r.id: r for r in event.contained or [] if r.id}
        dropped = {
            cid: kind for (e, cid), kind in self.pruned.dropped_contained.items() if e == entry
        }
        return _Scope(contained, dropped, entries, self.pruned.dropped_entries)

    # -- one AdverseEvent

    def event(self, ev: Any, at: str, full_url: str | None, scope: _Scope) -> FeedRecord | None:
        before = len(self.problems)
        if ev.actuality not in ACTUALITY:
            self.problems.append(FhirProblem(f"{at}.actuality", "must be actual or potential"))
        if self.version.is_r5 and ev.status not in STATUS_R5:
            self.problems.append(
                FhirProblem(
                    f"{at}.status",
                    "must be in-progress, completed, entered-in-error or unknown",
                )
            )
        if self.version.is_r5 and ev.status == "entered-in-error":
            return None
        record_id = self.record_id(ev, at, full_url)
        occurred = self.occurred_at(ev, at)
        staff = self.staff(ev, at, scope)
        unit = self.unit(ev, scope)
        harm, raw_harm = self.harm(ev)
        event_type, raw_event = self.event_type(ev, harm)
        if len(self.problems) > before or record_id is None or occurred is None:
            return None
        try:
            return FeedRecord(
                source=Source.fhir,
                feed=self.feed.name,
                record_id=record_id,
                occurred_at=occurred,
                unit=unit,
                event_type=event_type,
                harm_level=harm,
                raw_event=raw_event,
                raw_harm=raw_harm,
                staff=staff,
            )
        except pydantic.ValidationError as exc:
            # Every field was checked above; this is a last guard, told without values.
            for err in exc.errors(include_url=False):
                self.problems.append(
                    FhirProblem(at, f"gives {path('', err['loc'])[1:]} we cannot keep")
                )
            return None

    def record_id(self, ev: Any, at: str, full_url: str | None) -> str | None:
        if ev.id:
            return ev.id
        identifiers = ev.identifier if isinstance(ev.identifier, list) else [ev.identifier]
        for ident in identifiers:
            if ident is not None and ident.value:
                value = f"{ident.system}|{ident.value}" if ident.system else ident.value
                if len(value) <= 128:
                    return value
                if len(ident.value) <= 128:
                    return ident.value
        if full_url and len(full_url) <= 128:
            return full_url
        self.problems.append(
            FhirProblem(f"{at}.id", "needs an id, an identifier or a fullUrl", IssueCode.required)
        )
        return None

    def occurred_at(self, ev: Any, at: str) -> datetime | None:
        if self.version.is_r5:
            element = f"{at}.occurrence[x]"
            candidates: list[Any] = [ev.occurrenceDateTime]
            if ev.occurrencePeriod is not None:
                candidates.append(ev.occurrencePeriod.start)
            if ev.occurrenceTiming is not None and ev.occurrenceTiming.event:
                candidates.append(ev.occurrenceTiming.event[0])
        else:
            element = f"{at}.date"
            candidates = [ev.date]
        candidates.append(ev.detected)
        value = next((c for c in candidates if c is not None), None)
        if value is None:
            self.problems.append(
                FhirProblem(element, "is required: when the event occurred", IssueCode.required)
            )
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            kind = "a date" if isinstance(value, date) else "a time"
            self.problems.append(
                FhirProblem(element, f"gives {kind} without a time of day and UTC offset")
            )
            return None
        return value

    # -- codes

    def harm(self, ev: Any) -> tuple[HarmLevel, str | None]:
        if ev.actuality == "potential":
            return HarmLevel.none, f"{ACTUALITY_SYSTEM}|potential"
        concepts: list[Any] = [ev.seriousness]
        concepts += ev.outcome if isinstance(ev.outcome, list) else [ev.outcome]
        if not self.version.is_r5:
            concepts.append(ev.severity)
        best, raw, first = HarmLevel.unknown, None, None
        for system, code in _codings(concepts):
            first = first or _raw(system, code)
            level = self.codes.harm.get((system, code))
            if level is not None and HARM_RANK[level] > HARM_RANK[best]:
                best, raw = level, _raw(system, code)
        return best, raw or first

    def event_type(self, ev: Any, harm: HarmLevel) -> tuple[IncidentType, str | None]:
        main = ev.code if self.version.is_r5 else ev.event
        first = None
        for concepts in ([main], list(ev.category or [])):
            for system, code in _codings(concepts):
                first = first or _raw(system, code)
                mapped = self.codes.event.get((system, code))
                if mapped is not None:
                    return mapped, _raw(system, code)
        return self.codes.when_no_event_code.get(harm, IncidentType.other), first

    # -- unit

    def unit(self, ev: Any, scope: _Scope) -> str | None:
        ref = ev.location
        if ref is None:
            return None
        target = _resolve(ref, scope)
        value: str | None = None
        if target is not None and not isinstance(target, str):
            if self.feed.unit_system:
                value = next(
                    (
                        i.value
                        for i in target.identifier or []
                        if i.system == self.feed.unit_system and i.value
                    ),
                    None,
                )
            value = value or target.name
        elif ref.identifier is not None and self.feed.unit_system:
            if ref.identifier.system == self.feed.unit_system:
                value = ref.identifier.value
        if value and UNIT_CODE.match(value.strip()):
            return value.strip()
        return None

    # -- staff

    def staff(self, ev: Any, at: str, scope: _Scope) -> tuple[StaffRef, ...]:
        involved: list[tuple[str, Any, str | None]] = []
        if self.version.is_r5:
            for i, participant in enumerate(ev.participant or []):
                role = next((code for _, code in _codings([participant.function])), None)
                involved.append((f"{at}.participant[{i}].actor", participant.actor, role))
        else:
            for i, ref in enumerate(ev.contributor or []):
                involved.append((f"{at}.contributor[{i}]", ref, None))
        people = (self.person(where, ref, role, scope) for where, ref, role in involved)
        return merge_staff(p for p in people if p is not None)

    def person(self, where: str, ref: Any, role: str | None, scope: _Scope) -> StaffRef | None:
        target = _resolve(ref, scope)
        kind = target if isinstance(target, str) else None
        if target is not None and not isinstance(target, str):
            kind = target.get_resource_type()
        kind = kind or _declared_type(ref)
        if kind is not None and kind not in STAFF_TYPES:
            return None  # a Device, an Organization, the patient: not staff, not read
        if target is not None and not isinstance(target, str):
            return self.from_resource(where, target, role, scope)
        if ref.identifier is not None:
            if kind is None:
                self.problems.append(
                    FhirProblem(
                        f"{where}.type",
                        "is required for a reference by identifier "
                        "(Practitioner or PractitionerRole)",
                        IssueCode.required,
                    )
                )
                return None
            return self.make(where, [ref.identifier], role or _default_role(self.version))
        if ref.reference:
            why = (
                "cannot be resolved: put the Practitioner in the Bundle or contain it, "
                "or give the reference an identifier"
            )
        else:
            why = "names no one we can read: give a reference or an identifier"
        self.problems.append(FhirProblem(where, why, IssueCode.required))
        return None

    def from_resource(
        self, where: str, target: Any, role: str | None, scope: _Scope
    ) -> StaffRef | None:
        identifiers = list(target.identifier or [])
        if target.get_resource_type() == "PractitionerRole":
            role = role or next((code for _, code in _codings(target.code or [])), None)
            practitioner = target.practitioner
            if practitioner is not None:
                person = _resolve(practitioner, scope)
                if person is not None and not isinstance(person, str):
                    identifiers = list(person.identifier or []) + identifiers
                elif practitioner.identifier is not None:
                    identifiers = [practitioner.identifier, *identifiers]
        return self.make(where, identifiers, role or _default_role(self.version))

    def make(self, where: str, identifiers: Sequence[Any], role: str | None) -> StaffRef | None:
        usable = [i for i in identifiers if i is not None and i.value and i.use != "old"]
        chosen = None
        for system in self.feed.staff_systems:
            chosen = next((i for i in usable if i.system == system), None)
            if chosen is not None:
                break
        chosen = chosen or (usable[0] if usable else None)
        if chosen is None:
            self.problems.append(
                FhirProblem(where, "names a practitioner without an identifier", IssueCode.required)
            )
            return None
        if len(chosen.value) > 64 or (chosen.system and len(chosen.system) > 200):
            self.problems.append(FhirProblem(where, "has an identifier too long to keep"))
            return None
        return StaffRef(value=chosen.value, system=chosen.system, role=(role or None) and role[:64])


def _default_role(version: FhirVersion) -> str | None:
    return None if version.is_r5 else "contributor"


def _codings(concepts: Iterable[Any]) -> Iterator[tuple[str, str]]:
    """(system, code) of every coding; a concept's text and a coding's display are free
    text and never read."""
    for concept in concepts:
        if concept is None:
            continue
        for coding in concept.coding or []:
            if coding.code:
                yield coding.system or "", coding.code


def _raw(system: str, code: str) -> str:
    return (f"{system}|{code}" if system else code)[:200]


def _declared_type(ref: Any) -> str | None:
    if ref.type:
        return str(ref.type).rsplit("/", 1)[-1]
    if ref.reference:
        match = REFERENCE_TAIL.search(ref.reference)
        if match:
            return match.group(1)
    return None


def _resolve(ref: Any, scope: _Scope) -> Any:
    """The resource a reference points to (a model), the type of a dropped resource it
    points to (a str), or None when it points nowhere we can see."""
    target = ref.reference
    if not target:
        return None
    if target.startswith("#"):
        key = target[1:]
        return scope.contained.get(key) or scope.dropped_contained.get(key)
    if target in scope.entries:
        return scope.entries[target]
    if target in scope.dropped_entries:
        return scope.dropped_entries[target]
    match = REFERENCE_TAIL.search(target)
    if match:
        key = f"{match.group(1)}/{match.group(2)}"
        return scope.entries.get(key) or scope.dropped_entries.get(key)
    return None
