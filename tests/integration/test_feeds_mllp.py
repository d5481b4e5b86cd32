"""The HL7 v2 feed's service (`svrr feed mllp`) on the real stack, over a real MLLP socket:
a death is ACKed only once its incident is committed, and a page follows; a store failure
mid-transaction closes the connection without an ACK and the resend is taken once; a
malformed message gets AE/AR with ERR and a refusal row without the patient; a message that
is no trigger is ACKed and only counted on the heartbeat.

Each test has its own unit and staff (`ward`) and its own control ids.
"""

from __future__ import annotations

import json
import re
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.integration.wards import Ward, make_ward
from tests.stack import Proc, Stack, free_port, start_mllp, wait_for
from tests.unit import feeds as feed_samples

START, END = b"\x0b", b"\x1c\x0d"
PHI = (
    "MRN483920",
    "HARTLEY",
    "MARGARET",
    "19470312",
    "ELM STREET",
    "555-0142",
    "123-45-6789",
    "ACCT99817261",
    "V20261130777",
    "NGUYEN",
    "Emily",
)


@pytest.fixture
def ward(db: Engine) -> Ward:
    return make_ward(db, "Ml", 3)


@dataclass(frozen=True)
class Mllp:
    proc: Proc
    port: int
    metrics_port: int


@pytest.fixture(scope="module")
def mllp(stack: Stack) -> Iterator[Mllp]:
    metrics_port = free_port()
    proc, port = start_mllp(stack, "adt", "--metrics-port", str(metrics_port))
    yield Mllp(proc, port, metrics_port)
    proc.stop()
    assert proc.popen is not None and proc.popen.returncode == 0, proc.tail()


class Sender:
    """An interface engine's side of one MLLP connection, with a timeout on every read."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)

    def send(self, message: bytes) -> None:
        self.sock.sendall(START + message + END)

    def answer(self, timeout: float = 10) -> bytes | None:
        """The next ACK, or None when the service closed the connection without one; a
        socket.timeout when nothing came within `timeout`."""
        self.sock.settimeout(timeout)
        got = b""
        while not got.endswith(END):
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            got += chunk
        return got[1:-2]

    def close(self) -> None:
        self.sock.close()


def msa(ack: bytes) -> str:
    for segment in ack.split(b"\r"):
        if segment.startswith(b"MSA|"):
            return segment.split(b"|")[1].decode()
    raise AssertionError("no MSA segment in the answer")


def death(w: Ward, control_id: str, *staff: str) -> bytes:
    now = datetime.now(UTC).strftime("%Y%m%d%H%M%S+0000")
    people = "~".join(f"{s}^DOE^ALEX^^^DR^^^STAFFID" for s in staff)
    return "\r".join(
        [
            f"MSH|^~\\&|EPICADT|GENHOSP|SVRR|GENHOSP|{now}||ADT^A03^ADT_A03|{control_id}|P|2.5.1",
            f"EVN|A03|{now}||||{now}",
            "PID|1||MRN483920^^^GENHOSP^MR||HARTLEY^MARGARET^ANN||19470312|F",
            f"PV1|1|I|{w.unit}^412^B^GENHOSP||||{people}|||MED" + "|" * 26 + "41",
        ]
    ).encode()


def admit(w: Ward, control_id: str) -> bytes:
    return (
        death(w, control_id, w.staff[0])
        .replace(b"ADT^A03^ADT_A03", b"ADT^A01^ADT_A01")
        .replace(b"EVN|A03", b"EVN|A01")
        .replace(b"|41", b"|")
    )


def record_row(db: Engine, control_id: str) -> dict[str, object] | None:
    with db.connect() as conn:
        row = conn.execute(
            text(
                "SELECT status, incident_id, times_received FROM feed_records "
                "WHERE source = 'hl7v2' AND feed = 'adt' AND record_id = :r"
            ),
            {"r": control_id},
        ).first()
    return dict(row._mapping) if row else None


def pages_sent(db: Engine, incident_id: uuid.UUID) -> int:
    """First pages of the incident's cases that the stand-in took (a provider sid)."""
    with db.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM pages p JOIN support_cases c ON c.id = p.case_id "
                    "WHERE c.incident_id = :i AND p.attempt = 1 AND p.provider_sid IS NOT NULL"
                ),
                {"i": incident_id},
            ).scalar_one()
        )


def hold_unit(db: Engine, unit: str) -> object:
    """A transaction holding the intake's lock on the unit: a record of it cannot be taken
    (its transaction waits) until the returned transaction ends."""
    conn = db.connect()
    tx = conn.begin()
    conn.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended('svrr-feed-unit:' || :k, 0))"),
        {"k": unit.strip().casefold()},
    )
    return conn, tx


def waiting_backends(db: Engine) -> list[int]:
    with db.connect() as conn:
        return [
            int(r[0])
            for r in conn.execute(
                text(
                    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                    "AND database = (SELECT oid FROM pg_database WHERE datname = "
                    "current_database())"
                )
            )
        ]


