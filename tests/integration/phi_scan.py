"""Looking for a patient everywhere the product writes: the store, the topics and the logs.

Why a scan of everything rather than of the tables a feed writes: patient data that slips
past an adapter can land anywhere downstream (an incident, an outbox payload, an audit
detail, a dead letter, an error log), and a check of known places would miss the place
nobody thought of. So every row of every table in the run's database is read as text, every
record of every topic of the run (its prefix) is read from the start, and every log file the
run's processes wrote is read, and each is searched for every identifier in the sample
files, as a word of its own in any case (tests.stack.leaked).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.stack import leaked


def scan_store(db: Engine, phi: Iterable[str]) -> dict[str, list[str]]:
    """{table: identifiers found in its rows} for every table of the public schema."""
    phi = list(phi)
    found: dict[str, list[str]] = {}
    with db.connect() as conn:
        tables = conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
        ).scalars()
        for table in list(tables):
            rows = conn.execute(text(f'SELECT t::text FROM "{table}" AS t')).scalars()
            hits = leaked("\n".join(rows), phi)
            if hits:
                found[table] = hits
    return found


def scan_topics(prefix: str, phi: Iterable[str]) -> tuple[int, dict[str, list[str]]]:
    """(records read, {topic: identifiers found}) for every topic named with `prefix`."""
    phi = list(phi)
    consumer = KafkaConsumer(
        bootstrap_servers=os.environ["KAFKA_BOOTSTRAP_SERVERS"],
        enable_auto_commit=False,
        consumer_timeout_ms=2000,
    )
    try:
        names = sorted(t for t in consumer.topics() if t.startswith(prefix))
        parts = [
            TopicPartition(t, p) for t in names for p in consumer.partitions_for_topic(t) or ()
        ]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        ends = consumer.end_offsets(parts)
        texts: dict[str, list[str]] = {t: [] for t in names}
        remaining = {tp for tp in parts if ends[tp] > 0}
        read = 0
        while remaining:
            batch = consumer.poll(timeout_ms=2000)
            if not batch:
                raise AssertionError(f"topics stopped short of their ends: {sorted(remaining)}")
            for tp, records in batch.items():
                for r in records:
                    read += 1
                    key = (r.key or b"").decode("utf-8", "replace")
                    value = (r.value or b"").decode("utf-8", "replace")
                    texts[tp.topic].append(f"{key}\n{value}")
                if consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
    finally:
        consumer.close()
    found = {t: hits for t, chunks in texts.items() if (hits := leaked("\n".join(chunks), phi))}
    return read, found


def scan_logs(paths: Iterable[Path], phi: Iterable[str], also: str = "") -> dict[str, list[str]]:
    """{file: identifiers found} for every file under `paths`, and `also` (the test process's
    own captured output) as "captured"."""
    phi = list(phi)
    found: dict[str, list[str]] = {}
    for root in paths:
        for path in sorted(root.rglob("*")) if root.is_dir() else [root]:
            if path.is_file():
                hits = leaked(path.read_text("utf-8", "replace"), phi)
                if hits:
                    found[str(path)] = hits
    if also and (hits := leaked(also, phi)):
        found["captured"] = hits
    return found
