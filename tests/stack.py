"""The local stack's processes: the Twilio stand-in, the API, the worker and the engine.

Shared by the test suite and the benchmarks so both measure and test the same thing: real
processes, started the way deploy/demo.sh starts them, against a given broker and database.
A benchmark's "before" figure runs the API, worker and engine of another checkout (`root`)
beside this checkout's stand-in, so both figures are taken with the same instrument.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import re
import secrets
import signal
import socket
import string
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx

ROOT = Path(__file__).resolve().parents[1]
RUN = Path(os.environ.get("SVRR_RUN", ROOT / ".run"))
TOKEN = "test-token"
# The hospital feeds' integration token (role feed): the feed routes only.
FEED_TOKEN = "test-feed-token"
TWILIO_SID = "AC" + "ab" * 16
TWILIO_TOKEN = "test-auth-token"
# Data-at-rest keys for a bare pytest (make test uses deploy/env.sh's): two data keys, as
# a deployment holds them in the middle of a rotation.
TEST_DATA_KEYS = (
    "t2:dGVzdC1kYXRhLWtleS10d28tLS0tLS0tLS0tLS0tLS0=,"
    "t1:dGVzdC1kYXRhLWtleS1vbmUtLS0tLS0tLS0tLS0tLS0="
)
TEST_LOOKUP_KEY = "dGVzdC1sb29rdXAta2V5LS0tLS0tLS0tLS0tLS0tLS0="
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(probe: Callable[[], T | None], timeout: float, what: str, every: float = 0.05) -> T:
    """Poll `probe` until it returns something truthy; for sync callers (an async test uses
    `eventually`, which does not hold up its event loop)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = probe()
        if got:
            return got
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


