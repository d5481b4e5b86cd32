"""The incident-reporting system: its JSON webhook (one report) and CSV export (many).

Why a mapping file: each hospital's reporting system has its own event-type picklist, its
own harm scale (NCC MERP for medication errors, the AHRQ Common Formats harm scale for the
rest) and its own export columns. A risk manager fixes a mapping in
`mappings/reporting.yaml` without a release; the loader refuses a file with a target we do
not know, naming the line, because a typo there would silently change who gets outreach.

Why only named fields are read: a report carries the patient and a narrative. The adapter
picks the configured fields and columns and never looks at any other, so a narrative or a
patient detail cannot reach a FeedRecord, a Problem or a log line. A Problem says where
(`row 4, column harm`, `staff[1]`) and why, never the value found.

Raw codes: raw_harm is the scale as the mapping names it and the code as sent
("NCC MERP:F"); raw_event is the event type as sent. An event type the mapping lacks still
becomes a record (`unknown_event_type`, `other` by default) so a death reported under a new
picklist value still reaches the trigger rules, and its raw_event shows what to add.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError

from schemas.events import HarmLevel, IncidentType, StaffId, UnitCode
from services.feeds.record import (
    FeedRecord,
    FeedRefused,
    Problem,
    Source,
    StaffRef,
    json_object,
    merge_staff,
)
from services.feeds.reporting_mapping import (
    MAX_CODE,
    Field,
    ReportingMapping,
    default_mapping,
    normalise,
)

MAX_RECORD_ID = 128
# An employee number in a configured system: no spaces, so a name typed into the staff
# column is refused instead of travelling on as an identifier.
EMPLOYEE_NUMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}$")

_UNIT = TypeAdapter(UnitCode)
_STAFF_ID = TypeAdapter(StaffId)

REQUIRED = (Field.report_id, Field.occurred_at, Field.event_type)


# --- one report ----------------------------------------------------------------------------


def _parse_time(value: str, mapping: ReportingMapping) -> datetime | str:
    """An aware instant, or why not. ISO 8601 first (what a webhook sends), then the
    mapping's formats; a time without an offset is read in the mapping's zone."""
    parsed: datetime | None = None
    has_time = "T" in value.upper() or " " in value
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        for fmt in mapping.time_formats:
            try:
                parsed = datetime.strptime(value, fmt)
            except ValueError:
                continue
            has_time = "%H" in fmt or "%I" in fmt
            break
    if parsed is None:
        return "not a time in ISO 8601 or one of the mapping's time_formats"
    if not has_time:
        # A bare date would read as midnight and match the wrong events in the time window.
        return "a date without a time of day"
    if parsed.tzinfo is None:
        if mapping.timezone is None:
            return "has no UTC offset and the mapping names no timezone"
        parsed = parsed.replace(tzinfo=mapping.timezone)
    return parsed


def _text(value: Any) -> str | None:
    """A scalar as text; None for absent or blank. Numbers are accepted (report numbers
    and codes are often exported as numbers); a fraction, list, object or boolean is
    refused."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value.strip() or None
    raise TypeError


def _control(text: str | None) -> bool:
    """A line break or control character: nothing a code or a number holds, and what would
    split a log line."""
    return text is not None and any(ord(c) < 32 or ord(c) == 127 for c in text)


def _harm(
    scale_name: str | None, code: str | None, mapping: ReportingMapping
) -> tuple[HarmLevel, str | None] | Problem:
    """(our level, raw code), or a Problem whose `where` is the Field at fault. A harm code
    not on its scale is refused, not guessed: the scales are standard and closed, so an
    unknown code is a mistake (an unknown event type is not: see the mapping file)."""
    if code is None:
        return HarmLevel.unknown, None
    if len(code) > MAX_CODE:
        return Problem(Field.harm, f"longer than {MAX_CODE} characters: a code, not a description")
    if scale_name is None and ":" in code:
        prefix, rest = code.split(":", 1)
        if normalise(prefix) in mapping.scales:
            scale_name, code = prefix, rest.strip()
    if scale_name is None:
        scale = mapping.default_harm_scale
        if scale is None:
            return Problem(Field.harm, "names no harm scale and the mapping has no default")
    else:
        scale = mapping.scales.get(normalise(scale_name))
        if scale is None:
            return Problem(Field.harm_scale, "a harm scale the mapping does not have")
    level = scale.codes.get(normalise(code))
    if level is None:
        return Problem(Field.harm, f"not a code of the {scale.name} scale in the mapping")
    return level, f"{scale.name}:{code}"


