"""What the API's hot requests and its relay cost in CPU, measured in this process.

Why in-process: the latency benchmark reads the API's CPU per page from /proc, where the
requests, the relay and the idle loop are one number, and a change of a tenth of a
millisecond is lost in a run's spread. Here the ASGI app (services.api:app, wrapped as
uvicorn wraps it: ProxyHeadersMiddleware) is called directly, with the scope, the body and
the headers an HTTP client sends, and time.process_time() is read around a batch of
requests: the CPU of our code per request, without the HTTP parser and the client.

- POST /incidents with the integration token, one new clinician each (as latency.py);
- POST /twilio/status signed as Twilio signs, `sent` then `delivered` for synthetic pages;
- the outbox relay (services.outbox.Relay, as the API runs it) publishing rows another
  process commits at a steady rate, in the shape a page writes them (the incident's event,
  urgent, then the worker's transactions of three and two events): CPU per event.

Each measure runs `--n` requests one at a time and again `--concurrency` at once. The
database is svrr_bench_apireq<SVRR_BENCH_SUFFIX>, made afresh (benchmarks.common.prepare).

    python -m benchmarks.api_requests [--n 1000] [--concurrency 16] [--relay-rate 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

import psycopg
import uvloop

from benchmarks.callbacks import sent_pages
from benchmarks.common import Roster, drop_kafka_state, incident, prepare
from tests.stack import TOKEN, TWILIO_SID, TWILIO_TOKEN

ROSTER = Roster(staff=5_000, peers=200, on_call=20, max_open_cases=10)
PUBLIC = "http://127.0.0.1:8000"
EVENTS_PER_PAGE = 6  # as the latency benchmark's pages write them (outbox rows / incidents)
# A directory for cProfile dumps of each measure (the CPU figures are then inflated).
PROFILE = os.environ.get("SVRR_PROFILE", "")

Message = dict[str, Any]


class Driver:
    """One ASGI request: the scope, the body and the headers as uvicorn hands them over."""

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app
        self.statuses: dict[int, int] = {}

    async def request(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> int:
        raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        raw += [(b"host", b"127.0.0.1:8000"), (b"content-length", str(len(body)).encode())]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "server": ("127.0.0.1", 8000),
            "client": ("127.0.0.1", 50000),
            "scheme": "http",
            "method": method,
            "root_path": "",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "headers": raw,
            "state": {},
        }
        sent = False

        async def receive() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # the client stays connected
            return {"type": "http.disconnect"}

        status = 0

        async def send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await self.app(scope, receive, send)
        self.statuses[status] = self.statuses.get(status, 0) + 1
        return status


async def measure(
    label: str, calls: list[Callable[[], Awaitable[int]]], concurrency: int
) -> dict[str, object]:
    gate = asyncio.Semaphore(concurrency)
    statuses: dict[int, int] = {}

    async def one(call: Callable[[], Awaitable[int]]) -> None:
        async with gate:
            s = await call()
            statuses[s] = statuses.get(s, 0) + 1

    profiler = None
    if PROFILE and not label.startswith("warm"):
        import cProfile

        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one(c) for c in calls))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if profiler is not None:
        profiler.disable()
        name = label.replace(" ", "_").replace("/", "")
        profiler.dump_stats(f"{PROFILE}/{name}_c{concurrency}.pstats")
    out = {
        "what": label,
        "n": len(calls),
        "concurrency": concurrency,
        "cpu_ms_per_request": round(cpu * 1000 / len(calls), 3),
        "wall_s": round(wall, 2),
        "statuses": statuses,
    }
    print(json.dumps(out), flush=True)
    return out


def incident_calls(driver: Driver, clinicians: list[str]) -> list[Callable[[], Awaitable[int]]]:
    headers = {"authorization": f"Bearer {TOKEN}", "content-type": "application/json"}

    def call(c: str) -> Callable[[], Awaitable[int]]:
        body = json.dumps(incident([c])).encode()
        return lambda: driver.request("POST", "/incidents", "", headers, body)

    return [call(c) for c in clinicians]


def callback_calls(
    driver: Driver, pages: list[tuple[str, str]], status: str
) -> list[Callable[[], Awaitable[int]]]:
    from twilio.request_validator import RequestValidator

    validator = RequestValidator(TWILIO_TOKEN)

    def call(page_id: str, sid: str) -> Callable[[], Awaitable[int]]:
        form = {
            "MessageSid": sid,
            "MessageStatus": status,
            "AccountSid": TWILIO_SID,
            "To": "+15550000000",
            "ApiVersion": "2010-04-01",
        }
        query = f"page={page_id}"
        sig = validator.compute_signature(f"{PUBLIC}/twilio/status?{query}", form)
        headers = {
            "x-twilio-signature": sig,
            "content-type": "application/x-www-form-urlencoded",
            "user-agent": "TwilioProxy/1.1",
        }
        body = urlencode(form).encode()
        return lambda: driver.request("POST", "/twilio/status", query, headers, body)

    return [call(p, s) for p, s in pages]


# --- the relay ------------------------------------------------------------------------------

WRITER = """
import sys, time, psycopg
url, rate, pages, topic = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
conn = psycopg.connect(url, autocommit=True)
def tx(k, urgent=False):
    with conn.transaction():
        conn.execute(
            "INSERT INTO outbox (topic, key, payload) SELECT %s, 'k' || g, "
            "'{\\"x\\": 1}'::jsonb FROM generate_series(1, %s) g", (topic, k))
        conn.execute("NOTIFY svrr_outbox, 'urgent'" if urgent else "NOTIFY svrr_outbox")
