"""Code blue and rapid-response activations, as the paging or code-team system posts them.

Why a feed of its own: an activation is known minutes after it starts, long before anyone
files a report, and the responding team is exactly the group that may need a debrief (a
failed resuscitation, a paediatric arrest). The matching step later joins it to the
report or the death message about the same event.

The webhook body is one JSON object:

    {"activation_id": "CB-2026-0412", "kind": "code_blue", "unit": "4E",
     "activated_at": "2026-11-30T03:12:00-05:00",
     "team": ["s-1001", {"id": "s-1002", "role": "team_leader"}]}

Any other field (the patient, a note) is ignored unread: pydantic drops it before anything
here sees it, and a Problem names a field's place and the rule it broke, never its value.
An activation says nothing about harm, so harm is `unknown` until a report says more.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

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
from services.feeds.reporting import EMPLOYEE_NUMBER
from services.feeds.reporting_mapping import normalise

_STAFF_ID = TypeAdapter(StaffId)
# Kept fields hold no line break or control character: nothing a code holds, and what
# would split a log line.
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"


class Kind(enum.StrEnum):
    """The two activations this feed carries; each is one of our event types."""

    code_blue = "code_blue"
    rapid_response = "rapid_response"


# How code-team systems name the two: the call ("code blue", "cardiac arrest") and the team
# ("RRT", "MET": rapid response team, medical emergency team).
KIND_NAMES: Mapping[str, Kind] = {
    normalise(name): kind
    for kind, names in {
        Kind.code_blue: ("code_blue", "code blue", "codeblue", "cardiac arrest", "arrest"),
        Kind.rapid_response: (
            "rapid_response",
            "rapid response",
            "rapid response team",
            "rrt",
            "met",
            "medical emergency team",
        ),
    }.items()
    for name in names
}
EVENT_TYPE = {
    Kind.code_blue: IncidentType.code_blue,
    Kind.rapid_response: IncidentType.rapid_response,
}


class TeamMember(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    # No spaces: a name typed where an id belongs is refused, never passed on.
    id: str = Field(min_length=1, max_length=64, pattern=EMPLOYEE_NUMBER.pattern)
    role: str | None = Field(default=None, max_length=64, pattern=PRINTABLE)


class Activation(BaseModel):
    """What the adapter reads from a webhook body; everything else is dropped unread."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    activation_id: str = Field(min_length=1, max_length=128, pattern=PRINTABLE)
    kind: str = Field(min_length=1, max_length=64, pattern=PRINTABLE)
    unit: UnitCode
    activated_at: datetime
    team: list[TeamMember] = Field(default_factory=list, max_length=500)

    @field_validator("team", mode="before")
    @classmethod
    def _ids_alone(cls, v: Any) -> Any:
        """A team member may be sent as a bare id: the common case needs no object."""
        if isinstance(v, list):
            return [{"id": m} if isinstance(m, str) else m for m in v]
        return v


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else str(part)
    return out or "body"


def from_webhook(
    body: bytes | str | Mapping[str, Any],
    *,
    feed: str,
    staff_system: str | None = None,
    default_zone: tzinfo | None = None,
) -> list[FeedRecord]:
    """The activation a webhook call carries, or FeedRefused with every problem.

    staff_system: None when the team is named by our staff ids, else the identifier system
    of the employee numbers the code-team system sends. default_zone: how to read a time
    sent without a UTC offset; None refuses it (a wrong hour would break matching)."""
    body = json_object(body, "one activation")

    try:
        activation = Activation.model_validate(body)
    except ValidationError as e:
        # Location and pydantic's message only: `input` and `ctx` hold the sender's value.
        problems = [
            Problem(_where(err["loc"]), _why(err["loc"], err["type"], err["msg"]))
            for err in e.errors(include_url=False, include_input=False, include_context=False)
        ]
        # Also check the kind: a sender fixing one problem should not meet the next.
        kind = body.get("kind")
        if isinstance(kind, str) and normalise(kind) not in KIND_NAMES:
            if not any(p.where == "kind" for p in problems):
                problems.append(_unknown_kind())
        raise FeedRefused(problems) from None

    problems: list[Problem] = []
    kind = KIND_NAMES.get(normalise(activation.kind))
    if kind is None:
        problems.append(_unknown_kind())

    occurred = activation.activated_at
    if occurred.tzinfo is None:
        if default_zone is None:
            problems.append(Problem("activated_at", "has no UTC offset and no zone is configured"))
        else:
            occurred = occurred.replace(tzinfo=default_zone)

    staff: list[StaffRef] = []
    for i, member in enumerate(activation.team):
        if staff_system is None:
            try:
                _STAFF_ID.validate_python(member.id)
            except ValidationError:
                problems.append(Problem(f"team[{i}].id", "not a staff id (at most 32 characters)"))
                continue
        staff.append(StaffRef(value=member.id, system=staff_system, role=member.role))

    if problems or kind is None:
        raise FeedRefused(problems)
    return [
        FeedRecord(
            source=Source.code_blue,
            feed=feed,
            record_id=activation.activation_id,
            occurred_at=occurred,
            unit=activation.unit,
            event_type=EVENT_TYPE[kind],
            harm_level=HarmLevel.unknown,
            raw_event=activation.kind,
            raw_harm=None,
            staff=merge_staff(staff),
        )
    ]


def _why(loc: tuple[int | str, ...], kind: str, msg: str) -> str:
    """Pydantic's wording, in the sender's terms where a bare pattern would puzzle them."""
    if kind == "missing":
        return "missing"
    if loc[-1] in ("activation_id", "kind", "role") and kind == "string_pattern_mismatch":
        return "holds a line break or control character"
    if loc[:1] == ("unit",) and kind == "string_pattern_mismatch":
        return "not a unit code (letters, digits, space _ . / -, at most 32)"
    if loc[:1] == ("team",) and kind == "string_pattern_mismatch":
        return "not a staff identifier (letters, digits, _ . : / -, no spaces)"
    if loc[:1] == ("team",) and len(loc) == 2 and kind == "model_type":
        return "must be a staff id or an object with id and role"
    return msg


def _unknown_kind() -> Problem:
    names = ", ".join(sorted(KIND_NAMES))
    return Problem("kind", f"not an activation this feed knows (expected one of {names})")
