"""Cases, pages, their state history, and inbound SMS."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.orm import Mapped, mapped_column

# Tables these rows point at must be mapped before any session flushes a page or a case.
import services.incidents.models
import services.people.models
import services.schedules.models  # noqa: F401
from services.db import Base
from services.sealing import Lookup, Sealed, mirror


class PageState(StrEnum):
    """Where a page is; stored as its value in pages.state and in page_transitions.state."""

    requested = "requested"
    sending = "sending"
    sent = "sent"
    delivered = "delivered"
    undelivered = "undelivered"
    failed = "failed"
    accepted = "accepted"
    declined = "declined"
    # No longer this peer's to answer: the case moved on (another peer took it, the clinician
    # declined or opted out, the peer who held it stood down). An answered state: a late
    # delivery status does not reopen it.
    superseded = "superseded"


# Sent or on its way and not yet answered: its reply code is taken, its peer may answer it.
OPEN_STATES = (PageState.requested, PageState.sending, PageState.sent, PageState.delivered)


class PageEvent(StrEnum):
    """What happened to a page without changing its state, kept in page_transitions.state
    beside the states (and the Twilio statuses a callback recorded) so its history reads in
    one place."""

    renumbered = "renumbered"  # the peer's number changed before the page was sent
    retry = "retry"  # a transient send failure: the claim was made stale for the next sweep


class SupportCase(Base):
    """One affected clinician of one incident."""

    __tablename__ = "support_cases"
    __table_args__ = (UniqueConstraint("incident_id", "staff_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("incidents.id"), index=True)
    staff_id: Mapped[str] = mapped_column(ForeignKey("staff.staff_id"))
    tier: Mapped[int] = mapped_column(Integer, default=2)
    state: Mapped[str] = mapped_column(String(24), default="identified")
    # Which escalation step pages now, and how many times the policy has gone round.
    escalation_step: Mapped[int] = mapped_column(Integer, default=0)
    escalation_round: Mapped[int] = mapped_column(Integer, default=0)
    deferred_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Coded, never free text: that support happened and how it ended, not what was said.
    contact_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str | None] = mapped_column(String(32))
    close_reason: Mapped[str | None] = mapped_column(String(32))
    # When services.retention took its numbers and texts (RETENTION_DAYS after closed_at).
    details_purged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Page(Base):
    """One SMS page to one peer (or the coordinator) for one case.

    The (case_id, attempt) key is what makes a redelivered PageRequested harmless, and the
    claim in `state` (requested -> sending) is what keeps a page from going out twice.
    """

    __tablename__ = "pages"
    __table_args__ = (
        UniqueConstraint("case_id", "attempt"),
        Index(
            "ix_pages_in_flight",
            "state",
            postgresql_where=text("state IN ('requested', 'sending')"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("support_cases.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    peer_staff_id: Mapped[str | None] = mapped_column(ForeignKey("staff.staff_id"))
    # Sealed (services.sealing); NULL once retention purged the closed case.
    to_number: Mapped[str | None] = mapped_column(Sealed("pages.to_number"))
    to_number_key: Mapped[str | None] = mapped_column(Lookup(), index=True)
    reply_code: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default=PageState.requested)
    # Not unique: several pages to one peer may share one bundled SMS.
    provider_sid: Mapped[str | None] = mapped_column(String(64), index=True)
    # Exactly what was (or is being) sent, so a stale claim can find it in Twilio's log.
    sent_body: Mapped[str | None] = mapped_column(Sealed("pages.sent_body"))
    error_code: Mapped[int | None] = mapped_column(Integer)
    requested_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PageTransition(Base):
    """The time of every change of a page, append-only."""

    __tablename__ = "page_transitions"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    page_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("pages.id"), index=True)
    state: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    detail: Mapped[dict[str, object]] = mapped_column(JSONB, default=dict)


class InboundSms(Base):
    """Every inbound SMS we verified, once (Twilio's sid is the key)."""

    __tablename__ = "inbound_sms"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    provider_sid: Mapped[str] = mapped_column(String(64), unique=True)
    # Sealed; NULL once retention purged them (the row and its times stay for the counts).
    from_number: Mapped[str | None] = mapped_column(Sealed("inbound_sms.from_number"))
    from_number_key: Mapped[str | None] = mapped_column(Lookup(), index=True)
    to_number: Mapped[str] = mapped_column(String(16))
    body: Mapped[str | None] = mapped_column(Sealed("inbound_sms.body"))
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    page_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("pages.id"))
    handled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class StatusCallback(Base):
    """A Twilio delivery status callback as it arrived, kept until it has been applied.

    Why stored before it is applied: the webhook answers Twilio after this one insert, and
    services.paging.callbacks applies the stored callbacks in sets (one transaction locks a
    batch's pages in id order), instead of a transaction and page lock per request.
    """

    __tablename__ = "status_callbacks"
    __table_args__ = (
        Index("ix_status_callbacks_pending", "id", postgresql_where=text("applied_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    provider_sid: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    error_code: Mapped[int | None] = mapped_column(Integer)
    # What the callback URL names: the page, a bundle's pages, or a message (no foreign keys:
    # a callback for something we do not have is answered and changes nothing).
    page_ids: Mapped[list[uuid.UUID]] = mapped_column(
        ARRAY(PgUUID(as_uuid=True)), server_default="{}"
    )
    message_id: Mapped[uuid.UUID | None] = mapped_column(PgUUID(as_uuid=True))
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    applied_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Whether applying it changed anything: a replayed or late status did not.
    recorded: Mapped[bool | None] = mapped_column(Boolean)


mirror(Page.to_number, Page.to_number_key)
mirror(InboundSms.from_number, InboundSms.from_number_key)
