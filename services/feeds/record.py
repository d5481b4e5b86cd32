"""What every feed adapter makes of a source record: one shape, with no patient in it.

Why one shape: the steps after the adapters (resolving staff, the trigger rules, matching
the same event arriving from several feeds, asking the coordinator) are the same for a FHIR
AdverseEvent, an HL7 death message, an incident report and a code blue, and must not learn
each source's format. Why no patient: a feed carries the patient (FHIR `subject`, HL7 PID,
names, record numbers) and nothing here needs them; an adapter copies only the fields named
below, so a patient identifier cannot reach the store, a topic, a dead letter or a log.

The source's own codes are kept beside ours (raw_event, raw_harm): a coordinator checking a
mapping sees what the source said, and a mapping fixed later can be re-run.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.events import HarmLevel, IncidentType, UnitCode


class Source(enum.StrEnum):
    """The kinds of feed; a hospital may run several feeds of one kind (services.feeds)."""

    fhir = "fhir"  # FHIR AdverseEvent (R4, R4B, R5), single resources and Bundles
    hl7v2 = "hl7v2"  # HL7 v2 ADT over MLLP
    reporting = "reporting"  # the incident-reporting system: JSON webhook or CSV export
    code_blue = "code_blue"  # code blue and rapid-response activations
    kafka = "kafka"  # IncidentReported produced straight to the raw topic


class StaffRef(BaseModel):
    """One clinician as the source names them: an identifier in the source's system (a
    FHIR Practitioner identifier, an HL7 XCN id) or our staff id when the source uses it.
    Resolved to a staff id against the directory after the adapter, never by the adapter."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    value: str = Field(min_length=1, max_length=64)
    system: str | None = Field(default=None, max_length=200)  # None: the value is a staff id
    role: str | None = Field(default=None, max_length=64)  # e.g. "attending", "ROL:PP"


class FeedRecord(BaseModel):
    """One source record, as far as this product needs it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: Source
    feed: str = Field(min_length=1, max_length=64)  # the configured feed it came from
    # The source's id of this record (a FHIR resource id, an HL7 MSH-10 control id, a report
    # number): what links an incident to the records it was made from. Never a patient's.
    record_id: str = Field(min_length=1, max_length=128)
    occurred_at: AwareDatetime
    unit: UnitCode | None  # None: the source named no unit we know how to read
    event_type: IncidentType
    harm_level: HarmLevel
    raw_event: str | None = Field(default=None, max_length=200)
    raw_harm: str | None = Field(default=None, max_length=200)
    staff: tuple[StaffRef, ...] = ()


def merge_staff(refs: Iterable[StaffRef]) -> tuple[StaffRef, ...]:
    """One entry per person (system and value), in the order first named: a source names
    someone twice (attending and in a ROL, reporter and involved), and the resolution after
    the adapter must not count two. The first role given is kept; a role named later fills
    one that was missing."""
    merged: dict[tuple[str | None, str], StaffRef] = {}
    for ref in refs:
        key = (ref.system, ref.value)
        if key not in merged or (merged[key].role is None and ref.role is not None):
            merged[key] = ref
    return tuple(merged.values())


@dataclass(frozen=True)
class Problem:
    """Why part of a record was refused: where (a path in the source's own terms, such as
    `AdverseEvent.participant[1].actor` or `PV1-36`) and why, never the value found there
    (it may be a patient's)."""

    where: str
    why: str


@dataclass
class FeedRefused(ValueError):
    """A record no adapter step can use; the sender is told every problem at once."""

    problems: list[Problem] = field(default_factory=list)

    def __str__(self) -> str:
        return "; ".join(f"{p.where}: {p.why}" for p in self.problems)


def json_object(body: bytes | str | Mapping[str, Any], one: str) -> Mapping[str, Any]:
    """A webhook's JSON body as an object, or FeedRefused saying where it broke (the
    decoder's fixed wording and position, never the text); `one` names what the object is
    ("one report")."""
    if isinstance(body, bytes | str):
        try:
            body = json.loads(body)
        except UnicodeDecodeError:
            raise FeedRefused([Problem("body", "not UTF-8 text")]) from None
        except json.JSONDecodeError as e:
            where = f"body line {e.lineno}, column {e.colno}"
            raise FeedRefused([Problem(where, f"not JSON: {e.msg}")]) from None
    if not isinstance(body, Mapping):
        raise FeedRefused([Problem("body", f"must be a JSON object: {one}")])
    return body
