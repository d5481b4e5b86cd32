"""Firing alone: how many escalation deadlines a second one process fires, and where the
time goes.

Why this stage on its own: the escalation benchmark showed the deadline timer is the slowest
stage that is ours (not Kafka's, not the stand-in's); measured inside the full stack, its
numbers are blurred by every other process on the machine. Here `fire_due` runs in this
process against its own database (svrr_bench_firing) with the escalation benchmark's load:
`--pages` open pages, all due, on the synthetic hospital (5,000 staff, 300 peers, 60 on
call). Nothing is sent (no worker runs), so the figure is the firing stage's ceiling.
`--profile` adds a cProfile of the run, top functions by own time.

    python -m benchmarks.firing --pages 2000 --batch 25
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import subprocess
import sys
import time

import psycopg

from benchmarks.common import add_rotations, bench_db_url, machine, now_iso, recreate_db, report
from benchmarks.escalation import PEERS, ROTATIONS, STAFF, _on_call, seed_open_pages
from benchmarks.matching import build
from tests.stack import ROOT


async def fire_all(url: str, batch: int, cached: bool) -> tuple[int, list[float]]:
    """Fire until nothing is due; (deadlines fired, seconds per batch)."""
    from services import logs
    from services.cases import engine
    from services.config import get_settings
    from services.db import async_engine
    from services.people.matching import ContextCache

    settings = get_settings()
    logs.configure(settings.log_format, settings.log_level)  # as the engine is configured
    shared = ContextCache(settings.match_other_unit)
    fired, batches = 0, []
    while True:
        t = time.perf_counter()
        # Without the cache, every round loads the roster again (the before/after figure).
        contexts = shared if cached else ContextCache(settings.match_other_unit)
        n = (await engine.fire_round(settings, contexts, limit=batch, claim=False)).taken
        if not n:
            break
        batches.append(time.perf_counter() - t)
        fired += n
    await async_engine(url).dispose()
    return fired, batches


def run(pages: int, batch: int, profile: bool, cached: bool) -> dict[str, object]:
    url = bench_db_url("svrr_bench_firing")
    recreate_db(url)
    env = dict(os.environ, DATABASE_URL=url)
    subprocess.run(
        [sys.executable, "-m", "services.cli", "migrate"],
        env=env,
        check=True,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    os.environ["DATABASE_URL"] = url
    os.environ["LOG_LEVEL"] = "warning"  # the level the stack runs at in the benchmarks
    build(url, STAFF, PEERS, ROTATIONS)
    add_rotations(url, [f"S{i:05d}" for i in range(PEERS)], ROTATIONS)
    first = asyncio.run(_on_call(url))
    seed_open_pages(url, pages, spread=0.0, lead=-1.0, first=first)
    profiler = cProfile.Profile() if profile else None
    t0 = time.perf_counter()
    if profiler:
        profiler.enable()
    fired, batches = asyncio.run(fire_all(url, batch, cached))
    if profiler:
        profiler.disable()
    wall = time.perf_counter() - t0
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        (escalated,) = conn.execute("SELECT count(*) FROM pages WHERE attempt = 2").fetchone()  # type: ignore[misc]
    top = ""
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
        top = out.getvalue()
        print(top)
    return {
        "benchmark": "firing: fire_due alone, one process, every deadline already due",
        "date": now_iso(),
        "machine": machine(),
        "pages": pages,
        "batch": batch,
        "context_cache": cached,
        "fired": fired,
        "escalated_pages": int(escalated),
        "wall_s": round(wall, 2),
        "deadlines_per_s": round(fired / wall, 1) if wall else None,
        "ms_per_deadline": round(1000 * wall / fired, 2) if fired else None,
        "batch_ms_p50": round(1000 * sorted(batches)[len(batches) // 2], 1) if batches else None,
        "profile_top": top,
    }


def table(result: dict[str, object]) -> str:
    keys = [
        "pages",
        "batch",
        "context_cache",
        "fired",
        "wall_s",
        "deadlines_per_s",
        "ms_per_deadline",
        "batch_ms_p50",
    ]
    return "\n".join(
        [
            "| " + " | ".join(keys) + " |",
            "|" + "|".join("---" for _ in keys) + "|",
            "| " + " | ".join(str(result[k]) for k in keys) + " |",
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=25)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--no-cache", action="store_true", help="load the context per batch")
    args = parser.parse_args()
    result = run(args.pages, args.batch, args.profile, not args.no_cache)
    report("firing", str(result["benchmark"]), result, table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
