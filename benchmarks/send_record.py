"""The worker's CPU per page sent and recorded, at a steady rate, in-process: what
services.paging.sending.send_new does with a batch's born-claimed pages after its commit
(the SMS through notifiers.sms to the stand-in, then the outcome recorded).

Why: at a steady 50 incidents/s the agent's batches hold one or two incidents, so what one
page's send and record cost is what the worker pays per page outside its transaction. The
pages are written first by the agent's own path (services.incidents.agents.open_and_page,
its sends held back, not timed); then each batch's bundles are handed to a
sending.Background (four batches in flight, as the agent's) at `--rate` batches a second.
Reported: this process's CPU (time.process_time(): the twilio client, the HTTP transport,
the record, the loop; not the stand-in's nor PostgreSQL's) from the first batch until every
record is written, per page; the record's share is indicative only (other batches' sends
run while a record waits).
The worker's log level (info) is on, its lines going to /dev/null.

    python -m benchmarks.send_record [--batches 300] [--rate 50]

Its own database (svrr_bench_send_record, SVRR_BENCH_SUFFIX appended) with the latency
benchmark's hospital, and its own stand-in without status callbacks.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from typing import Any

from benchmarks.common import Roster, prepare, stored_incidents
from benchmarks.standin import start_standin
from tests.stack import TWILIO_SID, TWILIO_TOKEN, free_port


class Held:
    """Stands in for the agent's sender: keeps each batch's bundles, sends nothing."""

    def __init__(self) -> None:
        self.batches: list[list[Any]] = []

    async def start(self, bundles: list[Any]) -> None:
        self.batches.append(bundles)


async def run(args: argparse.Namespace) -> None:
    from services.db import async_engine, close_raw_pools
    from services.incidents import agents
    from services.paging import sending

    roster = Roster.of(args)
    clinicians = iter(roster.clinicians)
    n = args.batches + args.warmup
    reported = await stored_incidents(clinicians, n)
    held = Held()
    sends, agents.sends = agents.sends, held  # type: ignore[assignment]
    try:
        for e in reported:
            await agents.open_and_page([e])
    finally:
        agents.sends = sends
    batches = held.batches
    for b in batches[: args.warmup]:
        await sending.send_new(b)

    record_cpu = [0.0]
    real_record = sending.record

    async def timed_record(*a: Any, **kw: Any) -> None:
        c0 = time.process_time()
        try:
            await real_record(*a, **kw)
        finally:
            record_cpu[0] += time.process_time() - c0

    sending.record = timed_record  # type: ignore[assignment]
    # As the agent hands its batches over: a few in flight, the agent not waiting for them.
    background = sending.Background(in_flight=4)
    pages = 0
    gap = 1.0 / args.rate
    next_at = time.monotonic()
    c0 = time.process_time()
    for b in batches[args.warmup :]:
        next_at += gap
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        await background.start(b)
        pages += sum(len(x.pages) for x in b)
    await background.drain()
    total = (time.process_time() - c0) * 1000
    sending.record = real_record  # type: ignore[assignment]
    print(
        f"{len(batches) - args.warmup} batches at {args.rate:g}/s, {pages} pages: CPU "
        f"{total / pages:.3f} ms per page sent and recorded (record "
        f"{1000 * record_cpu[0] / pages:.3f} ms), the process's CPU over the run",
        file=sys.__stdout__,
    )
    await sending.close()
    await close_raw_pools()
    await async_engine().dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=300, help="batches of one to time")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--rate", type=float, default=50.0, help="batches a second")
    Roster.add_arguments(parser)
    args = parser.parse_args()
    roster = Roster.of(args)
    url, _env = prepare("send_record", roster)
    port = free_port()
    standin = start_standin("deploy/twilio_standin.py", port, "error", 0.05)
    os.environ.update(
        DATABASE_URL=url,
        LOG_LEVEL="info",
        TWILIO_API_BASE=f"http://127.0.0.1:{port}",
        TWILIO_ACCOUNT_SID=TWILIO_SID,
        TWILIO_AUTH_TOKEN=TWILIO_TOKEN,
        # Status callbacks point nowhere: this measures the sender, not the applier.
        PUBLIC_BASE_URL="http://127.0.0.1:9",
    )
    from services import logs
    from services.config import get_settings

    get_settings.cache_clear()
    sys.stdout = open(os.devnull, "w")  # the log lines: priced, then dropped
    logs.configure("console", "info")
    try:
        import uvloop

        uvloop.run(run(args))
    finally:
        sys.stdout.close()
        sys.stdout = sys.__stdout__
        standin.terminate()
        standin.wait(20)


if __name__ == "__main__":
    main()
