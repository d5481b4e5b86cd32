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

import enum
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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
from services.feeds.fhir_checks import FhirProblem, FhirVersion, IssueCode, Pruned, from_error
from services.feeds.fhir_records import Reader
from services.feeds.mapfile import NodeReader
from services.feeds.record import FeedRecord, FeedRefused, Problem

_E = TypeVar("_E", bound=enum.StrEnum)

MAPPING_FILE = Path(__file__).parent / "mappings" / "fhir.yaml"

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
    pruned = Pruned()
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
            [from_error(err, kind, pruned, version) for err in exc.errors(include_url=False)]
        ) from None
    reader = Reader(feed, version, pruned)
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
