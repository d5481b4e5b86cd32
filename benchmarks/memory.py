"""Memory: resident memory of the worker, the API and the engine with 10,000 cases open.

Why measured this way: a programme keeps cases open for hours while peers answer, and a
mass-casualty week can leave thousands open at once. What the processes hold per open case
(match contexts, caches, Kafka buffers, the store's pools, metrics labels) shows only when
that many really pass through them, so 10,000 one-clinician incidents go through the real
pipeline (API -> outbox -> Kafka -> worker -> Twilio stand-in) at `--rate` a second, and
the benchmark waits until every first page is at the stand-in. Then the API does real work
while the cases are open: the coordinator's case history (GET /admin/cases/{id}), risk
management's incident status and involvement views, who is on call and the peer list.

Memory is read from /proc/<pid>/status of the Python interpreter itself (the venv's
`uvicorn` and `faust` scripts exec python from their shebang; checked, not assumed):
VmRSS (resident now) once a second throughout, and VmHWM (the peak resident size).
Target: at most 300 MB each for the worker, the API and the engine (reported, not
asserted). The stand-in's memory is shown for scale: it keeps every message it was sent,
like Twilio's log. CPU per page for each process is read over the paging (first POST to the
last first page; benchmarks.costs), and lost and duplicated pages once the stale-claim
interval has passed after the API reads.

So that 10,000 cases stay open and paged while measured, a programme policy waits 4 hours
per step (the default waits 5 minutes, and escalations would page again: their load is
benchmarks/escalation.py's business). Roster: 12,000 staff, 2,000 trained peers of whom
1,000 are on call, so the first pages spread at about ten per peer; each clinician is named
once. Real stack, its own database (svrr_bench_memory) and topic prefix.

    python -m benchmarks.memory --cases 10000 --rate 50 [--root PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import threading
import time
from pathlib import Path

import httpx
import psycopg

from benchmarks import costs, plots
from benchmarks.burst import post_all
from benchmarks.common import (
    Roster,
    StandinLog,
    drop_kafka_state,
    incident,
    machine,
    memory_kb,
    now_iso,
    page_counts,
    percentile,
    prepare,
    report,
)
from services.people.matching import CLOSED_CASE_STATES
from tests.stack import ROOT, RUN, TOKEN, Stack, start_stack, stop_stack

TARGET_MB = 300.0
ADMIN_TOKEN = "bench-admin-token"
HOLD = {
    "steps": [
        {"target": "peer", "wait_minutes": 240},
        {"target": "peer", "wait_minutes": 240},
        {"target": "coordinator", "wait_minutes": 240},
    ],
    "repeat": 0,
}


class Sampler(threading.Thread):
    """VmRSS of each process every `every` seconds, in MB, from when it starts."""

    def __init__(self, pids: dict[str, int], every: float) -> None:
        super().__init__(daemon=True)
        self.pids = pids
        self.every = every
        self.t0 = time.monotonic()
        self.series: dict[str, list[tuple[float, float]]] = {n: [] for n in pids}
        self.marks: list[tuple[float, str]] = []
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            t = round(time.monotonic() - self.t0, 1)
            for name, pid in self.pids.items():
                self.series[name].append((t, round(memory_kb(pid)["VmRSS"] / 1024, 1)))
            self._done.wait(self.every)

    def stop(self) -> None:
        self._done.set()
        self.join()

    def mark(self, label: str) -> dict[str, dict[str, float]]:
        """Note a phase on the time line; the RSS and peak of each process right now."""
        self.marks.append((round(time.monotonic() - self.t0, 1), label))
        return {n: mb(memory_kb(pid)) for n, pid in self.pids.items()}


def mb(kb: dict[str, int]) -> dict[str, float]:
    return {"rss_mb": round(kb["VmRSS"] / 1024, 1), "peak_mb": round(kb["VmHWM"] / 1024, 1)}


def wait_paged(
    url: str, stack: Stack, log: StandinLog, expected: int, timeout: float
) -> tuple[int, float]:
    """Poll (every second) until `expected` first pages are at the stand-in; (count, s)."""
    t0 = time.time()
    libpq = url.replace("+psycopg", "")
    arrived = 0
    with httpx.Client() as client:
        while True:
            log.poll(client)
            with psycopg.connect(libpq) as conn:
                ids = [str(r[0]) for r in conn.execute("SELECT id FROM pages WHERE attempt = 1")]
            arrived = sum(1 for p in ids if p in log.per_page)
            if int(time.time() - t0) % 10 == 0:
                print(f"  t={time.time() - t0:>6.0f}s pages={len(ids)} at stand-in={arrived}")
            if arrived >= expected:
                return arrived, time.time() - t0
            costs.check_alive(stack)
            if time.time() - t0 > timeout:
                print(f"  timed out: {arrived} of {expected} at the stand-in", flush=True)
                return arrived, time.time() - t0
            time.sleep(1.0)


async def exercise(api_url: str, url: str, requests: int, concurrency: int) -> dict[str, object]:
    """The API's read side while the cases are open; latency and failures per route."""
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        cases = conn.execute("SELECT id::text, incident_id::text FROM support_cases").fetchall()
    rng = random.Random(13)
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    risk = {"Authorization": f"Bearer {TOKEN}"}
    routes = (
        ["case history"] * 8 + ["incident status"] * 6 + ["involvement"] * 4 + ["on call", "peers"]
    )
    plan: list[tuple[str, str, dict[str, str]]] = []
    for _ in range(requests):
        route = rng.choice(routes)
        case_id, incident_id = rng.choice(cases)
        path, headers = {
            "case history": (f"/admin/cases/{case_id}", admin),
            "incident status": (f"/incidents/{incident_id}", risk),
            "involvement": (f"/incidents/{incident_id}/involvement", risk),
            "on call": ("/admin/schedules/on-call", admin),
            "peers": ("/admin/peers", admin),
        }[route]
        plan.append((route, path, headers))
    took: dict[str, list[float]] = {}
    failed: dict[str, int] = {}
    limit = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=api_url, timeout=120) as client:

        async def one(route: str, path: str, headers: dict[str, str]) -> None:
            async with limit:
                t = time.perf_counter()
                r = await client.get(path, headers=headers)
                took.setdefault(route, []).append((time.perf_counter() - t) * 1000)
                if r.status_code != 200:
                    failed[route] = failed.get(route, 0) + 1

        t0 = time.perf_counter()
        await asyncio.gather(*(one(*p) for p in plan))
        wall = time.perf_counter() - t0
    return {
        "requests": requests,
        "wall_s": round(wall, 1),
        "per_s": round(requests / wall, 1),
        "routes": {
            route: {
                "n": len(ms),
                "failed": failed.get(route, 0),
                "p50_ms": round(statistics.median(ms), 1),
                "p99_ms": round(percentile(ms, 99), 1),
            }
            for route, ms in sorted(took.items())
        },
    }