t0 = time.monotonic()
for i in range(pages):
    while time.monotonic() < t0 + i / rate:
        time.sleep(0.0005)
    tx(1, urgent=True)  # the incident and its event (the API)
    time.sleep(0.005)
    tx(3)  # the worker's batch: support needed, case events, page requested
    time.sleep(0.020)
    tx(2)  # the send recorded: page sent, page status changed
"""


async def relay_cost(url: str, rate: float, pages: int) -> dict[str, object]:
    from schemas.events import IncidentReported
    from schemas.topics import topic_name
    from services.config import get_settings
    from services.outbox import Relay

    settings = get_settings()
    topic = topic_name(IncidentReported)  # a topic of the run's; nothing consumes it here
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute("UPDATE outbox SET published_at = now() WHERE published_at IS NULL")
    relay = Relay(settings.database_url, settings.kafka_bootstrap_servers, name="bench")
    task = asyncio.create_task(relay.run())
    while relay.published == 0 and not task.done():
        # Lead first (the lock, LISTEN, the producer): not the per-event cost.
        with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute(
                "INSERT INTO outbox (topic, key, payload) VALUES (%s, 'w', '{}')", (topic,)
            )
            conn.execute("NOTIFY svrr_outbox")
        await asyncio.sleep(0.5)
    await asyncio.sleep(0.5)
    before = relay.published
    writer = await asyncio.create_subprocess_exec(
        sys.executable, "-c", WRITER, url.replace("+psycopg", ""), str(rate), str(pages), topic
    )
    profiler = None
    if PROFILE:
        import cProfile

        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
    batches = getattr(relay, "batches", 0)
    cpu, wall = time.process_time(), time.perf_counter()
    await writer.wait()
    expected = before + EVENTS_PER_PAGE * pages
    deadline = time.monotonic() + 30
    while relay.published < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(f"{PROFILE}/relay_{rate:g}.pstats")
    published = relay.published - before
    batches = getattr(relay, "batches", 0) - batches
    relay.stop()
    await task
    out = {
        "what": "relay",
        "rate_pages_per_s": rate,
        "pages": pages,
        "events": published,
        "cpu_ms_per_event": round(cpu * 1000 / max(published, 1), 3),
        "cpu_ms_per_page": round(cpu * 1000 / pages, 3),
        "batches": batches,
        "wall_s": round(wall, 2),
    }
    print(json.dumps(out), flush=True)
    return out


async def main_async(args: argparse.Namespace, url: str) -> list[dict[str, object]]:
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    from services.api import app
    from services.logs import configure

    configure("console", "warning")
    driver = Driver(ProxyHeadersMiddleware(app, trusted_hosts="127.0.0.1"))
    n, conc = args.n, args.concurrency
    clinicians = ROSTER.clinicians
    pages = sent_pages(url, 4 * n + 100)
    results: list[dict[str, object]] = []
    # Warm up: imports, the pools' connections, the token cache, compiled statements.
    await measure("warm-up incidents", incident_calls(driver, clinicians[:50]), conc)
    await measure("warm-up callbacks", callback_calls(driver, pages[:50], "sent"), conc)
    clinicians, pages = clinicians[50:], pages[50:]
    for c in () if args.only_relay else (1, conc):
        batch, clinicians = clinicians[:n], clinicians[n:]
        results.append(await measure("POST /incidents", incident_calls(driver, batch), c))
        batch_p, pages = pages[:n], pages[n:]
        for status in ("sent", "delivered"):
            calls = callback_calls(driver, batch_p, status)
            results.append(await measure(f"POST /twilio/status {status}", calls, c))
    if args.relay_linger is not None:
        from services import outbox

        outbox.LINGER_S = args.relay_linger
    for rate in args.relay_rate:
        results.append(await relay_cost(url, rate, args.relay_pages))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--relay-rate", type=lambda s: [float(x) for x in s.split(",") if x], default=[5.0, 50.0]
    )
    parser.add_argument("--relay-pages", type=int, default=200)
    parser.add_argument("--relay-linger", type=float, default=None, help="outbox.LINGER_S")
    parser.add_argument("--only-relay", action="store_true")
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    url, env = prepare("apireq", ROSTER)
    os.environ.update(
        env,
        API_TOKENS=TOKEN,
        TWILIO_ACCOUNT_SID=TWILIO_SID,
        TWILIO_AUTH_TOKEN=TWILIO_TOKEN,
        PUBLIC_BASE_URL=PUBLIC,
    )
    subprocess.run(
        [sys.executable, "-m", "services.cli", "bootstrap"],
        env=os.environ,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    try:
        # uvloop, as uvicorn runs the API when it is installed (its "auto" loop).
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            results = runner.run(main_async(args, url))
    finally:
        drop_kafka_state(env)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"id": uuid.uuid4().hex, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
