"""HL7 v2 ADT messages: a death (or a configured trigger) in, a FeedRecord out.

Why ADT: the admission-discharge-transfer feed is the one HL7 interface every hospital
already runs, and a death shows on it as a discharge (A03) or an update (A08) whose PV1-36
discharge disposition is one of table 0112's "expired" codes. No clinical system has to be
changed for us to hear about it.

Why python-hl7 does the parsing and the ACK's header: it is the maintained parser of the
field (the same package serves MLLP, services.feeds.mllp), and an ACK whose MSH swaps sender
and receiver exactly as the library does is one an interface engine already accepts.

Patient data stops here. Only MSH, EVN, PV1-3 (the unit's point of care), PV1-7/8/9/17 and
ROL-4 identifiers (clinicians, never names), PV1-36, PV1-45 and the configured trigger
fields are ever read; PID, NK1, names, visit numbers and free text are never touched. A
Problem names the field (`PV1-45`, `ROL[2]-4[1]`) and why, never the value found there.
"""

from __future__ import annotations

import enum
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

import hl7
import hl7.containers
import hl7.util
from pydantic import TypeAdapter, ValidationError

from schemas.events import HarmLevel, IncidentType, UnitCode
from services.feeds.record import FeedRecord, FeedRefused, Problem, Source, StaffRef, merge_staff

# python-hl7 logs the whole field when an escape sequence in it cannot be decoded (and a
# stray segment line when splitting files). Those lines may hold a patient's data, and this
# module promises none reaches a log: the library's own loggers are named after its files.
for _module in (hl7.util, hl7.containers):
    logging.getLogger(_module.__file__).disabled = True

# Table 0112 (discharge disposition): 20 expired, 40 expired at home, 41 expired in a
# medical facility, 42 expired, place unknown.
EXPIRED = frozenset({"20", "40", "41", "42"})
HL7_NULL = '""'  # a field sent as present and empty ("delete the value")
# What python-hl7 raises on text it cannot take apart (its parse plan asserts that the
# separators in MSH-1/MSH-2 are distinct).
UNPARSEABLE = (hl7.ParseException, ValueError, IndexError, KeyError, AssertionError)


class AckCode(enum.StrEnum):
    """MSA-1 in original-mode acknowledgement (table 0008)."""

    accept = "AA"  # read: a trigger was taken, or the message was no trigger at all
    error = "AE"  # the message is HL7 but its content cannot be used: fix and resend
    reject = "AR"  # not a message we can read at all (bytes, MSH): resending will not help


class ErrorCode(enum.StrEnum):
    """ERR-3 (table 0357, message error condition codes) for the problems we report."""

    segment_sequence = "100"  # a required segment missing, or no MSH first
    required_missing = "101"
    data_type = "102"
    internal = "207"


@dataclass(frozen=True)
class Hl7Problem(Problem):
    """A Problem with what the ERR segment needs: where as numbers, and the 0357 code.

    `where` stays the readable path (`PV1-36`, `ROL[2]-4[1]`: segment occurrence in brackets
    after the segment, repetition after the field) so the refusal reads like every feed's."""

    code: ErrorCode = ErrorCode.internal
    segment: str | None = None
    sequence: int = 1
    field_no: int | None = None
    repetition: int | None = None

    @classmethod
    def at(
        cls,
        segment: str,
        field_no: int | None,
        why: str,
        code: ErrorCode,
        *,
        sequence: int = 1,
        repetition: int | None = None,
    ) -> Hl7Problem:
        where = segment + (f"[{sequence}]" if sequence > 1 else "")
        if field_no is not None:
            where += f"-{field_no}" + (f"[{repetition}]" if repetition else "")
        return cls(where, why, code, segment, sequence, field_no, repetition)


@dataclass
class Hl7Refused(FeedRefused):
    """A refused message, with the acknowledgement code its problems call for: AR when the
    header (or the bytes) failed, since a resend of the same bytes cannot succeed and the
    sender's interface team must look; AE when the content did."""

    @property
    def ack_code(self) -> AckCode:
        header = any(isinstance(p, Hl7Problem) and p.segment == "MSH" for p in self.problems)
        return AckCode.reject if header else AckCode.error


_PATH = re.compile(r"^(?P<seg>[A-Z][A-Z0-9]{2})-(?P<field>[1-9]\d*)(?:\.(?P<comp>[1-9]\d*))?$")


