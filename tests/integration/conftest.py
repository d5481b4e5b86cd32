"""One real stack per integration run: Kafka, PostgreSQL, the Twilio stand-in, the API, the
worker and the deadline engine. The unit tests (tests/unit) need none of them.

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
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import psycopg
import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from tests.stack import (
    FEED_TOKEN,
    ROOT,
    RUN,
    TEST_DATA_KEYS,
    TEST_LOOKUP_KEY,
    TOKEN,
    TWILIO_SID,
    TWILIO_TOKEN,
    Stack,
    start_stack,
    stop_stack,
)

LOGS = RUN / "log" / "tests"

_containers: list[object] = []
_databases: list[tuple[str, str]] = []


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
        pytest.exit(f"DATABASE_URL must name a test database: {db}", returncode=3)
    run_id = f"t{uuid.uuid4().hex[:8]}"
    os.environ.update(
        KAFKA_BOOTSTRAP_SERVERS=kafka,
        DATABASE_URL=_run_database(db, run_id),
        SVRR_TOPIC_PREFIX=f"{run_id}.",
        API_TOKENS=TOKEN,
        ADMIN_TOKENS="test-admin-token",
        FEED_TOKENS=FEED_TOKEN,
        TWILIO_ACCOUNT_SID=TWILIO_SID,
        TWILIO_AUTH_TOKEN=TWILIO_TOKEN,
        TWILIO_AUTH_TOKEN_SECONDARY="test-auth-token-next",
        SENDING_STALE_SECONDS="3",
        LOG_LEVEL="warning",
        # The test process never reaches the real Twilio: until the `stack` fixture points
        # it at the stand-in, a send is refused locally (port 9, discard), a transient error.
        TWILIO_API_BASE="http://127.0.0.1:9",
    )
    # Data-at-rest keys: deploy/env.sh's when make test runs, fixed ones for a bare pytest.
    if not (os.environ.get("DATA_KEYS") or os.environ.get("DATA_KEYS_FILE")):
        os.environ["DATA_KEYS"] = TEST_DATA_KEYS
    if not (os.environ.get("LOOKUP_KEY") or os.environ.get("LOOKUP_KEY_FILE")):
        os.environ["LOOKUP_KEY"] = TEST_LOOKUP_KEY
    # In a run of both trees this conftest may load after tests/unit was collected: settings
    # read before this point must not outlive it.
    from services.config import get_settings
    from services.sealing import default_keyring

    get_settings.cache_clear()
    default_keyring.cache_clear()


def _admin_conn(url: str) -> psycopg.Connection:
    return psycopg.connect(url.replace("+psycopg", ""), autocommit=True)


def _run_database(url: str, run_id: str) -> str:
    """A database of this run's own, next to the test database: concurrent runs never meet."""
    base, name = url.rsplit("/", 1)
    run_db = f"{name}_{run_id}"
    try:
        with _admin_conn(url) as conn:
            conn.execute(f'CREATE DATABASE "{run_db}"')
    except psycopg.Error as exc:
        pytest.exit(f"PostgreSQL at {url} did not answer ({exc}); run `bash deploy/up.sh`", 3)
    _databases.append((url, run_db))
    return f"{base}/{run_db}"


def pytest_unconfigure(config: pytest.Config) -> None:
    for url, run_db in _databases:
        for attempt in range(10):
            try:
                with _admin_conn(url) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{run_db}" WITH (FORCE)')
                break
            except psycopg.errors.InsufficientPrivilege:
                # An autovacuum worker (a superuser process) is still in it: give it a moment.
                time.sleep(0.5 * (attempt + 1))
        else:
            print(f"\nwarning: could not drop test database {run_db}; drop it by hand")
    for c in _containers:
        c.stop()  # type: ignore[attr-defined]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that stop the broker run last, so nothing else sees the outage (the fault
    suite among them: its bursts also leave every peer at their case limit)."""
    items.sort(key=lambda item: item.get_closest_marker("disruptive") is not None)


@pytest.fixture(scope="session")
def db() -> Iterator[Engine]:
    """This run's database, migrated to head and seeded with the demo hospital once."""
    url = os.environ["DATABASE_URL"]
    engine = create_engine(url)
    from services.cli import migrate

    migrate(url)
    seeded = subprocess.run(
        [sys.executable, "-m", "services.cli", "seed"], capture_output=True, text=True
    )
    assert seeded.returncode == 0, f"svrr seed failed:\n{seeded.stdout}\n{seeded.stderr}"
    # The in-process API has no lifespan: the environment's tokens are adopted here.
    boot = subprocess.run(
        [sys.executable, "-m", "services.cli", "bootstrap"], capture_output=True, text=True
    )
    assert boot.returncode == 0, f"svrr bootstrap failed:\n{boot.stdout}\n{boot.stderr}"
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
    from kafka.admin import KafkaAdminClient

    from schemas.topics import topics as catalogue

    names = [t.name for t in catalogue()]
    admin = KafkaAdminClient(bootstrap_servers=os.environ["KAFKA_BOOTSTRAP_SERVERS"])
    # Created is not yet visible: the broker learns of a new topic from the controller a
    # moment later, and a test that describes one at once found nothing there.
    deadline = time.monotonic() + 30
    try:
        while missing := set(names) - set(admin.list_topics()):
            if time.monotonic() > deadline:
                pytest.exit(f"topics created but not visible after 30 s: {sorted(missing)}", 3)
            time.sleep(0.1)
    finally:
        admin.close()
    yield names
    # A client of its own: the disruptive tests restart the broker in between.
    admin = KafkaAdminClient(bootstrap_servers=os.environ["KAFKA_BOOTSTRAP_SERVERS"])
    admin.delete_topics(names)
    admin.close()


@pytest.fixture(scope="session")
def stack(db: Engine, topics: list[str]) -> Iterator[Stack]:
    s = start_stack(dict(os.environ), LOGS)
    # In-process code under test (the pager, the sender) talks to the same stand-in and API.
    os.environ.update(TWILIO_API_BASE=s.standin_url, PUBLIC_BASE_URL=s.api_url)
    from services.config import get_settings

    get_settings.cache_clear()
    from services.paging import sending

    # A sender made before this point holds the old address; the next send makes a new one.
    sending._sender = None
    yield s
    stop_stack(s)


@pytest.fixture
async def client(db: Engine) -> AsyncIterator[httpx.AsyncClient]:
    """The API in-process (no relay, no lifespan), on this run's database."""
    from services.api import app

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
        yield c
