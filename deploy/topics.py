"""Create the Kafka topics from schemas.topics.TOPICS, idempotently.

Why: brokers run with auto.create.topics.enable=false, so a topic exists only if we create it,
with the partition count and config (retention, ...) the catalogue asks for. Auto-created topics
would silently get broker defaults and a typo in a topic name would create a new topic.

An existing topic with fewer partitions than the catalogue wants gets partitions added (Kafka
cannot remove partitions, so more is never "fixed"). Its config is reconciled: every key the
catalogue sets (retention.ms above all: how long the broker keeps an event, a raw feed
record three days) is set to the catalogue's value where the broker holds another, with incremental
alter configs, so keys the catalogue does not name are left as an operator set them. Why:
a topic created by an older catalogue, or by hand, would otherwise keep records (and what
they carry) for as long as it was first told, whatever retention the product promises.

Run from the repo root: python deploy/topics.py
Env: KAFKA_BOOTSTRAP_SERVERS (default 127.0.0.1:9092),
     KAFKA_REPLICATION_FACTOR (default 1, right for a single-node broker).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # repo root, no install needed

from kafka.admin import (
    ConfigResource,
    ConfigResourceType,
    KafkaAdminClient,
    NewPartitions,
    NewTopic,
)
from kafka.errors import TopicAlreadyExistsError

from schemas.topics import TOPICS, retired_topics


def partition_count(admin: KafkaAdminClient, name: str) -> int:
    """Number of partitions an existing topic has."""
    (topic,) = admin.describe_topics([name])
    return len(topic["partitions"])


def config_changes(current: dict[str, str | None], wanted: dict[str, str]) -> dict[str, str]:
    """The keys of `wanted` whose value the broker does not hold (a key it does not report
    counts as different), with the values to set."""
    return {k: v for k, v in wanted.items() if current.get(k) != v}


def topic_config(admin: KafkaAdminClient, name: str, keys: list[str]) -> dict[str, str | None]:
    """An existing topic's effective values of `keys` (its own, or the broker's default)."""
    resource = ConfigResource(ConfigResourceType.TOPIC, name, configs=dict.fromkeys(keys))
    found = admin.describe_configs([resource], config_filter="all")
    entries = found.get("topic", {}).get(name, {})
    return {k: entries[k]["value"] for k in keys if k in entries}


def reconcile_config(admin: KafkaAdminClient, name: str, wanted: dict[str, str]) -> dict[str, str]:
    """Set what differs from the catalogue on an existing topic; the changes made."""
    changes = config_changes(topic_config(admin, name, list(wanted)), wanted)
    if changes:
        # raise_on_unknown=False: kafka-python otherwise refuses any key the topic does not
        # already hold as a dynamic config, which is exactly the topic to fix (one created by
        # hand or by an older catalogue, its retention the broker's default). The broker
        # itself still refuses a key it does not know.
        result = admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name, configs=changes)],
            raise_on_unknown=False,
            incremental=True,  # only these keys change
        )
        outcome = result.get("topic", {}).get(name)
        if outcome != "OK":
            raise RuntimeError(f"{name}: config not changed: {outcome}")
    return changes


def ensure_topics(admin: KafkaAdminClient, replication_factor: int) -> None:
    """Create missing topics and grow under-partitioned ones; print one line per topic."""
    existing = set(admin.list_topics())
    for spec in TOPICS:
        if spec.name not in existing:
            topic = NewTopic(
                name=spec.name,
                num_partitions=spec.partitions,
                replication_factor=replication_factor,
                topic_configs=dict(spec.config),
            )
            try:
                admin.create_topics([topic])
                print(f"{spec.name}: created ({spec.partitions} partitions)")
                continue
            except TopicAlreadyExistsError:  # someone else created it meanwhile
                pass
        have = partition_count(admin, spec.name)
        if have < spec.partitions:
            admin.create_partitions({spec.name: NewPartitions(spec.partitions)})
            print(f"{spec.name}: exists, partitions {have} -> {spec.partitions}")
        else:
            print(f"{spec.name}: exists ({have} partitions)")
        changed = reconcile_config(admin, spec.name, dict(spec.config))
        if changed:
            print(f"{spec.name}: config set: " + ", ".join(f"{k}={v}" for k, v in changed.items()))


def retire_topics(admin: KafkaAdminClient) -> None:
    """Delete the retired topics still on the broker (schemas.topics.RETIRED): their records
    hold what the product no longer keeps anywhere."""
    existing = set(admin.list_topics())
    for name in retired_topics():
        if name in existing:
            admin.delete_topics([name])
            print(f"{name}: deleted (retired)")


def main() -> None:
    """Connect to the bootstrap servers from the environment and ensure every topic."""
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    replication_factor = int(os.environ.get("KAFKA_REPLICATION_FACTOR", "1"))
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="svrr-topics")
    try:
        ensure_topics(admin, replication_factor)
        retire_topics(admin)
    finally:
        admin.close()


if __name__ == "__main__":
    main()
