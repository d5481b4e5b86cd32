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
stand-in, the engine, this script and the k workers. A second worker adds Python
parallelism only where a core is idle, and every worker also runs the sweeps against the
same store. So more workers may well not be faster here; each round reports the CPU each
process used (benchmarks.costs: share of the round's wall time, ms per page), and a line
says where the knee is: the first round where the machine's cores were used up (at least
90% of what they offered) or where the added workers brought less than half the ideal
speed-up, with the stand-in's and PostgreSQL's share beside it to show they were not what
saturated. The partitions per topic (schemas/topics.py PARTITIONS, 12, read at run time
and checked on the broker) bound how many workers can share the work at all. Lost and
duplicated pages are counted once the stale-claim interval has passed after each round.

Roster: 5,000 staff, 1,000 trained peers, 500 on call; every clinician named once.

    python -m benchmarks.scaleout --workers 1,2,4 --incidents 2000 [--root PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

from benchmarks import costs, plots
from benchmarks.burst import ms_stats, post_all, wait_pages, warm_up
from benchmarks.common import (
    Roster,
    StandinLog,
    consumer_group,
    drop_kafka_state,
    first_pages,
    incident,
    machine,
    now_iso,
    page_counts,
    prepare,
    report,
    topic_partitions,
)
from tests.stack import ROOT, RUN, Proc, start_extra_worker, start_stack, stop_stack, wait_for

# The knee: the machine's cores used up, or added workers giving less than this share of
# the ideal speed-up over the round before.
CORES_USED_UP_PCT = 90.0
POOR_SCALING = 0.5


def one_round(
    k: int, incidents: int, concurrency: int, roster: Roster, timeout: float, root: Path = ROOT
) -> dict[str, object]:
    """The stack with k workers; the burst of incidents; what arrived when."""
    url, env = prepare("scaleout", roster, root)
    stack = start_stack(env, RUN / "log" / f"bench-scaleout-{k}", root)
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
        cpu = costs.PageCpu(costs.stack_pids(stack, extras), url)
        bodies = [incident([c]) for c in pool[:incidents]]
        cpu.start()
        t0, ids, answered, _sent = asyncio.run(post_all(stack.api_url, bodies, 0.0, concurrency))
        posted_s = max(answered.values()) - t0
        rows, _trace = wait_pages(url, stack, log, ids, incidents, timeout, every=0.2)
        cpu.run_over()
        cpu_per_page = cpu.finish(incidents)
        first_sight = costs.sighting(log, [p for _i, _c, p in rows])
        waited = costs.recheck(log, stack, extras)
        written = [p for _i, _c, p in first_pages(url, ids)]
        delivered = costs.delivery(url, log, written, incidents, waited, first_sight)
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
    procs = cpu_per_page["processes"]
    machine_row = cpu_per_page["machine"]
    assert isinstance(procs, dict) and isinstance(machine_row, dict)
    workers_cpu = sum(r["cpu_s"] for n, r in procs.items() if n.startswith("worker"))
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
        "duplicate_pages": delivered["duplicate_pages"],
        "duplicate_sms": delivered["duplicate_sms"],
        "lost_pages": delivered["lost"],
        "delivery": delivered,
        "cpu": cpu_per_page,
        "ours_cpu_ms_per_page": cpu_per_page["ours_ms_per_page"],
        "workers_cpu_s": round(workers_cpu, 1),
        "machine_busy_pct_of_cores": round(
            machine_row["busy_pct"] / int(str(cpu_per_page["cores"])), 1
        ),
        "standin_busy_pct": procs.get("standin", {}).get("busy_pct"),
        "postgres_busy_pct": procs.get("postgres", {}).get("busy_pct"),
        "bench_busy_pct": procs.get("bench", {}).get("busy_pct"),
        "rest_busy_pct": cpu_per_page["rest"]["busy_pct"],  # type: ignore[index]
        "busiest": max(procs, key=lambda n: procs[n]["busy_pct"]),
    }


def knee(rounds: list[dict[str, object]]) -> str:
    """Where adding workers stopped paying, and why (see CORES_USED_UP_PCT, POOR_SCALING)."""
    prev: dict[str, object] | None = None
    for r in rounds:
        k, used = int(str(r["workers"])), float(str(r["machine_busy_pct_of_cores"]))
        rate = r["pages_per_s"]
        side = (
            f"stand-in {r['standin_busy_pct']}% of one core, PostgreSQL {r['postgres_busy_pct']}%"
            f", busiest {r['busiest']}; this script {r['bench_busy_pct']}%, anything else "
            f"running {r['rest_busy_pct']}%"
        )
        if used >= CORES_USED_UP_PCT:
            return (
                f"Knee at {k} worker(s): the machine's cores were used up ({used:.0f}% of what "
                f"they offered over the round; {side})."
            )
        if prev is not None and isinstance(rate, int | float) and prev["pages_per_s"]:
            k0 = int(str(prev["workers"]))
            gain = float(rate) / float(str(prev["pages_per_s"]))
            if (gain - 1) < POOR_SCALING * (k / k0 - 1):
                return (
                    f"Knee at {k} worker(s): {gain:.2f}x the pages/s of {k0} for {k / k0:g}x "
                    f"the workers, with the cores at {used:.0f}% ({side})."
                )
        prev = r
    last = rounds[-1] if rounds else None
    return (
        f"No knee up to {last['workers']} worker(s): near-linear, cores at "
        f"{last['machine_busy_pct_of_cores']}% in the last round."
        if last
        else "No rounds."
    )


