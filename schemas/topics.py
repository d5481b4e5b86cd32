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


def _spec(contract: type[Event]) -> TopicSpec:
    # SMS bodies may hold what a clinician wrote: keep them no longer than replay needs.
    retention = str(24 * 3600 * 1000) if contract.__name__ == "SmsReceived" else WEEK_MS
    return TopicSpec(
        name=topic_name(contract),
        contract=contract,
        config={"retention.ms": retention, "min.insync.replicas": "1"},
    )


def topics() -> list[TopicSpec]:
    return [_spec(c) for c in CONTRACTS]


TOPICS: list[TopicSpec] = topics()
