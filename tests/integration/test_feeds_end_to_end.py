"""Every feed on the real stack, from the sender's bytes to the SMS, and the patient nowhere.

1. The night of issue 12 (services/feeds/samples/night): a code blue, the incident report,
   the death ADT over MLLP and the EHR's AdverseEvent become one incident whose four
   clinicians are each paged once, looked at again after the page sweep could have fired.
2. Every sample file goes through its feed's real entry point (the API's routes, the MLLP
   service, the raw topic): each is answered, none with a 5xx, and the table of what was
   processed, refused and merged per feed is printed (run with -s to read it).
The search for the samples' patients in the store, the topics and the logs runs last, in
test_zz_feeds_phi.py, so that it sees what every test of the run wrote.

The samples carry fixed dates; the night is moved to two days ago (hours kept), so the test
means the same on any day.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.integration.test_feeds_intake import cases_and_pages
from tests.integration.test_feeds_mllp import Sender, msa
from tests.stack import FEED_TOKEN, Proc, Stack, eventually, start_mllp
from tests.unit.test_feeds_cli import PHI as SAMPLE_PHI

SAMPLES = Path(__file__).resolve().parents[2] / "services" / "feeds" / "samples"
NIGHT = SAMPLES / "night"
NIGHT_STAFF = ["N1000", "N1001", "N1002", "P2001"]
NIGHT_PHI = (
    "Cornelius",
    "Vantongeren",
    "VANTONGEREN",
    "Beatrix",
    "MRN77002345",
    "1952-09-17",
    "19520917",
    "Quillfeather",
    "987-65-4320",
    "555-0163",
    "555-0188",
    "ACCT55310077",
    "V20261128612",
    "cv-77002345",
    "4E-07",
)
# The samples' identifiers of a patient: names, record and account numbers, dates of birth,
# addresses, telephone numbers. Clinical words a sample also holds ("sedation", "ROSC") and
# short numbers (a 5-digit ZIP code reads as a port in a log) are not identifiers.
NOT_IDENTIFIERS = {
    "02719", "4471", "62704", "Cardiac arrest", "VF arrest", "ROSC", "café", "heparin",
    "naloxone", "potassium", "sedation", "struck", "swab", "theatre", "unresponsive",
}  # fmt: skip
PHI = sorted({p for words in SAMPLE_PHI.values() for p in words} - NOT_IDENTIFIERS | set(NIGHT_PHI))


# An HL7 timestamp of the night: a field's value, the date and then at least the time.
HL7_NIGHT = re.compile(rb"(?<=[|^])20261128(?=\d{4})")


def moved(data: bytes, day: date) -> bytes:
    """The night's files on `day`: ISO and HL7 dates of 2026-11-28 rewritten, hours kept.

    Only dates: the message control id (MSG20261128-0612) and the visit number
    (V20261128612) hold the same digits, and rewritten with the day they named a record the
    test did not know after midnight, and a visit number the PHI scan did not look for."""
    return HL7_NIGHT.sub(day.strftime("%Y%m%d").encode(), data).replace(
        b"2026-11-28", day.isoformat().encode()
    )


@pytest.fixture(scope="module")
def mllp(stack: Stack) -> Iterator[int]:
    proc, port = start_mllp(stack, name="mllp-e2e")
    yield port
    _stop(proc)


def _stop(proc: Proc) -> None:
    proc.stop()
    assert proc.popen is not None and proc.popen.returncode == 0, proc.tail()


def send_hl7(port: int, message: bytes) -> str:
    sender = Sender(port)
    try:
        sender.send(message.replace(b"\r\n", b"\r").replace(b"\n", b"\r"))
        ack = sender.answer()
    finally:
        sender.close()
    assert ack is not None, "the MLLP service closed the connection without an ACK"
    return msa(ack)


# The feeds' integration token (role feed: the feed routes only).
FEED_AUTH = {"Authorization": f"Bearer {FEED_TOKEN}"}


def post(stack: Stack, path: str, body: bytes, content_type: str) -> httpx.Response:
    headers = FEED_AUTH | {"Content-Type": content_type}
    return httpx.post(f"{stack.api_url}{path}", content=body, headers=headers, timeout=10)


def feed_row(db: Engine, source: str, record_id: str) -> dict[str, object]:
    with db.connect() as conn:
        row = conn.execute(
            text(
                "SELECT status, incident_id FROM feed_records WHERE source = :s AND record_id = :r"
            ),
            {"s": source, "r": record_id},
        ).one()
    return dict(row._mapping)


async def test_the_night_from_four_feeds_is_one_incident_and_each_clinician_paged_once(
    stack: Stack, db: Engine, mllp: int
) -> None:
    day = datetime.now(UTC).date() - timedelta(days=2)
    night = {f.name: moved(f.read_bytes(), day) for f in NIGHT.iterdir() if f.suffix != ".md"}

    r = post(stack, "/feeds/code-blue/code-team", night["1_code_blue.json"], "application/json")
    assert r.status_code == 202, r.text
    (blue,) = r.json()["records"]
    assert blue["disposition"] == "started"
    incident_id = blue["incident_id"]

    r = post(stack, "/feeds/reporting/incident-reports", night["2_report.json"], "application/json")
    assert r.status_code == 202, r.text
    assert [(t["disposition"], t["incident_id"]) for t in r.json()["records"]] == [
        ("joined", incident_id)
    ]

    assert send_hl7(mllp, night["3_adt_death.hl7"]) == "AA"
    assert feed_row(db, "hl7v2", "MSG20261128-0612") == {
        "status": "joined",
        "incident_id": uuid.UUID(incident_id),
    }

    r = post(stack, "/fhir/AdverseEvent", night["4_adverse_event.json"], "application/fhir+json")
    assert r.status_code in (200, 201), r.text
    assert feed_row(db, "fhir", "ae-night-0612") == {
        "status": "joined",
        "incident_id": uuid.UUID(incident_id),
    }

    with db.connect() as conn:
        staff = conn.execute(
            text("SELECT staff_ids FROM incidents WHERE id = :i"), {"i": incident_id}
        ).scalar_one()
    assert sorted(staff) == NIGHT_STAFF
    everyone_once = dict.fromkeys(NIGHT_STAFF, 1)
    await eventually(lambda: cases_and_pages(db, incident_id) == everyone_once, 30, "4 paged")
    await asyncio.sleep(4)  # past the stale-claim interval: a sweep could have re-sent
    assert cases_and_pages(db, incident_id) == everyone_once


# The entry point of each sample folder, and how a file is sent to it.
def send_file(stack: Stack, mllp: int, folder: str, path: Path) -> tuple[str, int, dict]:
    """(feed, answer status, answer) for one sample file through its real entry point."""
    data = path.read_bytes()
    if folder == "hl7":
        return "hl7v2/adt", 0, {"msa": send_hl7(mllp, data)}
    if folder == "fhir":
        is_bundle = b'"Bundle"' in data[:200] or b'"resourceType": "Bundle"' in data
        r = post(
            stack, "/fhir" if is_bundle else "/fhir/AdverseEvent", data, "application/fhir+json"
        )
        return "fhir/ehr", r.status_code, r.json()
    if folder == "codeblue":
        r = post(stack, "/feeds/code-blue/code-team", data, "application/json")
        return "code_blue/code-team", r.status_code, r.json()
    route = "/feeds/reporting/incident-reports"
    if path.suffix == ".csv":
        r = post(stack, route + "/csv", data, "text/csv")
    else:
        r = post(stack, route, data, "application/json")
    return "reporting/incident-reports", r.status_code, r.json()


def test_every_sample_file_through_its_feed_is_answered_and_counted(
    stack: Stack, db: Engine, mllp: int
) -> None:
    tally: dict[str, Counter[str]] = {}
    for folder in ("fhir", "hl7", "reporting", "codeblue"):
        for path in sorted((SAMPLES / folder).iterdir()):
            if path.suffix not in (".json", ".hl7", ".csv", ".txt"):
                continue
            feed, status, answer = send_file(stack, mllp, folder, path)
            assert status < 500, f"{path.name}: {status} {answer}"
            count = tally.setdefault(feed, Counter())
            count["files"] += 1
            if folder == "hl7":
                count[{"AA": "ACK AA", "AE": "NAK AE", "AR": "NAK AR"}[answer["msa"]]] += 1
            else:
                count[f"HTTP {status}"] += 1
    with db.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT source || '/' || feed, status, count(*) FROM feed_records "
                "WHERE feed IN ('ehr', 'adt', 'incident-reports', 'code-team') GROUP BY 1, 2"
            )
        ).all()
        refused = conn.execute(
            text(
                "SELECT source || '/' || feed, count(*), count(kept) FROM feed_refusals "
                "WHERE feed IN ('ehr', 'adt', 'incident-reports', 'code-team') GROUP BY 1"
            )
        ).all()
    for feed, status, n in rows:
        tally.setdefault(feed, Counter())[status] += n
    for feed, n, kept in refused:
        tally.setdefault(feed, Counter()).update({"refused": n, "refused, kept for replay": kept})
    print("\nper feed (this run, the night's four records included):")
    for feed, count in sorted(tally.items()):
        print(f"  {feed}: {json.dumps(dict(sorted(count.items())))}")
    for feed in ("fhir/ehr", "hl7v2/adt", "reporting/incident-reports", "code_blue/code-team"):
        assert tally[feed]["refused"] > 0, f"{feed}: the malformed samples were not refused"
        taken = sum(tally[feed][s] for s in ("started", "joined", "linked", "asked", "ignored"))
        assert taken > 0, f"{feed}: no sample was taken"
