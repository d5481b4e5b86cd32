"""Escalation: a page_timeout deadline's due time -> the next peer's SMS at the Twilio stand-in.

Why measured this way: when a paged peer does not answer, the programme's promise is that the
next peer is paged when the wait runs out, not some time later. The deadline's `due_at` is
that promise; the stand-in's arrival time is the moment Twilio would have the next page.
Between them: the deadline engine (`svrr engine`, services/cases/engine.py: a round claims
the due deadlines with SKIP LOCKED, picks the next peers, writes the pages born claimed and
marks the deadlines fired at the round's start time, in one transaction) and the send of
the round's pages through the Twilio client. A checkout from before the engine (`--root`)
fires from the worker's timer instead; the same rows say how late each step was.

The load is a bad minute: `--pages` open pages (attempt 1, delivered, unanswered) whose
deadlines fall due uniformly over `--spread` seconds, `--lead` seconds after they are written
(time for the stack to come up). Rows are written with set-based SQL on a synthetic hospital
(benchmarks.matching.build: 5,000 staff, 300 peers, 60 on call). The built-in escalation
policy applies (peer, peer, coordinator), so each deadline pages exactly one more peer.
Status callbacks from the stand-in stay on: they load the API and the store as they would.

CPU is read from the first due time until the last escalated page is at the stand-in (per
process, the engine's included; benchmarks.costs), and lost and duplicated escalations are
counted once the stale-claim interval has passed after that (target 0 each).

    python -m benchmarks.escalation --pages 10000 --spread 60 --lead 20 [--root PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg

from benchmarks import costs
from benchmarks.common import (
    StandinLog,
    add_rotations,
    analyze,
    drop_kafka_state,
    keyring,
    machine,
    now_iso,
    page_counts,
    percentile,
    prepare,
    report,
)
from benchmarks.matching import build
from tests.stack import ROOT, RUN, Stack, start_stack, stop_stack

STAFF = 5000
PEERS = 300
ROTATIONS = 60


def libpq(url: str) -> str:
    return url.replace("+psycopg", "")


async def _on_call(url: str) -> list[str]:
    """The peers the schedules put on call now: whoever paged first was one of them."""
    from sqlalchemy import text

    from services.db import async_engine, transaction
    from services.schedules.service import on_call_staff

    async with transaction(url) as session:
        who = await on_call_staff(session, datetime.now(UTC))
        current = set(
            (
                await session.execute(
                    text("SELECT staff_id FROM peer_supporters WHERE trained_until >= current_date")
                )
            ).scalars()
        )
    await async_engine(url).dispose()
    return sorted(set(who) & current)


def seed_open_pages(url: str, pages: int, spread: float, lead: float, first: list[str]) -> None:
    """`pages` incidents, each with one case in peer_paged, one delivered page to an on-call
    peer and one page_timeout deadline; due times spread evenly over `spread` seconds."""
    with psycopg.connect(libpq(url)) as conn, conn.cursor() as cur:
        cur.execute(
            "CREATE TEMP TABLE bench_open AS SELECT n, gen_random_uuid() AS incident_id, "
            "gen_random_uuid() AS case_id, gen_random_uuid() AS page_id, "
            "'S' || lpad((%(peers)s + (n - 1) %% (%(staff)s - %(peers)s - 1))::text, 5, '0') "
            "AS clinician, (%(first)s::text[])[1 + (n - 1) %% cardinality(%(first)s::text[])] "
            "AS peer FROM generate_series(1, %(pages)s) n",
            {"peers": PEERS, "staff": STAFF, "first": first, "pages": pages},
        )
        cur.execute(
            "INSERT INTO incidents (id, request_hash, occurred_at, unit, event_type, harm_level, "
            "staff_ids, received_at) SELECT incident_id, 'bench', now() - interval '10 min', "
            "'U00', 'other', 'moderate', ARRAY[clinician], now() - interval '10 min' "
            "FROM bench_open"
        )
        cur.execute(
            "INSERT INTO support_cases (id, incident_id, staff_id, tier, state, escalation_step, "
            "escalation_round, created_at, updated_at) SELECT case_id, incident_id, clinician, 2, "
            "'peer_paged', 0, 0, now() - interval '10 min', now() - interval '10 min' "
            "FROM bench_open"
        )
        # The peers' numbers as pages keep them: each sealed column under its own name.
        keys = keyring()
        peers = cur.execute(
            "SELECT staff_id, mobile_e164 FROM staff WHERE staff_id = ANY(%(first)s)",
            {"first": first},
        ).fetchall()
        numbers = {sid: keys.open(sealed, "staff.mobile_e164") for sid, sealed in peers}
        cur.execute(
            "INSERT INTO pages (id, case_id, attempt, peer_staff_id, to_number, to_number_key, "
            "reply_code, reason, state, provider_sid, requested_at, claimed_at, sent_at, "
            "delivered_at) SELECT b.page_id, b.case_id, 1, b.peer, s.sealed, s.key, b.n::text, "
            "'bench', 'delivered', 'SMbench' || b.n, now() - interval '5 min', "
            "now() - interval '5 min', now(), now() FROM bench_open b JOIN "
            "unnest(%(ids)s::text[], %(sealed)s::text[], %(keys)s::text[]) AS s(staff_id, sealed, "
            "key) ON s.staff_id = b.peer",
            {
                "ids": list(numbers),
                "sealed": [keys.seal(n, "pages.to_number") for n in numbers.values()],
                "keys": [keys.lookup(n) for n in numbers.values()],
            },
        )
        cur.execute(
            "INSERT INTO deadlines (case_id, kind, due_at, payload) SELECT case_id, "
            "'page_timeout', now() + make_interval(secs => %(lead)s + %(spread)s * (n - 1) "
            "/ %(pages)s::float8), jsonb_build_object('page_id', page_id::text, 'step', 0, "
            "'round', 0) FROM bench_open",
            {"lead": lead, "spread": spread, "pages": pages},
        )
        conn.commit()
        cur.execute("ANALYZE")


def progress(url: str) -> tuple[int, dict[int, int]]:
    """(bench deadlines fired, pages by attempt beyond the first)."""
    with psycopg.connect(libpq(url)) as conn:
        (fired,) = conn.execute(
            "SELECT count(*) FROM deadlines WHERE kind = 'page_timeout' "
            "AND payload->>'step' = '0' AND fired_at IS NOT NULL"
        ).fetchone()  # type: ignore[misc]
        rows = conn.execute(
            "SELECT attempt, count(*) FROM pages WHERE attempt > 1 GROUP BY attempt"
        ).fetchall()
    return int(fired), {int(a): int(n) for a, n in rows}


def wait_all(
    url: str, stack: Stack, pages: int, last_due: float, timeout: float
) -> tuple[StandinLog, list[dict[str, float]]]:
    """Poll until every escalated page reached the stand-in or `timeout` s after the last due
    time; keep a once-a-second trace of fired deadlines, pages written and SMS arrived."""
    arrivals = StandinLog(stack.standin_url)
    trace: list[dict[str, float]] = []
    t0 = time.time()
    with httpx.Client() as client:
        while True:
            arrivals.poll(client)
            fired, attempts = progress(url)
            with psycopg.connect(libpq(url)) as conn:
                escalated = {
                    str(r[0])
                    for r in conn.execute("SELECT id FROM pages WHERE attempt = 2").fetchall()
                }
            arrived = sum(1 for p in escalated if p in arrivals.per_page)
            trace.append(
                {
                    "t_s": round(time.time() - t0, 1),
                    "fired": fired,
                    "escalated_pages": attempts.get(2, 0),
                    "arrived": arrived,
                }
            )
            if len(trace) % 10 == 1:
                print(
                    f"  t={trace[-1]['t_s']:>6}s fired={fired} pages={attempts.get(2, 0)} "
                    f"at stand-in={arrived}",
                    flush=True,
                )
            if arrived >= pages:
                return arrivals, trace
            costs.check_alive(stack)
            if time.time() > last_due + timeout:
                print(f"  timed out: {arrived} of {pages} at the stand-in", flush=True)
                return arrivals, trace
            time.sleep(1.0)


def stats(values: list[float]) -> dict[str, float | None]:
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
    pages: int, spread: float, lead: float, timeout: float, root: Path = ROOT
) -> dict[str, object]:
    url, env = prepare("escalation", None, root)
    build(url, STAFF, PEERS, ROTATIONS)
    add_rotations(url, [f"S{i:05d}" for i in range(PEERS)], ROTATIONS)
    first = asyncio.run(_on_call(url))
    t_seed = time.time()
    seed_open_pages(url, pages, spread, lead, first)
    analyze(url)
    seeded_s = time.time() - t_seed
    with psycopg.connect(libpq(url)) as conn:
        first_due, last_due = conn.execute(
            "SELECT extract(epoch FROM min(due_at)), extract(epoch FROM max(due_at)) "
            "FROM deadlines WHERE kind = 'page_timeout'"
        ).fetchone()  # type: ignore[misc]
    print(f"seeded {pages} open pages in {seeded_s:.1f} s; {len(first)} peers on call", flush=True)
    stack = start_stack(env, RUN / "log" / "bench-escalation", root)
    ready_before_first_due_s = float(first_due) - time.time()
    print(f"stack ready {ready_before_first_due_s:.1f} s before the first due time", flush=True)
    try:
        cpu = costs.PageCpu(costs.stack_pids(stack), url)
        # The run starts when the first deadline falls due: the idle wait before is not it.
        time.sleep(max(0.0, float(first_due) - time.time()))
        cpu.start()
        arrivals, trace = wait_all(url, stack, pages, float(last_due), timeout)
        cpu.run_over()
        cpu_per_page = cpu.finish(pages)
        escalated_ids = _escalated(url)
        first_sight = costs.sighting(arrivals, escalated_ids)
        waited = costs.recheck(arrivals, stack)
        escalated_ids = _escalated(url)
        delivered = costs.delivery(url, arrivals, escalated_ids, pages, waited, first_sight)
        counts = page_counts(url)
    finally:
        stop_stack(stack)
        drop_kafka_state(env)
    with psycopg.connect(libpq(url)) as conn:
        rows = conn.execute(
            "SELECT d.case_id::text, extract(epoch FROM d.due_at), "
            "extract(epoch FROM d.fired_at), d.outcome, p.id::text, "
            "extract(epoch FROM p.claimed_at), extract(epoch FROM p.requested_at) "
            "FROM deadlines d LEFT JOIN pages p ON p.case_id = d.case_id AND p.attempt = 2 "
            "WHERE d.kind = 'page_timeout' AND d.payload->>'step' = '0'"
        ).fetchall()
        later = conn.execute("SELECT count(*) FROM pages WHERE attempt > 2").fetchone()
        coordinator = conn.execute(
            "SELECT count(*) FROM pages WHERE attempt = 2 AND peer_staff_id IS NULL"
        ).fetchone()
        same_peer = conn.execute(
            "SELECT count(*) FROM pages a JOIN pages b ON a.case_id = b.case_id "
            "AND a.attempt = 1 AND b.attempt = 2 WHERE a.peer_staff_id = b.peer_staff_id"
        ).fetchone()
        outcomes = Counter(r[3] for r in rows)
    fired = [r for r in rows if r[2] is not None]
    escalated = [r for r in rows if r[4] is not None]
    fire_ms = [(float(r[2]) - float(r[1])) * 1000 for r in fired]
    # The engine stamps a round's deadlines fired_at the round's start (one clock reading for
    # the round), so deadlines sharing fired_at are one round; the worker's timer before it
    # stamped each deadline apart, and then a "round" here is one deadline.
    rounds = Counter(float(r[2]) for r in fired)
    lateness_ms: list[float] = []
    fired_to_claim_ms: list[float] = []
    claim_to_standin_ms: list[float] = []
    fired_to_standin_ms: list[float] = []
    for _case, due, fired_at, _outcome, page_id, claimed, _requested in escalated:
        got = arrivals.per_page.get(page_id)
        if not got:
            continue
        at = min(got)
        lateness_ms.append((at - float(due)) * 1000)
        if fired_at is not None:
            fired_to_standin_ms.append((at - float(fired_at)) * 1000)
        if fired_at is not None and claimed is not None:
            fired_to_claim_ms.append((float(claimed) - float(fired_at)) * 1000)
        if claimed is not None:
            claim_to_standin_ms.append((at - float(claimed)) * 1000)
    return {
        "benchmark": "escalation: page_timeout due -> next peer's SMS at the stand-in",
        "date": now_iso(),
        "machine": machine(),
        "pages": pages,
        "spread_s": spread,
        "lead_s": lead,
        "staff": STAFF,
        "peers": PEERS,
        "peers_on_call": len(first),
        "seed_s": round(seeded_s, 1),
        "stack_ready_before_first_due_s": round(ready_before_first_due_s, 1),
        "fired_by": "engine" if stack.engine is not None else "worker",
        "deadlines_fired": len(fired),
        "escalated_pages": len(escalated),
        "escalated_at_standin": len(lateness_ms),
        "escalated_to_coordinator": int(coordinator[0]) if coordinator else 0,  # type: ignore[index]
        "escalated_to_same_peer": int(same_peer[0]) if same_peer else 0,  # type: ignore[index]
        "outcomes": dict(outcomes),
        "duplicate_pages_per_case": counts["duplicate_pages_per_step"],
        "duplicate_pages": delivered["duplicate_pages"],
        "duplicate_sms": delivered["duplicate_sms"],
        "lost_pages": delivered["lost"],
        "delivery": delivered,
        "later_attempts": int(later[0]) if later else 0,  # type: ignore[index]
        "standin_messages": arrivals.total,
        "page_sms": arrivals.sms,
        "pages_per_sms": round(sum(map(len, arrivals.per_page.values())) / arrivals.sms, 2)
        if arrivals.sms
        else None,
        "fire_rounds": len(rounds),
        "fire_round_size_mean": round(len(fired) / len(rounds), 1) if rounds else None,
        "fire_round_size_max": max(rounds.values()) if rounds else None,
        "lateness_ms": stats(lateness_ms),
        "fire_lateness_ms": stats(fire_ms),
        "fired_to_standin_ms": stats(fired_to_standin_ms),
        "fired_to_claim_ms": stats(fired_to_claim_ms),
        "claim_to_standin_ms": stats(claim_to_standin_ms),
        "cpu": cpu_per_page,
        "ours_cpu_ms_per_page": cpu_per_page["ours_ms_per_page"],
        "trace": trace,
        "samples_lateness_ms": [round(x, 1) for x in lateness_ms],
    }


def _escalated(url: str) -> list[str]:
    """The next pages (attempt 2) the deadlines wrote."""
    with psycopg.connect(libpq(url)) as conn:
        return [str(r[0]) for r in conn.execute("SELECT id FROM pages WHERE attempt = 2")]


def table(result: dict[str, object]) -> str:
    head = "| measure | p50 ms | p95 ms | p99 ms | max ms | min ms |\n|---|---|---|---|---|---|"
    lines = [head]
    names = {
        "lateness_ms": "due -> SMS at stand-in (escalation lateness; target p99 <= 1000)",
        "fire_lateness_ms": "due -> fired (fired_at: the start of the round that took it)",
        "fired_to_standin_ms": "fired -> SMS at stand-in (the round's transaction and send)",
        "fired_to_claim_ms": "fired -> page claimed (0: born claimed in the round)",
        "claim_to_standin_ms": "claimed -> SMS at stand-in",
    }
    for key, name in names.items():
        s = result[key]
        assert isinstance(s, dict)
        cells = " | ".join(str(s[k]) for k in ("p50", "p95", "p99", "max", "min"))
        lines.append(f"| {name} | {cells} |")
    counts = (
        f"\n\n| pages | spread s | deadlines fired | escalated pages | at stand-in | "
        f"lost | duplicate pages | duplicate SMS | later attempts |\n"
        f"|---|---|---|---|---|---|---|---|---|\n"
        f"| {result['pages']} | {result['spread_s']} | {result['deadlines_fired']} | "
        f"{result['escalated_pages']} | {result['escalated_at_standin']} | "
        f"{result['lost_pages']} | {result['duplicate_pages']} | {result['duplicate_sms']} | "
        f"{result['later_attempts']} |"
    )
    counts += (
        f"\n\nFired by the {result['fired_by']}: {result['fire_rounds']} distinct fired_at "
        f"(the engine stamps a round's deadlines with one), mean "
        f"{result['fire_round_size_mean']} deadlines each, largest "
        f"{result['fire_round_size_max']}; {result['page_sms']} SMS carried the pages "
        f"({result['pages_per_sms']} pages per SMS)"
    )
    delivered, cpu = result["delivery"], result["cpu"]
    assert isinstance(delivered, dict) and isinstance(cpu, dict)
    return (
        "\n".join(lines)
        + counts
        + "\n\n"
        + costs.delivery_line(delivered)
        + "\n\nCPU from the first due time to the last escalated page at the stand-in:\n\n"
        + costs.cpu_table(cpu)
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=10000)
    parser.add_argument("--spread", type=float, default=60.0, help="seconds the due times span")
    parser.add_argument("--lead", type=float, default=20.0, help="seconds before the first is due")
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="seconds after the last due time to wait"
    )
    costs.add_root_args(parser)
    args = parser.parse_args()
    where = costs.checkout(args.root, args.label)
    result = run(args.pages, args.spread, args.lead, args.timeout, args.root) | where
    name = costs.result_name("escalation", where)
    title = costs.titled(
        f"{result['benchmark']}: {args.pages} open pages due over {args.spread:g} s, "
        f"{result['peers_on_call']} peers on call",
        where,
    )
    report(name, title, result, table(result))
    from benchmarks import plots

    plots.latency(
        name,
        result["samples_lateness_ms"],  # type: ignore[arg-type]
        f"{title}\nlateness: due -> next peer's SMS at the stand-in",
        {"p99 target": 1000},
        what="lateness",
    )
    plots.progress(name, result["trace"], title, rate_of="arrived")  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    sys.exit(main())
