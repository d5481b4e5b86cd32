"""Versioned event contracts: the only shapes that travel on Kafka.

Why pydantic models and exported JSON Schema: a hospital's incident system must be able to
produce a valid IncidentReported without our code, and every consumer here validates what it
reads against the same definition. A change that breaks a consumer bumps schema_version.

Minimum necessary: no contract has a field for a patient identifier, a narrative or a phone
number. Staff are named by staff id; numbers are looked up in the store at send time.
"""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime
from typing import Annotated, ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1  # every contract's, but SmsReceived's (2: a claim check, no number)

StaffId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")]
UnitCode = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9 _./-]{0,31}$")]


def _emitted_now() -> datetime:
    """The wall clock, for an envelope's `emitted_at` only: when the bytes were produced.

    Nothing decides on `emitted_at`; every decision on time (deadlines, claims, quiet hours)
    runs on `services.clock`, which a test moves forward. The contracts cannot use that
    clock: a hospital's producer imports this package without the services around it.
    """
    return datetime.now(UTC)


class IncidentType(enum.StrEnum):
    """Triggers that programmes treat as automatic outreach (see the domain brief)."""

    unexpected_death = "unexpected_death"
    serious_safety_event = "serious_safety_event"
    root_cause_analysis = "root_cause_analysis"
    code_blue = "code_blue"
    rapid_response = "rapid_response"
    failed_resuscitation = "failed_resuscitation"
    paediatric_event = "paediatric_event"
    unit_cluster = "unit_cluster"
    first_patient_death = "first_patient_death"
    needlestick_high_risk = "needlestick_high_risk"
    violence_against_staff = "violence_against_staff"
    litigation = "litigation"
    staff_death = "staff_death"
    medication_error = "medication_error"
    other = "other"


class HarmLevel(enum.StrEnum):
    """AHRQ Common Formats harm scale, coarse on purpose: no clinical detail."""

    none = "none"
    mild = "mild"
    moderate = "moderate"
    severe = "severe"
    death = "death"
    unknown = "unknown"


class DeliveryStatus(enum.StrEnum):
    """Twilio's MessageStatus values that a status callback can carry."""

    accepted = "accepted"
    queued = "queued"
    sending = "sending"
    sent = "sent"
    delivered = "delivered"
    undelivered = "undelivered"
    failed = "failed"
    read = "read"
    canceled = "canceled"


class PageAnswer(enum.StrEnum):
    accepted = "accepted"
    declined = "declined"
    referred = "referred"


