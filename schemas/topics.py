"""The topic catalogue: topics are created from this list, never auto-created.

Why explicit: partition counts bound how far the worker scales out and decide per-key
ordering; an auto-created topic gets the broker's defaults silently.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from schemas.events import CONTRACTS, Event

PARTITIONS = 12  # 1, 2, 3, 4, 6 or 12 workers each get an even share
WEEK_MS = str(7 * 24 * 3600 * 1000)
DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicSpec:
    name: str
    contract: type[Event]
    partitions: int = PARTITIONS
    config: dict[str, str] = field(default_factory=dict)


def topic_name(contract: type[Event]) -> str:
    """The contract's topic in this environment.

    SVRR_TOPIC_PREFIX lets a test run (or a second site) share a broker without reading or
    writing anyone else's events.
    """
    return os.environ.get("SVRR_TOPIC_PREFIX", "") + contract.topic


# Topics whose records may hold what we never keep, so the broker keeps them briefly. The
# raw feed topic is written by a hospital's engine, and a record that fails validation may
# carry a patient's details anywhere: three days, enough to outlast a weekend with the
# worker down (a record deleted unread would be an incident lost), then gone. An inbound
# SMS's record names its stored row and nothing else (SmsReceived v2, a claim check), so it
# is kept the week every other record is: a day lost a reply when the worker was down
# longer (nothing sweeps unhandled replies).
SHORT_RETENTION_MS = {"FeedIncidentReported": str(3 * DAY_MS)}


def _spec(contract: type[Event]) -> TopicSpec:
    retention = SHORT_RETENTION_MS.get(contract.__name__, WEEK_MS)
    return TopicSpec(
        name=topic_name(contract),
        contract=contract,
        config={"retention.ms": retention, "min.insync.replicas": "1"},
    )


# Topics of contracts no longer written, deleted wherever they still exist. The first
# version of the inbound SMS held each sender's number and text (SmsReceived v2 is a claim
# check); migration 0018 gives any reply its old worker had not handled a v2 event.
RETIRED = ("svrr.sms-received.v1",)


def retired_topics() -> list[str]:
    """RETIRED in this environment (SVRR_TOPIC_PREFIX, as topic_name)."""
    return [os.environ.get("SVRR_TOPIC_PREFIX", "") + name for name in RETIRED]


def topics() -> list[TopicSpec]:
    return [_spec(c) for c in CONTRACTS]


TOPICS: list[TopicSpec] = topics()
