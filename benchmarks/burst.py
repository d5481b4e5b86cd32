"""Burst: a mass-casualty incident naming 200 staff plus 500 ordinary incidents, all POSTed
within one second; how long until every clinician's first page is at the Twilio stand-in.

Why measured this way: a mass-casualty event is when the programme is needed most and when
everything arrives at once: the big incident, and the ordinary reports that keep coming.
The promise is about the last clinician, not the average one, so the headline is the time
from the first POST until the last first page (attempt 1) reached the stand-in, and pages
per second is the number of first pages over that time (target: at least 500 pages/s,
reported, not asserted); the time from the last POST leaving this script to that last page
says whether every first page was out within 2 s of the last report. Per page, the latency
runs from the POST's answer to the SMS at the stand-in; arrivals per 100 ms show whether
the pipeline streamed or stalled. The CPU
each process used over the burst (API, worker, engine, stand-in, PostgreSQL, Kafka) says
which one bound it, and CPU per page what a page costs (benchmarks.costs).

The synthetic hospital (benchmarks.common.build_roster): 5,000 staff, of whom 1,000 are
trained peers in 500 parallel rotations, so 500 are on call; max_open_cases 10. 700 first
pages over 500 on-call peers is one or two per peer, so no peer nears the six SMS a minute
a number may get, and the pages one peer gets in one send batch arrive bundled as one SMS
(its status callback names them all, ?pages=a,b), which the count below follows. Every
clinician is named once, so each POSTed name is exactly one case and one first page.
Lost and duplicated pages (pages per case and step in the store, pages that reached the
stand-in twice, expected pages that never did) are counted once the stale-claim interval
has passed after the burst, when a send interrupted mid-way would have been retried.

Real stack, its own database (svrr_bench_burst) and topic prefix; the stand-in's status
callbacks stay on, loading the API as Twilio would.

    python -m benchmarks.burst --mci-staff 200 --incidents 500 --window 1 [--root PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path

import aiohttp
import httpx

from benchmarks import costs, plots
from benchmarks.common import (
    Roster,
    StandinLog,
    analyze,
    drop_kafka_state,
    first_pages,
    incident,
    machine,
    now_iso,
    page_counts,
    per_bucket,
    percentile,
    prepare,
    report,
)
from tests.stack import ROOT, RUN, TOKEN, Stack, start_stack, stop_stack

TARGET_PAGES_PER_S = 500.0
TARGET_ALL_OUT_S = 2.0  # every first page out within this long of the last POST
WARMUP = 6


async def post_all(
    api_url: str, bodies: list[dict[str, object]], window: float, concurrency: int
) -> tuple[float, list[str], dict[str, float], list[float]]:
    """POST the bodies spread evenly over `window` seconds, at most `concurrency` in flight.

    Returns when the first POST left, the incident ids in body order, each incident's
    answer time, and each POST's send time (did they all leave within the window?).

    aiohttp, not httpx: on two cores the load competes with what it measures, and httpx's
    pool cost this script about 10 ms of CPU per POST at 50/s (aiohttp: a fraction of it).
    """
    ids = [""] * len(bodies)
    answered: dict[str, float] = {}
    sent_at: list[float] = []
    retried: list[int] = []
    # Letters only: a key with six digits in a row is refused as a possible record number.
    run = uuid.uuid4().hex.translate(str.maketrans("0123456789", "ghijklmnop"))[:12]
    async with aiohttp.ClientSession(
        base_url=api_url,
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=aiohttp.ClientTimeout(total=120),
        connector=aiohttp.TCPConnector(limit=concurrency),
    ) as client:
        # One connection per slot before the clock starts: the burst does not pay TCP setup.
        async def warm() -> None:
            async with client.get("/healthz") as r:
                await r.read()

        await asyncio.gather(*(warm() for _ in range(concurrency)))
        t0 = time.time()
        start = time.monotonic()

        async def one(i: int, body: dict[str, object]) -> None:
            await asyncio.sleep(max(0.0, start + i * window / len(bodies) - time.monotonic()))
            sent_at.append(time.time())
            # A connection the server dropped mid-burst is retried with the same key: the API
            # answers a replay with the first incident, so nothing is counted twice.
            key = {"Idempotency-Key": f"burst-{run}-{i:x}"}
            for attempt in range(3):
                try:
                    async with client.post("/incidents", json=body, headers=key) as r:
                        at = time.time()
                        r.raise_for_status()
                        ids[i] = (await r.json())["incident_id"]
                    break
                except aiohttp.ClientConnectionError:
                    if attempt == 2:
                        raise
                    retried.append(i)
            answered[ids[i]] = at

        await asyncio.gather(*(one(i, b) for i, b in enumerate(bodies)))
    if retried:
        print(f"  {len(retried)} POSTs retried after a dropped connection", flush=True)
    return t0, ids, answered, sent_at


def wait_pages(
    url: str,
    stack: Stack,
    log: StandinLog,
    incident_ids: list[str],
    expected: int,
    timeout: float,
    label: str = "",
    every: float = 1.0,
) -> tuple[list[tuple[str, str, str]], list[dict[str, float]]]:
    """Poll the stand-in and the store every `every` s until every first page has arrived;
    a trace of pages written and pages at the stand-in over time. Times come from the
    stand-in's arrival stamps, so polling slower loses no precision and steals less CPU
    from the pipeline on a 2-core machine; but the CPU meter is read when this returns, so
    a burst of a second or two polls faster, or its wall time would be mostly waiting."""
    trace: list[dict[str, float]] = []
    t0 = time.time()
    rows: list[tuple[str, str, str]] = []
    with httpx.Client() as client:
        while True:
            log.poll(client)
            rows = first_pages(url, incident_ids)
            arrived = sum(1 for _i, _c, page in rows if page in log.per_page)
            trace.append(
                {"t_s": round(time.time() - t0, 2), "pages_written": len(rows), "arrived": arrived}
            )
            if len(trace) % max(1, round(5 / every)) == 1:
                print(
                    f"  {label}t={trace[-1]['t_s']:>6}s pages={len(rows)} at stand-in={arrived}",
                    flush=True,
                )
            if arrived >= expected:
                return rows, trace
            costs.check_alive(stack)
            if time.time() - t0 > timeout:
                print(f"  timed out: {arrived} of {expected} at the stand-in", flush=True)
                return rows, trace
            time.sleep(every)


def warm_up(stack: Stack, url: str, log: StandinLog, clinicians: list[str]) -> None:
    """A few incidents first (pools, Kafka metadata, first fetch on the partitions); their
    SMS are read off the stand-in so the burst's count starts clean."""
    with stack.client() as client:
        ids = [
            client.post("/incidents", json=incident([c])).json()["incident_id"] for c in clinicians
        ]
    wait_pages(url, stack, log, ids, len(ids), 60, label="warm-up ")
    analyze(url)
    time.sleep(1)
    with httpx.Client() as client:
        log.poll(client)