class Event(BaseModel):
    """Envelope fields every contract shares."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    topic: ClassVar[str]
    key_field: ClassVar[str]

    schema_version: Literal[1] = SCHEMA_VERSION
    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    emitted_at: AwareDatetime = Field(default_factory=_emitted_now)

    @property
    def key(self) -> str:
        return str(getattr(self, self.key_field))

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()


class IncidentReported(Event):
    """Risk management logged an incident. The only fact the investigation side emits."""

    topic: ClassVar[str] = "svrr.incident-reported.v1"
    key_field: ClassVar[str] = "incident_id"

    event: Literal["IncidentReported"] = "IncidentReported"
    incident_id: uuid.UUID
    incident_key: str | None = None
    occurred_at: AwareDatetime
    unit: UnitCode
    event_type: IncidentType
    harm_level: HarmLevel
    staff_ids: list[StaffId] = Field(min_length=1, max_length=500)
    reporter_ref: str | None = Field(default=None, max_length=64)


class SupportNeeded(Event):
    """One affected clinician of one incident: a case is opened."""

    topic: ClassVar[str] = "svrr.support-needed.v1"
    key_field: ClassVar[str] = "case_id"

    event: Literal["SupportNeeded"] = "SupportNeeded"
    case_id: uuid.UUID
    incident_id: uuid.UUID
    staff_id: StaffId
    tier: Literal[1, 2, 3] = 2


class PageRequested(Event):
    """A peer (or the coordinator) is to be paged. Keyed by case so a case stays in order."""

    topic: ClassVar[str] = "svrr.page-requested.v1"
    key_field: ClassVar[str] = "case_id"

    event: Literal["PageRequested"] = "PageRequested"
    page_id: uuid.UUID
    case_id: uuid.UUID
    attempt: int = Field(ge=1)
    peer_staff_id: StaffId | None = None  # None: the programme coordinator
    reason: str = Field(max_length=1000)


class PageSent(Event):
    topic: ClassVar[str] = "svrr.page-sent.v1"
    key_field: ClassVar[str] = "case_id"

    event: Literal["PageSent"] = "PageSent"
    page_id: uuid.UUID
    case_id: uuid.UUID
    provider_sid: str
    reconciled: bool = False  # True: found in the provider's log after a crash, not re-sent


class PageStatusChanged(Event):
    topic: ClassVar[str] = "svrr.page-status-changed.v1"
    key_field: ClassVar[str] = "case_id"

    event: Literal["PageStatusChanged"] = "PageStatusChanged"
    page_id: uuid.UUID
    case_id: uuid.UUID
    provider_sid: str
    status: DeliveryStatus
    error_code: int | None = None


class SmsReceived(Event):
    """An inbound SMS, verified as Twilio's and stored: a claim check on its inbound_sms row.

    Version 2 (svrr.sms-received.v2). Version 1 carried the sender's number and what they
    wrote, so both sat at rest in the outbox table and on the topic's log, outside the
    store's sealed columns and its retention. This one names the stored row only (`sms_id`,
    and Twilio's `provider_sid`); the reply agent reads the number and the text from the row
    in the transaction that acts on them (services.cases.inbound). An event whose row is gone
    (purged) is a dead letter, never a crash.

    Keyed by `sender`, the keyed lookup hash of the sender's number (an HMAC-SHA256 whose key
    never leaves the services, services.sealing): one sender's replies stay in order on one
    partition, and the key reveals no number to whoever reads the topic.
    """

    topic: ClassVar[str] = "svrr.sms-received.v2"
    key_field: ClassVar[str] = "sender"

    schema_version: Literal[2] = 2  # type: ignore[assignment]
    event: Literal["SmsReceived"] = "SmsReceived"
    sms_id: uuid.UUID
    provider_sid: str = Field(min_length=1, max_length=64)
    sender: str = Field(pattern=r"^[0-9a-f]{64}$")


class PageAnswered(Event):
    """A paged peer answered. Risk management never consumes this topic."""

    topic: ClassVar[str] = "svrr.page-answered.v1"
    key_field: ClassVar[str] = "case_id"

    event: Literal["PageAnswered"] = "PageAnswered"
    page_id: uuid.UUID
    case_id: uuid.UUID
    answer: PageAnswer
    sms_id: uuid.UUID


class InvolvementProposed(Event):
    """Staff on shift on the unit at the time, proposed as involved; not contacted until
    the risk manager confirms each one."""

    topic: ClassVar[str] = "svrr.involvement-proposed.v1"
    key_field: ClassVar[str] = "incident_id"

    event: Literal["InvolvementProposed"] = "InvolvementProposed"
    incident_id: uuid.UUID
    staff_ids: list[StaffId] = Field(min_length=1)


class InvolvementDecided(Event):
    topic: ClassVar[str] = "svrr.involvement-decided.v1"
    key_field: ClassVar[str] = "incident_id"

    event: Literal["InvolvementDecided"] = "InvolvementDecided"
    incident_id: uuid.UUID
    staff_id: StaffId
    decision: Literal["confirmed", "removed"]


class GroupDebriefProposed(Event):
    """Many staff or several units: a Tier 2 team debrief is proposed alongside outreach."""

    topic: ClassVar[str] = "svrr.group-debrief-proposed.v1"
    key_field: ClassVar[str] = "incident_id"

    event: Literal["GroupDebriefProposed"] = "GroupDebriefProposed"
    debrief_id: uuid.UUID
    incident_id: uuid.UUID
    staff_count: int
    unit_count: int


class CaseStateChanged(Event):
    """One step of a case's tiered response. Keyed by case: a case's history is its events
    in order, and replaying them gives its state."""

    topic: ClassVar[str] = "svrr.case-events.v1"
    key_field: ClassVar[str] = "case_id"

    event: Literal["CaseStateChanged"] = "CaseStateChanged"
    case_id: uuid.UUID
    from_state: str = Field(max_length=24)
    to_state: str = Field(max_length=24)
    reason: str = Field(max_length=200)


CONTRACTS: tuple[type[Event], ...] = (
    IncidentReported,
    SupportNeeded,
    InvolvementProposed,
    InvolvementDecided,
    GroupDebriefProposed,
    PageRequested,
    PageSent,
    PageStatusChanged,
    SmsReceived,
    PageAnswered,
    CaseStateChanged,
)


# --- Straight to Kafka: a hospital integration engine's own incident records --------------


class FeedStaffRef(BaseModel):
    """One clinician as the producing system names them: an identifier in its own system
    (`system`), or our staff id (no system). Never a name: the directory resolves ids."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: str = Field(min_length=1, max_length=64)
    system: str | None = Field(default=None, min_length=1, max_length=200)
    role: str | None = Field(default=None, min_length=1, max_length=64)


