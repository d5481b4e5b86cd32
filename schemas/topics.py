"""The topic catalogue: topics are created from this list, never auto-created.

Why explicit: partition counts bound how far the worker scales out and decide per-key
ordering; an auto-created topic gets the broker's defaults silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas.events import CONTRACTS, Event

PARTITIONS = 6
WEEK_MS = str(7 * 24 * 3600 * 1000)


@dataclass(frozen=True)
class TopicSpec:
    name: str
    contract: type[Event]
    partitions: int = PARTITIONS
    config: dict[str, str] = field(default_factory=dict)


def _spec(contract: type[Event]) -> TopicSpec:
    # SMS bodies may hold what a clinician wrote: keep them no longer than replay needs.
    retention = str(24 * 3600 * 1000) if contract.__name__ == "SmsReceived" else WEEK_MS
    return TopicSpec(
        name=contract.topic,
        contract=contract,
        config={"retention.ms": retention, "min.insync.replicas": "1"},
    )


TOPICS: list[TopicSpec] = [_spec(c) for c in CONTRACTS]
BY_NAME: dict[str, TopicSpec] = {t.name: t for t in TOPICS}
