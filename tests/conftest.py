"""One real stack per test run: Kafka, PostgreSQL, the Twilio stand-in, the API and the worker.

Where the broker and database come from, in order:
1. KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL from the environment (`make test` starts them
   with deploy/up.sh and exports both);
2. testcontainers, when a Docker engine answers;
3. otherwise the run stops at once, naming the script to run. Nothing is ever skipped.

Isolation: the database must be a test database (its name contains "test"); it is reset and
migrated once per run. Topics get a per-run prefix, so a demo on the same broker is untouched.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

ROOT = Path(__file__).resolve().parents[1]
RUN = Path(os.environ.get("SVRR_RUN", ROOT / ".run"))
LOGS = RUN / "log" / "tests"
TOKEN = "test-token"
TWILIO_SID = "AC" + "ab" * 16
TWILIO_TOKEN = "test-auth-token"
T = TypeVar("T")

_containers: list[object] = []


def _docker_answers() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _from_testcontainers() -> tuple[str, str]:
    from testcontainers.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer

    pg = PostgresContainer("postgres:16", dbname="svrr_test", driver="psycopg").start()
    kafka = KafkaContainer("confluentinc/cp-kafka:7.6.0").start()
    _containers.extend([pg, kafka])
    os.environ.setdefault("KAFKA_STOP_CMD", f"docker pause {kafka.get_wrapped_container().id}")
    os.environ.setdefault("KAFKA_START_CMD", f"docker unpause {kafka.get_wrapped_container().id}")
    return kafka.get_bootstrap_server(), pg.get_connection_url()


def pytest_configure(config: pytest.Config) -> None:
    kafka, db = os.environ.get("KAFKA_BOOTSTRAP_SERVERS"), os.environ.get("DATABASE_URL")
    if not (kafka and db):
        if not _docker_answers():
            pytest.exit(
                "No Kafka and PostgreSQL for the tests: run `make test` (it starts both), or "
                "`bash deploy/up.sh` and export KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL "
                "(a test database, e.g. .../svrr_test). No Docker engine answers for "
                "testcontainers either.",
                returncode=3,
            )
        kafka, db = _from_testcontainers()
    if "test" not in db.rsplit("/", 1)[-1]:
        pytest.exit(f"DATABASE_URL must name a test database (it is reset): {db}", returncode=3)
    os.environ.update(
        KAFKA_BOOTSTRAP_SERVERS=kafka,
        DATABASE_URL=db,
        SVRR_TOPIC_PREFIX=f"t{uuid.uuid4().hex[:8]}.",
        API_TOKENS=TOKEN,
        TWILIO_ACCOUNT_SID=TWILIO_SID,
        TWILIO_AUTH_TOKEN=TWILIO_TOKEN,
        TWILIO_AUTH_TOKEN_SECONDARY="test-auth-token-next",
        SENDING_STALE_SECONDS="3",
        LOG_LEVEL="warning",
    )


def pytest_unconfigure(config: pytest.Config) -> None:
    for c in _containers:
        c.stop()  # type: ignore[attr-defined]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that stop the broker run last, so nothing else sees the outage."""
    items.sort(key=lambda item: item.get_closest_marker("disruptive") is not None)


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


@pytest.fixture(scope="session")
def db() -> Iterator[Engine]:
    """The test database, emptied and migrated to head once per run."""
    url = os.environ["DATABASE_URL"]
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    except Exception as exc:
        pytest.exit(f"PostgreSQL at {url} did not answer ({exc}); run `bash deploy/up.sh`", 3)
    from services.cli import migrate

    migrate(url)
    subprocess.run(
        [sys.executable, "-m", "services.cli", "seed-staff"], check=True, capture_output=True
    )
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def topics() -> Iterator[list[str]]:
    out = subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "topics.py")], capture_output=True, text=True
    )
    if out.returncode != 0:
        pytest.exit(
            f"Kafka at {os.environ['KAFKA_BOOTSTRAP_SERVERS']} did not answer; run "
            f"`bash deploy/up.sh`.\n{out.stderr[-2000:]}",
            3,
        )
    from schemas.topics import topics as catalogue

    names = [t.name for t in catalogue()]
    yield names
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=os.environ["KAFKA_BOOTSTRAP_SERVERS"])
    admin.delete_topics(names)
    admin.close()


@dataclass
class Proc:
    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path = field(init=False)
    popen: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.log = LOGS / f"{self.name}.log"

    def start(self) -> None:
        LOGS.mkdir(parents=True, exist_ok=True)
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


@pytest.fixture(scope="session")
def stack(db: Engine, topics: list[str]) -> Iterator[Stack]:
    api_port, standin_port, web_port = free_port(), free_port(), free_port()
    api_url, standin_url = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{standin_port}"
    env = dict(
        os.environ,
        TWILIO_API_BASE=standin_url,
        PUBLIC_BASE_URL=api_url,
        WORKER_ID=f"svrr-test-{os.environ['SVRR_TOPIC_PREFIX'].strip('.')}",
        WORKER_WEB_PORT=str(web_port),
        STANDIN_SMS_URL=f"{api_url}/twilio/sms",
        PYTHONUNBUFFERED="1",
    )
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
        ],
        env,
    )
    worker = Proc(
        "worker",
        [str(bin_dir / "faust"), "-A", "events.app", "worker", "-l", "info", "--without-web"],
        env,
    )
    s = Stack(api_url, standin_url, api, standin, worker)
    for p in (standin, api):
        p.start()
    with s.client() as c:
        wait_for(lambda: _ok(c, "/healthz"), 30, "api up")
    wait_for(lambda: _ok(httpx.Client(), f"{standin_url}/_standin/health"), 30, "stand-in up")
    s.start_worker()
    # In-process code under test (the pager, the sender) talks to the same stand-in and API.
    os.environ.update(TWILIO_API_BASE=standin_url, PUBLIC_BASE_URL=api_url)
    from services.config import get_settings

    get_settings.cache_clear()
    yield s
    for p in (worker, api, standin):
        p.stop()


def _ok(client: httpx.Client, url: str) -> bool:
    try:
        return client.get(url).status_code == 200
    except httpx.HTTPError:
        return False
