"""Latency: the intake API's answer -> the SMS request arriving at the Twilio stand-in, at a
steady rate of incidents, for one or more rates in one run (5/s and 50/s by default).

Why measured this way: "accepted" is the moment risk management is told the page is on its
way; the stand-in's arrival time is the moment Twilio would have it. Everything between (the
API's transaction, Kafka, the worker's batch, PostgreSQL, the Twilio client) is ours to
answer for. A quiet hospital (5/s) shows what one page costs in waiting; a busy one (50/s,
the target: p50 at most 25 ms, p99 at most 75 ms) shows whether batching and queueing keep
up or pile up. The rates run one after another on one stack, each with its own CPU reading
(benchmarks.costs: CPU per page for each process, which one bound the phase), the next
starting once every page of the one before is at the stand-in.

Each incident names one clinician never named before (so each POST is exactly one case and
one first page), POSTed on a fixed schedule (`rate` a second, at most `--concurrency` in
flight, so a slow answer does not slow the offered rate). The hospital
(benchmarks.common.build_roster): 7,000 staff, 2,000 trained peers, 1,000 on call, at most
10 open cases each: 4,000 incidents spread at about four a peer, so no peer nears the six
SMS a minute a number may get. Lost and duplicated pages are counted once the stale-claim
interval has passed after the last rate. Real stack, its own database (svrr_bench_latency)
and topic prefix; the stand-in's status callbacks stay on.

    python -m benchmarks.latency --rates 5,50 --counts 1000,3000 [--root PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from pathlib import Path

from benchmarks import costs, plots
from benchmarks.burst import post_all, wait_pages, warm_up
from benchmarks.common import (
    Roster,
    StandinLog,
    drop_kafka_state,
    first_pages,
    incident,
    machine,
    now_iso,
    page_counts,
    percentile,
    prepare,
    report,
)
from tests.stack import ROOT, RUN, Stack, start_stack, stop_stack

# The rate the targets are set at, and the targets there (ms, API answer -> SMS).
TARGET_RATE = 50.0
TARGET_P50_MS = 25.0
TARGET_P99_MS = 75.0
WARMUP = 5


def one_rate(
    stack: Stack,
    url: str,
    log: StandinLog,
    clinicians: list[str],
    rate: float,
    concurrency: int,
) -> tuple[dict[str, object], list[str]]:
    """POST one incident per clinician at `rate` a second; wait for every first page; the
    latency figures and CPU of this rate, and the pages it wrote."""
    count = len(clinicians)
    cpu = costs.PageCpu(costs.stack_pids(stack), url)
    bodies = [incident([c]) for c in clinicians]
    print(f"{count} incidents at {rate:g}/s", flush=True)
    cpu.start()
    _t0, ids, answered, sent_at = asyncio.run(
        post_all(stack.api_url, bodies, count / rate, concurrency)
    )
    rows, _trace = wait_pages(
        url, stack, log, ids, count, 120 + count / rate, label=f"{rate:g}/s ", every=0.5
    )
    cpu.run_over()
    cpu_per_page = cpu.finish(count)
    lat_ms = [
        (at - answered[incident_id]) * 1000
        for incident_id, _case, page_id in rows
        if (at := log.first(page_id)) is not None
    ]
    sent_s = max(sent_at) - min(sent_at)
    figures: dict[str, object] = {
        "rate_per_s": rate,
        "incidents": count,
        "posts_sent_s": round(sent_s, 2),
        "achieved_rate_per_s": round((count - 1) / sent_s, 1) if sent_s > 0 else None,
        "pages_at_standin": len(lat_ms),
        "cpu": cpu_per_page,
        "ours_cpu_ms_per_page": cpu_per_page["ours_ms_per_page"],
    }
    if lat_ms:
        figures |= {
            "p50_ms": round(statistics.median(lat_ms), 1),
            "p95_ms": round(percentile(lat_ms, 95), 1),
            "p99_ms": round(percentile(lat_ms, 99), 1),
            "max_ms": round(max(lat_ms), 1),
            "min_ms": round(min(lat_ms), 1),
        }
    figures["samples_ms"] = [round(x, 1) for x in lat_ms]
    return figures, [p for _i, _c, p in rows]


def run(
    rates: list[float],
    counts: list[int],
    roster: Roster,
    concurrency: int,
    root: Path = ROOT,
) -> dict[str, object]:
    pool = roster.clinicians
    if len(pool) < sum(counts) + WARMUP:
        raise SystemExit(
            f"{len(pool)} clinicians cannot be named once each by {sum(counts)} incidents "
            f"+ {WARMUP} warm-up: raise --staff"
        )
    url, env = prepare("latency", roster, root)
    stack = start_stack(env, RUN / "log" / "bench-latency", root)
    phases: list[dict[str, object]] = []
    page_ids: list[str] = []
    try:
        log = StandinLog(stack.standin_url)
        warm_up(stack, url, log, pool[-WARMUP:])
        log = StandinLog(stack.standin_url, last_id=log.last_id)
        start = 0
        for rate, count in zip(rates, counts, strict=True):
            figures, written = one_rate(
                stack, url, log, pool[start : start + count], rate, concurrency
            )
            phases.append(figures)
            page_ids += written
            start += count
            print(
                f"  {rate:g}/s: p50 {figures.get('p50_ms')} ms, p99 {figures.get('p99_ms')} ms",
                flush=True,
            )
        first_sight = costs.sighting(log, page_ids)
        waited = costs.recheck(log, stack)
        named = pool[: sum(counts)]
        page_ids = [p for _i, _c, p in first_pages(url, _incidents_of(url, named))]
        delivered = costs.delivery(url, log, page_ids, sum(counts), waited, first_sight)
        counts_now = page_counts(url)
    finally:
        stop_stack(stack)
        drop_kafka_state(env)
    return {
        "benchmark": "latency: API answer -> SMS request at the stand-in, at steady rates",
        "date": now_iso(),
        "machine": machine(),
        "rates": phases,
        "target_rate_per_s": TARGET_RATE,
        "target_p50_ms": TARGET_P50_MS,
        "target_p99_ms": TARGET_P99_MS,
        "concurrency": concurrency,
        "staff": roster.staff,
        "peers": roster.peers,
        "peers_on_call": roster.on_call,
        "duplicate_pages_per_step": counts_now["duplicate_pages_per_step"],
        "duplicate_pages": delivered["duplicate_pages"],
        "duplicate_sms": delivered["duplicate_sms"],
        "lost_pages": delivered["lost"],
        "later_attempts": counts_now["later_pages"],
        "delivery": delivered,
    }


def _incidents_of(url: str, staff_ids: list[str]) -> list[str]:
    """The incidents naming these clinicians (each was named once)."""
    import psycopg

    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        rows = conn.execute(
            "SELECT DISTINCT incident_id::text FROM support_cases WHERE staff_id = ANY(%s)",
            (staff_ids,),
        ).fetchall()
    return [str(r[0]) for r in rows]


def headline(result: dict[str, object]) -> dict[str, object] | None:
    """The rate the targets are set at, else the fastest one measured."""
    phases = result["rates"]
    assert isinstance(phases, list)
    at_target = [p for p in phases if float(p["rate_per_s"]) == TARGET_RATE]
    return (
        (at_target or sorted(phases, key=lambda p: float(p["rate_per_s"])))[-1] if phases else None
    )


def table(result: dict[str, object]) -> str:
    phases = result["rates"]
    assert isinstance(phases, list)
    lines = [
        "| rate /s | incidents | POSTs sent over s (achieved /s) | p50 ms | p95 ms | p99 ms | "
        "max ms | min ms | targets | ours: ms CPU per page |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for p in phases:
        targets = (
            f"p50 <= {TARGET_P50_MS:g}, p99 <= {TARGET_P99_MS:g}"
            if float(p["rate_per_s"]) == TARGET_RATE
            else "(beside the target rate)"
        )
        lines.append(
            f"| {p['rate_per_s']:g} | {p['pages_at_standin']} of {p['incidents']} | "
            f"{p['posts_sent_s']} ({p['achieved_rate_per_s']}) | "
            + " | ".join(str(p.get(k)) for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms", "min_ms"))
            + f" | {targets} | {p['ours_cpu_ms_per_page']} |"
        )
    delivered = result["delivery"]
    assert isinstance(delivered, dict)
    parts = ["\n".join(lines), costs.delivery_line(delivered)]
    for p in phases:
        parts.append(
            f"CPU at {p['rate_per_s']:g}/s, first POST -> last page at the stand-in:\n\n"
            + costs.cpu_table(p["cpu"])
        )
    return "\n\n".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="5,50", help="incidents per second, in turn")
    parser.add_argument(
        "--counts", default="1000,3000", help="incidents at each rate (one number: at every rate)"
    )
    parser.add_argument("--concurrency", type=int, default=16, help="POSTs in flight at most")
    Roster.add_arguments(parser)
    costs.add_root_args(parser)
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",") if r.strip()]
    counts = [int(c) for c in args.counts.split(",") if c.strip()]
    if len(counts) == 1:
        counts *= len(rates)
    if len(counts) != len(rates):
        parser.error("--counts: one number, or one per rate")
    where = costs.checkout(args.root, args.label)
    roster = Roster.of(args)
    result = run(rates, counts, roster, args.concurrency, args.root) | where
    name = costs.result_name("latency", where)
    title = costs.titled(
        f"{result['benchmark']}: "
        + ", ".join(f"{c} incidents at {r:g}/s" for r, c in zip(rates, counts, strict=True)),
        where,
    )
    report(name, title, result, table(result))
    top = headline(result)
    if top is not None:
        plots.latency(
            name,
            top["samples_ms"],  # type: ignore[arg-type]
            f"{title}\nat {top['rate_per_s']:g}/s",
            {"p50 target": TARGET_P50_MS, "p99 target": TARGET_P99_MS},
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
