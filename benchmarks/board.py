"""The coordinator's board under a mass-casualty load: 10,000 open cases.

Why measured this way: on the night of a mass-casualty event the coordinator opens the
board with thousands of open cases, and must see at once the ones needing a person and
see each change arrive while the night goes on. The board's cost depends on what is in
the store, not on how it got there, so the 10,000 cases are written straight into a fresh
database (svrr_bench_board) with the mix a busy night leaves: most peer-paged with a
pending escalation, some accepted, offered or deferred, about 5% flagged for a person
(crisis words, unread replies), some waiting for the coordinator, a few opted out; each
with its pages and its deadline. Then the real API process (uvicorn, as deployed) serves:

1. first render: GET /console/board (a signed-in coordinator, cookies, as a browser does),
   `--renders` times after a warm-up, p50/p95/p99 in ms, and the API's CPU per render;
   also the filtered view (only cases needing a person) and a deep page (page 50).
2. live changes: `--boards` boards hold the event stream open while `--changes` cases are
   moved by the coordinator's real API action (POST /admin/cases/{id}/actions, tier3, paced
   at `--rate` a second); from the API's answer to the rendered row arriving on each
   board, p50/p95/p99/max in ms.

Targets (issue 10): first render p95 under 300 ms; a change on an open board p99 under 1 s.

    python -m benchmarks.board --cases 10000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time
import uuid

import httpx
import psycopg

from benchmarks.common import (
    ROOT,
    CpuMeter,
    Roster,
    drop_kafka_state,
    keyring,
    machine,
    now_iso,
    percentile,
    prepare,
    python_pid,
    report,
)
from tests.stack import RUN, Proc, free_port, wait_for

ADMIN_TOKEN = "bench-admin-token"
USER, PASSWORD = "bench-coordinator", "bench coordinator password"
MIX = [  # (state, share): what a busy night leaves open
    ("peer_paged", 0.70),
    ("peer_accepted", 0.05),
    ("clinician_offered", 0.08),
    ("deferred", 0.04),
    ("clinician_accepted", 0.04),
    ("waiting_coordinator", 0.04),
    ("opted_out", 0.01),
    ("tier3_referred", 0.01),
    ("follow_up", 0.03),
]


def load_cases(url: str, roster: Roster, cases: int) -> list[uuid.UUID]:
    """Incidents of ten clinicians each, their cases in the night's mix, one or two pages
    per case, the pending deadline, and flags on about 5%: written with COPY."""
    rng = random.Random(10)
    clinicians = roster.clinicians
    peers = roster.peer_ids
    states = [s for s, share in MIX for _ in range(round(share * 1000))]
    ids: list[uuid.UUID] = []
    with psycopg.connect(url.replace("+psycopg", "")) as conn, conn.cursor() as cur:
        incidents = []
        with cur.copy(
            "COPY incidents (id, request_hash, occurred_at, unit, event_type, harm_level, "
            "staff_ids, received_at) FROM STDIN"
        ) as copy:
            for i in range(0, cases, 10):
                iid = uuid.uuid4()
                staff = [clinicians[(i + k) % len(clinicians)] for k in range(10)]
                incidents.append((iid, staff))
                copy.write_row(
                    (
                        iid,
                        "x" * 64,
                        "now",
                        "U00",
                        "unexpected_death",
                        "death",
                        "{" + ",".join(staff) + "}",
                        "now",
                    )
                )
        case_rows, page_rows, deadline_rows, flag_rows = [], [], [], []
        keys = keyring()  # one number for every page, kept as ours are: sealed, and its lookup
        number = ("+15550000000", "pages.to_number")
        sealed, lookup = keys.seal(*number), keys.lookup(number[0])
        for iid, staff in incidents:
            for s in staff:
                if len(ids) >= cases:
                    break
                cid = uuid.uuid4()
                ids.append(cid)
                state = rng.choice(states)
                case_rows.append((cid, iid, s, 2, state))
                peer = rng.choice(peers)
                paged = state != "waiting_coordinator"
                page_state = "delivered" if state == "peer_paged" else "accepted"
                pid = uuid.uuid4()
                page_rows.append(
                    (
                        pid,
                        cid,
                        1,
                        peer if paged else None,
                        sealed,
                        lookup,
                        "AB12",
                        "bench",
                        page_state if paged else "sent",
                    )
                )
                kind = {
                    "peer_paged": "page_timeout",
                    "deferred": "reoffer",
                    "clinician_offered": "offer_reminder",
                    "follow_up": "follow_up",
                }.get(state)
                if kind:
                    deadline_rows.append((cid, kind, str(pid)))
                if rng.random() < 0.05:
                    flag_rows.append((cid, rng.choice(["crisis", "unread_reply", "distress"])))
        with cur.copy(
            "COPY support_cases (id, incident_id, staff_id, tier, state, created_at, updated_at)"
            " FROM STDIN"
        ) as copy:
            for cid, iid, s, tier, state in case_rows:
                copy.write_row((cid, iid, s, tier, state, "now", "now"))
        cur.execute("UPDATE support_cases SET created_at = now() - (random() * interval '4 hours')")
        with cur.copy(
            "COPY pages (id, case_id, attempt, peer_staff_id, to_number, to_number_key, "
            "reply_code, reason, state, requested_at) FROM STDIN"
        ) as copy:
            for row in page_rows:
                copy.write_row((*row, "now"))
        with cur.copy("COPY deadlines (case_id, kind, due_at, payload) FROM STDIN") as copy:
            for cid, kind, pid in deadline_rows:
                copy.write_row(
                    (
                        cid,
                        kind,
                        "now",
                        json.dumps({"page_id": pid, "step": 0, "round": 0}),
                    )
                )
        cur.execute(
            "UPDATE deadlines SET due_at = now() + (random() * interval '5 minutes') "
            "WHERE fired_at IS NULL"
        )
        with cur.copy("COPY case_attention (case_id, reason) FROM STDIN") as copy:
            for row in flag_rows:
                copy.write_row(row)
        cur.execute("ANALYZE")
        conn.commit()
    return ids


def signed_in(base: str) -> httpx.Client:
    c = httpx.Client(base_url=base, timeout=30)
    page = c.get("/console/signin").text
    token = page.split('name="csrftoken" value="', 1)[1].split('"', 1)[0]
    r = c.post("/console/signin", data={"username": USER, "password": PASSWORD, "csrftoken": token})
    assert r.status_code == 303, r.text[:300]
    return c


def time_renders(c: httpx.Client, path: str, n: int) -> list[float]:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = c.get(path)
        times.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, (path, r.status_code)
    return times


class Board(threading.Thread):
    """One open board: when each case's row arrived on its event stream."""

    def __init__(self, base: str) -> None:
        super().__init__(daemon=True)
        self.client = signed_in(base)
        self.arrived: dict[str, float] = {}
        self.ready = threading.Event()
        self.stop = False

    def run(self) -> None:
        try:
            self._listen()
        except httpx.HTTPError:
            if not self.stop:
                raise

    def _listen(self) -> None:
        with self.client.stream("GET", "/console/board/events", timeout=None) as events:
            name, first = "", ""
            for line in events.iter_lines():
                if self.stop:
                    return
                if line.startswith("event:"):
                    name = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and not first:
                    first = line
                elif not line and name:
                    if name == "ready":
                        self.ready.set()
                    elif name == "case" and 'id="case-' in first:
                        case_id = first.split('id="case-', 1)[1].split('"', 1)[0]
                        self.arrived.setdefault(case_id, time.perf_counter())
                    name, first = "", ""


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--renders", type=int, default=100)
    ap.add_argument("--boards", type=int, default=3)
    ap.add_argument("--changes", type=int, default=200)
    ap.add_argument("--rate", type=float, default=5.0)
    args = ap.parse_args(argv)

    roster = Roster(staff=12_000, peers=2_000, on_call=1_000, max_open_cases=20)
    url, env = prepare("board", roster)
    ids = load_cases(url, roster, args.cases)
    env.update(ADMIN_TOKENS=ADMIN_TOKEN, API_TOKENS="bench-token", LOG_LEVEL="warning")
    py = sys.executable
    subprocess.run(
        [py, "-m", "services.cli", "user", "add", "--username", USER, "--name", "Bench"]
        + ["--role", "coordinator", "--password-stdin"],
        input=PASSWORD + "\n",
        text=True,
        env=env,
        check=True,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    logs = RUN / "log" / "bench-board"
    api = Proc(
        "api",
        [py, "-m", "uvicorn", "services.api:app", "--host", "127.0.0.1", "--port", str(port)],
        env,
        logs,
    )
    api.start()
    try:
        wait_for(lambda: _up(base), 60, "API up")
        c = signed_in(base)
        time_renders(c, "/console/board", 5)  # warm-up: imports, templates, pools
        meter = CpuMeter({"api": python_pid(api.popen.pid)})  # type: ignore[union-attr]
        meter.start()
        full = time_renders(c, "/console/board", args.renders)
        cpu = meter.stop()
        flagged = time_renders(c, "/console/board?attention=true", max(20, args.renders // 5))
        deep = time_renders(c, "/console/board?page=50", max(20, args.renders // 5))
        size_kb = len(c.get("/console/board").content) / 1024

        boards = [Board(base) for _ in range(args.boards)]
        for b in boards:
            b.start()
        for b in boards:
            assert b.ready.wait(30), "board stream did not open"
        api_client = httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30
        )
        rng = random.Random(5)
        targets = rng.sample(ids, args.changes)
        answered: dict[str, float] = {}
        meter.start()
        t_start = time.perf_counter()
        for i, case_id in enumerate(targets):
            due = t_start + i / args.rate
            time.sleep(max(0.0, due - time.perf_counter()))
            r = api_client.post(f"/admin/cases/{case_id}/actions", json={"action": "tier3"})
            assert r.status_code in (200, 409), r.text
            if r.status_code == 200:  # 409: already referred, so nothing changed to show
                answered[str(case_id)] = time.perf_counter()
        time.sleep(3)
        live_cpu = meter.stop()
        for b in boards:
            b.stop = True
        delays = [
            (b.arrived[cid] - t) * 1000
            for b in boards
            for cid, t in answered.items()
            if cid in b.arrived
        ]
        missing = sum(1 for b in boards for cid in answered if cid not in b.arrived)
    finally:
        api.stop()
        drop_kafka_state(env)

    result: dict[str, object] = {
        "date": now_iso(),
        "machine": machine(),
        "cases": args.cases,
        "render_p50_ms": round(percentile(full, 50), 1),
        "render_p95_ms": round(percentile(full, 95), 1),
        "render_p99_ms": round(percentile(full, 99), 1),
        "render_api_cpu_ms": round(cpu["api"] * 1000 / args.renders, 1),
        "render_postgres_cpu_ms": round(cpu["postgres"] * 1000 / args.renders, 1),
        "attention_p95_ms": round(percentile(flagged, 95), 1),
        "deep_page_p95_ms": round(percentile(deep, 95), 1),
        "page_kb": round(size_kb, 1),
        "boards": args.boards,
        "changes": args.changes,
        "change_p50_ms": round(percentile(delays, 50), 1) if delays else None,
        "change_p95_ms": round(percentile(delays, 95), 1) if delays else None,
        "change_p99_ms": round(percentile(delays, 99), 1) if delays else None,
        "change_max_ms": round(max(delays), 1) if delays else None,
        "changes_missed": missing,
        "live_api_cpu_s": live_cpu["api"],
        "live_postgres_cpu_s": live_cpu["postgres"],
        "live_wall_s": live_cpu["wall_s"],
    }
    table = "\n".join(
        [
            "| measure | result | target |",
            "|---|---|---|",
            f"| open cases in the store | {args.cases:,} | |",
            f"| board first render p50 / p95 / p99 (ms) | {result['render_p50_ms']} / "
            f"{result['render_p95_ms']} / {result['render_p99_ms']} | p95 < 300 |",
            f"| CPU per render: API / PostgreSQL (ms) | {result['render_api_cpu_ms']} / "
            f"{result['render_postgres_cpu_ms']} | |",
            f"| page size (KB, 100 rows) | {result['page_kb']} | |",
            f"| 'needs a person' view p95 (ms) | {result['attention_p95_ms']} | |",
            f"| page 50 (rows 4,901-5,000) p95 (ms) | {result['deep_page_p95_ms']} | |",
            f"| change -> open board p50 / p95 / p99 / max (ms), {args.boards} boards x "
            f"{args.changes} changes at {args.rate:g}/s | {result['change_p50_ms']} / "
            f"{result['change_p95_ms']} / {result['change_p99_ms']} / {result['change_max_ms']}"
            " | p99 < 1,000 |",
            f"| changes that never arrived | {missing} | 0 |",
            f"| CPU while live: API / PostgreSQL (s over {result['live_wall_s']} s) | "
            f"{result['live_api_cpu_s']} / {result['live_postgres_cpu_s']} | |",
        ]
    )
    report("board", "Coordinator's board with 10,000 open cases", result, table)


def _up(base: str) -> bool:
    try:
        return httpx.get(f"{base}/console/signin", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