def run(
    counts: list[int],
    incidents: int,
    concurrency: int,
    roster: Roster,
    timeout: float,
    root: Path = ROOT,
) -> dict[str, object]:
    if len(roster.clinicians) < incidents + 64:
        raise SystemExit("too few clinicians to name each once: raise --staff")
    rounds = []
    for k in counts:
        print(f"{k} worker(s):", flush=True)
        rounds.append(one_round(k, incidents, concurrency, roster, timeout, root))
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
        "knee": knee(rounds),
    }


def table(result: dict[str, object]) -> str:
    rounds = result["rounds"]
    assert isinstance(rounds, list)
    base = rounds[0]["pages_per_s"] if rounds else None
    lines = [
        "| workers | partitions | pages | POSTs answered s | all paged s | pages/s | "
        "vs 1 worker | steady pages/s | p50 ms | p99 ms | ours ms CPU/page | busiest | "
        "stand-in % of a core | PostgreSQL % of a core | machine % of its cores | "
        "lost / duplicate pages / duplicate SMS |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rounds:
        speedup = f"{r['pages_per_s'] / base:.2f}x" if base and r["pages_per_s"] else "-"
        procs = r["cpu"]["processes"]
        lines.append(
            f"| {r['workers']} | {min(r['partitions'].values())} | {r['pages_at_standin']} of "
            f"{r['incidents']} | {r['posts_answered_s']} | {r['all_paged_s']} | "
            f"{r['pages_per_s']} | {speedup} | {r['steady_pages_per_s']} | "
            f"{r['latency_ms']['p50']} | {r['latency_ms']['p99']} | "
            f"{r['ours_cpu_ms_per_page']} | {r['busiest']} "
            f"({procs[r['busiest']]['busy_pct']}%) | {r['standin_busy_pct']} | "
            f"{r['postgres_busy_pct']} | {r['machine_busy_pct_of_cores']} | "
            f"{r['lost_pages']} / {r['duplicate_pages']} / {r['duplicate_sms']} |"
        )
    note = (
        f"{result['knee']}\n\nPartitions per topic: {result['catalogue_partitions']} in "
        "schemas/topics.py. Busy shares are over the round (first POST to last page), % of "
        f"one core for a process, of all {os.cpu_count()} cores for the machine."
    )
    parts = ["\n".join(lines), note]
    for r in rounds:
        parts.append(
            f"{r['workers']} worker(s): " + costs.delivery_line(r["delivery"]) + "\n\n"
            "CPU, first POST -> last first page at the stand-in:\n\n" + costs.cpu_table(r["cpu"])
        )
    return "\n\n".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2,4", help="worker counts, comma separated")
    parser.add_argument("--incidents", type=int, default=2000, help="one-clinician incidents")
    parser.add_argument("--concurrency", type=int, default=32, help="POSTs in flight at most")
    parser.add_argument("--staff", type=int, default=5000)
    parser.add_argument("--peers", type=int, default=1000)
    parser.add_argument("--on-call", type=int, default=500, help="peers on call (rotations)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per round")
    costs.add_root_args(parser)
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",") if n.strip()]
    where = costs.checkout(args.root, args.label)
    roster = Roster(args.staff, args.peers, args.on_call, 10)
    result = run(counts, args.incidents, args.concurrency, roster, args.timeout, args.root)
    result |= where
    name = costs.result_name("scaleout", where)
    title = costs.titled(f"{result['benchmark']}: {args.incidents} incidents per round", where)
    report(name, title, result, table(result))
    rounds = result["rounds"]
    assert isinstance(rounds, list)
    plots.bars(
        name,
        [f"{r['workers']} worker{'s' if r['workers'] > 1 else ''}" for r in rounds],
        [float(r["pages_per_s"] or 0) for r in rounds],
        f"{result['benchmark']}\n{args.incidents} incidents per round, "
        f"{result['catalogue_partitions']} partitions per topic",
        "pages/s, first POST -> last page at the stand-in",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
