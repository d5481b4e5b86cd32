"""The terms a FHIR refusal is told in, and a validation error told in them.

Why a module of its own: fhir.py (parsing, refusing) and fhir_records (reading validated
models) both report problems in these terms, and fhir.py imports fhir_records; kept here,
every import between the three points one way.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.feeds.record import Problem

# Resource types this feed reads; any other entry or contained resource is dropped unread.
READ_TYPES = frozenset({"AdverseEvent", "Practitioner", "PractitionerRole", "Location"})
ELEMENT_NAME = re.compile(r"^_?[a-z][A-Za-z]{0,63}$")


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


class Pruned:
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


def path(root: str, loc: Iterable[Any]) -> str:
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


def from_error(
    err: Mapping[str, Any], kind: str, pruned: Pruned, version: FhirVersion
) -> FhirProblem:
    """A validation error as a Problem: its location and a reason of our own or the
    library's message, never the value (an error's `input` and `ctx` are not used, and a
    message that quotes the input is replaced)."""
    where = path(kind, pruned.original(err.get("loc", ())))
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
