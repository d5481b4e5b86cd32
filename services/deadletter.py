"""Events that failed validation are kept, not dropped, for someone to look at."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, LargeBinary, String, func
from sqlalchemy.orm import Mapped, mapped_column

from services.db import Base, transaction
from services.metrics import DEAD_LETTERS


class Unprocessable(Exception):
    """A valid event its handler can never act on (what it names is gone from the store).
    The consumer stores it as a dead letter whose reason is this message (never the event's
    contents), and logs no traceback: it is a known outcome, not a fault."""


class DeadLetter(Base):
    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(80))
    reason: Mapped[str] = mapped_column(String(200))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


async def store_dead_letter(topic: str, payload: bytes, reason: str) -> None:
    async with transaction() as session:
        session.add(DeadLetter(topic=topic, reason=reason, payload=payload))
    DEAD_LETTERS.labels(topic).inc()
