"""The local stack's processes: the Twilio stand-in, the API and the worker.

Shared by the test suite and the benchmarks so both measure and test the same thing: real
processes, started the way deploy/demo.sh starts them, against a given broker and database.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx

ROOT = Path(__file__).resolve().parents[1]
RUN = Path(os.environ.get("SVRR_RUN", ROOT / ".run"))
TOKEN = "test-token"
TWILIO_SID = "AC" + "ab" * 16
TWILIO_TOKEN = "test-auth-token"
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(probe: Callable[[], T | None], timeout: float, what: str, every: float = 0.05) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = probe()
        if got:
            return got
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@dataclass
class Proc:
    name: str
    argv: list[str]
    env: dict[str, str]
    logs: Path
    log: Path = field(init=False)
    popen: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.log = self.logs / f"{self.name}.log"

    def start(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        fh = self.log.open("ab" if self.popen else "wb")
        self.popen = subprocess.Popen(
            self.argv, cwd=ROOT, env=self.env, stdout=fh, stderr=subprocess.STDOUT
        )

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
    engine: Proc

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.api_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
        )

    def start_worker(self) -> None:
        self.worker.start()
        wait_for(
            lambda: "Ready" in self.worker.tail() or not self.worker.alive(), 60, "worker ready"
        )
        assert self.worker.alive(), f"worker died:\n{self.worker.tail()}"


def start_stack(env: dict[str, str], logs: Path) -> Stack:
    """Start stand-in, API, worker and deadline engine on free ports; return once each
    answers."""
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
        env,
        logs,
    )
    worker = Proc(
        "worker",
        [
            str(bin_dir / "faust"),
            "-L",
            "uvloop",
            "-A",
            "events.app",
            "worker",
            "-l",
            "info",
            "--without-web",
        ],
        env,
        logs,
    )
    engine = Proc("engine", [str(bin_dir / "svrr"), "engine"], env, logs)
    s = Stack(api_url, standin_url, api, standin, worker, engine)
    try:
        for p in (standin, api):
            p.start()
        with s.client() as c:
            wait_for(lambda: _ok(c, "/healthz"), 30, "api up")
        wait_for(lambda: _ok(httpx.Client(), f"{standin_url}/_standin/health"), 30, "stand-in up")
        s.start_worker()
        engine.start()
        wait_for(
            lambda: "svrr engine: ready" in engine.tail() or not engine.alive(), 30, "engine up"
        )
        assert engine.alive(), f"engine died:\n{engine.tail()}"
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
    worker = Proc(f"worker{index}", list(s.worker.argv), env, s.worker.logs)
    worker.start()
    wait_for(lambda: "Ready" in worker.tail() or not worker.alive(), 60, f"worker{index} ready")
    if not worker.alive():
        raise RuntimeError(f"worker{index} died:\n{worker.tail()}")
    return worker


def stop_stack(s: Stack) -> None:
    for p in (s.engine, s.worker, s.api, s.standin):
        p.stop()


def _ok(client: httpx.Client, url: str) -> bool:
    try:
        return client.get(url).status_code == 200
    except httpx.HTTPError:
        return False
