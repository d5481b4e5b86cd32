"""Latency: the intake API's answer -> the SMS request arriving at the Twilio stand-in.

Why measured this way: "accepted" is the moment risk management is told the page is on its
way; the stand-in's arrival time is the moment Twilio would have it. Everything between (the
outbox relay, Kafka, three agents, PostgreSQL, the Twilio client) is ours to answer for.

Runs on the real stack: Kafka and PostgreSQL from deploy/up.sh, its own database
(svrr_bench, recreated) and its own topic prefix, and the stand-in, API and worker as real
processes. Prints a table and writes JSON under benchmarks/results/.

    python -m benchmarks.latency --count 50 --rate 10
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import random
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx

from benchmarks.common import (
    StandinLog,
    add_rotations,
    bench_db_url,
    drop_kafka_state,
    first_pages,
    percentile,
    recreate_db,
    report,
)
from tests.stack import ROOT, RUN, start_stack, stop_stack, wait_for

UNITS = ["4E", "4W", "5E", "5W", "ICU", "ED", "OR", "NICU", "LD", "ONC"]
DISCIPLINES = ["RN", "RN", "RN", "physician", "resident", "respiratory_therapist", "pharmacist"]


def write_roster(folder: Path, staff: int, peers: int) -> list[str]:
    """A synthetic hospital as the three directory exports (units, staff, peers CSVs):
    `staff` clinicians, of whom the first `peers` are trained peer supporters."""
    rng = random.Random(7)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "units.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["code", "name", "site", "time_zone"])
        w.writerows([u, f"Unit {u}", "main", "America/New_York"] for u in UNITS)
    ids: list[str] = []
    with (
        (folder / "staff.csv").open("w", newline="") as sf,
        (folder / "peers.csv").open("w", newline="") as pf,
    ):
        sw, pw = csv.writer(sf), csv.writer(pf)
        sw.writerow(
            [
                "staff_id",
                "display_name",
                "discipline",
                "role",
                "home_unit",
                "mobile",
                "language",
                "tier1_lead",
                "opted_out",
            ]
        )
        pw.writerow(
            [
                "staff_id",
                "trained_on",
                "trained_until",
                "supports",
                "languages",
                "max_open_cases",
                "status",
            ]
        )
        for i in range(staff):
            sid = f"S{i:05d}"
            unit = rng.choice(UNITS)
            discipline = rng.choice(DISCIPLINES)
            sw.writerow(
                [sid, f"Staff {i}", discipline, "", unit, f"+1555{2000000 + i:07d}", "en", "", ""]
            )
            if i < peers:
                pw.writerow([sid, "2025-01-01", "2030-01-01", "", "en", "10", "active"])
            else:
                ids.append(sid)
    return ids


def run(count: int, rate: float, staff: int, peers: int) -> dict[str, object]:
    url = bench_db_url()
    recreate_db(url)
    prefix = f"b{uuid.uuid4().hex[:8]}."
    env = dict(
        os.environ,
        DATABASE_URL=url,
        SVRR_TOPIC_PREFIX=prefix,
        WORKER_ID=f"svrr-{prefix.strip('.')}",
        LOG_LEVEL="warning",
    )
    py = sys.executable
    subprocess.run([py, "-m", "services.cli", "migrate"], env=env, check=True, cwd=ROOT)
    roster = RUN / "bench-roster"
    clinicians = write_roster(roster, staff, peers)
    for kind in ("units", "staff", "peers"):
        subprocess.run(
            [py, "-m", "services.cli", "import", kind, str(roster / f"{kind}.csv")],
            env=env,
            check=True,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )
    add_rotations(url, [f"S{i:05d}" for i in range(peers)], rotations=max(1, peers // 5))
    subprocess.run(
        [py, "deploy/topics.py"], env=env, check=True, cwd=ROOT, stdout=subprocess.DEVNULL
    )
    stack = start_stack(env, RUN / "log" / "bench")
    rng = random.Random(11)
    answered: dict[str, float] = {}
    try:
        with stack.client() as client:
            # Warm-up: connection pools, Kafka metadata, first-fetch on every partition.
            for _ in range(5):
                client.post("/incidents", json=body([rng.choice(clinicians)]))
            time.sleep(3)
            start = time.monotonic()
            for i in range(count):
                due = start + i / rate
                time.sleep(max(0.0, due - time.monotonic()))
                r = client.post("/incidents", json=body([rng.choice(clinicians)]))
                t = time.time()
                r.raise_for_status()
                answered[r.json()["incident_id"]] = t
        log = StandinLog(stack.standin_url)
        arrived = wait_for(
            lambda: arrivals(url, log, answered),
            120,
            "every page at the stand-in",
            0.5,
        )
    finally:
        stop_stack(stack)
        drop_kafka_state(env)
    lat_ms = [(arrived[i] - answered[i]) * 1000 for i in answered]
    return {
        "benchmark": "latency: API answer -> SMS request at the stand-in",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cores",
        "incidents": count,
        "rate_per_s": rate,
        "staff": staff,
        "peers_on_call": peers,
        "p50_ms": round(statistics.median(lat_ms), 1),
        "p95_ms": round(percentile(lat_ms, 95), 1),
        "p99_ms": round(percentile(lat_ms, 99), 1),
        "max_ms": round(max(lat_ms), 1),
        "min_ms": round(min(lat_ms), 1),
        "samples_ms": [round(x, 1) for x in lat_ms],
    }


def body(staff: list[str]) -> dict[str, object]:
    return {
        "occurred_at": datetime.now(UTC).isoformat(),
        "unit": "4E",
        "event_type": "serious_safety_event",
        "harm_level": "moderate",
        "staff_ids": staff,
    }


def arrivals(db_url: str, log: StandinLog, answered: dict[str, float]) -> dict[str, float] | None:
    """Arrival time at the stand-in of each incident's page, once all have arrived."""
    rows = first_pages(db_url, answered)
    if len(rows) < len(answered):
        return None
    with httpx.Client() as client:
        log.poll(client)
    out: dict[str, float] = {}
    for incident_id, _case_id, page_id in rows:
        at = log.first(page_id)
        if at is None:
            return None
        out[incident_id] = at
    return out


def table(result: dict[str, object]) -> str:
    keys = ["incidents", "rate_per_s", "p50_ms", "p95_ms", "p99_ms", "max_ms", "min_ms"]
    head = "| " + " | ".join(keys) + " |"
    sep = "|" + "|".join("---" for _ in keys) + "|"
    row = "| " + " | ".join(str(result[k]) for k in keys) + " |"
    return "\n".join([head, sep, row])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--rate", type=float, default=10.0, help="incidents per second")
    parser.add_argument("--staff", type=int, default=2000)
    parser.add_argument("--peers", type=int, default=200)
    args = parser.parse_args()
    result = run(args.count, args.rate, args.staff, args.peers)
    report("latency", str(result["benchmark"]), result, table(result))
    from benchmarks import plots

    plots.latency(
        "latency",
        result["samples_ms"],  # type: ignore[arg-type]
        f"{result['benchmark']}: {args.count} incidents at {args.rate:g}/s",
        {"p50 target": 50, "p99 target": 250},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