def ms_stats(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None, "max": None, "min": None}
    return {
        "p50": round(statistics.median(values), 1),
        "p95": round(percentile(values, 95), 1),
        "p99": round(percentile(values, 99), 1),
        "max": round(max(values), 1),
        "min": round(min(values), 1),
    }


def run(
    mci_staff: int,
    incidents: int,
    window: float,
    roster: Roster,
    concurrency: int,
    bucket: float,
    timeout: float,
    root: Path = ROOT,
) -> dict[str, object]:
    pool = roster.clinicians
    if len(pool) < mci_staff + incidents + WARMUP:
        raise SystemExit(
            f"{len(pool)} clinicians cannot be named once each by {mci_staff} + {incidents} "
            f"+ {WARMUP} warm-up: raise --staff"
        )
    warm, pool = pool[-WARMUP:], pool[: mci_staff + incidents]
    bodies = [incident(pool[:mci_staff], unit="U01")] + [incident([c]) for c in pool[mci_staff:]]
    expected = mci_staff + incidents
    url, env = prepare("burst", roster, root)
    stack = start_stack(env, RUN / "log" / "bench-burst", root)
    try:
        cpu = costs.PageCpu(costs.stack_pids(stack), url)
        log = StandinLog(stack.standin_url)
        warm_up(stack, url, log, warm)
        log = StandinLog(stack.standin_url, last_id=log.last_id)  # count the burst only
        cpu.start()
        t0, ids, answered, sent_at = asyncio.run(
            post_all(stack.api_url, bodies, window, concurrency)
        )
        posted_s = max(answered.values()) - t0
        print(
            f"posted {len(bodies)} incidents; the last answer came {posted_s:.2f} s after the first"
        )
        rows, trace = wait_pages(url, stack, log, list(answered), expected, timeout, every=0.2)
        cpu.run_over()
        cpu_per_page = cpu.finish(expected)
        page_ids = [p for _i, _c, p in rows]
        first_sight = costs.sighting(log, page_ids)
        waited = costs.recheck(log, stack)
        rows = first_pages(url, answered)  # a page written late is in the count too
        page_ids = [p for _i, _c, p in rows]
        delivered = costs.delivery(url, log, page_ids, expected, waited, first_sight)
        counts = page_counts(url)
    finally:
        stop_stack(stack)
        drop_kafka_state(env)
    arrivals: list[float] = []
    mci_ms: list[float] = []
    ordinary_ms: list[float] = []
    for incident_id, _case, page_id in rows:
        at = log.first(page_id)
        if at is None:
            continue
        arrivals.append(at)
        ms = (at - answered[incident_id]) * 1000
        (mci_ms if incident_id == ids[0] else ordinary_ms).append(ms)
    lat_ms = mci_ms + ordinary_ms
    arrivals.sort()
    all_s = (arrivals[-1] - t0) if len(arrivals) >= expected else None
    # The last POST out of this script -> the last first page at the stand-in.
    after_last_post = (arrivals[-1] - max(sent_at)) if len(arrivals) >= expected else None
    series = per_bucket(arrivals, t0, bucket)
    per_second = per_bucket(arrivals, t0, 1.0)
    steady = None
    if len(arrivals) >= 10:
        lo, hi = arrivals[len(arrivals) // 10], arrivals[(len(arrivals) * 9) // 10]
        steady = round((len(arrivals) * 0.8) / max(hi - lo, 1e-3), 1)
    page_sms = sum(len(v) for v in log.per_number.values())
    return {
        "benchmark": "burst: mass-casualty incident + ordinary incidents -> every first page",
        "date": now_iso(),
        "machine": machine(),
        "mci_staff": mci_staff,
        "incidents": incidents,
        "pages_expected": expected,
        "window_s": window,
        "concurrency": concurrency,
        "staff": roster.staff,
        "peers": roster.peers,
        "peers_on_call": roster.on_call,
        "max_open_cases": roster.max_open_cases,
        "posts_sent_s": round(max(sent_at) - min(sent_at), 3),
        "posts_answered_s": round(posted_s, 3),
        "pages_at_standin": len(arrivals),
        "all_paged_s": round(all_s, 3) if all_s is not None else None,
        "all_out_after_last_post_s": (
            round(after_last_post, 3) if after_last_post is not None else None
        ),
        "target_all_out_after_last_post_s": TARGET_ALL_OUT_S,
        "pages_per_s": round(expected / all_s, 1) if all_s else None,
        "steady_pages_per_s": steady,
        "peak_pages_per_s": max(per_second) if per_second else None,
        "target_pages_per_s": TARGET_PAGES_PER_S,
        "latency_ms": ms_stats(lat_ms),
        "mci_latency_ms": ms_stats(mci_ms),
        "ordinary_latency_ms": ms_stats(ordinary_ms),
        "page_sms": page_sms,
        "pages_per_sms": round(len(arrivals) / page_sms, 2) if page_sms else None,
        "max_sms_per_number_per_minute": log.max_sms_per_minute(),
        "standin_messages": log.total,
        "duplicate_pages_per_step": counts["duplicate_pages_per_step"],
        "duplicate_pages": delivered["duplicate_pages"],
        "duplicate_sms": delivered["duplicate_sms"],
        "lost_pages": delivered["lost"],
        "delivery": delivered,
        "cases": counts["cases"] - WARMUP,
        "later_attempts": counts["later_pages"],
        "cpu": cpu_per_page,
        "ours_cpu_ms_per_page": cpu_per_page["ours_ms_per_page"],
        "bucket_s": bucket,
        "arrivals_per_bucket": series,
        "trace": trace,
        "samples_ms": [round(x, 1) for x in lat_ms],
    }


def table(result: dict[str, object]) -> str:
    head = (
        "| pages | posts sent within s | all paged s (first POST -> last page) | pages/s | "
        "target pages/s | every first page out, s after the last POST | target s | "
        "steady pages/s (10-90%) | peak pages/s (1 s) |\n|---|---|---|---|---|---|---|---|---|\n"
        f"| {result['pages_at_standin']} of {result['pages_expected']} | "
        f"{result['posts_sent_s']} | {result['all_paged_s']} | {result['pages_per_s']} | "
        f">= {result['target_pages_per_s']:g} | {result['all_out_after_last_post_s']} | "
        f"<= {result['target_all_out_after_last_post_s']:g} | "
        f"{result['steady_pages_per_s']} | {result['peak_pages_per_s']} |"
    )
    lines = ["| POST answer -> SMS at stand-in | p50 ms | p95 ms | p99 ms | max ms | min ms |"]
    lines.append("|---|---|---|---|---|---|")
    for key, name in (
        ("latency_ms", "every page"),
        ("mci_latency_ms", f"the {result['mci_staff']}-staff incident's pages"),
        ("ordinary_latency_ms", "the one-clinician incidents' pages"),
    ):
        s = result[key]
        assert isinstance(s, dict)
        lines.append(
            f"| {name} | "
            + " | ".join(str(s[k]) for k in ("p50", "p95", "p99", "max", "min"))
            + " |"
        )
    counts = (
        "| SMS with pages | pages per SMS | most SMS to one number in 60 s | lost pages | "
        "duplicate pages | duplicate SMS | later attempts |\n|---|---|---|---|---|---|---|\n"
        f"| {result['page_sms']} | {result['pages_per_sms']} | "
        f"{result['max_sms_per_number_per_minute']} | {result['lost_pages']} | "
        f"{result['duplicate_pages']} | {result['duplicate_sms']} | {result['later_attempts']} |"
    )
    cpu = result["cpu"]
    delivered = result["delivery"]
    assert isinstance(cpu, dict) and isinstance(delivered, dict)
    return "\n\n".join(
        [
            head,
            "\n".join(lines),
            counts,
            costs.delivery_line(delivered),
            "CPU from the first POST to the last first page at the stand-in:\n\n"
            + costs.cpu_table(cpu),
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mci-staff", type=int, default=200, help="staff the big incident names")
    parser.add_argument("--incidents", type=int, default=500, help="one-clinician incidents")
    parser.add_argument("--window", type=float, default=1.0, help="seconds the POSTs span")
    parser.add_argument("--concurrency", type=int, default=64, help="POSTs in flight at most")
    Roster.add_arguments(parser, staff=5000, peers=1000, on_call=500)
    parser.add_argument("--bucket", type=float, default=0.1, help="seconds per throughput bucket")
    parser.add_argument("--timeout", type=float, default=600.0)
    costs.add_root_args(parser)
    args = parser.parse_args()
    where = costs.checkout(args.root, args.label)
    roster = Roster.of(args)
    result = run(
        args.mci_staff,
        args.incidents,
        args.window,
        roster,
        args.concurrency,
        args.bucket,
        args.timeout,
        args.root,
    )
    result |= where
    name = costs.result_name("burst", where)
    title = (
        f"{result['benchmark']}: {args.mci_staff} + {args.incidents} pages POSTed within "
        f"{args.window:g} s, {args.on_call} peers on call"
    )
    title = costs.titled(title, where)
    report(name, title, result, table(result))
    plots.latency(name, result["samples_ms"], f"{title}\nPOST answer -> SMS at the stand-in")
    plots.throughput(
        name,
        args.bucket,
        result["arrivals_per_bucket"],
        f"{title}\nfirst pages at the stand-in",
        target_per_s=TARGET_PAGES_PER_S,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