@dataclass(frozen=True)
class Hl7Rule:
    """One trigger: messages of a type (and events) whose field holds one of some values.

    `field` is `SEG-n` or `SEG-n.c` (component c, default the first: the code of a CWE such
    as PV1-36 in v2.7+); any repetition of it, in any occurrence of the segment, matches.
    None: the type and event alone are the trigger. `required`: a message of the type and
    event without the segment is refused (AE), not passed over, because a malformed death
    message must reach a person rather than vanish; False for a segment only some messages
    carry (a site's Z-segment)."""

    message_type: str  # MSH-9.1, e.g. "ADT"
    events: frozenset[str]  # MSH-9.2, e.g. {"A03", "A08"}; empty: any event of the type
    event_type: IncidentType
    harm_level: HarmLevel
    field: str | None = None
    values: frozenset[str] = frozenset()
    required: bool = True

    def __post_init__(self) -> None:
        if self.field is not None and not _PATH.match(self.field):
            raise ValueError("an HL7 trigger field is written SEG-n or SEG-n.c, e.g. PV1-36")
        if self.field is not None and not self.values:
            raise ValueError("an HL7 trigger on a field needs the values that trigger it")

    def path(self) -> tuple[str, int, int]:
        match = _PATH.match(self.field or "")
        assert match is not None
        return match["seg"], int(match["field"]), int(match["comp"] or 1)


DEATH = Hl7Rule(
    message_type="ADT",
    events=frozenset({"A03", "A08"}),
    event_type=IncidentType.unexpected_death,
    harm_level=HarmLevel.death,
    field="PV1-36",
    values=EXPIRED,
)


@dataclass(frozen=True)
class Hl7Triggers:
    """Which messages are incidents. The first rule that matches wins (one message is one
    record, keyed by its MSH-10), so the death rule comes first by default.

    `processing_ids` (MSH-11): a training or debugging message is read and ACKed AA but is
    never a trigger, so a test death from an interface engine cannot page anyone."""

    rules: tuple[Hl7Rule, ...] = (DEATH,)
    processing_ids: frozenset[str] = frozenset({"P"})

    @classmethod
    def deaths_and(cls, *rules: Hl7Rule) -> Hl7Triggers:
        """The table 0112 death rule plus a site's own triggers."""
        return cls(rules=(DEATH, *rules))


DEFAULT_TRIGGERS = Hl7Triggers()

# PV1 clinician fields, in the order their people are listed, with the role they get.
CLINICIAN_FIELDS = ((7, "attending"), (8, "referring"), (9, "consulting"), (17, "admitting"))
# Time of the event: when it happened, else when it was recorded, else the discharge time.
# When the event happened, best first: EVN-6 (event occurred), PV1-45 (discharge date/time:
# for a death, the time of death the ward recorded), then EVN-2 (when the ADT event was
# recorded, possibly hours later). Matching the same event across feeds compares these
# times, so the event's own time comes before the system's.
TIME_FIELDS = (("EVN", 6), ("PV1", 45), ("EVN", 2))
_DTM = re.compile(r"^\d{4}(?:\d{2}){0,5}(?:\.\d{1,4})?(?:[+-]\d{4})?$")
_UNIT = TypeAdapter(UnitCode)
_ID_MAX, _SYSTEM_MAX = 64, 200
# ROL-2 action code (table 0287) DE: the person was removed from the role.
_ROL_DELETED = "DE"


def read(
    data: bytes | str | hl7.Message,
    *,
    feed: str,
    triggers: Hl7Triggers = DEFAULT_TRIGGERS,
    zone: tzinfo = UTC,
    staff_system: str | None = None,
    encoding: str = "utf-8",
) -> list[FeedRecord]:
    """One HL7 v2 message -> [] (valid, not a trigger) or [one FeedRecord].

    `zone`: the sender's wall clock, for times sent without an offset (v2 allows both).
    `staff_system`: the identifier system of a clinician whose XCN-9 assigning authority is
    empty; None says the ADT system already uses our staff ids.
    Raises Hl7Refused with every problem found (its ack_code says AE or AR)."""
    message = parse(data, encoding)
    msh = message.segment("MSH")
    problems: list[Problem] = []
    control_id = text(msh, 10)
    if not control_id:
        problems.append(
            Hl7Problem.at("MSH", 10, "message control id is empty", ErrorCode.required_missing)
        )
    elif len(control_id) > 128:
        problems.append(Hl7Problem.at("MSH", 10, "longer than 128 characters", ErrorCode.data_type))
    message_type, event = text(msh, 9, 1), text(msh, 9, 2)
    if not event and _has(message, "EVN"):
        event = text(message.segment("EVN"), 1)  # v2.2 and older put the event in EVN-1
    if not message_type:
        problems.append(
            Hl7Problem.at("MSH", 9, "message type is empty", ErrorCode.required_missing)
        )
    if problems:
        raise Hl7Refused(problems)
    processing = text(msh, 11)
    if processing and processing not in triggers.processing_ids:
        return []
    rule, raw_event = _match(message, message_type, event, triggers, problems)
    if problems:
        raise Hl7Refused(problems)
    if rule is None:
        return []
    occurred_at = _occurred_at(message, zone, problems)
    staff = _staff(message, staff_system, problems)
    if problems or occurred_at is None:
        raise Hl7Refused(problems)
    try:
        record = FeedRecord(
            source=Source.hl7v2,
            feed=feed,
            record_id=control_id,
            occurred_at=occurred_at,
            unit=_unit(message),
            event_type=rule.event_type,
            harm_level=rule.harm_level,
            raw_event=raw_event[:200],
            raw_harm=None,
            staff=staff,
        )
    except ValidationError as exc:  # the error's input may be a value: keep its place only
        raise Hl7Refused(
            [
                Hl7Problem("/".join(map(str, e["loc"])), e["type"], ErrorCode.internal)
                for e in exc.errors(include_input=False, include_context=False)
            ]
        ) from None
    return [record]


