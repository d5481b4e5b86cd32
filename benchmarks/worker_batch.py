"""The worker's CPU per batch in the incident path, in-process: no Kafka, no SMS sent.

What the agent does for a batch (services.incidents.agents.open_and_page up to its commit):
involvement, cases, Tier 1, matching, pages born claimed, deadlines and events, in one
transaction. Timed with time.process_time() (this process's CPU, not PostgreSQL's), with
the statements each batch sends counted (at the driver, SQLAlchemy or not).

    python -m benchmarks.worker_batch [--ones 200] [--rate 5] [--big 500]

Batches of one are run at `--rate` a second (the steady-rate case: the agent's
stream.take(500, within=4 ms) yields batches of about one), so the matching context ages
and is reloaded as it would be in the worker; then one batch of `--big` incidents.
Its own database (svrr_bench_worker_batch, SVRR_BENCH_SUFFIX appended) with the latency
benchmark's hospital: 7,000 staff, 2,000 peers, 1,000 on call.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from typing import Any

from benchmarks.common import Roster, prepare, stored_incidents


class Unsent:
    """Stands in for the agent's sender: counts the pages, sends nothing."""

    def __init__(self) -> None:
        self.pages = 0

    async def start(self, bundles: list[Any]) -> None:
        self.pages += sum(len(b.pages) for b in bundles)


async def run(args: argparse.Namespace, url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("LOG_LEVEL", "warning")
    import psycopg

    from schemas.events import IncidentReported
    from services.config import get_settings
    from services.incidents import agents

    get_settings()
    statements = [0]
    # Counted at the driver: statements sent through SQLAlchemy and those sent on the
    # session's connection directly (services.db.fetch) alike.
    execute = psycopg.AsyncCursor.execute

    async def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        statements[0] += 1
        return await execute(self, *args, **kwargs)

    psycopg.AsyncCursor.execute = counted  # type: ignore[method-assign]

    roster = Roster.of(args)
    clinicians = iter(roster.clinicians)

    async def batch(incidents: list[IncidentReported]) -> int:
        """open_and_page without its sends: what the agent does up to its commit."""
        sends, agents.sends = agents.sends, Unsent()
        try:
            await agents.open_and_page(incidents)
        finally:
            agents.sends, pages = sends, agents.sends.pages  # type: ignore[assignment]
        return pages

    ones = await stored_incidents(clinicians, args.ones + args.warmup)
    big = await stored_incidents(clinicians, args.big)
    for e in ones[: args.warmup]:
        await batch([e])

    loads0 = agents.contexts.loads
    cpu: list[float] = []
    stmts: list[int] = []
    pages = 0
    gap = 1.0 / args.rate if args.rate else 0.0
    next_at = time.monotonic()
    for e in ones[args.warmup :]:
        if gap:
            next_at += gap
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        s0, c0 = statements[0], time.process_time()
        pages += await batch([e])
        cpu.append((time.process_time() - c0) * 1000)
        stmts.append(statements[0] - s0)
    loads = agents.contexts.loads - loads0
    print(
        f"batches of one ({len(cpu)} at {args.rate}/s, {pages} pages, {loads} context loads): "
        f"CPU ms mean {statistics.mean(cpu):.2f} median {statistics.median(cpu):.2f} "
        f"p90 {sorted(cpu)[int(len(cpu) * 0.9)]:.2f}; statements median "
        f"{statistics.median(stmts):.0f} max {max(stmts)}"
    )
    if big:
        s0, c0 = statements[0], time.process_time()
        n = await batch(big)
        ms = (time.process_time() - c0) * 1000
        print(
            f"batch of {len(big)}: {n} pages, CPU {ms:.0f} ms, {ms / max(n, 1):.2f} ms per page, "
            f"{statements[0] - s0} statements"
        )


def arguments(description: str) -> argparse.ArgumentParser:
    """This benchmark's command line, shared with its variants (worker_batch_leads)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--ones", type=int, default=200, help="batches of one to time")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--rate", type=float, default=5.0, help="batches of one a second")
    parser.add_argument("--big", type=int, default=500, help="incidents in the large batch")
    Roster.add_arguments(parser)
    return parser


def main() -> None:
    args = arguments(__doc__.split("\n\n")[0]).parse_args()
    roster = Roster.of(args)
    url, _env = prepare("worker_batch", roster)
    asyncio.run(run(args, url))


if __name__ == "__main__":
    main()
