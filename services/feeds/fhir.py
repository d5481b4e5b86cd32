"""FHIR AdverseEvent feed: an AdverseEvent or a Bundle of them in, FeedRecords out.

Why fhir.resources validates: a hospital's FHIR server is told exactly which element of
what it sent is wrong, in FHIR's own terms (an OperationOutcome), and the maintained models
know R4/R4B and R5 better than a hand-written reader would. Why some of what arrives is
dropped before validation: entries and contained resources this feed never reads (Patient,
Encounter, ...) and every narrative are the patient's; their faults are not ours to report,
and nothing of them may reach a record, a refusal or a log.

What is read, and nothing more: the event's id, time, codes (event/code, category,
outcome, seriousness, severity, actuality, status), the Location it names (unit) and the
Practitioners/PractitionerRoles involved (R4 `contributor`, R5 `participant[].actor`), by
their identifiers. `subject` is required by the models and never looked into.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from email.message import Message
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import pydantic
import yaml
from fhir.resources.adverseevent import AdverseEvent as AdverseEventR5
from fhir.resources.bundle import Bundle as BundleR5
from fhir.resources.R4B.adverseevent import AdverseEvent as AdverseEventR4B
from fhir.resources.R4B.bundle import Bundle as BundleR4B

from schemas.events import HarmLevel, IncidentType
from services.feeds.mapfile import NodeReader
from services.feeds.record import FeedRecord, FeedRefused, Problem, Source, StaffRef

_E = TypeVar("_E", bound=enum.StrEnum)

MAPPING_FILE = Path(__file__).parent / "mappings" / "fhir.yaml"

# Resource types this feed reads; any other entry or contained resource is dropped unread.
READ_TYPES = frozenset({"AdverseEvent", "Practitioner", "PractitionerRole", "Location"})
STAFF_TYPES = frozenset({"Practitioner", "PractitionerRole"})
BUNDLE_TYPES = frozenset({"collection", "transaction", "batch"})
ACTUALITY = frozenset({"actual", "potential"})
STATUS_R5 = frozenset({"in-progress", "completed", "entered-in-error", "unknown"})
ACTUALITY_SYSTEM = "http://hl7.org/fhir/adverse-event-actuality"

# Elements only one version has: how a resource says which version it is when the request
# does not. `status` is required in R5, so a resource with neither kind is read as R4/R4B.
R5_ONLY = frozenset(
    {
        "status",
        "code",
        "participant",
        "occurrenceDateTime",
        "occurrencePeriod",
        "occurrenceTiming",
        "note",
        "contributingFactor",
        "preventiveAction",
        "mitigatingAction",
        "supportingInfo",
        "resultingEffect",
        "expectedInResearchStudy",
    }
)
R4_ONLY = frozenset(
    {
        "contributor",
        "event",
        "date",
        "severity",
        "resultingCondition",
        "subjectMedicalHistory",
        "referenceDocument",
    }
)
ELEMENT_NAME = re.compile(r"^_?[a-z][A-Za-z]{0,63}$")
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


class FhirVersion(enum.StrEnum):
    """The versions this feed reads, as the `fhirVersion` MIME parameter names them."""

    r4 = "4.0"
    r4b = "4.3"
    r5 = "5.0"

    @property
    def is_r5(self) -> bool:
        return self is FhirVersion.r5


class IssueCode(enum.StrEnum):
    """OperationOutcome.issue.code values a refusal uses (FHIR issue-type)."""

    invalid = "invalid"
    required = "required"
    not_supported = "not-supported"


@dataclass(frozen=True)
class FhirProblem(Problem):
    """A Problem that also knows its OperationOutcome issue code, so the refusal a FHIR
    sender gets says whether something is missing, wrong or not supported here."""

    code: IssueCode = IssueCode.invalid


@dataclass(frozen=True)
class CodeMapping:
    """Source codes (system, code) to ours; loaded from YAML so a hospital edits it."""

    harm: Mapping[tuple[str, str], HarmLevel]
    event: Mapping[tuple[str, str], IncidentType]
    when_no_event_code: Mapping[HarmLevel, IncidentType]


@dataclass(frozen=True)
class FhirFeed:
    """One configured FHIR feed. `unit_system`: the Location identifier system whose value
    is our unit code (else the Location's name is used). `staff_systems`: the Practitioner
    identifier systems to prefer, most preferred first (else the first identifier)."""

    name: str
    unit_system: str | None = None
    staff_systems: tuple[str, ...] = ()
    mapping: CodeMapping | None = None  # None: the shipped mappings/fhir.yaml

    def codes(self) -> CodeMapping:
        return self.mapping if self.mapping is not None else shipped_mapping()


# --- the code mapping ----------------------------------------------------------------------


def load_mapping(text: str, *, origin: str = "fhir.yaml") -> CodeMapping:
    """Read and check a mapping (services.feeds.mapfile): a key or target we do not know is
    refused with its line, so a typo in a hospital's edit fails at start-up, not on the
    first death; codes stay as written (`405535005` is the string it is in SNOMED CT)."""
    r = NodeReader(origin)
    root = r.compose(text)
    if root is None:
        return CodeMapping(harm={}, event={}, when_no_event_code={})
    harm: dict[tuple[str, str], HarmLevel] = {}
    event: dict[tuple[str, str], IncidentType] = {}
    fallback: dict[HarmLevel, IncidentType] = {}
    for key, section in r.items(root, "").items():
        if key == "harm":
            harm = _code_table(r, section, key, HarmLevel, "a harm level of ours")
        elif key == "event":
            event = _code_table(r, section, key, IncidentType, "an event type of ours")
        elif key == "when_no_event_code":
            for level, node in r.items(section, key).items():
                path = f"{key}.{level}"
                found = r.member(HarmLevel, _key_node(section, level), path, "a harm level of ours")
                target = r.member(IncidentType, node, path, "an event type of ours")
                if found is not None and target is not None:
                    fallback[found] = target
        else:
            r.refuse(section, key, "unknown section (harm, event, when_no_event_code)")
    r.done()
    return CodeMapping(harm=harm, event=event, when_no_event_code=fallback)


def _key_node(mapping: yaml.Node, key: str) -> yaml.Node:
    return next(k for k, _ in mapping.value if k.value == key)


def _code_table(
    r: NodeReader, section: yaml.Node, path: str, kind: type[_E], what: str
) -> dict[tuple[str, str], _E]:
    table: dict[tuple[str, str], _E] = {}
    for system, codes in r.items(section, path).items():
        for code, node in r.items(codes, f"{path}.{system}").items():
            target = r.member(kind, node, f"{path}.{system}.{code}", what)
            if target is not None:
                table[(system, code)] = target
    return table


@cache
def shipped_mapping() -> CodeMapping:
    return load_mapping(MAPPING_FILE.read_text(encoding="utf-8"), origin=str(MAPPING_FILE.name))


# --- versions ------------------------------------------------------------------------------


def version_from_content_type(content_type: str | None) -> str | None:
    """The `fhirVersion` parameter of a Content-Type header, if any
    (`application/fhir+json; fhirVersion=4.0`)."""
    if not content_type:
        return None
    header = Message()
    header["content-type"] = content_type
    value = header.get_param("fhirVersion")
    return value if isinstance(value, str) else None


def parse_version(hint: str) -> FhirVersion | None:
    """`4.0`, `4.0.1`, `4.3`, `4.3.0`, `5.0`, `5.0.0` (major.minor is what counts)."""
    parts = hint.strip().split(".")
    if len(parts) < 2 or not all(p.isdigit() for p in parts[:2]):
        return None
    try:
        return FhirVersion(f"{int(parts[0])}.{int(parts[1])}")
    except ValueError:
        return None


def detect_version(resource: Mapping[str, Any]) -> FhirVersion | None:
    """From an AdverseEvent's own elements; None when it mixes R4 and R5 elements."""
    names = {key.lstrip("_") for key in resource}
    r5 = bool(names & R5_ONLY) or isinstance(resource.get("outcome"), list)
    r4 = bool(names & R4_ONLY) or isinstance(resource.get("outcome"), dict)
    if r5 and r4:
        return None
    return FhirVersion.r5 if r5 else FhirVersion.r4


# --- reading -------------------------------------------------------------------------------


def read(
    body: bytes | str | Mapping[str, Any],
    feed: FhirFeed,
    *,
    fhir_version: str | None = None,
    expect: str | None = None,
) -> list[FeedRecord]:
    """Every AdverseEvent in `body` (one resource or a Bundle) as a FeedRecord.

    `fhir_version`: the request's `fhirVersion` MIME parameter; it wins over what the
    elements suggest. `expect`: the resource type the route takes (`AdverseEvent` for
    `POST /fhir/AdverseEvent`, `Bundle` for `POST /fhir`), None for either.
    Raises FeedRefused with every problem found, none of them carrying a value.
    An R5 AdverseEvent `entered-in-error` gives no record (it withdraws one).
    """
    root = _load_json(body)
    kind = root.get("resourceType")
    if kind not in ("AdverseEvent", "Bundle"):
        raise _refusal("resourceType", "must be AdverseEvent or Bundle", IssueCode.not_supported)
    if expect is not None and kind != expect:
        raise _refusal(
            "resourceType", f"must be {expect} at this endpoint", IssueCode.not_supported
        )
    pruned = _Pruned()
    if kind == "Bundle":
        shaped = pruned.bundle(root)
        events = [
            e["resource"]
            for e in shaped.get("entry") or []
            if isinstance(e, dict)
            and isinstance(e.get("resource"), dict)
            and e["resource"].get("resourceType") == "AdverseEvent"
        ]
    else:
        shaped = pruned.resource(root, ())
        events = [shaped]
    version = _version(fhir_version, events, kind)
    model = _model(version, kind)
    try:
        parsed = model.model_validate(shaped)
    except pydantic.ValidationError as exc:
        raise FeedRefused(
            [_from_error(err, kind, pruned, version) for err in exc.errors(include_url=False)]
        ) from None
    reader = _Reader(feed, version, pruned)
    records = reader.bundle(parsed) if kind == "Bundle" else reader.single(parsed)
    if reader.problems:
        raise FeedRefused(reader.problems)
    return records


def _refusal(where: str, why: str, code: IssueCode = IssueCode.invalid) -> FeedRefused:
    return FeedRefused([FhirProblem(where, why, code)])


def _load_json(body: bytes | str | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(body, Mapping):
        return dict(body)
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise _refusal("body", "is not UTF-8 text") from None
    if body.lstrip().startswith("<"):
        raise _refusal("body", "FHIR XML is not read here: send JSON", IssueCode.not_supported)
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        # The decoder's message names a position and what it expected, never the text.
        why = f"is not JSON ({exc.msg}, line {exc.lineno} column {exc.colno})"
        raise _refusal("body", why) from None
    if not isinstance(data, dict):
        raise _refusal("body", "must be a JSON object (a FHIR resource)")
    return data


def _version(hint: str | None, events: Sequence[Mapping[str, Any]], kind: str) -> FhirVersion:
    if hint is not None:
        version = parse_version(hint)
        if version is None:
            why = "is not a version this feed reads (4.0, 4.3 or 5.0)"
            raise _refusal("fhirVersion", why, IssueCode.not_supported)
        return version
    found = {detect_version(e) for e in events}
    if None in found or len(found) > 1:
        why = (
            "mixes R4 and R5 AdverseEvent elements; send one version, or name it with the "
            "fhirVersion parameter of Content-Type"
        )
        raise _refusal(kind, why)
    return found.pop() if found else FhirVersion.r4


def _model(version: FhirVersion, kind: str) -> type[Any]:
    if kind == "Bundle":
        return BundleR5 if version.is_r5 else BundleR4B
    return AdverseEventR5 if version.is_r5 else AdverseEventR4B


class _Pruned:
    """What was dropped before validation, so references to it are known to name no one
    we read, and so a validation error's list index is told in the sender's numbering."""

    def __init__(self) -> None:
        # Path (in pruned numbering) of a list -> original index of each kept item.
        self.kept: dict[tuple[Any, ...], list[int]] = {}
        # Bundle fullUrl or `Type/id` of a dropped entry -> its resource type.
        self.dropped_entries: dict[str, str] = {}
        # (entry index or None, contained id) of a dropped contained resource -> its type.
        self.dropped_contained: dict[tuple[int | None, str], str] = {}

    def bundle(self, root: Mapping[str, Any]) -> dict[str, Any]:
        shaped = dict(root)
        entries = root.get("entry")
        if not isinstance(entries, list):
            return shaped
        kept_entries: list[Any] = []
        original: list[int] = []
        for index, entry in enumerate(entries):
            resource = entry.get("resource") if isinstance(entry, dict) else None
            kind = resource.get("resourceType") if isinstance(resource, dict) else None
            if isinstance(kind, str) and kind not in READ_TYPES:
                full_url = entry.get("fullUrl")
                if isinstance(full_url, str):
                    self.dropped_entries[full_url] = kind
                if isinstance(resource.get("id"), str):
                    self.dropped_entries[f"{kind}/{resource['id']}"] = kind
                continue
            if isinstance(resource, dict):
                entry = {**entry, "resource": self.resource(resource, ("entry", len(original)))}
            kept_entries.append(entry)
            original.append(index)
        shaped["entry"] = kept_entries
        self.kept[("entry",)] = original
        return shaped

    def resource(self, resource: Mapping[str, Any], at: tuple[Any, ...]) -> dict[str, Any]:
        shaped = {k: v for k, v in resource.items() if k not in ("text", "_text")}
        contained = resource.get("contained")
        if not isinstance(contained, list):
            return shaped
        entry = at[1] if at else None
        kept: list[Any] = []
        original: list[int] = []
        for index, item in enumerate(contained):
            kind = item.get("resourceType") if isinstance(item, dict) else None
            if isinstance(kind, str) and kind not in READ_TYPES:
                if isinstance(item.get("id"), str):
                    self.dropped_contained[(entry, item["id"])] = kind
                continue
            if isinstance(item, dict):
                item = {k: v for k, v in item.items() if k not in ("text", "_text")}
            kept.append(item)
            original.append(index)
        shaped["contained"] = kept
        self.kept[(*at, "resource", "contained") if at else ("contained",)] = original
        return shaped

    def original(self, loc: Sequence[Any]) -> list[Any]:
        """A validation error's location in the numbering of what was sent."""
        out: list[Any] = []
        pruned_prefix: list[Any] = []
        for part in loc:
            if isinstance(part, int):
                table = self.kept.get(tuple(pruned_prefix))
                out.append(table[part] if table is not None and part < len(table) else part)
            else:
                out.append(part)
            pruned_prefix.append(part)
        return out


def _path(root: str, loc: Iterable[Any]) -> str:
    """A FHIRPath-like place. A name that is not shaped like a FHIR element is the sender's
    own key, which could be anything (a patient's name): it is told as `?`."""
    text = root
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part == "root":
            continue
        elif part == "resource_type":
            text += ".resourceType"
        else:
            text += f".{part}" if ELEMENT_NAME.match(str(part)) else ".?"
    return text


ERROR_WHY = {
    "missing": ("is required and missing", IssueCode.required),
    "model_field_validation.missing": ("is required and missing", IssueCode.required),
    "fhir-validation-wrong-resource-type": ("has the wrong resourceType", IssueCode.invalid),
    "json_invalid": ("must be a JSON object", IssueCode.invalid),
    "model_validation_format": ("must be a JSON object", IssueCode.invalid),
    "string_type": ("must be a string", IssueCode.invalid),
    "list_type": ("must be an array", IssueCode.invalid),
    "bool_type": ("must be true or false", IssueCode.invalid),
}


def _from_error(
    err: Mapping[str, Any], kind: str, pruned: _Pruned, version: FhirVersion
) -> FhirProblem:
    """A validation error as a Problem: its location and a reason of our own or the
    library's message, never the value (an error's `input` and `ctx` are not used, and a
    message that quotes the input is replaced)."""
    where = _path(kind, pruned.original(err.get("loc", ())))
    kind_of_error = str(err.get("type", ""))
    if kind_of_error == "extra_forbidden":
        label = "R5" if version.is_r5 else "R4/R4B"
        return FhirProblem(where, f"is not an element of FHIR {label}", IssueCode.invalid)
    if kind_of_error in ERROR_WHY:
        why, code = ERROR_WHY[kind_of_error]
        return FhirProblem(where, why, code)
    message = str(err.get("msg", "")).removeprefix("Value error, ").strip()
    if not message or len(message) > 200 or _quotes_input(message, err.get("input")):
        message = "is not a valid value here"
    return FhirProblem(where, message, IssueCode.invalid)


def _quotes_input(message: str, value: Any) -> bool:
    return any(leaf in message for leaf in _leaves(value))


def _leaves(value: Any) -> Iterator[str]:
    if isinstance(value, Mapping):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _leaves(item)
    elif value is not None:
        text = str(value).strip()
        if text:
            yield text


# --- from validated models to records --------------------------------------------------------


@dataclass
class _Scope:
    """Where references of one AdverseEvent are looked up: its contained resources, and
    (in a Bundle) the other entries."""

    contained: dict[str, Any] = field(default_factory=dict)
    dropped_contained: dict[str, str] = field(default_factory=dict)
    entries: dict[str, Any] = field(default_factory=dict)
    dropped_entries: dict[str, str] = field(default_factory=dict)


class _Reader:
    def __init__(self, feed: FhirFeed, version: FhirVersion, pruned: _Pruned) -> None:
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
                staff=tuple(staff),
            )
        except pydantic.ValidationError as exc:
            # Every field was checked above; this is a last guard, told without values.
            for err in exc.errors(include_url=False):
                self.problems.append(
                    FhirProblem(at, f"gives {_path('', err['loc'])[1:]} we cannot keep")
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

    def staff(self, ev: Any, at: str, scope: _Scope) -> list[StaffRef]:
        involved: list[tuple[str, Any, str | None]] = []
        if self.version.is_r5:
            for i, participant in enumerate(ev.participant or []):
                role = next((code for _, code in _codings([participant.function])), None)
                involved.append((f"{at}.participant[{i}].actor", participant.actor, role))
        else:
            for i, ref in enumerate(ev.contributor or []):
                involved.append((f"{at}.contributor[{i}]", ref, None))
        out: list[StaffRef] = []
        seen: set[tuple[str | None, str]] = set()
        for where, ref, role in involved:
            staff = self.person(where, ref, role, scope)
            if staff is not None and (staff.system, staff.value) not in seen:
                seen.add((staff.system, staff.value))
                out.append(staff)
        return out

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


# --- refusals as FHIR ------------------------------------------------------------------------


def operation_outcome(problems: Sequence[Problem]) -> dict[str, Any]:
    """A refusal as an R4-compatible OperationOutcome: one error issue per problem, its
    reason in `diagnostics` and its place in `expression` (no value is ever in either)."""
    issues = [
        {
            "severity": "error",
            "code": (p.code if isinstance(p, FhirProblem) else IssueCode.invalid).value,
            "diagnostics": p.why,
            "expression": [p.where],
        }
        for p in problems
    ]
    if not issues:
        issues = [{"severity": "information", "code": "informational", "diagnostics": "no issues"}]
    return {"resourceType": "OperationOutcome", "issue": issues}