def run(
    cases: int,
    rate: float,
    roster: Roster,
    views: int,
    concurrency: int,
    every: float,
    settle: float,
    timeout: float,
    root: Path = ROOT,
) -> dict[str, object]:
    pool = roster.clinicians
    if len(pool) < cases:
        raise SystemExit(f"{len(pool)} clinicians cannot be named once each in {cases} cases")
    url, env = prepare("memory", roster, root)
    env["ADMIN_TOKENS"] = ADMIN_TOKEN
    stack = start_stack(env, RUN / "log" / "bench-memory", root)
    try:
        cpu = costs.PageCpu(costs.stack_pids(stack), url)
        pids = {n: pid for n, pid in cpu.meter.pids.items() if n != "bench"}
        sampler = Sampler(pids, every)
        sampler.start()
        at_start = sampler.mark("stack up")
        with httpx.Client(
            base_url=stack.api_url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        ) as client:
            client.put("/admin/escalation-policies/bench-hold", json=HOLD).raise_for_status()
        log = StandinLog(stack.standin_url)
        bodies = [incident([c]) for c in pool[:cases]]
        print(f"posting {cases} incidents at {rate:g}/s", flush=True)
        cpu.start()
        t0, _ids, answered, _sent = asyncio.run(
            post_all(stack.api_url, bodies, cases / rate, concurrency)
        )
        drive_s = max(answered.values()) - t0
        sampler.mark("all posted")
        arrived, waited_s = wait_paged(url, stack, log, cases, timeout)
        cpu.run_over()
        cpu_per_page = cpu.finish(cases)
        at_open = sampler.mark(f"{arrived} paged")
        with psycopg.connect(url.replace("+psycopg", "")) as conn:
            states = dict(
                conn.execute("SELECT state, count(*) FROM support_cases GROUP BY state").fetchall()
            )
        print(f"cases by state: {states}; exercising the API with {views} requests", flush=True)
        api_work = asyncio.run(exercise(stack.api_url, url, views, 8))
        after_views = sampler.mark("views done")
        first_sight = costs.sighting(log, log.per_page)
        waited = costs.recheck(log, stack)
        time.sleep(settle)
        at_end = sampler.mark("settled")
        with psycopg.connect(url.replace("+psycopg", "")) as conn:
            first_ids = [str(r[0]) for r in conn.execute("SELECT id FROM pages WHERE attempt = 1")]
        delivered = costs.delivery(url, log, first_ids, cases, waited, first_sight)
        counts = page_counts(url)
        sampler.stop()
    finally:
        stop_stack(stack)
        drop_kafka_state(env)
    processes = {
        name: {
            "pid": pids[name],
            "at_start_mb": at_start[name]["rss_mb"],
            "open_cases_mb": at_open[name]["rss_mb"],
            "after_views_mb": after_views[name]["rss_mb"],
            "end_mb": at_end[name]["rss_mb"],
            "peak_mb": at_end[name]["peak_mb"],
        }
        for name in pids
    }
    return {
        "benchmark": "memory: worker, API and engine resident memory with open cases",
        "date": now_iso(),
        "machine": machine(),
        "cases": cases,
        "rate_per_s": rate,
        "staff": roster.staff,
        "peers": roster.peers,
        "peers_on_call": roster.on_call,
        "posted_s": round(drive_s, 1),
        "paged_after_posting_s": round(waited_s, 1),
        "first_pages_at_standin": arrived,
        "cases_by_state": {str(k): int(v) for k, v in states.items()},
        "open_cases": sum(int(v) for k, v in states.items() if k not in CLOSED_CASE_STATES),
        "duplicate_pages_per_step": counts["duplicate_pages_per_step"],
        "duplicate_pages": delivered["duplicate_pages"],
        "duplicate_sms": delivered["duplicate_sms"],
        "lost_pages": delivered["lost"],
        "delivery": delivered,
        "later_attempts": counts["later_pages"],
        "cpu": cpu_per_page,
        "ours_cpu_ms_per_page": cpu_per_page["ours_ms_per_page"],
        "target_mb": TARGET_MB,
        "processes": processes,
        "api_work": api_work,
        "marks": sampler.marks,
        "rss_series_mb": sampler.series,
    }