class FeedIncidentReported(Event):
    """An incident produced by a hospital's integration engine straight to the raw topic.

    Why a contract of its own beside IncidentReported: the producer has none of our ids
    (incident, staff) and must not need them. It names its own record (`record_id`, what
    links the incident to its source and makes a redelivery harmless), the configured feed it
    speaks for, and its clinicians in its own identifier systems; the store resolves them,
    applies the trigger rules and joins records of one event, as for every other feed.
    Keyed by record_id, so the redeliveries of one record stay in order. A record that fails
    this schema goes to svrr.feed-incident-reported.dlq.v1 with the reason, never its bytes.
    """

    topic: ClassVar[str] = "svrr.feed-incident-reported.v1"
    key_field: ClassVar[str] = "record_id"

    event: Literal["FeedIncidentReported"] = "FeedIncidentReported"
    record_id: str = Field(min_length=1, max_length=128)
    feed: str = Field(min_length=1, max_length=64)
    occurred_at: AwareDatetime
    unit: UnitCode | None = None
    event_type: IncidentType
    harm_level: HarmLevel
    raw_event: str | None = Field(default=None, max_length=200)
    raw_harm: str | None = Field(default=None, max_length=200)
    staff: list[FeedStaffRef] = Field(default_factory=list, max_length=500)


class FeedProblem(BaseModel):
    """Where a rejected record broke and why, in the schema's terms (`staff.3.value`,
    "String should have at most 64 characters"), never the value found there."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    where: str = Field(max_length=200)
    why: str = Field(max_length=300)


class FeedRecordRejected(Event):
    """A raw-topic record that could not be taken: the dead letter an integration team reads
    to fix its producer. It says where the record was (topic, partition, offset: the broker
    still holds it for the raw topic's retention), a SHA-256 of its bytes (to match it
    against the producer's log) and every problem, but never the payload: a record that
    failed validation may carry a patient's details in any field."""

    topic: ClassVar[str] = "svrr.feed-incident-reported.dlq.v1"
    key_field: ClassVar[str] = "sha256"

    event: Literal["FeedRecordRejected"] = "FeedRecordRejected"
    source_topic: str = Field(max_length=249)
    partition: int = Field(ge=0)
    offset: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)
    # schema: the contract refused it; feed: no such kafka feed is configured; failed: the
    # store refused it for a reason retrying cannot fix (the record is kept nowhere else).
    reason: Literal["schema", "feed", "failed"]
    problems: list[FeedProblem] = Field(min_length=1, max_length=50)


CONTRACTS = (*CONTRACTS, FeedIncidentReported, FeedRecordRejected)
