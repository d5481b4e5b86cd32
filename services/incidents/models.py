"""Incidents as stored. No column can hold a patient identifier or a narrative."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ARRAY, DateTime, String, func
from sqlalchemy.orm import Mapped, mapped_column

from services.db import Base


class Incident(Base):
    __tablename__ = "incidents"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    # Client-chosen idempotency key: a retried POST finds the incident it already made.
    incident_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    # Fingerprint of the request body, so the same key with a different body is refused.
    request_hash: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    unit: Mapped[str] = mapped_column(String(32))
    event_type: Mapped[str] = mapped_column(String(40))
    harm_level: Mapped[str] = mapped_column(String(16))
    staff_ids: Mapped[list[str]] = mapped_column(ARRAY(String(32)))
    reporter_ref: Mapped[str | None] = mapped_column(String(64))
    # "user:<id>" or "token:<id>": whose list of incidents this one appears in.
    reported_by: Mapped[str | None] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
