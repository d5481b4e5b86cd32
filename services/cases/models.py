"""Case history, outbound SMS that are not pages, durable deadlines, escalation policies.

Deadlines live in the store, not in a worker's memory: a worker that was down fires what
fell due while it was away, once (a row is claimed and marked in one transaction).
"""

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
    SmallInteger,
    String,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

import services.paging.models  # noqa: F401  (cases and pages are mapped first)
from services.db import Base
from services.sealing import Lookup, Sealed, mirror


class MessageState(StrEnum):
    """Where a message is; stored as its value in messages.state."""

    queued = "queued"  # waiting for not_before (quiet hours) or the number's rate limit
    sending = "sending"  # claimed by a sender
    sent = "sent"
    delivered = "delivered"
    undelivered = "undelivered"
    failed = "failed"
    cancelled = "cancelled"  # no longer needed before it went (a reminder after an answer)
    suppressed = "suppressed"  # STOP, an opt-out or a bad number since it was queued


class CaseTransition(Base):
    """Every change of a case's state, append-only; the same facts go to Kafka."""

    __tablename__ = "case_transitions"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("support_cases.id"), index=True)
    from_state: Mapped[str] = mapped_column(String(24))
    to_state: Mapped[str] = mapped_column(String(24))
    reason: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Message(Base):
    """An SMS that is not a page: Tier 1 prompts, offers, reminders, follow-ups, replies.

    `dedupe_key` makes one identical pending message per number (GoAlert's rule);
    `not_before` holds a message through the clinician's quiet hours.
    """

    __tablename__ = "messages"
    __table_args__ = (
        Index(
            "uq_messages_pending_dedupe",
            "dedupe_key",
            unique=True,
            postgresql_where=text("state IN ('queued', 'sending')"),
        ),
        Index(
            "ix_messages_due",
            "priority",
            "not_before",
            postgresql_where=text("state = 'queued'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("support_cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    # Sealed (services.sealing); NULL once retention purged the closed case.
    to_number: Mapped[str | None] = mapped_column(Sealed("messages.to_number"))
    to_number_key: Mapped[str | None] = mapped_column(Lookup(), index=True)
    body: Mapped[str | None] = mapped_column(Sealed("messages.body"))
    dedupe_key: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16), default=MessageState.queued)
    # services.cases.outbound.Priority: urgent messages never wait behind bulk to one number.
    priority: Mapped[int] = mapped_column(SmallInteger, server_default=text("1"))
    not_before: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    provider_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    error_code: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Deadline(Base):
    """Something that must happen at `due_at` unless the case moved on first."""

    __tablename__ = "deadlines"
    __table_args__ = (
        Index("ix_deadlines_due", "due_at", postgresql_where=text("fired_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("support_cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    payload: Mapped[dict[str, object]] = mapped_column(JSONB, default=dict)
    fired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str | None] = mapped_column(String(40))


class EscalationPolicy(Base):
    """Ordered steps, each paging a target and waiting before the next; editable by the
    coordinator without code. `site` NULL is the programme's default."""

    __tablename__ = "escalation_policies"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    site: Mapped[str | None] = mapped_column(String(32), unique=True)
    # [{"target": "peer" | "coordinator", "wait_minutes": 5}, ...]
    steps: Mapped[list[dict[str, object]]] = mapped_column(JSONB)
    repeat: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class NumberOptOut(Base):
    """STOP from a number: nothing more is sent to it until it sends START."""

    __tablename__ = "sms_opt_outs"

    # Found by its lookup value; the number itself is kept sealed so that a new lookup key
    # (svrr keys rotate) can recompute the key instead of forgetting who said STOP.
    number_key: Mapped[str] = mapped_column(Lookup(), primary_key=True)
    number: Mapped[str] = mapped_column(Sealed("sms_opt_outs.number"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CaseAttention(Base):
    """A reason the coordinator was told about a case (or a person with no case), open until
    someone has looked."""

    __tablename__ = "case_attention"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("support_cases.id"))
    staff_id: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(24))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    cleared_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cleared_by: Mapped[str | None] = mapped_column(String(64))


mirror(Message.to_number, Message.to_number_key)
mirror(NumberOptOut.number, NumberOptOut.number_key)
