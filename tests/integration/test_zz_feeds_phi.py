"""Last of the run: the samples' patients are nowhere in the store, our topics or the logs.

Why last (zz, like test_zz_log_hygiene): the search reads everything the run wrote, so it
runs after every other test has sent its samples (the routes', the MLLP service's, the raw
topic's, with their PHI-full files). It sends every sample file itself too, through each
feed's real entry point, so it means the same when run alone.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from schemas.events import FeedIncidentReported
from schemas.topics import topic_name
from tests.integration.conftest import LOGS
from tests.integration.phi_scan import scan_logs, scan_store, scan_topics
from tests.integration.test_feeds_end_to_end import (
    NIGHT,
    PHI,
    SAMPLES,
    moved,
    post,
    send_file,
    send_hl7,
)
from tests.integration.test_feeds_raw_topic import produce
from tests.stack import Stack, eventually, start_mllp


@pytest.fixture(scope="module")
def mllp(stack: Stack) -> Iterator[int]:
    proc, port = start_mllp(stack, name="mllp-phi")
    yield port
    proc.stop()
    assert proc.popen is not None and proc.popen.returncode == 0, proc.tail()


async def test_no_patient_identifier_in_the_store_the_topics_or_the_logs(
    stack: Stack, db: Engine, mllp: int, capfd: pytest.CaptureFixture[str]
) -> None:
    """Every sample file through its feed, the night's four (a week back: a record of its
    own), and a raw-topic record full of a patient that fails its schema; then the search."""
    for folder in ("fhir", "hl7", "reporting", "codeblue"):
        for path in sorted((SAMPLES / folder).iterdir()):
            if path.suffix in (".json", ".hl7", ".csv", ".txt"):
                send_file(stack, mllp, folder, path)
    day = datetime.now(UTC).date() - timedelta(days=7)
    night = {f.name: moved(f.read_bytes(), day) for f in NIGHT.iterdir() if f.suffix != ".md"}
    post(stack, "/feeds/code-blue/code-team", night["1_code_blue.json"], "application/json")
    post(stack, "/feeds/reporting/incident-reports", night["2_report.json"], "application/json")
    send_hl7(mllp, night["3_adt_death.hl7"])
    post(stack, "/fhir/AdverseEvent", night["4_adverse_event.json"], "application/fhir+json")
    bad = json.dumps(
        {"record_id": "raw-phi-1", "feed": "engine", "patient": "Cornelius Vantongeren",
         "mrn": "MRN77002345", "unit": "4E"}
    ).encode()  # fmt: skip
    await produce("raw-phi", bad)
    with db.connect() as conn:
        since = conn.execute(text("SELECT count(*) FROM feed_refusals")).scalar_one()

    def refused_raw() -> bool:
        with db.connect() as conn:
            n = conn.execute(text("SELECT count(*) FROM feed_refusals")).scalar_one()
        return n > since

    await eventually(refused_raw, 30, "the raw record refused")
    await asyncio.sleep(1)  # the relay's last events and the logs' last lines

    in_store = scan_store(db, PHI)
    assert in_store == {}, f"patient identifiers in the store: {in_store}"
    # The raw topic is the hospital's: it produced the patient there. Every topic we write,
    # its dead letters included, must not hold one.
    prefix = os.environ["SVRR_TOPIC_PREFIX"]
    read, on_topics = scan_topics(prefix, PHI)
    on_topics.pop(topic_name(FeedIncidentReported), None)
    assert read > 0
    assert on_topics == {}, f"patient identifiers on topics: {on_topics}"
    captured = capfd.readouterr()
    in_logs = scan_logs([LOGS], PHI, also=captured.out + captured.err)
    assert in_logs == {}, f"patient identifiers in logs: {in_logs}"
    print(f"\nPHI scan: {len(PHI)} identifiers; store, {read} topic records and logs clean")