def _event(code: str | None, mapping: ReportingMapping) -> IncidentType | str:
    if code is None:
        return "missing: the event type decides what kind of response starts"
    if len(code) > MAX_CODE:
        return f"longer than {MAX_CODE} characters: an event type, not a description"
    target = mapping.event_types.get(normalise(code), mapping.unknown_event_type)
    if target is None:
        return "an event type the mapping does not have (event_types in the mapping file)"
    return target


def _staff_ref(value: Any, role: Any, mapping: ReportingMapping) -> StaffRef | str | None:
    try:
        text, role_text = _text(value), _text(role)
    except TypeError:
        return "must be text or a whole number"
    if text is None:
        return None
    if _control(role_text):
        return "role holds a line break or control character"
    if mapping.staff_system is None:
        try:
            _STAFF_ID.validate_python(text)
        except ValidationError:
            return "not a staff id (letters, digits, _ . -, at most 32, no spaces)"
    elif not EMPLOYEE_NUMBER.match(text):
        return "not an employee number (letters, digits, _ . : / -, at most 64, no spaces)"
    if role_text is not None and len(role_text) > MAX_CODE:
        return f"role longer than {MAX_CODE} characters"
    return StaffRef(value=text, system=mapping.staff_system, role=role_text)


def _build(
    get: Callable[[Field], Any],
    where: Callable[[Field], str],
    staff: list[tuple[str, Any, Any]],
    mapping: ReportingMapping,
    feed: str,
) -> FeedRecord | list[Problem]:
    """One report from its fields, or every problem it has. `get` returns a field's value
    (None when absent), `where` names it in the source's terms, `staff` lists each person
    as (where, value, role)."""
    problems: list[Problem] = []
    values: dict[Field, str | None] = {}
    for f in Field:
        if f is Field.staff:
            continue
        try:
            values[f] = _text(get(f))
        except TypeError:
            problems.append(Problem(where(f), "must be text or a whole number"))
            values[f] = None
            continue
        if _control(values[f]):
            problems.append(Problem(where(f), "holds a line break or control character"))
            values[f] = None
            continue
        if f in (Field.report_id, Field.occurred_at) and values[f] is None:
            problems.append(Problem(where(f), "missing"))

    record_id = values[Field.report_id]
    if record_id is not None and len(record_id) > MAX_RECORD_ID:
        problems.append(Problem(where(Field.report_id), f"longer than {MAX_RECORD_ID} characters"))

    occurred: datetime | None = None
    if values[Field.occurred_at] is not None:
        parsed = _parse_time(values[Field.occurred_at], mapping)
        if isinstance(parsed, str):
            problems.append(Problem(where(Field.occurred_at), parsed))
        else:
            occurred = parsed

    unit = values[Field.unit]
    if unit is not None:
        try:
            _UNIT.validate_python(unit)
        except ValidationError:
            problems.append(
                Problem(
                    where(Field.unit),
                    "not a unit code (letters, digits, space _ . / -, at most 32)",
                )
            )

    raw_event = values[Field.event_type]
    event = _event(raw_event, mapping)
    if not isinstance(event, IncidentType) and not any(
        p.where == where(Field.event_type) for p in problems
    ):
        problems.append(Problem(where(Field.event_type), event))

    harm = _harm(values[Field.harm_scale], values[Field.harm], mapping)
    level, raw_harm = (None, None) if isinstance(harm, Problem) else harm
    if isinstance(harm, Problem):
        problems.append(Problem(where(Field(harm.where)), harm.why))

    refs: list[StaffRef] = []
    for place, value, role in staff:
        ref = _staff_ref(value, role, mapping)
        if isinstance(ref, str):
            problems.append(Problem(place, ref))
        elif ref is not None:
            refs.append(ref)

    if problems:
        return problems
    assert record_id is not None and occurred is not None and isinstance(event, IncidentType)
    assert level is not None
    try:
        return FeedRecord(
            source=Source.reporting,
            feed=feed,
            record_id=record_id,
            occurred_at=occurred,
            unit=unit,
            event_type=event,
            harm_level=level,
            raw_event=raw_event,
            raw_harm=raw_harm,
            staff=merge_staff(refs),
        )
    except ValidationError as e:
        # The error's location and type only: its input is the source's value.
        return [Problem(".".join(map(str, err["loc"])), err["type"]) for err in e.errors()]


# --- the webhook ---------------------------------------------------------------------------


