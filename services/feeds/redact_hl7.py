"""The part of a refused HL7 v2 message that may be kept for replay: no patient in it.

Why keep anything: a refused death message is an incident nobody was paged for until the
sender's interface team fixes it. The coordinator who replays it after a mapping or a
directory fix needs what the adapter reads (services.feeds.hl7v2), not the message. Why a
whitelist rather than deleting PID: patient data turns up where it is not expected (an OBX
note naming the family, a DG1 diagnosis, NK1, an insurer's ROL after IN1, a name in an XCN
beside the clinician's id), so only fields known to hold codes, times and identifiers of
systems and clinicians are copied, and only the components the adapter reads:

- MSH-3..7 and 9..12: sending and receiving systems (systems, not people), the message
  time, type, control id, processing id and version; never MSH-8 (security) or beyond 12.
- EVN-1, EVN-2 and EVN-6: the event code and its times; never EVN-5 (the operator's name).
- PV1-3.1 (the point of care: the unit, never room or bed), PV1-7/8/9/17 clinicians as
  XCN-1 (the id) and XCN-9 (its assigning authority) only, never their names; PV1-36.1
  and PV1-45.1. Never PV1-19 (the visit number) or any other PV1 field.
- The ROL segments the adapter reads (after PV1, before IN1): ROL-2, ROL-3.1 and ROL-4 as
  ids and authorities, in their order. A ROL before PV1 is the patient's own doctor, one
  after IN1 the insurer's: both are left out.
- A site's own trigger fields (Hl7Triggers), and then only when the value found is one of
  the rule's own codes: a value the rule does not list is nothing the rule needs.

Never PID, PD1, NK1, MRG, GT1, IN1-IN3, whatever a trigger rule names. The kept message is
ER7 text with the standard separators, so a replay feeds it to the same adapter.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import hl7

from services.feeds import hl7v2
from services.feeds.hl7v2 import DEFAULT_TRIGGERS, UNPARSEABLE, Hl7Refused, Hl7Triggers

FORMAT = "hl7v2-er7"
# Segments about the patient, their family, guarantor or insurer: nothing in them is kept,
# whatever a site's trigger rules name.
PATIENT_SEGMENTS = frozenset({"PID", "PD1", "NK1", "MRG", "GT1", "IN1", "IN2", "IN3"})
# Fields of kept segments that identify the patient's visit or account.
PATIENT_FIELDS = frozenset({("PV1", 19), ("PV1", 50)})
MSH_FIELDS = (3, 4, 5, 6, 7, 9, 10, 11, 12)
EVN_FIELDS = (1, 2, 6)
# An XCN's id (1) and its assigning authority (9: namespace, universal id and its type).
_XCN_PARTS = ((1, 1), (9, 1), (9, 2), (9, 3))
_CLINICIANS = tuple(f for f, _role in hl7v2.CLINICIAN_FIELDS)
# A kept value longer than this is cut: the adapter refuses far shorter ids, and a kept
# row must stay small whatever the sender put in a field.
MAX_VALUE = 200
_STANDARD = "MSH|^~\\&|"
# One field as kept: each repetition's (repetition, component, subcomponent, value) parts.
Parts = list[list[tuple[int, int, int, str]]]
Fields = list[tuple[int, Parts]]


def kept(
    data: bytes | str | hl7.Message,
    *,
    triggers: Hl7Triggers = DEFAULT_TRIGGERS,
    encoding: str = "utf-8",
) -> dict[str, Any] | None:
    """The PHI-free part of a message, for a feed_refusals row: {"format": "hl7v2-er7",
    "message": ER7 text, "left_out": {segment name: count}}. Bytes that are not one HL7
    message keep their header only if it parses alone, and None when nothing does."""
    message = _parse(data, encoding)
    if message is None:
        return None
    out = _Builder()
    left_out: dict[str, int] = {}
    msh = _first(message, "MSH")
    if msh is None:
        return None
    out.segment("MSH", [(f, _whole(msh, f)) for f in MSH_FIELDS], header=True)
    if (evn := _first(message, "EVN")) is not None:
        out.segment("EVN", [(f, _whole(evn, f)) for f in EVN_FIELDS])
    visit_roles = {id(rol) for _nth, rol in hl7v2._visit_roles(message)}
    trigger_fields = _trigger_fields(triggers)
    pv1_seen = False
    for segment in message:
        name = _name(segment)
        if name in ("MSH", "EVN"):
            continue
        if name == "PV1" and not pv1_seen:
            pv1_seen = True
            out.segment("PV1", _pv1(segment) + _triggered(segment, name, trigger_fields))
        elif name == "ROL" and id(segment) in visit_roles:
            out.segment("ROL", _rol(segment))
        elif name != "PV1" and (found := _triggered(segment, name, trigger_fields)):
            out.segment(name, found)
        elif name:
            left_out[name] = left_out.get(name, 0) + 1
    return {"format": FORMAT, "message": out.text(), "left_out": left_out}


def _parse(data: bytes | str | hl7.Message, encoding: str) -> hl7.Message | None:
    """The message, or its first line alone when that is a header that parses."""
    try:
        return hl7v2.parse(data, encoding)
    except Hl7Refused:
        pass
    text = data.decode(encoding, "replace") if isinstance(data, bytes) else str(data)
    first = text.replace("\r\n", "\r").replace("\n", "\r").lstrip().split("\r", 1)[0]
    if not first.startswith("MSH") or len(first) < 9:
        return None
    try:
        header = hl7.parse(first)
        header.segment("MSH")
    except UNPARSEABLE:
        return None
    return header


def _first(message: hl7.Message, name: str) -> hl7.Segment | None:
    for segment in message:
        if _name(segment) == name:
            return segment
    return None


def _name(segment: hl7.Segment) -> str:
    try:
        return str(segment[0][0]) if segment and segment[0] else ""
    except (IndexError, TypeError):
        return ""


def _reps(segment: hl7.Segment, field_no: int) -> int:
    return hl7v2._repetitions(segment, field_no)


def _whole(segment: hl7.Segment, field_no: int) -> Parts:
    """Every repetition of a field that holds codes or times, each component and
    subcomponent as sent (MSH-9 is type^event^structure, MSH-3 namespace^oid^type)."""
    reps: Parts = []
    for rep in range(1, _reps(segment, field_no) + 1):
        parts: list[tuple[int, int, int, str]] = []
        for comp in range(1, 4):
            for sub in range(1, 4):
                value = hl7v2.text(segment, field_no, comp, rep, sub)
                if value:
                    parts.append((rep, comp, sub, value))
        reps.append(parts)
    return reps


def _picked(segment: hl7.Segment, field_no: int, parts: Iterable[tuple[int, int]]) -> Parts:
    """Only the named (component, subcomponent) parts of each repetition."""
    reps: Parts = []
    for rep in range(1, _reps(segment, field_no) + 1):
        found = [
            (rep, comp, sub, value)
            for comp, sub in parts
            if (value := hl7v2.text(segment, field_no, comp, rep, sub))
        ]
        reps.append(found)
    return reps


def _pv1(pv1: hl7.Segment) -> Fields:
    fields = [(3, _picked(pv1, 3, [(1, 1)]))]
    fields += [(f, _picked(pv1, f, _XCN_PARTS)) for f in _CLINICIANS]
    fields += [(36, _picked(pv1, 36, [(1, 1)])), (45, _picked(pv1, 45, [(1, 1)]))]
    return fields


def _rol(rol: hl7.Segment) -> Fields:
    return [(2, _picked(rol, 2, [(1, 1)])), (3, _picked(rol, 3, [(1, 1)]))] + [
        (4, _picked(rol, 4, _XCN_PARTS))
    ]


def _trigger_fields(triggers: Hl7Triggers) -> dict[str, dict[int, tuple[int, frozenset[str]]]]:
    """segment -> field -> (component, the codes that trigger), for fields a site added."""
    found: dict[str, dict[int, tuple[int, frozenset[str]]]] = {}
    for rule in triggers.rules:
        if rule.field is None:
            continue
        seg, field_no, comp = rule.path()
        if seg in PATIENT_SEGMENTS or (seg, field_no) in PATIENT_FIELDS:
            continue
        was = found.setdefault(seg, {}).get(field_no)
        values = rule.values | (was[1] if was and was[0] == comp else frozenset())
        found[seg][field_no] = (comp, values)
    return found


def _triggered(
    segment: hl7.Segment, name: str, fields: dict[str, dict[int, tuple[int, frozenset[str]]]]
) -> Fields:
    """A rule's field in this segment, only where its value is one of the rule's codes."""
    out: Fields = []
    for field_no, (comp, values) in sorted(fields.get(name, {}).items()):
        if name == "PV1" and field_no in (3, 36, 45, *_CLINICIANS):
            continue  # already kept
        reps = [
            [(rep, comp, 1, value)]
            if (value := hl7v2.text(segment, field_no, comp, rep)) in values
            else []
            for rep in range(1, _reps(segment, field_no) + 1)
        ]
        if any(reps):
            out.append((field_no, reps))
    return out


class _Builder:
    """ER7 text with the standard separators, every value escaped by the library (a value
    holding `|` or `^` cannot shift the fields after it on replay)."""

    def __init__(self) -> None:
        self._message = hl7.parse(_STANDARD)
        self._segments: list[str] = []

    def segment(
        self,
        name: str,
        fields: Fields,
        *,
        header: bool = False,
    ) -> None:
        m = self._message
        segment = m.segment("MSH") if header else m.create_segment([m.create_field([name])])
        for field_no, reps in fields:
            for parts in reps:
                for rep, comp, sub, value in parts:
                    segment.assign_field(m.escape(value[:MAX_VALUE]), field_no, rep, comp, sub)
        self._segments.append(str(segment))

    def text(self) -> str:
        return "\r".join(self._segments)
