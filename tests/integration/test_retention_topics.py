"""Kafka's side of retention on the real broker: an existing topic whose retention is not the
catalogue's (created by an older catalogue, or by hand) is corrected by deploy/topics.py, and
a second run changes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic

from schemas import topics as catalogue
from schemas.events import CaseStateChanged, FeedIncidentReported
from schemas.topics import topic_name
from tests.stack import ROOT, wait_for

WEEK = str(7 * 24 * 3600 * 1000)
WRONG = str(400 * 24 * 3600 * 1000)  # 400 days: what a hand-made topic might have kept


@pytest.fixture
def admin() -> Iterator[KafkaAdminClient]:
    client = KafkaAdminClient(bootstrap_servers=os.environ["KAFKA_BOOTSTRAP_SERVERS"])
    yield client
    client.close()


def retention_of(admin: KafkaAdminClient, name: str) -> str | None:
    """The topic's retention.ms as the broker reports it now (None while it reports none:
    a topic created or altered a moment ago may not answer yet)."""
    resource = ConfigResource(ConfigResourceType.TOPIC, name, configs={"retention.ms": None})
    found = admin.describe_configs([resource], config_filter="all")
    entry = found.get("topic", {}).get(name, {}).get("retention.ms")
    return None if entry is None else str(entry["value"])


def ensure() -> str:
    done = subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "topics.py")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_an_existing_topics_wrong_retention_is_corrected(
    topics: list[str], admin: KafkaAdminClient
) -> None:
    raw, events = topic_name(FeedIncidentReported), topic_name(CaseStateChanged)
    wanted = {t.name: t.config["retention.ms"] for t in catalogue.topics()}
    assert sorted(wanted) == sorted(topics)  # the run's topics, with its prefix
    assert wanted[raw] == str(3 * 24 * 3600 * 1000) and wanted[events] == WEEK
    for name in (raw, events):  # one a call: kafka-python checks several against one another's keys
        admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name, configs={"retention.ms": WRONG})],
            raise_on_unknown=False,  # kafka-python's own check knows only dynamic keys
        )
    for name in (raw, events):  # the broker took the wrong value (applied in a moment)
        wait_for(lambda n=name: retention_of(admin, n) == WRONG, 10, f"{name} altered")

    out = ensure()
    assert f"{raw}: config set: retention.ms={wanted[raw]}" in out
    assert f"{events}: config set: retention.ms={WEEK}" in out
    for name in topics:
        wait_for(lambda n=name: retention_of(admin, n) == wanted[n], 10, f"{name} corrected")

    # Reconciled: a second run finds nothing to set.
    assert "config set" not in ensure()


def test_a_retired_topic_is_deleted(topics: list[str], admin: KafkaAdminClient) -> None:
    """svrr.sms-received.v1 held each sender's number and text: deploy/topics.py deletes it
    where an older version left it, and says so."""
    (retired,) = catalogue.retired_topics()
    admin.create_topics([NewTopic(name=retired, num_partitions=1, replication_factor=1)])
    wait_for(lambda: retired in admin.list_topics(), 10, "the old topic visible")
    out = ensure()
    assert f"{retired}: deleted (retired)" in out
    wait_for(lambda: retired not in admin.list_topics(), 10, "the old topic gone")
    assert "deleted" not in ensure()
