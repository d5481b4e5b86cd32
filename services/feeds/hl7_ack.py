"""The answer to an HL7 v2 message: its ACK (AA, AE or AR), with an ERR segment a problem.

Why apart from services.feeds.hl7v2: what the sender's interface engine is told back (ERR as
its version expects, a NAK even for bytes that are no message) changes for other reasons than
what is read from a message; the MLLP listener needs only this and the message's vocabulary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, tzinfo

import hl7

from services.feeds import hl7v2
from services.feeds.hl7v2 import (
    DEFAULT_TRIGGERS,
    AckCode,
    ErrorCode,
    Hl7Problem,
    Hl7Refused,
    Hl7Triggers,
    read,
)
from services.feeds.record import FeedRecord, Problem

_ERROR_TEXT = {
    ErrorCode.segment_sequence: "Segment sequence error",
    ErrorCode.required_missing: "Required field missing",
    ErrorCode.data_type: "Data type error",
    ErrorCode.internal: "Application internal error",
}


def _version(message: hl7.Message) -> tuple[int, ...]:
    try:
        raw = hl7v2.text(message.segment("MSH"), 12)
        return tuple(int(p) for p in raw.split(".")) if raw else (2, 5)
    except (ValueError, KeyError):
        return (2, 5)


def ack(
    message: bytes | str | hl7.Message,
    code: AckCode,
    problems: Sequence[Problem] = (),
    *,
    encoding: str = "utf-8",
) -> hl7.Message:
    """The acknowledgement of one message: the library's ACK (MSH with sender and receiver
    swapped, MSA-1 the code, MSA-2 the message's MSH-10), plus one ERR segment a problem.

    ERR follows the message's version: ERR-1 (segment^sequence^field^code) before v2.5,
    ERR-2 (location), ERR-3 (0357 code), ERR-4 (severity E) and ERR-8 (why) from v2.5 on.
    Bytes that are no message get a best-effort NAK: the first segment's MSH if it parses
    (so the sender can match MSA-2), else a bare header."""
    parsed = _salvage(message, encoding)
    try:
        reply = parsed.create_ack(str(code))
    except (IndexError, TypeError):  # a header too short for the library: answer anyway
        reply = _BARE.create_ack(str(code))
        reply.segment("MSA").assign_field(reply.escape(hl7v2.text(parsed.segment("MSH"), 10)), 2)
    version = _version(parsed)
    for problem in problems:
        reply.append(_err(reply, problem, version))
    if problems and version < (2, 5):  # ELD has no room for why: such engines show MSA-3
        text = "; ".join(f"{p.where}: {p.why}" for p in problems)
        reply.segment("MSA").assign_field(reply.escape(text[:80]), 3)
    return reply


def _salvage(message: bytes | str | hl7.Message, encoding: str) -> hl7.Message:
    try:
        return hl7v2.parse(message, encoding)
    except Hl7Refused:
        pass
    text = message.decode("latin-1") if isinstance(message, bytes) else str(message)
    first = text.replace("\n", "\r").lstrip().split("\r", 1)[0]
    if first.startswith("MSH") and len(first) > 8:
        try:
            header = hl7.parse(first)
            header.segment("MSH")
            return header
        except hl7v2.UNPARSEABLE:
            pass
    return _BARE


# The header of a NAK for bytes that are no message: nothing of theirs can be echoed.
_BARE = hl7.parse("MSH|^~\\&|||||||ACK^||P|2.5")


def _err(reply: hl7.Message, problem: Problem, version: tuple[int, ...]) -> hl7.Segment:
    hp = problem if isinstance(problem, Hl7Problem) else None
    code = hp.code if hp else ErrorCode.internal
    seg_id = (hp.segment if hp else None) or ""
    sequence = str(hp.sequence) if hp and hp.segment else ""
    field_no = str(hp.field_no) if hp and hp.field_no else ""
    rep = str(hp.repetition) if hp and hp.repetition else ""
    err = reply.create_segment([reply.create_field(["ERR"])])
    why = reply.escape(f"{problem.where}: {problem.why}")
    if version < (2, 5):
        err.assign_field(seg_id, 1, 1, 1)
        err.assign_field(sequence, 1, 1, 2)
        err.assign_field(field_no, 1, 1, 3)
        err.assign_field(f"{code}&{reply.escape(_ERROR_TEXT[code])}&HL70357", 1, 1, 4)
        return err
    if seg_id:
        for n, part in enumerate((seg_id, sequence, field_no, rep), start=1):
            if part:
                err.assign_field(part, 2, 1, n)
    err.assign_field(str(code), 3, 1, 1)
    err.assign_field(reply.escape(_ERROR_TEXT[code]), 3, 1, 2)
    err.assign_field("HL70357", 3, 1, 3)
    err.assign_field("E", 4)
    err.assign_field(why, 8)
    return err


@dataclass(frozen=True)
class Received:
    """What the listener needs of one message: the records to pass on and the ACK bytes."""

    records: list[FeedRecord]
    code: AckCode
    ack: bytes
    problems: list[Problem] = field(default_factory=list)


def receive(
    data: bytes,
    *,
    feed: str,
    triggers: Hl7Triggers = DEFAULT_TRIGGERS,
    zone: tzinfo = UTC,
    staff_system: str | None = None,
    encoding: str = "utf-8",
) -> Received:
    """read() and ack() together, for an MLLP block: AA with the records, or AE/AR with
    every problem in ERR segments. Never raises on the message's content."""
    try:
        records = read(
            data,
            feed=feed,
            triggers=triggers,
            zone=zone,
            staff_system=staff_system,
            encoding=encoding,
        )
    except Hl7Refused as refused:
        code, problems = refused.ack_code, list(refused.problems)
        reply = ack(data, code, problems, encoding=encoding)
        return Received([], code, str(reply).encode(encoding, "replace"), problems)
    reply = ack(data, AckCode.accept, encoding=encoding)
    return Received(records, AckCode.accept, str(reply).encode(encoding, "replace"))