def parse(data: bytes | str | hl7.Message, encoding: str) -> hl7.Message:
    """Bytes or text -> the library's Message; a refusal (AR) when it is not one message."""
    if isinstance(data, hl7.Message):
        return data
    er7 = _er7(data, encoding).strip()
    if not hl7.ishl7(er7):  # also false for a batch: MLLP carries one message a block
        raise Hl7Refused(
            [Hl7Problem.at("MSH", None, "not one HL7 v2 message", ErrorCode.segment_sequence)]
        )
    try:
        return hl7.parse(er7)
    except UNPARSEABLE:  # the library's exception text may quote a segment
        raise Hl7Refused(
            [Hl7Problem.at("MSH", None, "not one HL7 v2 message", ErrorCode.segment_sequence)]
        ) from None


def _er7(data: bytes | str, encoding: str) -> str:
    """Text with segments ended by carriage returns, as the standard's parser reads them;
    a refusal (AR) for bytes that are not `encoding`. Line ends are made carriage returns
    and empty lines dropped: files edited by hand and some engines' test tools send LF,
    which the parser would read as part of a field."""
    if isinstance(data, bytes):
        try:
            data = data.decode(encoding)
        except UnicodeDecodeError:
            raise Hl7Refused(
                [Hl7Problem.at("MSH", None, f"not {encoding} text", ErrorCode.data_type)]
            ) from None
    lines = data.replace("\r\n", "\r").replace("\n", "\r").split("\r")
    return "\r".join(line for line in lines if line)


def _has(message: hl7.Message, segment: str) -> bool:
    return any(s[0][0] == segment for s in message if s and s[0])


def _occurrences(message: hl7.Message, segment: str) -> list[hl7.Segment]:
    return [s for s in message if s and s[0] and s[0][0] == segment]


def text(
    segment: hl7.Segment, field_no: int, component: int = 1, repetition: int = 1, sub: int = 1
) -> str:
    """One value through the library's accessor; absent, a deeper path or HL7 null -> ""."""
    try:
        value = segment.extract_field(1, field_no, repetition, component, sub)
    except (IndexError, TypeError):
        return ""
    value = str(value).strip()
    return "" if value == HL7_NULL else value


def _repetitions(segment: hl7.Segment, field_no: int) -> int:
    if field_no >= len(segment):
        return 0
    value = segment(field_no)
    return sum(1 for r in value if isinstance(r, hl7.Repetition)) or 1


def _match(
    message: hl7.Message,
    message_type: str,
    event: str,
    triggers: Hl7Triggers,
    problems: list[Problem],
) -> tuple[Hl7Rule | None, str]:
    kind = f"{message_type}^{event}" if event else message_type
    for rule in triggers.rules:
        if rule.message_type != message_type or (rule.events and event not in rule.events):
            continue
        if rule.field is None:
            return rule, kind
        seg, field_no, comp = rule.path()
        segments = _occurrences(message, seg)
        if not segments:
            if rule.required:
                problems.append(
                    Hl7Problem.at(
                        seg,
                        None,
                        f"segment missing; {kind} must carry it",
                        ErrorCode.segment_sequence,
                    )
                )
                return None, kind
            continue
        for segment in segments:
            for rep in range(1, _repetitions(segment, field_no) + 1):
                value = text(segment, field_no, comp, rep)
                if value in rule.values:
                    return rule, f"{kind} {rule.field}={value}"
    return None, kind