def table(result: dict[str, object]) -> str:
    procs = result["processes"]
    assert isinstance(procs, dict)
    lines = [
        f"| process | RSS at start MB | RSS with {result['open_cases']} open cases MB | "
        "RSS after API reads MB | RSS at end MB | peak (VmHWM) MB | target MB |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, p in procs.items():
        target = f"<= {result['target_mb']:g}" if name != "standin" else "(not ours)"
        lines.append(
            f"| {name} | {p['at_start_mb']} | {p['open_cases_mb']} | {p['after_views_mb']} | "
            f"{p['end_mb']} | {p['peak_mb']} | {target} |"
        )
    work = result["api_work"]
    assert isinstance(work, dict)
    reads = [
        f"API reads while the cases were open: {work['requests']} requests in "
        f"{work['wall_s']} s ({work['per_s']}/s)",
        "",
        "| route | requests | failed | p50 ms | p99 ms |",
        "|---|---|---|---|---|",
    ]
    for route, r in work["routes"].items():
        reads.append(f"| {route} | {r['n']} | {r['failed']} | {r['p50_ms']} | {r['p99_ms']} |")
    tail = (
        f"{result['cases']} incidents posted in {result['posted_s']} s, every first page at the "
        f"stand-in {result['paged_after_posting_s']} s later ({result['first_pages_at_standin']} "
        f"pages); cases by state {result['cases_by_state']}"
    )
    delivered, cpu = result["delivery"], result["cpu"]
    assert isinstance(delivered, dict) and isinstance(cpu, dict)
    return "\n\n".join(
        [
            "\n".join(lines),
            "\n".join(reads),
            tail,
            costs.delivery_line(delivered),
            "CPU from the first POST to the last first page at the stand-in:\n\n"
            + costs.cpu_table(cpu),
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10000, help="incidents, one case each")
    parser.add_argument("--rate", type=float, default=50.0, help="incidents POSTed per second")
    Roster.add_arguments(parser, staff=12000, peers=2000, on_call=1000)
    parser.add_argument("--views", type=int, default=2000, help="API reads with cases open")
    parser.add_argument("--concurrency", type=int, default=16, help="POSTs in flight at most")
    parser.add_argument("--every", type=float, default=1.0, help="seconds between RSS samples")
    parser.add_argument(
        "--settle", type=float, default=0.0, help="idle seconds at the end, after the stale wait"
    )
    parser.add_argument("--timeout", type=float, default=3600.0)
    costs.add_root_args(parser)
    args = parser.parse_args()
    where = costs.checkout(args.root, args.label)
    roster = Roster.of(args)
    result = run(
        args.cases,
        args.rate,
        roster,
        args.views,
        args.concurrency,
        args.every,
        args.settle,
        args.timeout,
        args.root,
    )
    result |= where
    name = costs.result_name("memory", where)
    title = costs.titled(
        f"{result['benchmark']}: {args.cases} cases posted at {args.rate:g}/s", where
    )
    report(name, title, result, table(result))
    plots.memory(name, result["rss_series_mb"], title, target_mb=TARGET_MB, marks=result["marks"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
