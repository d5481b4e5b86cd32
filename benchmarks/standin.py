"""What one SMS costs the Twilio stand-in: CPU per message, with and without callbacks.

Why: the pipeline benchmarks run the stand-in on the same two cores as the product, so its
CPU is taken from the product's budget and, if it is dear, makes the stand-in the
bottleneck of a burst. This measures the stand-in alone: its own process, started as
tests/stack.py starts it, fed by the real `twilio` client's async API (as notifiers/sms.py
sends) under a bounded concurrency, with status callbacks posted to a receiver in this
process that answers 204 as the product's /twilio/status does. Only the stand-in's CPU is
counted (from /proc); this script's own (the client and the receiver) is shown beside it.

    python -m benchmarks.standin [--messages 2000] [--concurrency 32] [--log-level warning]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from aiohttp import web
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from benchmarks.common import cpu_seconds, machine, now_iso, python_pid, report
from tests.stack import TWILIO_SID, TWILIO_TOKEN, free_port, wait_for

ROOT = Path(__file__).resolve().parents[1]
SENDER = "+15005550006"


@dataclass
class Run:
    """One scenario's figures; CPU seconds are the stand-in's unless named otherwise."""

    messages: int
    callbacks: bool
    wall_s: float
    standin_cpu_s: float
    bench_cpu_s: float
    callbacks_received: int

    @property
    def ms_per_message(self) -> float:
        return 1000 * self.standin_cpu_s / self.messages


class Receiver:
    """The product's status endpoint reduced to counting: its cost is this script's, not
    the stand-in's, and it must not slow the stand-in down by answering late."""

    def __init__(self) -> None:
        self.count = 0
        self.done = asyncio.Event()
        self.expected = 0

    async def status(self, request: web.Request) -> web.Response:
        await request.read()
        self.count += 1
        if self.count >= self.expected:
            self.done.set()
        return web.Response(status=204)


def start_standin(
    script: str, port: int, log_level: str, status_delay: float
) -> subprocess.Popen[bytes]:
    argv = [
        sys.executable,
        script,
        "--port",
        str(port),
        "--account-sid",
        TWILIO_SID,
        "--auth-token",
        TWILIO_TOKEN,
        "--status-delay",
        str(status_delay),
        "--log-level",
        log_level,
    ]
    path = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=os.pathsep.join(path))
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/_standin/health"

    def up() -> bool:
        try:
            return httpx.get(url).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(up, 30, "stand-in up")
    return proc


async def send_all(
    standin_url: str, n: int, concurrency: int, callback_url: str | None
) -> list[str]:
    """Create n messages through the library's async API, at most `concurrency` at once."""
    http = AsyncTwilioHttpClient(timeout=30)
    client = Client(TWILIO_SID, TWILIO_TOKEN, http_client=http, environment={})
    client.api.base_url = standin_url
    gate = asyncio.Semaphore(concurrency)
    sids: list[str] = []

    async def one(i: int) -> None:
        async with gate:
            msg = await client.messages.create_async(
                to=f"+1555{3000000 + i:07d}",
                from_=SENDER,
                body=f"Peer support needed: can you take case {i}? Reply YES or NO.",
                status_callback=f"{callback_url}?page={i}" if callback_url else None,
            )
        sids.append(str(msg.sid))

    try:
        await asyncio.gather(*(one(i) for i in range(n)))
    finally:
        await http.close()
    return sids


async def scenario(
    script: str, n: int, concurrency: int, callbacks: bool, log_level: str, status_delay: float
) -> Run:
    receiver = Receiver()
    receiver.expected = 2 * n  # sent, delivered
    app = web.Application()
    app.router.add_post("/twilio/status", receiver.status)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    recv_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", recv_port).start()
    port = free_port()
    proc = start_standin(script, port, log_level, status_delay)
    pid = python_pid(proc.pid)
    try:
        await asyncio.sleep(0.5)  # let start-up CPU settle before counting
        before, mine = cpu_seconds(pid), time.process_time()
        t0 = time.monotonic()
        callback = f"http://127.0.0.1:{recv_port}/twilio/status" if callbacks else None
        await send_all(f"http://127.0.0.1:{port}", n, concurrency, callback)
        if callbacks:
            await asyncio.wait_for(receiver.done.wait(), timeout=120)
            wall = time.monotonic() - t0
        else:
            wall = time.monotonic() - t0
            await asyncio.sleep(2 * status_delay + 0.5)  # every message walks to delivered
        used, mine = cpu_seconds(pid) - before, time.process_time() - mine
        async with httpx.AsyncClient() as control:
            delivered = (
                await control.get(
                    f"http://127.0.0.1:{port}/_standin/messages",
                    params={"status": "delivered"},
                    timeout=60,
                )
            ).json()
        if len(delivered) != n:
            raise AssertionError(f"{len(delivered)} of {n} messages delivered")
    finally:
        proc.terminate()
        proc.wait(10)
        await runner.cleanup()
    return Run(n, callbacks, wall, used, mine, receiver.count)


def table(runs: list[Run]) -> str:
    lines = [
        "| messages | status callbacks | wall s | stand-in CPU s | CPU ms per message "
        "| this script's CPU s (client + receiver) |",
        "|---|---|---|---|---|---|",
    ]
    for r in runs:
        cb = f"yes ({r.callbacks_received} posted)" if r.callbacks else "no"
        lines.append(
            f"| {r.messages} | {cb} | {r.wall_s:.2f} | {r.standin_cpu_s:.2f} "
            f"| {r.ms_per_message:.2f} | {r.bench_cpu_s:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--status-delay", type=float, default=0.05)
    parser.add_argument(
        "--log-level", default="warning", help="the stand-in's; the benchmarks run 'warning'"
    )
    parser.add_argument("--label", default="", help="named in the title, e.g. 'before'")
    parser.add_argument(
        "--standin",
        default="deploy/twilio_standin.py",
        help="the stand-in's script, e.g. an older version's copy to compare against",
    )
    parser.add_argument(
        "--callbacks", choices=("both", "yes", "no"), default="both", help="which scenarios"
    )
    args = parser.parse_args(argv)
    runs = [
        asyncio.run(
            scenario(
                args.standin, args.messages, args.concurrency, cb, args.log_level, args.status_delay
            )
        )
        for cb in (False, True)
        if args.callbacks == "both" or cb == (args.callbacks == "yes")
    ]
    result: dict[str, object] = {
        "date": now_iso(),
        "machine": machine(),
        "label": args.label,
        "standin": args.standin,
        "log_level": args.log_level,
        "concurrency": args.concurrency,
        "runs": [dict(vars(r), ms_per_message=round(r.ms_per_message, 3)) for r in runs],
    }
    title = (
        f"stand-in: CPU per SMS through the real twilio async client, {args.concurrency} at "
        f"once, stand-in log level {args.log_level}" + (f" ({args.label})" if args.label else "")
    )
    report("standin", title, result, table(runs))


if __name__ == "__main__":
    main()
