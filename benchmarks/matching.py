"""Matching: time to build the candidate list, for one clinician and for a 50-staff incident.

Why these two: one clinician is the common case and sits on the page's critical path; a
50-staff incident (a mass-casualty event, a code on a crowded unit) is when the programme
needs the answer fastest and asks the most of it. Measured on PostgreSQL with a synthetic
hospital: 5,000 staff, 300 trained peers in 60 parallel rotations, and a week of page
history so the fairness counts are real work.

    python -m benchmarks.matching
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from datetime import UTC, date, datetime

import psycopg
from sqlalchemy import select

from benchmarks.common import (
    add_rotations,
    bench_db_url,
    keyring,
    percentile,
    recreate_db,
    report,
    staff_number_columns,
)
from services.db import async_engine, transaction
from services.people.matching import load_context, rank
from services.people.models import Staff
from tests.stack import ROOT

UNITS = [f"U{i:02d}" for i in range(20)]
DISCIPLINES = ["RN", "RN", "RN", "physician", "resident", "respiratory_therapist", "pharmacist"]


def build(url: str, staff: int, peers: int, rotations: int) -> None:
    """Bulk-load the synthetic hospital with set-based SQL: seconds, not minutes."""
    rng = random.Random(3)
    with psycopg.connect(url.replace("+psycopg", "")) as conn, conn.cursor() as cur:
        for u in UNITS:
            cur.execute(
                "INSERT INTO units (code, name, site, time_zone, active) "
                "VALUES (%s, %s, 'main', 'America/New_York', true)",
                (u, u),
            )
        keys = keyring()
        with cur.copy(
            "COPY staff (staff_id, display_name, discipline, role, home_unit, mobile_e164, "
            "mobile_key, language, opted_out, active) FROM STDIN"
        ) as copy:
            for i in range(staff):
                copy.write_row(
                    (
                        f"S{i:05d}",
                        f"Staff {i}",
                        rng.choice(DISCIPLINES),
                        "",
                        rng.choice(UNITS),
                        *staff_number_columns(f"+1555{3000000 + i:07d}", keys),
                        rng.choice(["en"] * 9 + ["es"]),
                        False,
                        True,
                    )
                )
        with cur.copy(
            "COPY peer_supporters (staff_id, trained_on, trained_until, supports, languages, "
            "max_open_cases, active) FROM STDIN"
        ) as copy:
            for i in range(peers):
                expired = i % 25 == 0
                copy.write_row(
                    (
                        f"S{i:05d}",
                        date(2025, 1, 1),
                        date(2026, 1, 1) if expired else date(2028, 1, 1),
                        [],
                        ["en"],
                        2,
                        True,
                    )
                )
        # A week of history: 2,000 incidents, each with one case and one page.
        last = f"S{staff - 1:05d}"  # a clinician who is never a peer
        cur.execute(
            "INSERT INTO incidents (id, request_hash, occurred_at, unit, event_type, harm_level, "
            "staff_ids, received_at) SELECT gen_random_uuid(), 'x', "
            "now() - (g || ' min')::interval, 'U00', 'other', 'none', ARRAY[%s], now() "
            "FROM generate_series(1, 2000) g",
            (last,),
        )
        cur.execute(
            "INSERT INTO support_cases (id, incident_id, staff_id, tier, state, created_at, "
            "updated_at) SELECT gen_random_uuid(), id, %s, 2, 'peer_accepted', now(), now() "
            "FROM incidents",
            (last,),
        )
        history = "+15550000000"  # one number for every page of the history
        cur.execute(
            "INSERT INTO pages (id, case_id, attempt, peer_staff_id, to_number, to_number_key, "
            "reply_code, reason, state, requested_at) SELECT gen_random_uuid(), c.id, 1, "
            "'S' || lpad((floor(random() * %s))::int::text, 5, '0'), %s, %s, '1', 'x', "
            "CASE WHEN random() < 0.1 THEN 'accepted' ELSE 'delivered' END, "
            "now() - (random() * interval '7 days') FROM support_cases c",
            (peers, keys.seal(history, "pages.to_number"), keys.lookup(history)),
        )
        conn.commit()


async def measure(repeat: int, incident_size: int) -> dict[str, list[float]]:
    at = datetime.now(UTC)
    async with transaction() as session:
        clinicians = list(
            await session.scalars(select(Staff).where(Staff.staff_id >= "S01000").limit(500))
        )
    rng = random.Random(5)
    one: list[float] = []
    load: list[float] = []
    incident_once: list[float] = []
    incident_per_case: list[float] = []
    lengths: list[int] = []
    for _ in range(repeat):
        clinician = rng.choice(clinicians)
        t0 = time.perf_counter()
        async with transaction() as session:
            ctx = await load_context(session, at, "preferred")
            t1 = time.perf_counter()
            m = rank(ctx, clinician, {clinician.staff_id})
        one.append((time.perf_counter() - t0) * 1000)
        load.append((t1 - t0) * 1000)
        lengths.append(len(m.ranked))

        group = rng.sample(clinicians, incident_size)
        involved = {c.staff_id for c in group}
        t0 = time.perf_counter()
        async with transaction() as session:
            ctx = await load_context(session, at, "preferred")
            for c in group:
                rank(ctx, c, involved)
        incident_once.append((time.perf_counter() - t0) * 1000)

        t0 = time.perf_counter()
        for c in group:
            async with transaction() as session:
                ctx = await load_context(session, at, "preferred")
                rank(ctx, c, involved)
        incident_per_case.append((time.perf_counter() - t0) * 1000)
    await async_engine().dispose()
    return {
        "one_clinician_ms": one,
        "context_load_ms": load,
        "incident_context_once_ms": incident_once,
        "incident_context_per_case_ms": incident_per_case,
        "candidates": [float(n) for n in lengths],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--staff", type=int, default=5000)
    parser.add_argument("--peers", type=int, default=300)
    parser.add_argument("--rotations", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--incident-size", type=int, default=50)
    args = parser.parse_args()
    url = bench_db_url()
    recreate_db(url)
    env = dict(os.environ, DATABASE_URL=url)
    subprocess.run(
        [sys.executable, "-m", "services.cli", "migrate"],
        env=env,
        check=True,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    build(url, args.staff, args.peers, args.rotations)
    add_rotations(url, [f"S{i:05d}" for i in range(args.peers)], args.rotations)
    os.environ["DATABASE_URL"] = url
    from services.config import get_settings

    get_settings.cache_clear()
    samples = asyncio.run(measure(args.repeat, args.incident_size))
    rows = []
    for name, values in samples.items():
        if name == "candidates":
            continue
        rows.append(
            {
                "measure": name,
                "p50_ms": round(statistics.median(values), 2),
                "p95_ms": round(percentile(values, 95), 2),
                "max_ms": round(max(values), 2),
            }
        )
    result = {
        "benchmark": "matching: candidate list build time",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cores",
        "staff": args.staff,
        "peers": args.peers,
        "peers_on_call": args.rotations,
        "incident_size": args.incident_size,
        "repeat": args.repeat,
        "median_candidates": statistics.median(samples["candidates"]),
        "rows": rows,
    }
    head = "| measure | p50 ms | p95 ms | max ms |\n|---|---|---|---|"
    body = "\n".join(
        f"| {r['measure']} | {r['p50_ms']} | {r['p95_ms']} | {r['max_ms']} |" for r in rows
    )
    table = f"{head}\n{body}"
    title = (
        f"{result['benchmark']}: {args.staff} staff, {args.peers} peers "
        f"({args.rotations} on call), {args.incident_size}-staff incident"
    )
    report("matching", title, result, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
