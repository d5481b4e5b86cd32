"""What a Twilio status callback costs: the API's request, the applier, PostgreSQL.

Why: a page brings two callbacks (sent, delivered), so under a burst they are as many
requests as the pages themselves. This posts signed callbacks for pages already sent
(synthetic rows, no worker, no stand-in) to the API process as Twilio would, `sent` then
`delivered` per page, some pages at once, and counts the CPU each part used: the API (from
/proc), the applier (services.paging.callbacks.apply_pending, run in this process after the
posts, counted with process_time) and PostgreSQL's backends. `--root` runs the API of
another checkout (e.g. the commit before stored callbacks, where the request applied its
callback itself and the applier finds nothing to do).

    python -m benchmarks.callbacks [--pages 2000] [--concurrency 32] [--root PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import httpx
import psycopg
from sqlalchemy import text
from twilio.request_validator import RequestValidator

from benchmarks.common import (
    ROOT,
    CpuMeter,
    Roster,
    drop_kafka_state,
    keyring,
    machine,
    now_iso,
    prepare,
    python_pid,
    report,
)
from tests.stack import TOKEN, TWILIO_SID, TWILIO_TOKEN, free_port, wait_for

ROSTER = Roster(staff=100, peers=20, on_call=5, max_open_cases=3)


def sent_pages(url: str, n: int) -> list[tuple[str, str]]:
    """(page id, sid) of n pages of one case, each already sent: what callbacks report on."""
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        conn.execute(
            "INSERT INTO incidents (id, request_hash, occurred_at, unit, event_type, "
            "harm_level, staff_ids) VALUES (gen_random_uuid(), 'bench', now(), 'U00', "
            "'serious_safety_event', 'moderate', ARRAY['S00050'])"
        )
        conn.execute(
            "INSERT INTO support_cases (id, incident_id, staff_id, tier, state, "
            "escalation_step, escalation_round) SELECT gen_random_uuid(), id, 'S00050', 2, "
            "'closed', 0, 0 FROM incidents WHERE request_hash = 'bench'"
        )
        keys = keyring()  # each page's own number, sealed and with its lookup value
        numbers = [f"+1555{g:07d}" for g in range(1, n + 1)]
        rows = conn.execute(
            "INSERT INTO pages (id, case_id, attempt, to_number, to_number_key, reply_code, "
            "reason, state, provider_sid, sent_at, claimed_at) "
            "SELECT gen_random_uuid(), c.id, g.n, g.sealed, g.key, g.n::text, "
            "'bench', 'sent', 'SM' || md5(g.n::text || random()::text), now(), now() "
            "FROM support_cases c, unnest(%s::text[], %s::text[]) WITH ORDINALITY "
            "AS g(sealed, key, n) RETURNING id::text, provider_sid",
            (
                [keys.seal(x, "pages.to_number") for x in numbers],
                [keys.lookup(x) for x in numbers],
            ),
        ).fetchall()
        conn.commit()
    return [(str(a), str(b)) for a, b in rows]


def start_api(root: Path, env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    argv = [
        str(Path(sys.executable).parent / "uvicorn"),
        "services.api:app",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    env = dict(env, PYTHONPATH=str(root))
    proc = subprocess.Popen(argv, cwd=root, env=env, stdout=subprocess.DEVNULL)

    def up() -> bool:
        try:
            r = httpx.get(
                f"http://127.0.0.1:{port}/healthz", headers={"Authorization": f"Bearer {TOKEN}"}
            )
            return r.status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(up, 60, "api up")
    return proc


async def post_all(api: str, pages: list[tuple[str, str]], concurrency: int) -> float:
    """Every page's `sent` then `delivered`, `concurrency` pages at once; the wall time.

    aiohttp, as the stand-in posts: httpx's pool costs milliseconds a request at this many
    connections, and the client, not the API, set the pace."""
    validator = RequestValidator(TWILIO_TOKEN)
    gate = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency, keepalive_timeout=4.0)
    async with aiohttp.ClientSession(connector=connector) as client:

        async def one(page_id: str, sid: str) -> None:
            async with gate:
                for status in ("sent", "delivered"):
                    path = f"/twilio/status?page={page_id}"
                    form = {
                        "MessageSid": sid,
                        "MessageStatus": status,
                        "AccountSid": TWILIO_SID,
                        "To": "+15550000000",
                    }
                    sig = validator.compute_signature(api + path, form)
                    for attempt in range(3):  # as Twilio retries a callback it lost
                        try:
                            async with client.post(
                                api + path, data=form, headers={"X-Twilio-Signature": sig}
                            ) as r:
                                r.raise_for_status()
                            break
                        except aiohttp.ClientConnectionError:
                            if attempt == 2:
                                raise

        t0 = time.monotonic()
        await asyncio.gather(*(one(p, s) for p, s in pages))
        return time.monotonic() - t0


async def apply_everything(meter: CpuMeter) -> tuple[int, float, dict[str, float]]:
    """Apply every stored callback: how many, this process's CPU seconds, the meter's."""
    from services.db import transaction
    from services.logs import configure
    from services.paging import callbacks

    # Imports, logging and the pool's first connection are not the applier's cost.
    configure("console", os.environ["LOG_LEVEL"])
    async with transaction() as session:
        await session.execute(text("SELECT 1"))
    meter.start()
    mine = time.process_time()
    total = 0
    while applied := await callbacks.apply_pending():
        total += applied
    mine = time.process_time() - mine
    await asyncio.sleep(2)  # the API's relay publishes the events the applier wrote
    return total, mine, meter.stop()


def delivered(url: str) -> int:
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        row = conn.execute("SELECT count(*) FROM pages WHERE state = 'delivered'").fetchone()
    return int(row[0]) if row else 0


def run(pages: int, concurrency: int, root: Path) -> dict[str, object]:
    url, env = prepare("callbacks", ROSTER)
    port = free_port()
    api_url = f"http://127.0.0.1:{port}"
    env = dict(
        env,
        API_TOKENS=TOKEN,
        TWILIO_ACCOUNT_SID=TWILIO_SID,
        TWILIO_AUTH_TOKEN=TWILIO_TOKEN,
        PUBLIC_BASE_URL=api_url,
    )
    # The applier runs here, on the benchmark's database.
    os.environ.update(
        DATABASE_URL=url,
        KAFKA_BOOTSTRAP_SERVERS=env["KAFKA_BOOTSTRAP_SERVERS"],
        LOG_LEVEL=env["LOG_LEVEL"],
    )
    rows = sent_pages(url, pages)
    api = start_api(root, env, port)
    try:
        meter = CpuMeter({"api": python_pid(api.pid)})
        time.sleep(1)
        meter.start()
        wall = asyncio.run(post_all(api_url, rows, concurrency))
        time.sleep(0.5)  # the API's relay publishes the last events
        posting = meter.stop()
        applied, applier_cpu, applying = asyncio.run(
            apply_everything(CpuMeter({"api": python_pid(api.pid)}))
        )
        done = delivered(url)
    finally:
        api.terminate()
        api.wait(20)
        drop_kafka_state(env)
    n = 2 * pages
    return {
        "callbacks": n,
        "pages_delivered": done,
        "applied_by_applier": applied,
        "post_wall_s": round(wall, 2),
        "api_cpu_s": posting["api"],
        "postgres_cpu_s_posting": posting["postgres"],
        "applier_cpu_s": round(applier_cpu, 2),
        "applier_wall_s": applying["wall_s"],
        "api_cpu_s_applying": applying["api"],
        "postgres_cpu_s_applying": applying["postgres"],
        "ms_per_callback": {
            "api": round(1000 * posting["api"] / n, 3),
            "api_relay": round(1000 * applying["api"] / n, 3),
            "applier": round(1000 * applier_cpu / n, 3),
            "postgres": round(1000 * (posting["postgres"] + applying["postgres"]) / n, 3),
        },
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose API runs")
    parser.add_argument("--label", default="")
    args = parser.parse_args(argv)
    r = run(args.pages, args.concurrency, args.root)
    if r["pages_delivered"] != args.pages:
        raise SystemExit(f"{r['pages_delivered']} of {args.pages} pages delivered")
    ms = r["ms_per_callback"]
    assert isinstance(ms, dict)
    total = round(sum(float(v) for v in ms.values()), 3)
    table = (
        "| callbacks | posting wall s | API requests | API relaying the applier's events "
        "| applier | PostgreSQL | total | applied later by the applier |\n"
        "|---|---|---|---|---|---|---|---|\n"
        f"| {r['callbacks']} | {r['post_wall_s']} | {ms['api']} | {ms['api_relay']} "
        f"| {ms['applier']} | {ms['postgres']} | {total} | {r['applied_by_applier']} |\n\n"
        "CPU in ms per callback."
    )
    result = dict(r, date=now_iso(), machine=machine(), label=args.label, root=str(args.root))
    title = "status callbacks: CPU per callback, sent + delivered per page" + (
        f" ({args.label})" if args.label else ""
    )
    report("callbacks", title, result, table)


if __name__ == "__main__":
    main()