def test_a_death_is_acked_only_after_its_incident_is_committed_and_paged(
    stack: Stack, db: Engine, mllp: Mllp, ward: Ward
) -> None:
    port = mllp.port
    control_id = f"D-{ward.tag}"
    conn, tx = hold_unit(db, ward.unit)
    sender = Sender(port)
    try:
        sender.send(death(ward, control_id, ward.staff[0], ward.staff[1]))
        # The transaction waits on the unit's lock: nothing is committed, so no ACK.
        with pytest.raises(TimeoutError):
            sender.answer(timeout=1.5)
        assert record_row(db, control_id) is None
        tx.rollback()  # type: ignore[attr-defined]
        ack = sender.answer()
    finally:
        conn.close()  # type: ignore[attr-defined]
    assert ack is not None and msa(ack) == "AA"
    assert control_id.encode() in ack  # MSA-2 names the message
    row = record_row(db, control_id)  # committed before the ACK left
    assert row is not None and row["status"] == "started" and row["incident_id"] is not None
    incident_id = row["incident_id"]
    assert isinstance(incident_id, uuid.UUID)
    wait_for(lambda: pages_sent(db, incident_id) == 2, 30, "both clinicians' first pages sent")
    # The same message again (a sender that missed the ACK): ACKed, nothing new.
    sender.send(death(ward, control_id, ward.staff[0], ward.staff[1]))
    again = sender.answer()
    sender.close()
    assert again is not None and msa(again) == "AA"
    row = record_row(db, control_id)
    assert row is not None and row["incident_id"] == incident_id and row["times_received"] == 2


def test_a_store_failure_closes_the_connection_without_an_ack_and_the_resend_is_taken(
    stack: Stack, db: Engine, mllp: Mllp, ward: Ward
) -> None:
    proc, port = mllp.proc, mllp.port
    control_id = f"O-{ward.tag}"
    message = death(ward, control_id, ward.staff[2])
    conn, tx = hold_unit(db, ward.unit)
    sender = Sender(port)
    try:
        sender.send(message)
        waiting = wait_for(lambda: waiting_backends(db), 10, "the service's transaction waits")
        with db.connect() as admin:
            for pid in waiting:  # the service's connection is lost mid-transaction
                admin.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        assert sender.answer() is None  # hung up, no ACK: the sender will resend
    finally:
        tx.rollback()  # type: ignore[attr-defined]
        conn.close()  # type: ignore[attr-defined]
        sender.close()
    assert record_row(db, control_id) is None
    assert proc.alive()
    resend = Sender(port)
    resend.send(message)
    ack = resend.answer()
    resend.close()
    assert ack is not None and msa(ack) == "AA"
    row = record_row(db, control_id)
    assert row is not None and row["incident_id"] is not None and row["times_received"] == 1


def refusals(db: Engine, since: datetime) -> list[dict[str, object]]:
    with db.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT problems, kept FROM feed_refusals WHERE source = 'hl7v2' AND feed = 'adt' "
                "AND received_at >= :since ORDER BY received_at"
            ),
            {"since": since},
        ).all()
    return [dict(r._mapping) for r in rows]


def test_a_malformed_message_gets_a_nak_with_err_and_a_refusal_without_phi(
    stack: Stack, db: Engine, mllp: Mllp
) -> None:
    port = mllp.port
    since = datetime.now(UTC)
    bad_times = feed_samples.sample("hl7", "bad_a03_times.hl7").replace(b"\n", b"\r")
    not_hl7 = feed_samples.sample("hl7", "bad_not_hl7.txt")
    sender = Sender(port)
    sender.send(bad_times)
    nak = sender.answer()
    assert nak is not None and msa(nak) == "AE"
    assert b"\rERR|" in nak and b"EVN^1^6" in nak  # ERR-2 points at EVN-6
    assert len(refusals(db, since)) == 1  # kept before the NAK left
    sender.send(not_hl7)
    reject = sender.answer()
    sender.close()
    assert reject is not None and msa(reject) == "AR" and b"\rERR|" in reject
    kept = refusals(db, since)
    assert len(kept) == 2
    feed_samples.assert_no_phi(json.dumps(kept, default=str) + nak.decode(), PHI)
    first, second = kept
    assert any(p["where"] == "EVN-6" for p in first["problems"])  # type: ignore[union-attr]
    assert first["kept"]["message"].startswith("MSH|")  # type: ignore[index]
    assert second["kept"] is None  # nothing of it could be read, so nothing is kept
    # Counted where Prometheus reads the service (--metrics-port).
    scraped = httpx.get(f"http://127.0.0.1:{mllp.metrics_port}/metrics").text
    refused = re.search(r'svrr_feed_refused_total\{feed="adt",source="hl7v2"\} (\S+)', scraped)
    assert refused is not None and float(refused.group(1)) >= 2


def heartbeat(db: Engine) -> int:
    with db.connect() as conn:
        got = conn.execute(
            text("SELECT received FROM feed_heartbeats WHERE source = 'hl7v2' AND feed = 'adt'")
        ).scalar()
    return int(got or 0)


def test_a_message_that_is_no_trigger_is_acked_at_once_and_counted_on_the_heartbeat(
    stack: Stack, db: Engine, mllp: Mllp, ward: Ward
) -> None:
    port = mllp.port
    before = heartbeat(db)
    conn, tx = hold_unit(db, ward.unit)  # no transaction of its unit could run now
    sender = Sender(port)
    try:
        started = time.monotonic()
        for n in range(3):
            sender.send(admit(ward, f"A-{ward.tag}-{n}"))
            ack = sender.answer(timeout=2)
            assert ack is not None and msa(ack) == "AA"
        assert time.monotonic() - started < 2
    finally:
        tx.rollback()  # type: ignore[attr-defined]
        conn.close()  # type: ignore[attr-defined]
        sender.close()
    assert record_row(db, f"A-{ward.tag}-0") is None
    wait_for(lambda: heartbeat(db) >= before + 3, 10, "the heartbeat counts the admissions")
