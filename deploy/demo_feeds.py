#!/usr/bin/env python3
"""The demo's second act: one night reaches us from four hospital feeds and is one response.

Why it exists: the first act is a risk manager's report. Most events are recorded first by
the hospital's own systems, and the same event arrives from several of them (issue 12). This
act sends services/feeds/samples/night, the files as those systems would send them, through
the real entry points: the code-team webhook, the incident-reporting webhook, the ADT death
message over MLLP and the EHR's FHIR AdverseEvent. It prints what became of each record and
then, from the store, the one incident and its cases, each clinician paged once.

The night is moved to yesterday (hours kept) and its record ids made this run's own, so a
second run on the same store is a new night, not a replay of the first.

Env: API_URL, FEED_TOKEN (default dev-feed-token), MLLP_PORT, DATABASE_URL, DEMO_TIMEOUT.
Exit 0 when every clinician of the night has a case with its page sent; 1 otherwise.
"""

from __future__ import annotations

import os
import random
import socket
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
NIGHT = ROOT / "services" / "feeds" / "samples" / "night"
API_URL = os.environ.get("API_URL", f"http://127.0.0.1:{os.environ.get('API_PORT', '8000')}")
FEED_TOKEN = os.environ.get("FEED_TOKEN") or os.environ.get("FEED_TOKENS", "dev-feed-token")
MLLP_PORT = int(os.environ.get("MLLP_PORT", "2575"))
DATABASE_URL = os.environ.get(
    "DATABASE_URL", "postgresql+psycopg://svrr:svrr@127.0.0.1:5433/svrr"
).replace("+psycopg", "")
TIMEOUT_S = float(os.environ.get("DEMO_TIMEOUT", "60"))
START, END = b"\x0b", b"\x1c\x0d"


def yesterday() -> date:
    return datetime.now(UTC).date() - timedelta(days=1)


def tonight(data: bytes, run: str) -> bytes:
    """The night's file moved to yesterday, with this run's record numbers."""
    day = yesterday()
    data = data.replace(b"2026-11-28", day.isoformat().encode())
    data = data.replace(b"20261128", day.strftime("%Y%m%d").encode())
    return data.replace(b"0612", run.encode())


def post(http: httpx.Client, path: str, body: bytes, content_type: str) -> tuple[str, float]:
    started = time.perf_counter()
    r = http.post(f"{API_URL}{path}", content=body, headers={"Content-Type": content_type})
    took = (time.perf_counter() - started) * 1000
    if r.status_code >= 400:
        raise SystemExit(f"demo: POST {path} answered {r.status_code}: {r.text[:300]}")
    if path.startswith("/fhir"):
        issue = r.json()["issue"][0]
        return f"HTTP {r.status_code}: {issue.get('diagnostics', '')}", took
    (record,) = r.json()["records"]
    return f"HTTP {r.status_code}: {record['disposition']}", took


def mllp(message: bytes) -> tuple[str, float]:
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", MLLP_PORT), timeout=10) as sock:
        sock.sendall(START + message.replace(b"\n", b"\r") + END)
        got = b""
        while not got.endswith(END):
            chunk = sock.recv(65536)
            if not chunk:
                raise SystemExit("demo: the MLLP service hung up without an ACK")
            got += chunk
    took = (time.perf_counter() - started) * 1000
    msa = next(s for s in got[1:-2].split(b"\r") if s.startswith(b"MSA|"))
    return f"ACK {msa.split(b'|')[1].decode()}", took


def main() -> int:
    run = f"{random.randrange(10**4):04d}"  # a record number of this run, not a secret
    files = {f.name: tonight(f.read_bytes(), run) for f in NIGHT.iterdir() if f.suffix != ".md"}
    print("\n=== The second act: one night from four hospital feeds (services/feeds) ===")
    headers = {"Authorization": f"Bearer {FEED_TOKEN}"}
    with (
        httpx.Client(headers=headers, timeout=10) as http,
        psycopg.connect(DATABASE_URL, autocommit=True) as db,
    ):
        steps = [
            (
                "02:10 code blue on 4E, team N1001 N1002",
                "code_blue",
                f"CB-2026-{run}",
                lambda: post(
                    http, "/feeds/code-blue/code-team", files["1_code_blue.json"],
                    "application/json",
                ),
            ),
            (
                "the incident report, names N1002 P2001",
                "reporting",
                f"IR-2026-{run}",
                lambda: post(
                    http, "/feeds/reporting/incident-reports", files["2_report.json"],
                    "application/json",
                ),
            ),
            (
                "03:40 ADT^A03, expired, P2001 N1000",
                "hl7v2",
                f"MSG{yesterday():%Y%m%d}-{run}",
                lambda: mllp(files["3_adt_death.hl7"]),
            ),
            (
                "the EHR's AdverseEvent, N1001",
                "fhir",
                f"ae-night-{run}",
                lambda: post(
                    http, "/fhir/AdverseEvent", files["4_adverse_event.json"],
                    "application/fhir+json",
                ),
            ),
        ]  # fmt: skip
        incident = None
        for what, source, record_id, send in steps:
            answer, took = send()
            row = db.execute(
                "SELECT status, incident_id, why FROM feed_records WHERE source = %s "
                "AND record_id = %s",
                (source, record_id),
            ).fetchone()
            if row is None:
                raise SystemExit(f"demo: no feed record stored for {what}")
            status, incident_id, why = row
            incident = incident or incident_id
            print(f"  {what:<42} {answer} in {took:.0f} ms")
            print(f"      -> {status} incident {str(incident_id)[:8]}: {why}")
        deadline = time.monotonic() + TIMEOUT_S
        paged: list[tuple[str, int]] = []
        while time.monotonic() < deadline:
            paged = db.execute(
                "SELECT c.staff_id, count(p.id) FILTER (WHERE p.attempt = 1 AND p.provider_sid "
                "IS NOT NULL) FROM support_cases c LEFT JOIN pages p ON p.case_id = c.id "
                "WHERE c.incident_id = %s GROUP BY c.staff_id ORDER BY c.staff_id",
                (incident,),
            ).fetchall()
            if len(paged) == 4 and all(n == 1 for _, n in paged):
                names = ", ".join(s for s, _ in paged)
                print(f"\nOne incident, four clinicians ({names}): a case each, each paged once.")
                return 0
            time.sleep(0.1)
    print(f"demo: FAILED: the night's clinicians were not all paged: {paged}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