def _at(body: Any, path: str) -> Any:
    node = body
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def from_webhook(
    body: bytes | str | Mapping[str, Any], *, feed: str, mapping: ReportingMapping | None = None
) -> list[FeedRecord]:
    """The one report a webhook call carries, or FeedRefused with every problem."""
    m = mapping or default_mapping()
    body = json_object(body, "one report")
    fields = m.json.fields

    staff: list[tuple[str, Any, Any]] = []
    staff_path = fields[Field.staff]
    people = _at(body, staff_path)
    problems: list[Problem] = []
    if isinstance(people, str):
        sep = m.csv.staff_separator
        staff = [(f"{staff_path}[{i}]", p, None) for i, p in enumerate(people.split(sep))]
    elif isinstance(people, list):
        for i, person in enumerate(people):
            place = f"{staff_path}[{i}]"
            if isinstance(person, dict):
                staff.append((place, person.get(m.json.staff_id), person.get(m.json.staff_role)))
            else:
                staff.append((place, person, None))
    elif people is not None:
        problems.append(Problem(staff_path, "must be a list of staff or one text of ids"))

    result = _build(lambda f: _at(body, fields[f]), lambda f: fields[f], staff, m, feed)
    if isinstance(result, list):
        raise FeedRefused(problems + result)
    if problems:
        raise FeedRefused(problems)
    return [result]


# --- the CSV export ------------------------------------------------------------------------


@dataclass(frozen=True)
class CsvImport:
    """An export read row by row: a bad row is refused with its number and column and the
    good rows are still read, so one typo does not hold back every other report."""

    records: list[FeedRecord]
    problems: list[Problem] = field(default_factory=list)
    rows: int = 0  # data rows seen (blank lines not counted)

    @property
    def refused_rows(self) -> int:
        return self.rows - len(self.records)


def from_csv(data: bytes | str, *, feed: str, mapping: ReportingMapping | None = None) -> CsvImport:
    """Every report of an export. Rows are numbered as a spreadsheet shows them (the
    header is row 1); FeedRefused only when the file as a whole cannot be read."""
    m = mapping or default_mapping()
    fmt = m.csv
    if isinstance(data, bytes):
        try:
            data = data.decode(fmt.encoding)
        except UnicodeDecodeError as e:
            raise FeedRefused(
                [Problem(f"byte {e.start}", f"not {fmt.encoding} text (csv.encoding)")]
            ) from None
    data = data.removeprefix("\ufeff")  # a spreadsheet's BOM, when the caller decoded
    reader = csv.reader(io.StringIO(data, newline=""), delimiter=fmt.delimiter)
    try:
        header = next(reader, None)
    except csv.Error as e:
        raise FeedRefused([Problem("row 1", f"not CSV: {e}")]) from None
    if not header:
        raise FeedRefused([Problem("row 1", "no header row")])

    positions: dict[str, list[int]] = {}
    for i, name in enumerate(header):
        positions.setdefault(name.strip().casefold(), []).append(i)
    index: dict[Field, int] = {}
    problems: list[Problem] = []
    for f, column in fmt.columns.items():
        found = positions.get(column.casefold(), [])
        if len(found) > 1:
            problems.append(Problem(f"row 1, column {column}", "appears more than once"))
        elif found:
            index[f] = found[0]
        elif f in REQUIRED:
            problems.append(Problem(f"row 1, column {column}", "missing from the header"))
    if problems:
        raise FeedRefused(problems)

    records: list[FeedRecord] = []
    first_row: dict[str, int] = {}
    rows = 0
    number = 1
    while True:
        try:
            row = next(reader, None)
        except csv.Error as e:
            number += 1
            rows += 1
            problems.append(Problem(f"row {number}", f"not CSV ({e}); the rows after it unread"))
            break
        if row is None:
            break
        number += 1
        if not row:
            continue
        rows += 1
        if len(row) != len(header):
            why = f"{len(row)} fields where the header has {len(header)}"
            if len(row) > len(header):
                why += f" (a text cell holding '{fmt.delimiter}' unquoted?)"
            problems.append(Problem(f"row {number}", why))
            continue

        def cell(f: Field, row: list[str] = row) -> str | None:
            return row[index[f]] if f in index else None

        def where(f: Field, n: int = number) -> str:
            return f"row {n}, column {fmt.columns[f]}"

        staff: list[tuple[str, Any, Any]] = []
        cell_staff = cell(Field.staff)
        if cell_staff:
            people = cell_staff.split(fmt.staff_separator)
            staff = [(f"{where(Field.staff)}, id {i + 1}", p, None) for i, p in enumerate(people)]
        result = _build(cell, where, staff, m, feed)
        if isinstance(result, list):
            problems.extend(result)
            continue
        if result.record_id in first_row:
            problems.append(
                Problem(
                    where(Field.report_id),
                    f"the same report number as row {first_row[result.record_id]}",
                )
            )
            continue
        first_row[result.record_id] = number
        records.append(result)
    return CsvImport(records=records, problems=problems, rows=rows)