async def eventually(
    probe: Callable[[], T | None | Awaitable[T | None]],
    timeout: float,
    what: str,
    every: float = 0.05,
) -> T:
    """`wait_for` for async tests: between probes the event loop runs, so what the test
    started in-process (a sender, a relay, an ASGI request) keeps going while it waits.
    `probe` may be a plain function or a coroutine function."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = probe()
        if inspect.isawaitable(got):
            got = await got
        if got:
            return got
        await asyncio.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@dataclass
class Proc:
    name: str
    argv: list[str]
    env: dict[str, str]
    logs: Path
    cwd: Path = ROOT
    # What the process logs once it serves, for start_ready ("" if checked some other way).
    ready: str = ""
    log: Path = field(init=False)
    popen: subprocess.Popen[bytes] | None = None
    # Where this run's output begins: a restart appends to the log, and the earlier run's
    # `ready` line must not count for this one.
    since: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.log = self.logs / f"{self.name}.log"

    def start(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        again = self.popen is not None
        self.since = self.log.stat().st_size if again and self.log.exists() else 0
        fh = self.log.open("ab" if again else "wb")
        self.popen = subprocess.Popen(
            self.argv, cwd=self.cwd, env=self.env, stdout=fh, stderr=subprocess.STDOUT
        )

    def start_ready(self, timeout: float) -> None:
        """Start, and return once this run logged `ready`; fail if it died first."""
        self.start()
        wait_for(self._ready_or_dead, timeout, f"{self.name} ready")
        assert self.alive(), f"{self.name} died:\n{self.tail()}"

    async def start_ready_async(self, timeout: float) -> None:
        """start_ready for async tests: the wait does not hold up their event loop."""
        self.start()
        await eventually(self._ready_or_dead, timeout, f"{self.name} ready")
        assert self.alive(), f"{self.name} died:\n{self.tail()}"

    def _ready_or_dead(self) -> bool:
        assert self.ready, f"{self.name}: no ready line to wait for"
        with self.log.open("rb") as fh:
            fh.seek(self.since)
            this_run = fh.read().decode(errors="replace")
        return self.ready in this_run or not self.alive()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.popen and self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


@dataclass
class Stack:
    api_url: str
    standin_url: str
    api: Proc
    standin: Proc
    worker: Proc
    # None when the stack runs a checkout from before `svrr engine` (its worker fires).
    engine: Proc | None

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.api_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
        )

    def start_worker(self) -> None:
        self.worker.start_ready(60)


def start_stack(env: dict[str, str], logs: Path, root: Path = ROOT) -> Stack:
    """Start stand-in, API, worker and deadline engine on free ports; return once each
    answers.

    `root` is the checkout whose API, worker and engine run (this one unless a benchmark
    measures another): started from its folder with it first on the import path, the worker
    as its deploy/demo.sh starts it (with uvloop or not) and the engine only if it has one."""
    api_port, standin_port = free_port(), free_port()
    api_url, standin_url = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{standin_port}"
    env = dict(
        env,
        API_TOKENS=TOKEN,
        TWILIO_ACCOUNT_SID=TWILIO_SID,
        TWILIO_AUTH_TOKEN=TWILIO_TOKEN,
        TWILIO_API_BASE=standin_url,
        PUBLIC_BASE_URL=api_url,
        STANDIN_SMS_URL=f"{api_url}/twilio/sms",
        PYTHONUNBUFFERED="1",
    )
    env.setdefault("WORKER_ID", f"svrr-{env.get('SVRR_TOPIC_PREFIX', '').strip('.') or 'dev'}")
    bin_dir = Path(sys.executable).parent
    # The root first on the import path: its packages, not this checkout's, are the ones run.
    ours = dict(env, PYTHONPATH=os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")])))
    demo = root / "deploy" / "demo.sh"
    loop = ["-L", "uvloop"] if demo.exists() and "-L uvloop" in demo.read_text() else []
    standin = Proc(
        "standin",
        [
            sys.executable,
            "deploy/twilio_standin.py",
            "--port",
            str(standin_port),
            "--account-sid",
            TWILIO_SID,
            "--auth-token",
            TWILIO_TOKEN,
        ],
        env,
        logs,
    )
    api = Proc(
        "api",
        [
            str(bin_dir / "uvicorn"),
            "services.api:app",
            "--port",
            str(api_port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        ours,
        logs,
        root,
    )
    worker = Proc(
        "worker",
        [str(bin_dir / "faust"), *loop, "-A", "events.app", "worker", "-l", "info"]
        + ["--without-web"],
        ours,
        logs,
        root,
        ready="Ready",
    )
    engine = None
    if (root / "services" / "cases" / "engine.py").exists():
        engine = Proc(
            "engine",
            [str(bin_dir / "svrr"), "engine"],
            ours,
            logs,
            root,
            ready="svrr engine: ready",
        )
    s = Stack(api_url, standin_url, api, standin, worker, engine)
    try:
        for p in (standin, api):
            p.start()
        with s.client() as c:
            wait_for(lambda: _ok(c, "/healthz"), 30, "api up")
        wait_for(lambda: _ok(httpx.Client(), f"{standin_url}/_standin/health"), 30, "stand-in up")
        worker.start_ready(60)
        if engine is not None:
            engine.start_ready(30)
    except BaseException:
        stop_stack(s)  # nothing left running when the stack could not come up
        raise
    return s


def start_extra_worker(s: Stack, index: int) -> Proc:
    """One more worker in the stack's consumer group (the same WORKER_ID), with a Faust data
    folder and web port of its own so several can run on one machine; stop it yourself."""
    env = dict(
        s.worker.env,
        FAUST_DATADIR=str(RUN / "faust" / f"{s.worker.env['WORKER_ID']}-{index}"),
        WORKER_WEB_PORT=str(free_port()),
    )
    worker = Proc(f"worker{index}", list(s.worker.argv), env, s.worker.logs, s.worker.cwd)
    worker.start()
    wait_for(lambda: "Ready" in worker.tail() or not worker.alive(), 60, f"worker{index} ready")
    if not worker.alive():
        raise RuntimeError(f"worker{index} died:\n{worker.tail()}")
    return worker


MLLP_READY = "svrr feed mllp: ready"


def start_mllp(s: Stack, feed: str = "adt", *args: str, name: str = "mllp") -> tuple[Proc, int]:
    """The HL7 v2 feed's MLLP service (`svrr feed mllp`) beside the stack, on the worker's
    environment (database, broker, topic prefix) and a free port; stop it yourself."""
    port = free_port()
    argv = [sys.executable, "-m", "services.cli", "feed", "mllp", "--feed", feed]
    proc = Proc(
        name,
        [*argv, "--port", str(port), *args],
        dict(s.worker.env),
        s.worker.logs,
        s.worker.cwd,
        ready=MLLP_READY,
    )
    proc.start_ready(30)
    return proc, port


def stop_stack(s: Stack) -> None:
    for p in (s.engine, s.worker, s.api, s.standin):
        if p is not None:
            p.stop()


def _ok(client: httpx.Client, url: str) -> bool:
    try:
        return client.get(url).status_code == 200
    except httpx.HTTPError:
        return False


def leaked(text: str, details: Iterable[str]) -> list[str]:
    """The details (a unit, an event, a name) found in `text` as words of their own, any case.

    Why words: a page or an SMS also carries random identifiers (a case reference
    "C-FF0E4E", a CSRF token), and a detail such as unit "4E" found inside one of them by
    chance is not a leak (the class behind two flaky tests)."""
    return [
        d
        for d in details
        if re.search(rf"(?<![0-9A-Za-z]){re.escape(d)}(?![0-9A-Za-z])", text, re.I)
    ]


def letter_tag(n: int = 8) -> str:
    """A fresh tag of lower-case letters for a test's own unit and staff codes. Never hex: a
    run of six digits in a code reads as a medical record number, and the incident made
    from it is refused (services.incidents.service.PHI_PATTERNS); a uuid's hex held one in
    about a tenth of the tests that drew it."""
    return "".join(secrets.choice(string.ascii_lowercase) for _ in range(n))
