"""Scale-out: pages per second end to end with 1, 2 and 4 worker processes in one consumer group.

Why measured this way: the answer to "the pipeline is too slow in a mass-casualty event" is
meant to be "start another worker". Kafka shares a topic's partitions among the workers of
one consumer group (the same WORKER_ID), so each round starts the stack with k workers,
waits until the group is Stable with all k in it (the partitions are shared out, no
rebalance under way), warms up, then POSTs `--incidents` one-clinician incidents as fast as
`--concurrency` connections allow and times the first POST -> the last first page at the
Twilio stand-in. Pages per second is incidents over that time; the steady rate (10th to
90th percentile of arrivals) leaves out the ramp at both ends. Each round has its own
database (svrr_bench_scaleout, recreated) and topic prefix, so no round inherits a
backlog or a warm cache from the one before.

Be careful reading it on this machine: 2 cores run Kafka, PostgreSQL, the API, the
stand-in, this script and the k workers. A second worker adds Python parallelism only
where a core is idle, and every worker also runs the timers (deadlines, the page sweep)
against the same store, while one outbox relay at a time publishes (an advisory lock). So
more workers may well not be faster here; the table reports what was measured and the
CPU each process used, which shows what bound each round. The partitions per topic
(schemas/topics.py PARTITIONS, read at run time and checked on the broker) bound how many
workers can share the work at all.

Roster: 5,000 staff, 1,000 trained peers, 500 on call; every clinician named once.

    python -m benchmarks.scaleout --workers 1,2,4 --incidents 2000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

import httpx

from benchmarks import plots
from benchmarks.burst import ms_stats, post_all, wait_pages, warm_up
from benchmarks.common import (
    CpuMeter,
    Roster,
    StandinLog,
    consumer_group,
    drop_kafka_state,
    incident,
    machine,
    now_iso,
    page_counts,
    prepare,
    python_pid,
    report,
    topic_partitions,
)
from tests.stack import RUN, Proc, start_extra_worker, start_stack, stop_stack, wait_for


def one_round(
    k: int, incidents: int, concurrency: int, roster: Roster, timeout: float
) -> dict[str, object]:
    """The stack with k workers; the burst of incidents; what arrived when."""
    url, env = prepare("scaleout", roster)
    stack = start_stack(env, RUN / "log" / f"bench-scaleout-{k}")
    extras: list[Proc] = []
    try:
        for i in range(1, k):
            extras.append(start_extra_worker(stack, i))
        t_join = time.monotonic()
        wait_for(
            lambda: consumer_group(env) == ("Stable", k), 120, f"{k} workers in the group", 0.5
        )
        settled_s = time.monotonic() - t_join
        partitions = topic_partitions(env)
        pool = roster.clinicians
        # Two per partition, so every worker has fetched from all of its partitions once.
        warm = pool[-2 * max(partitions.values()) :]
        log = StandinLog(stack.standin_url)
        warm_up(stack, url, log, warm)
        log = StandinLog(stack.standin_url, last_id=log.last_id)
        workers = [stack.worker, *extras]
        assert stack.api.popen and stack.standin.popen
        pids = {f"worker{i}": python_pid(w.popen.pid) for i, w in enumerate(workers) if w.popen}
        pids |= {
            "api": python_pid(stack.api.popen.pid),
            "standin": python_pid(stack.standin.popen.pid),
        }
        cpu = CpuMeter(pids)
        bodies = [incident([c]) for c in pool[:incidents]]
        cpu.start()
        t0, ids, answered, _sent = asyncio.run(post_all(stack.api_url, bodies, 0.0, concurrency))
        posted_s = max(answered.values()) - t0
        rows, _trace = wait_pages(url, stack, log, ids, incidents, timeout)
        cpu_s = cpu.stop()
        time.sleep(3)  # a late duplicate would land now
        with httpx.Client() as client:
            log.poll(client)
        counts = page_counts(url)
        alive = sum(1 for w in workers if w.alive())
    finally:
        for w in extras:
            w.stop()
        stop_stack(stack)
        drop_kafka_state(env)
    arrivals = sorted(a for _i, _c, p in rows if (a := log.first(p)) is not None)
    lat_ms = [(a - answered[i]) * 1000 for i, _c, p in rows if (a := log.first(p)) is not None]
    all_s = arrivals[-1] - t0 if len(arrivals) >= incidents else None
    steady = None
    if len(arrivals) >= 10:
        lo, hi = arrivals[len(arrivals) // 10], arrivals[(len(arrivals) * 9) // 10]
        steady = round(len(arrivals) * 0.8 / max(hi - lo, 1e-3), 1)
    workers_cpu = sum(v for n, v in cpu_s.items() if n.startswith("worker"))
    return {
        "workers": k,
        "workers_alive_at_end": alive,
        "partitions": partitions,
        "group_settled_s": round(settled_s, 1),
        "incidents": incidents,
        "posts_answered_s": round(posted_s, 2),
        "pages_at_standin": len(arrivals),
        "all_paged_s": round(all_s, 2) if all_s else None,
        "pages_per_s": round(incidents / all_s, 1) if all_s else None,
        "steady_pages_per_s": steady,
        "latency_ms": ms_stats(lat_ms),
        "duplicate_pages_per_step": counts["duplicate_pages_per_step"],
        "duplicate_sms": log.duplicate_sms(),
        "cpu_s": cpu_s,
        "workers_cpu_s": round(workers_cpu, 1),
    }


def run(
    counts: list[int], incidents: int, concurrency: int, roster: Roster, timeout: float
) -> dict[str, object]:
    if len(roster.clinicians) < incidents + 64:
        raise SystemExit("too few clinicians to name each once: raise --staff")
    rounds = []
    for k in counts:
        print(f"{k} worker(s):", flush=True)
        rounds.append(one_round(k, incidents, concurrency, roster, timeout))
        print(
            f"  {rounds[-1]['pages_per_s']} pages/s end to end, steady "
            f"{rounds[-1]['steady_pages_per_s']}/s",
            flush=True,
        )
    from schemas.topics import PARTITIONS

    return {
        "benchmark": "scale-out: pages/s end to end with 1, 2, 4 workers in one consumer group",
        "date": now_iso(),
        "machine": machine(),
        "catalogue_partitions": PARTITIONS,
        "incidents": incidents,
        "concurrency": concurrency,
        "staff": roster.staff,
        "peers": roster.peers,
        "peers_on_call": roster.on_call,
        "rounds": rounds,
    }


def table(result: dict[str, object]) -> str:
    rounds = result["rounds"]
    assert isinstance(rounds, list)
    base = rounds[0]["pages_per_s"] if rounds else None
    lines = [
        "| workers | partitions | pages | POSTs answered s | all paged s | pages/s | "
        "vs 1 worker | steady pages/s | p50 ms | p99 ms | CPU s: workers / API / stand-in / "
        "PostgreSQL / Kafka / rest | duplicates (pages / SMS) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rounds:
        speedup = f"{r['pages_per_s'] / base:.2f}x" if base and r["pages_per_s"] else "-"
        cpu = r["cpu_s"]
        lines.append(
            f"| {r['workers']} | {min(r['partitions'].values())} | {r['pages_at_standin']} of "
            f"{r['incidents']} | {r['posts_answered_s']} | {r['all_paged_s']} | "
            f"{r['pages_per_s']} | {speedup} | {r['steady_pages_per_s']} | "
            f"{r['latency_ms']['p50']} | {r['latency_ms']['p99']} | {r['workers_cpu_s']} / "
            f"{cpu['api']} / {cpu['standin']} / {cpu['postgres']} / {cpu['kafka']} / "
            f"{cpu['rest']} | "
            f"{r['duplicate_pages_per_step']} / {r['duplicate_sms']} |"
        )
    note = (
        f"Partitions per topic: {result['catalogue_partitions']} in schemas/topics.py. "
        "CPU seconds are over the whole round (first POST to last page); `rest` is this "
        f"script and anything else running on the {os.cpu_count()} cores."
    )
    return "\n".join(lines) + "\n\n" + note


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2,4", help="worker counts, comma separated")
    parser.add_argument("--incidents", type=int, default=2000, help="one-clinician incidents")
    parser.add_argument("--concurrency", type=int, default=32, help="POSTs in flight at most")
    parser.add_argument("--staff", type=int, default=5000)
    parser.add_argument("--peers", type=int, default=1000)
    parser.add_argument("--on-call", type=int, default=500, help="peers on call (rotations)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per round")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",") if n.strip()]
    roster = Roster(args.staff, args.peers, args.on_call, 10)
    result = run(counts, args.incidents, args.concurrency, roster, args.timeout)
    title = f"{result['benchmark']}: {args.incidents} incidents per round"
    report("scaleout", title, result, table(result))
    rounds = result["rounds"]
    assert isinstance(rounds, list)
    plots.bars(
        "scaleout",
        [f"{r['workers']} worker{'s' if r['workers'] > 1 else ''}" for r in rounds],
        [float(r["pages_per_s"] or 0) for r in rounds],
        f"{result['benchmark']}\n{args.incidents} incidents per round, "
        f"{result['catalogue_partitions']} partitions per topic",
        "pages/s, first POST -> last page at the stand-in",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