def _occurred_at(message: hl7.Message, zone: tzinfo, problems: list[Problem]) -> datetime | None:
    """The first time given of TIME_FIELDS. Every time field present is checked: a malformed
    one is refused rather than skipped, even when another is good, because the sender meant
    it and it may be the one that is right."""
    found: list[datetime] = []
    malformed = False
    for seg, field_no in TIME_FIELDS:
        if not _has(message, seg):
            continue
        value = text(message.segment(seg), field_no)
        if not value:
            continue
        try:
            if not _DTM.match(value):
                raise ValueError
            moment = hl7.parse_datetime(value)
        except (ValueError, OverflowError):  # the library's message carries the value
            problems.append(
                Hl7Problem.at(seg, field_no, "not an HL7 date/time (DTM)", ErrorCode.data_type)
            )
            malformed = True
            continue
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone)
        found.append(moment.astimezone(UTC))
    if malformed:
        return None
    if found:
        return found[0]
    problems.append(
        Hl7Problem.at(
            "EVN", 2, "no event time: EVN-6, PV1-45 and EVN-2 are empty", ErrorCode.required_missing
        )
    )
    return None


def _unit(message: hl7.Message) -> str | None:
    """PV1-3.1, the point of care; a value that is not a unit code reads as no unit (room,
    bed and facility are never read)."""
    if not _has(message, "PV1"):
        return None
    value = text(message.segment("PV1"), 3, 1)
    try:
        return _UNIT.validate_python(value) if value else None
    except ValidationError:
        return None


def _visit_roles(message: hl7.Message) -> list[tuple[int, hl7.Segment]]:
    """ROL segments of the visit and its procedures: after PV1, before the insurance (IN1)
    group. A ROL before PV1 is the patient's own (their primary care provider), not someone
    who was there; one after IN1 is an insurer's contact."""
    roles, in_visit, nth = [], False, 0
    for segment in message:
        name = segment[0][0] if segment and segment[0] else ""
        if name == "PV1":
            in_visit = True
        elif name == "IN1":
            in_visit = False
        elif name == "ROL":
            nth += 1
            if in_visit:
                roles.append((nth, segment))
    return roles


def _staff(
    message: hl7.Message, default_system: str | None, problems: list[Problem]
) -> tuple[StaffRef, ...]:
    """Clinicians by identifier (XCN-1) in their assigning authority (XCN-9: namespace, else
    universal id). A clinician sent by name only is passed over: a name is never copied.
    One person named twice (attending and in a ROL) is one StaffRef (record.merge_staff)."""
    found: list[StaffRef] = []

    def take(seg: str, nth: int, field_no: int, segment: hl7.Segment, role: str) -> None:
        for rep in range(1, _repetitions(segment, field_no) + 1):
            value = text(segment, field_no, 1, rep)
            if not value:
                continue
            system = (
                text(segment, field_no, 9, rep, 1)
                or text(segment, field_no, 9, rep, 2)
                or default_system
            )
            bad = (
                "identifier longer than 64 characters"
                if len(value) > _ID_MAX
                else "assigning authority longer than 200 characters"
                if system and len(system) > _SYSTEM_MAX
                else None
            )
            if bad:
                problems.append(
                    Hl7Problem.at(
                        seg, field_no, bad, ErrorCode.data_type, sequence=nth, repetition=rep
                    )
                )
                continue
            found.append(StaffRef(value=value, system=system, role=role[:64]))

    if _has(message, "PV1"):
        pv1 = message.segment("PV1")
        for field_no, role in CLINICIAN_FIELDS:
            take("PV1", 1, field_no, pv1, role)
    for nth, rol in _visit_roles(message):
        if text(rol, 2).upper() == _ROL_DELETED:
            continue
        code = text(rol, 3, 1)
        take("ROL", nth, 4, rol, f"ROL:{code}" if code else "ROL")
    return merge_staff(found)


def split(text: str | bytes, *, encoding: str = "utf-8") -> list[str]:
    """A file of messages (one, a batch, or a file with FHS/BHS headers) -> one ER7 text a
    message, for the CLI. The library splits; refused (AR) when it cannot."""
    try:
        parsed = hl7.parse_hl7(_er7(text, encoding))
    except UNPARSEABLE:
        raise Hl7Refused(
            [Hl7Problem.at("MSH", None, "not HL7 v2 messages", ErrorCode.segment_sequence)]
        ) from None
    return [str(m) for m in _messages(parsed)]


def _messages(parsed: hl7.Message | hl7.Batch | hl7.File) -> Iterable[hl7.Message]:
    if isinstance(parsed, hl7.Message):
        yield parsed
    else:
        for part in parsed:
            yield from _messages(part)
