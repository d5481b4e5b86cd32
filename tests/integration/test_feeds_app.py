"""The feeds' HTTP routes as a service of their own (services/feeds/app.py, `svrr feed
http`): the feed routes, health and metrics behind the same gate, and nothing else."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.engine import Engine

from services.feeds.app import app
from tests.integration.test_feeds_end_to_end import NIGHT, moved
from tests.stack import FEED_TOKEN, ROOT, TOKEN, free_port

FEED = {"Authorization": f"Bearer {FEED_TOKEN}"}


async def test_it_serves_the_feed_routes_health_and_nothing_else(db: Engine) -> None:
    day = datetime.now(UTC).date() - timedelta(days=3)
    body = moved((NIGHT / "1_code_blue.json").read_bytes(), day).replace(b"0612", b"7301")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://feeds"
    ) as c:
        headers = FEED | {"Content-Type": "application/json"}
        r = await c.post("/feeds/code-blue/code-team", content=body, headers=headers)
        assert r.status_code == 202, r.text
        assert r.json()["records"][0]["disposition"] == "started"
        assert (await c.get("/healthz", headers=FEED)).status_code == 200
        risk = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        r = await c.post("/feeds/code-blue/code-team", content=body, headers=risk)
        assert r.status_code == 403
        r = await c.post("/incidents", json={}, headers=FEED)
        assert r.status_code == 404
        assert (await c.get("/console/", headers=FEED)).status_code == 404


def test_svrr_feed_http_starts_answers_and_stops_on_sigterm(db: Engine, topics: list[str]) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "feed", "http", "--port", str(port)],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        status = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/healthz", headers=FEED).status_code
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert status == 200, "svrr feed http did not answer its health check"
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    text = out.decode(errors="replace")
    # uvicorn finishes its shutdown, then raises the signal it caught again (exit -15).
    assert "Application shutdown complete" in text, text[-2000:]
    assert proc.returncode in (0, -signal.SIGTERM), text[-2000:]
    assert "Traceback" not in text, text[-2000:]
