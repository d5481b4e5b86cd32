"""What a refused record keeps for replay: the part the adapter reads, with no patient in it.

Why keep anything: a record refused today (a mapping that lacks a code, a zone not yet
configured, a sender's bug being fixed) is still an adverse event, and the coordinator must
be able to run it again once the cause is fixed without asking the hospital to resend it.
Why so little: `feed_refusals.kept` lives as long as the refusal and is read by people
chasing a broken interface, so it must hold no more than a taken record would
(services.feeds.record). Three rules, applied to every field:

1. Whitelist: only the fields the adapter reads, in the shape the adapter reads them
   (FHIR: the AdverseEvent elements fhir_records reads and the Practitioners, roles and
   Locations it follows, never `subject`, `encounter`, narrative, notes, displays or a
   concept's text; reporting: the mapping's fields; code blue: the Activation model's).
2. Nothing the adapter complained about: a Problem names where a value was wrong, and
   that value is exactly the one a sender may have filled with a patient (a name in the
   staff list, a date of birth in the time field), so the element it names is dropped.
3. Nothing that reads as something else: a time is kept only with its time of day (a bare
   date is a birth date's shape), a reference only to a practitioner or a place, a harm
   scale or an activation kind only when it is one we know.

The kept part is the adapter's own input format (a FHIR resource or Bundle, a webhook
object, a CSV row's cells), wrapped with what a replay needs to feed it back: `format`
("fhir", "json", "csv") and, for a CSV row, its number. None when nothing could be read
(not JSON, not an object, a CSV row whose cells do not line up with the header).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from services.feeds.codeblue import KIND_NAMES
from services.feeds.fhir_checks import READ_TYPES
from services.feeds.fhir_records import REFERENCE_TAIL, UNIT_CODE
from services.feeds.record import Problem
from services.feeds.reporting_mapping import MAX_CODE, Field, ReportingMapping, normalise

Kept = dict[str, Any] | None
Place = tuple[str | int, ...]

# What a reference from an AdverseEvent may point at and still be kept: the people and the
# place the adapter reads. A Patient, an Encounter, a RelatedPerson are never followed.
KEPT_REFERENCE_TYPES = frozenset({"Practitioner", "PractitionerRole", "Location"})
SUBJECT_NOT_KEPT = {"display": "not kept"}
FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_SEGMENT = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_CSV_WHERE = re.compile(r"^row (\d+)(?:, column (.+?)(?:, id (\d+))?)?$")


# --- problems as places ----------------------------------------------------------------------


def segments(where: str) -> Place:
    """A Problem's `where` as path segments: `Bundle.entry[2].resource.date` ->
    ("Bundle", "entry", 2, "resource", "date")."""
    out: list[str | int] = []
    for name, index in _SEGMENT.findall(where):
        out.append(int(index) if index else name)
    return tuple(out)


def _existing(root: Any, path: Place) -> Place:
    """The longest prefix of `path` that exists in `root`: a problem about a missing child
    (`actor.type` where no type was sent) is about the element that lacks it."""
    node, found = root, 0
    for part in path:
        if isinstance(part, int) and isinstance(node, list) and 0 <= part < len(node):
            node = node[part]
        elif isinstance(part, str) and isinstance(node, dict) and part in node:
            node = node[part]
        else:
            break
        found += 1
    return path[:found]


def dropped(root: Any, problems: Iterable[Problem], *, skip_root: bool = False) -> set[Place]:
    """The elements of `root` the problems point at (rule 2). `skip_root`: a FHIR path
    starts with the resource type, which is the root itself. A problem about the whole
    body, or about a resource as a whole (a Bundle entry's `subject` missing), drops
    nothing here: the rest of it is what a replay needs, and the whitelist still applies."""
    out: set[Place] = set()
    for problem in problems:
        path = segments(problem.where)
        if skip_root:
            path = path[1:]
        place = _existing(root, path)
        if place and place[-1] != "resource":
            out.add(place)
    return out


def _text(value: Any) -> str | None:
    """A scalar as the adapters read one (text, or a whole number); None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value
    return None


def _printable(value: str) -> bool:
    return not any(ord(c) < 32 or ord(c) == 127 for c in value)


def _instant(value: Any) -> str | None:
    """A time with its time of day, as text (rule 3); a bare date or anything that is not
    a time is dropped."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    text = value.strip()
    if "T" not in text.upper() and " " not in text:
        return None
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return text


def _load(body: bytes | str | Mapping[str, Any]) -> dict[str, Any] | None:
    if isinstance(body, Mapping):
        return dict(body)
    try:
        data = json.loads(body.decode("utf-8-sig") if isinstance(body, bytes) else body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


# --- FHIR ------------------------------------------------------------------------------------


class _FhirKeeper:
    """One body's projection: the types that references in it point at, and the elements
    its problems named."""

    def __init__(self, root: dict[str, Any], gone: set[Place]) -> None:
        self.gone = gone
        self.entries: dict[str, str] = {}  # fullUrl or Type/id -> resourceType
        entries = root.get("entry") if root.get("resourceType") == "Bundle" else None
        for entry in entries if isinstance(entries, list) else []:
            resource = entry.get("resource") if isinstance(entry, dict) else None
            kind = resource.get("resourceType") if isinstance(resource, dict) else None
            if not isinstance(kind, str):
                continue
            if isinstance(entry.get("fullUrl"), str):
                self.entries[entry["fullUrl"]] = kind
            if isinstance(resource.get("id"), str):
                self.entries[f"{kind}/{resource['id']}"] = kind

    def bundle(self, root: dict[str, Any], only_event: int | None) -> dict[str, Any]:
        out: dict[str, Any] = {"resourceType": "Bundle"}
        if isinstance(root.get("type"), str):
            out["type"] = root["type"]
        entries = root.get("entry")
        kept: list[dict[str, Any]] = []
        for index, entry in enumerate(entries if isinstance(entries, list) else []):
            path: Place = ("entry", index)
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if path in self.gone or not isinstance(resource, dict):
                continue
            kind = resource.get("resourceType")
            if kind == "AdverseEvent" and only_event is not None and index != only_event:
                continue
            shaped = self.resource(resource, (*path, "resource"))
            if shaped is None:
                continue
            item: dict[str, Any] = {"resource": shaped}
            if isinstance(entry.get("fullUrl"), str):
                item["fullUrl"] = entry["fullUrl"]
            kept.append(item)
        out["entry"] = kept
        return out

    def resource(self, resource: dict[str, Any], path: Place) -> dict[str, Any] | None:
        kind = resource.get("resourceType")
        if path in self.gone or kind not in READ_TYPES:
            return None
        local = self.contained_types(resource)
        if kind == "AdverseEvent":
            return self.event(resource, path, local)
        return self.participant_resource(resource, path, local)

    @staticmethod
    def contained_types(resource: dict[str, Any]) -> dict[str, str]:
        contained = resource.get("contained")
        items = contained if isinstance(contained, list) else []
        return {
            f"#{item['id']}": item["resourceType"]
            for item in items
            if isinstance(item, dict)
            and isinstance(item.get("id"), str)
            and isinstance(item.get("resourceType"), str)
        }

    def event(self, ev: dict[str, Any], path: Place, local: dict[str, str]) -> dict[str, Any]:
        # `subject` is required by every version's model and never read: a replay needs
        # one, and the patient's own is never kept.
        out: dict[str, Any] = {"resourceType": "AdverseEvent", "subject": SUBJECT_NOT_KEPT}

        def at(key: str) -> Place | None:
            """The element's path, or None when it was not sent or a problem named it."""
            here = (*path, key)
            return None if key not in ev or here in self.gone else here

        if at("id") and isinstance(ev["id"], str) and FHIR_ID.match(ev["id"]):
            out["id"] = ev["id"]
        for key in ("actuality", "status"):
            if at(key) and isinstance(ev[key], str) and FHIR_ID.match(ev[key]):
                out[key] = ev[key]
        if here := at("identifier"):
            value = ev["identifier"]
            if isinstance(value, list):
                out["identifier"] = self.many(value, here, self.identifier)
            elif (one := self.identifier(value, here)) is not None:
                out["identifier"] = one
        for key in ("event", "code", "seriousness", "severity"):
            if (here := at(key)) and (concept := self.concept(ev[key], here)) is not None:
                out[key] = concept
        if here := at("category"):
            out["category"] = self.many(ev["category"], here, self.concept)
        if here := at("outcome"):
            value = ev["outcome"]
            if isinstance(value, list):
                out["outcome"] = self.many(value, here, self.concept)
            elif (concept := self.concept(value, here)) is not None:
                out["outcome"] = concept
        for key in ("date", "detected", "occurrenceDateTime"):
            if at(key) and (when := _instant(ev[key])) is not None:
                out[key] = when
        if (here := at("occurrencePeriod")) and isinstance(ev["occurrencePeriod"], dict):
            period = {
                k: when
                for k in ("start", "end")
                if (*here, k) not in self.gone
                and (when := _instant(ev["occurrencePeriod"].get(k))) is not None
            }
            if period:
                out["occurrencePeriod"] = period
        if (here := at("occurrenceTiming")) and isinstance(ev["occurrenceTiming"], dict):
            events = ev["occurrenceTiming"].get("event")
            times = [
                when
                for i, t in enumerate(events if isinstance(events, list) else [])
                if (*here, "event", i) not in self.gone and (when := _instant(t)) is not None
            ]
            if times:
                out["occurrenceTiming"] = {"event": times}
        if (here := at("location")) and (ref := self.reference(ev["location"], here, local)):
            out["location"] = ref
        if here := at("contributor"):
            out["contributor"] = self.many(
                ev["contributor"], here, lambda r, p: self.reference(r, p, local)
            )
        if here := at("participant"):
            out["participant"] = self.many(
                ev["participant"], here, lambda r, p: self.participant(r, p, local)
            )
        if (here := at("contained")) and isinstance(ev["contained"], list):
            out["contained"] = self.many(
                ev["contained"], here, lambda r, p: self.contained(r, p, local)
            )
        return {k: v for k, v in out.items() if v != []}

    def contained(self, item: Any, path: Place, local: dict[str, str]) -> dict[str, Any] | None:
        """A contained resource of a kind we read; `local`: its siblings, which a
        contained PractitionerRole's practitioner points at."""
        if not isinstance(item, dict) or item.get("resourceType") not in KEPT_REFERENCE_TYPES:
            return None  # a contained Patient, RelatedPerson, ...: never kept
        return self.participant_resource(item, path, local)

    def participant_resource(
        self, res: dict[str, Any], path: Place, local: dict[str, str]
    ) -> dict[str, Any] | None:
        """A Practitioner, PractitionerRole or Location: its identifiers, a role's codes
        and practitioner, a place's name when it reads as a unit code. Names of people,
        addresses and telecoms are never read."""
        kind = res.get("resourceType")
        if kind not in KEPT_REFERENCE_TYPES:
            return None
        out: dict[str, Any] = {"resourceType": kind}
        if (path + ("id",)) not in self.gone and isinstance(res.get("id"), str):
            if FHIR_ID.match(res["id"]):
                out["id"] = res["id"]
        if (path + ("identifier",)) not in self.gone:
            out["identifier"] = self.many(
                res.get("identifier"), (*path, "identifier"), self.identifier
            )
        if kind == "Location" and (path + ("name",)) not in self.gone:
            name = res.get("name")
            if isinstance(name, str) and UNIT_CODE.match(name.strip()):
                out["name"] = name
        if kind == "PractitionerRole":
            if (path + ("code",)) not in self.gone:
                out["code"] = self.many(res.get("code"), (*path, "code"), self.concept)
            here = (*path, "practitioner")
            if here not in self.gone and res.get("practitioner") is not None:
                ref = self.reference(res["practitioner"], here, local)
                if ref is not None:
                    out["practitioner"] = ref
        return {k: v for k, v in out.items() if v != []}

    def participant(self, item: Any, path: Place, local: dict[str, str]) -> dict[str, Any] | None:
        if not isinstance(item, dict):
            return None
        out: dict[str, Any] = {}
        here = (*path, "actor")
        if here in self.gone or (actor := self.reference(item.get("actor"), here, local)) is None:
            return None  # a participant is who acted: without a readable actor, nothing
        out["actor"] = actor
        here = (*path, "function")
        if here not in self.gone and (function := self.concept(item.get("function"), here)):
            out["function"] = function
        return out

    def reference(self, ref: Any, path: Place, local: dict[str, str]) -> dict[str, Any] | None:
        """A reference to a practitioner, a role or a place (rule 3): one to the patient,
        an encounter or anything unknown is dropped, even by identifier. A literal
        reference kept is one that resolves inside the body (contained or an entry): one
        that does not is no use to a replay, and its text is the sender's to fill."""
        if not isinstance(ref, dict) or path in self.gone:
            return None
        target = ref.get("reference") if isinstance(ref.get("reference"), str) else None
        declared = ref.get("type") if isinstance(ref.get("type"), str) else None
        kinds = set()
        if declared:
            kinds.add(declared.rsplit("/", 1)[-1])
        resolved = None
        if target:
            resolved = local.get(target) or self.entries.get(target)
            match = REFERENCE_TAIL.search(target)
            if resolved is None and match:
                resolved = self.entries.get(f"{match.group(1)}/{match.group(2)}")
            kinds.add(resolved or (match.group(1) if match else "?"))
        if len(kinds) != 1 or not kinds <= KEPT_REFERENCE_TYPES:
            return None
        out: dict[str, Any] = {}
        if target and resolved:
            out["reference"] = target
        here = (*path, "identifier")
        if here not in self.gone and (ident := self.identifier(ref.get("identifier"), here)):
            out["identifier"] = ident
            out["type"] = kinds.pop()  # the adapter needs the type of a reference by identifier
        return out or None

    def identifier(self, ident: Any, path: Place) -> dict[str, Any] | None:
        if not isinstance(ident, dict) or path in self.gone:
            return None
        value = ident.get("value")
        if not isinstance(value, str) or not value or not _printable(value):
            return None
        out: dict[str, Any] = {"value": value}
        for key in ("system", "use"):
            if isinstance(ident.get(key), str) and _printable(ident[key]):
                out[key] = ident[key]
        return out

    def concept(self, concept: Any, path: Place) -> dict[str, Any] | None:
        """Codings' system and code only: a concept's text and a coding's display are free
        text, where a sender writes the patient ("Fall of ...")."""
        if not isinstance(concept, dict) or path in self.gone:
            return None
        codings = []
        raw = concept.get("coding")
        for i, coding in enumerate(raw if isinstance(raw, list) else []):
            if (*path, "coding", i) in self.gone or not isinstance(coding, dict):
                continue
            code = coding.get("code")
            if not isinstance(code, str) or not code or not _printable(code):
                continue
            kept = {"code": code}
            if isinstance(coding.get("system"), str) and _printable(coding["system"]):
                kept["system"] = coding["system"]
            codings.append(kept)
        return {"coding": codings} if codings else None

    def many(self, items: Any, path: Place, one: Any) -> list[Any]:
        if not isinstance(items, list) or path in self.gone:
            return []
        out = []
        for i, item in enumerate(items):
            here = (*path, i)
            if here in self.gone:
                continue
            shaped = one(item, here)
            if shaped is not None:
                out.append(shaped)
        return out


def fhir_kept(
    body: bytes | str | Mapping[str, Any],
    problems: Sequence[Problem],
    *,
    version: str | None = None,
    entry: int | None = None,
) -> Kept:
    """What a refused FHIR body (an AdverseEvent or a Bundle) keeps. `entry`: for one
    refused AdverseEvent of a Bundle, its index in the Bundle as sent; the kept Bundle then
    holds that AdverseEvent and the practitioners and places beside it, not the others.
    `version`: the request's fhirVersion, so a replay reads it the same way."""
    root = _load(body)
    if root is None or root.get("resourceType") not in ("AdverseEvent", "Bundle"):
        return None
    keeper = _FhirKeeper(root, dropped(root, problems, skip_root=True))
    if root["resourceType"] == "Bundle":
        shaped = keeper.bundle(root, entry)
    else:
        shaped = keeper.resource(root, ()) or {
            "resourceType": "AdverseEvent",
            "subject": SUBJECT_NOT_KEPT,
        }
    kept: dict[str, Any] = {"format": "fhir", "body": shaped}
    if version is not None and _printable(version) and len(version) <= 16:
        kept["fhir_version"] = version
    return kept


# --- the incident-reporting system ------------------------------------------------------------


def _staff_ids(text: str, separator: str, bad: set[int]) -> str | None:
    """A staff cell or string without the ids a problem named (`bad`: 0-based)."""
    ids = [p.strip() for i, p in enumerate(text.split(separator)) if i not in bad]
    ids = [p for p in ids if p]
    return separator.join(ids) or None


# A harm code of a hospital's own scale, as short as such codes are ("Z", "SAC2", "E1"): a
# letter code of at most three, or a few letters around a number. A first name ("Emily") is
# neither.
HARM_CODE = re.compile(r"^(?:[A-Z]{1,3}|[A-Za-z]{0,6}[0-9]{1,3}[A-Za-z]?)$")


def _fixable(f: Field, value: str) -> bool:
    """Rule 2's two exceptions, for the refusals a hospital fixes in its settings rather
    than at the sender, so that a replay then reads the record: a time without an offset
    (the feed's zone was missing), kept when it has its time of day (an event's time, the
    same as a taken record holds; never a bare date), and a harm code the mapping lacked,
    kept only in a code's shape."""
    if f is Field.occurred_at:
        return _instant(value) is not None
    return f is Field.harm and HARM_CODE.match(value.strip()) is not None


def _report_fields(
    values: Mapping[Field, str | None], named: set[Field], mapping: ReportingMapping
) -> dict[Field, str]:
    """A report's fields (staff apart) that rules 2 and 3 let through. The adapter reads a
    harm scale only beside a code, and a code only against a scale it knows: a scale it
    does not know, and the code sent with it, were never checked, so neither is kept."""
    scale = values.get(Field.harm_scale)
    scale_known = scale is None or normalise(scale) in mapping.scales
    out: dict[Field, str] = {}
    for f, value in values.items():
        if f is Field.staff or value is None or not _printable(value):
            continue
        if f in named and not _fixable(f, value):
            continue
        if f in (Field.harm_scale, Field.harm) and not (scale_known and len(value) <= MAX_CODE):
            continue
        if f is Field.occurred_at and _instant(value) is None and not mapping.time_formats:
            continue  # with time_formats of its own, the adapter checked it (rule 2)
        out[f] = value
    return out


def _put(target: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    node = target
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def _at(body: Any, path: str) -> Any:
    node = body
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def reporting_kept(
    body: bytes | str | Mapping[str, Any], problems: Sequence[Problem], mapping: ReportingMapping
) -> Kept:
    """What a refused webhook report keeps: the mapping's fields, at the mapping's paths
    (so the same adapter reads it again), without any the problems named."""
    root = _load(body)
    if root is None:
        return None
    fields = mapping.json.fields
    named = {p.where for p in problems}
    values = {f: _text(_at(root, fields[f])) for f in Field if f is not Field.staff}
    wrong = {f for f in Field if fields[f] in named or f.value in named}
    out: dict[str, Any] = {}
    for f, value in _report_fields(values, wrong, mapping).items():
        _put(out, fields[f], value)
    staff_path = fields[Field.staff]
    people = _at(root, staff_path)
    if staff_path not in named:
        entry_at = re.compile(rf"^{re.escape(staff_path)}\[(\d+)\]")
        bad = {int(m.group(1)) for p in problems if (m := entry_at.match(p.where))}
        if isinstance(people, str):
            kept_ids = _staff_ids(people, mapping.csv.staff_separator, bad)
            if kept_ids is not None:
                _put(out, staff_path, kept_ids)
        elif isinstance(people, list):
            kept_people = []
            for i, person in enumerate(people):
                if i in bad:
                    continue
                if isinstance(person, dict):
                    entry = {
                        key: text
                        for key in (mapping.json.staff_id, mapping.json.staff_role)
                        if (text := _text(person.get(key))) is not None and _printable(text)
                    }
                    if mapping.json.staff_id in entry:
                        kept_people.append(entry)
                elif (text := _text(person)) is not None and _printable(text):
                    kept_people.append(text)
            if kept_people:
                _put(out, staff_path, kept_people)
    return {"format": "json", "body": out}


def csv_kept(
    data: bytes | str, problems: Sequence[Problem], mapping: ReportingMapping
) -> dict[int, Kept]:
    """What each refused row of an export keeps, by its row number as the adapter counts
    them (the header is row 1): the mapping's columns, without the cells a problem named.
    A row whose problem is the row itself (too many or too few cells) keeps None: its
    cells may be shifted out of a patient's column into one we read."""
    by_row: dict[int, list[tuple[str | None, int | None]]] = {}
    for problem in problems:
        match = _CSV_WHERE.match(problem.where)
        if match is None:
            continue  # not a row's problem ("byte 12", ...): nothing of the file is kept
        number = int(match.group(1))
        if number == 1:
            continue  # the header: nothing of any row is kept
        index = int(match.group(3)) if match.group(3) else None
        by_row.setdefault(number, []).append((match.group(2), index))
    if not by_row:
        return {}
    fmt = mapping.csv
    if isinstance(data, bytes):
        try:
            data = data.decode(fmt.encoding)
        except UnicodeDecodeError:
            return dict.fromkeys(by_row)
    data = data.removeprefix("\ufeff")
    kept: dict[int, Kept] = dict.fromkeys(by_row)
    rows = _rows(data, fmt.delimiter)
    if not rows:
        return kept
    header = rows[0][1]
    columns = {name.strip().casefold(): i for i, name in reversed(list(enumerate(header)))}
    for number, row in rows[1:]:
        if number not in by_row:
            continue
        named = by_row[number]
        if len(row) != len(header) or any(column is None for column, _ in named):
            continue  # kept stays None
        present = {
            f: row[columns[column.casefold()]].strip() or None
            for f, column in fmt.columns.items()
            if column.casefold() in columns
        }
        wrong = {f for f, column in fmt.columns.items() if any(c == column for c, _ in named)}
        cells = {fmt.columns[f]: v for f, v in _report_fields(present, wrong, mapping).items()}
        staff_column = fmt.columns[Field.staff]
        staff = present.get(Field.staff)
        if staff and not any(c == staff_column and i is None for c, i in named):
            bad = {i - 1 for c, i in named if c == staff_column and i is not None}
            if (ids := _staff_ids(staff, fmt.staff_separator, bad)) and _printable(ids):
                cells[staff_column] = ids
        kept[number] = {"format": "csv", "row": number, "cells": cells}
    return kept


def _rows(data: str, delimiter: str) -> list[tuple[int, list[str]]]:
    """Rows with the numbers the adapter gives them (one per CSV record, blank ones
    counted, the header being row 1), up to the first the csv module cannot read."""
    reader = csv.reader(io.StringIO(data, newline=""), delimiter=delimiter)
    rows: list[tuple[int, list[str]]] = []
    try:
        for number, row in enumerate(reader, start=1):
            rows.append((number, row))
    except csv.Error:
        pass  # the adapter stops there too; the rows after it were never read
    return rows


# --- code blue -------------------------------------------------------------------------------


def code_blue_kept(body: bytes | str | Mapping[str, Any], problems: Sequence[Problem]) -> Kept:
    """What a refused activation keeps: the Activation model's fields only, without any a
    problem named, an activation kind only when it is one we know."""
    root = _load(body)
    if root is None:
        return None
    gone = dropped(root, problems)
    out: dict[str, Any] = {}
    for key in ("activation_id", "unit"):
        value = _text(root.get(key))
        if (key,) not in gone and value is not None and _printable(value):
            out[key] = value
    kind = root.get("kind")
    if ("kind",) not in gone and isinstance(kind, str) and normalise(kind) in KIND_NAMES:
        out["kind"] = kind
    if ("activated_at",) not in gone and (when := _instant(root.get("activated_at"))):
        out["activated_at"] = when
    team = root.get("team")
    if ("team",) not in gone and isinstance(team, list):
        members: list[Any] = []
        for i, member in enumerate(team):
            if ("team", i) in gone:
                continue
            if isinstance(member, str) and _printable(member):
                members.append(member)
            elif isinstance(member, dict):
                entry = {
                    key: member[key]
                    for key in ("id", "role")
                    if ("team", i, key) not in gone
                    and isinstance(member.get(key), str)
                    and _printable(member[key])
                }
                if "id" in entry:
                    members.append(entry)
        if members:
            out["team"] = members
    return {"format": "json", "body": out}
