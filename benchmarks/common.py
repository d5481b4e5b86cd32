"""What the benchmarks share: their own database, percentiles, results, an on-call roster,
the stand-in's log of what it was sent, and the processes' memory and CPU from /proc."""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import psycopg
from psycopg import sql

from schemas.events import IncidentReported
from services.config import Settings
from services.sealing import Keyring
from tests.stack import TEST_DATA_KEYS, TEST_LOOKUP_KEY

RESULTS = Path(__file__).parent / "results"
ROOT = Path(__file__).resolve().parents[1]

# Data-at-rest keys (services/sealing.py): `make bench` runs with this machine's own
# (deploy/env.sh); a bare `python -m benchmarks.<name>` gets the tests' fixed ones, as a bare
# pytest does (the data is synthetic). Set before any settings are read, and passed on to
# every process a benchmark starts (their environment is os.environ's).
if not (os.environ.get("DATA_KEYS") or os.environ.get("DATA_KEYS_FILE")):
    os.environ["DATA_KEYS"] = TEST_DATA_KEYS
if not (os.environ.get("LOOKUP_KEY") or os.environ.get("LOOKUP_KEY_FILE")):
    os.environ["LOOKUP_KEY"] = TEST_LOOKUP_KEY


def keyring() -> Keyring:
    """The keys the benchmark's processes run with: rows a benchmark writes itself (COPY,
    set-based SQL) hold numbers and texts sealed, and numbers' lookup values, as ours do.
    Read from the environment each time, never through get_settings(): its cache would keep
    the DATABASE_URL of the moment, and a benchmark points it at its own database later."""
    return Keyring.from_settings(Settings())


def staff_number_columns(number: str, keys: Keyring) -> tuple[str, str]:
    """(mobile_e164, mobile_key) of a staff row, as the store keeps them."""
    return keys.seal(number, "staff.mobile_e164"), keys.lookup(number)


def bench_db_url(name: str = "svrr_bench") -> str:
    """The benchmark's own database next to DATABASE_URL's: each benchmark names its own
    (svrr_bench_burst, ...) so two of them never drop each other's data mid-run."""
    base = os.environ.get("DATABASE_URL", "postgresql+psycopg://svrr:svrr@127.0.0.1:5433/svrr")
    return base.rsplit("/", 1)[0] + "/" + name


def recreate_db(url: str) -> None:
    """Drop and create the database the URL names, connected through the `svrr` database."""
    base, name = url.replace("+psycopg", "").rsplit("/", 1)
    with psycopg.connect(base + "/svrr", autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def analyze(url: str) -> None:
    """Table statistics, as a hospital's long-running database has them. A benchmark's
    database is minutes old: whether autovacuum had analyzed the bulk-loaded roster before
    the run began was chance, and without statistics the planner chose plans that cost
    PostgreSQL several times the CPU (the same burst at 74 and at 144 pages/s)."""
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute("ANALYZE")


def add_rotations(url: str, peer_ids: list[str], rotations: int) -> None:
    """Put the peers into `rotations` parallel daily rotations: that many are on call at once."""
    with psycopg.connect(url.replace("+psycopg", "")) as conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO schedules (id, name, time_zone) VALUES "
            "(gen_random_uuid(), 'Bench on call', 'America/New_York') RETURNING id"
        )
        (schedule_id,) = cur.fetchone()  # type: ignore[misc]
        per = max(1, len(peer_ids) // rotations)
        for r in range(rotations):
            cur.execute(
                "INSERT INTO rotations (id, schedule_id, name, kind, shift_hours, start_local) "
                "VALUES (gen_random_uuid(), %s, %s, 'daily', 24, '2026-01-05 07:00') "
                "RETURNING id",
                (schedule_id, f"R{r:02d}"),
            )
            (rotation_id,) = cur.fetchone()  # type: ignore[misc]
            for pos, staff_id in enumerate(peer_ids[r * per : (r + 1) * per]):
                cur.execute(
                    "INSERT INTO rotation_participants (rotation_id, position, staff_id) "
                    "VALUES (%s, %s, %s)",
                    (rotation_id, pos, staff_id),
                )
        conn.commit()


def report(name: str, title: str, result: dict[str, object], table: str) -> None:
    """Print the table, keep the run as JSON and the newest table as `<name>-latest.md`."""
    header = f"{title}\n\n{result['date']} on {result['machine']}"
    print(f"{header}\n\n{table}")
    RESULTS.mkdir(exist_ok=True)
    stamp = str(result["date"]).replace(":", "")[:15]
    (RESULTS / f"{name}-{stamp}.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / f"{name}-latest.md").write_text(f"{header}\n\n{table}\n")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def machine() -> str:
    return f"{platform.node()} {platform.machine()} {os.cpu_count()} cores"


# --- a hospital and a stack of its own ------------------------------------------------------

UNITS = [f"U{i:02d}" for i in range(20)]
DISCIPLINES = ["RN", "RN", "RN", "physician", "resident", "respiratory_therapist", "pharmacist"]


@dataclass(frozen=True)
class Roster:
    """Who is in the synthetic hospital: S00000.. are the peers, the rest clinicians."""

    staff: int
    peers: int
    on_call: int
    max_open_cases: int

    @staticmethod
    def add_arguments(
        parser: argparse.ArgumentParser, staff: int = 7000, peers: int = 2000, on_call: int = 1000
    ) -> None:
        """The hospital's size on a benchmark's command line (Roster.of reads it back)."""
        parser.add_argument("--staff", type=int, default=staff)
        parser.add_argument("--peers", type=int, default=peers)
        parser.add_argument(
            "--on-call", type=int, default=on_call, help="peers on call (rotations)"
        )
        parser.add_argument("--max-open-cases", type=int, default=10)

    @classmethod
    def of(cls, args: argparse.Namespace) -> Roster:
        return cls(args.staff, args.peers, args.on_call, args.max_open_cases)

    @property
    def peer_ids(self) -> list[str]:
        return [f"S{i:05d}" for i in range(self.peers)]

    @property
    def clinicians(self) -> list[str]:
        return [f"S{i:05d}" for i in range(self.peers, self.staff)]


def build_roster(url: str, roster: Roster) -> None:
    """Bulk-load the hospital with COPY (seconds even for 10,000 staff): every peer trained
    and active with `max_open_cases`, `on_call` of them on call now (one per rotation)."""
    rng = random.Random(3)
    with psycopg.connect(url.replace("+psycopg", "")) as conn, conn.cursor() as cur:
        for u in UNITS:
            cur.execute(
                "INSERT INTO units (code, name, site, time_zone, active) "
                "VALUES (%s, %s, 'main', 'America/New_York', true)",
                (u, u),
            )
        keys = keyring()
        with cur.copy(
            "COPY staff (staff_id, display_name, discipline, role, home_unit, mobile_e164, "
            "mobile_key, language, opted_out, active) FROM STDIN"
        ) as copy:
            for i in range(roster.staff):
                copy.write_row(
                    (
                        f"S{i:05d}",
                        f"Staff {i}",
                        rng.choice(DISCIPLINES),
                        "",
                        rng.choice(UNITS),
                        *staff_number_columns(f"+1555{4000000 + i:07d}", keys),
                        "en",
                        False,
                        True,
                    )
                )
        with cur.copy(
            "COPY peer_supporters (staff_id, trained_on, trained_until, supports, languages, "
            "max_open_cases, active) FROM STDIN"
        ) as copy:
            for sid in roster.peer_ids:
                copy.write_row(
                    (
                        sid,
                        date(2025, 1, 1),
                        date(2030, 1, 1),
                        [],
                        ["en"],
                        roster.max_open_cases,
                        True,
                    )
                )
        conn.commit()
    add_rotations(url, roster.peer_ids, roster.on_call)


def prepare(name: str, roster: Roster | None, root: Path = ROOT) -> tuple[str, dict[str, str]]:
    """A fresh database `svrr_bench_<name>` with the roster (if given), and topics under a
    prefix of this run's own; returns the database URL and the environment the stack is
    started with. The schema and the topics are `root`'s, the checkout whose processes run.

    SVRR_BENCH_SUFFIX, when set, is appended to the name: two checkouts benchmarking at once
    (a "before" beside an "after") then never drop each other's database."""
    url = bench_db_url(f"svrr_bench_{name}{os.environ.get('SVRR_BENCH_SUFFIX', '')}")
    recreate_db(url)
    prefix = f"b{uuid.uuid4().hex[:8]}."
    env = dict(
        os.environ,
        DATABASE_URL=url,
        SVRR_TOPIC_PREFIX=prefix,
        WORKER_ID=f"svrr-{prefix.strip('.')}",  # the consumer group, as tests/stack.py names it
        LOG_LEVEL="warning",
        # A load test offers one token thousands of incidents a second (scaleout: 2,000 as
        # fast as 32 connections go; api_requests: 2,000 in-process), far past the intake
        # limit a hospital runs with (services/limits.py). The limit stays on, so its cost
        # is in the CPU figures, but is set where no benchmark reaches it.
        INTAKE_PER_SECOND="1000000",
        INTAKE_BURST="1000000",
    )
    py = sys.executable
    at_root = dict(
        env, PYTHONPATH=os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    )
    subprocess.run(
        [py, "-m", "services.cli", "migrate"],
        env=at_root,
        check=True,
        cwd=root,
        stdout=subprocess.DEVNULL,
    )
    if roster is not None:
        build_roster(url, roster)
    subprocess.run(
        [py, "deploy/topics.py"], env=at_root, check=True, cwd=root, stdout=subprocess.DEVNULL
    )
    return url, env


def drop_kafka_state(env: dict[str, str]) -> None:
    """Delete the run's topics and its consumer group once its processes are stopped: a
    2-core broker slows down under hundreds of idle partitions left by earlier runs."""
    from kafka.admin import KafkaAdminClient

    prefix = env["SVRR_TOPIC_PREFIX"]
    admin = KafkaAdminClient(
        bootstrap_servers=env.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
        client_id="svrr-bench",
    )
    try:
        names = [t for t in admin.list_topics() if t.startswith(prefix)]
        if names:
            admin.delete_topics(names)
        if any(g["group_id"] == env["WORKER_ID"] for g in admin.list_groups()):
            admin.delete_groups([env["WORKER_ID"]])
    finally:
        admin.close()


def consumer_group(env: dict[str, str]) -> tuple[str, int]:
    """(state, members) of the workers' consumer group: "Stable" with every worker in it
    means the partitions are shared out and no rebalance is under way."""
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(
        bootstrap_servers=env.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
        client_id="svrr-bench",
    )
    try:
        group = admin.describe_groups([env["WORKER_ID"]])[env["WORKER_ID"]]
    finally:
        admin.close()
    return str(group["group_state"]), len(group["members"])


def topic_partitions(env: dict[str, str]) -> dict[str, int]:
    """Partitions of each of the run's topics as the broker has them: the bound on how many
    workers of one consumer group can share the work (schemas/topics.py PARTITIONS asks)."""
    from kafka.admin import KafkaAdminClient

    prefix = env["SVRR_TOPIC_PREFIX"]
    admin = KafkaAdminClient(
        bootstrap_servers=env.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
        client_id="svrr-bench",
    )
    try:
        names = sorted(t for t in admin.list_topics() if t.startswith(prefix))
        described = admin.describe_topics(names)
    finally:
        admin.close()
    # kafka-python names the topic "name" (3.x) or "topic" (2.x).
    return {
        str(t.get("name") or t.get("topic"))[len(prefix) :]: len(t["partitions"]) for t in described
    }


def incident(staff: list[str], unit: str = "U00") -> dict[str, object]:
    return {
        "occurred_at": datetime.now(UTC).isoformat(),
        "unit": unit,
        "event_type": "serious_safety_event",
        "harm_level": "moderate",
        "staff_ids": staff,
    }


async def stored_incidents(clinicians: Iterator[str], n: int) -> list[IncidentReported]:
    """`n` one-clinician incidents stored as the API stores them (the next clinicians from
    `clinicians`), as the events the worker's agent would read: what the in-process
    benchmarks hand to it. Imported here, not at the top: the benchmark's DATABASE_URL is
    set first."""
    from services.db import transaction
    from services.incidents.service import IncidentIn, report

    out: list[IncidentReported] = []
    async with transaction() as session:
        for _ in range(n):
            inc = IncidentIn.model_validate(incident([next(clinicians)], unit="U01"))
            acc = await report(session, inc, reported_by="token:bench")
            out.append(inc.reported(acc.incident_id))
    return out


# --- what reached the stand-in ---------------------------------------------------------------


@dataclass
class StandinLog:
    """The stand-in's outbound messages, fetched incrementally by id (as escalation.py's
    Arrivals): for each page every arrival, and for each number every SMS's arrival."""

    standin: str
    last_id: int = 0
    total: int = 0
    sms: int = 0  # messages that carried at least one page
    per_page: dict[str, list[float]] = field(default_factory=dict)
    per_number: dict[str, list[float]] = field(default_factory=dict)

    def poll(self, client: httpx.Client) -> int:
        """Fetch what arrived since the last poll; the number of new messages."""
        msgs = client.get(
            f"{self.standin}/_standin/messages", params={"since_id": self.last_id}, timeout=60
        ).json()
        for m in msgs:
            self.last_id = max(self.last_id, int(m["id"]))
            self.total += 1
            # A lone page's callback names it (?page=id); a bundle names all (?pages=a,b).
            query = parse_qs(urlsplit(m.get("status_callback") or "").query)
            ids = query.get("page", []) + [
                p for v in query.get("pages", []) for p in v.split(",") if p
            ]
            at = datetime.fromisoformat(m["received_at"]).timestamp()
            if ids:
                self.sms += 1
                self.per_number.setdefault(m["to"], []).append(at)
            for page_id in ids:
                self.per_page.setdefault(page_id, []).append(at)
        return len(msgs)

    def first(self, page_id: str) -> float | None:
        got = self.per_page.get(page_id)
        return min(got) if got else None

    def duplicate_sms(self) -> int:
        """Pages that reached the stand-in more than once."""
        return sum(len(v) - 1 for v in self.per_page.values() if len(v) > 1)

    def max_sms_per_minute(self) -> int:
        """The most page SMS any one number got within 60 s (the domain's limit is 6)."""
        worst = 0
        for times in self.per_number.values():
            times = sorted(times)
            lo = 0
            for hi, t in enumerate(times):
                while t - times[lo] >= 60.0:
                    lo += 1
                worst = max(worst, hi - lo + 1)
        return worst


def first_pages(url: str, incident_ids: Iterable[str]) -> list[tuple[str, str, str]]:
    """(incident id, case id, page id) of every first page (attempt 1) of these incidents."""
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        rows = conn.execute(
            "SELECT c.incident_id::text, c.id::text, p.id::text FROM pages p "
            "JOIN support_cases c ON c.id = p.case_id "
            "WHERE p.attempt = 1 AND c.incident_id::text = ANY(%s)",
            (list(incident_ids),),
        ).fetchall()
    return [(str(a), str(b), str(c)) for a, b, c in rows]


def page_counts(url: str) -> dict[str, int]:
    """Cases, pages by attempt, the worst duplicate count for one case and step and all
    the extra pages together, straight from the store."""
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        (cases,) = conn.execute("SELECT count(*) FROM support_cases").fetchone()  # type: ignore[misc]
        (first,) = conn.execute("SELECT count(*) FROM pages WHERE attempt = 1").fetchone()  # type: ignore[misc]
        (later,) = conn.execute("SELECT count(*) FROM pages WHERE attempt > 1").fetchone()  # type: ignore[misc]
        (worst, extra) = conn.execute(
            "SELECT coalesce(max(n), 0), coalesce(sum(n - 1), 0) FROM (SELECT count(*) n "
            "FROM pages GROUP BY case_id, attempt) x"
        ).fetchone()  # type: ignore[misc]
    return {
        "cases": int(cases),
        "first_pages": int(first),
        "later_pages": int(later),
        "duplicate_pages_per_step": max(0, int(worst) - 1),
        "duplicate_pages": int(extra),
    }


def per_bucket(times: list[float], t0: float, bucket_s: float) -> list[int]:
    """How many of `times` fell in each `bucket_s` slice after t0: throughput over time."""
    if not times:
        return []
    counts = [0] * (int((max(times) - t0) / bucket_s) + 1)
    for t in times:
        counts[max(0, int((t - t0) / bucket_s))] += 1
    return counts


# --- processes: memory and CPU from /proc ----------------------------------------------------


def python_pid(pid: int) -> int:
    """The Python process behind a started command: itself when it runs Python (the venv's
    uvicorn and faust scripts exec the interpreter from their shebang), else its one child
    that does (a shell or launcher in between). Memory must be read from the interpreter."""
    for _ in range(3):
        exe = os.path.basename(os.readlink(f"/proc/{pid}/exe"))
        if exe.startswith("python"):
            return pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        if len(children) != 1:
            break
        pid = int(children[0])
    raise RuntimeError(f"process {pid} is not a Python interpreter ({exe})")


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS (resident now) and VmHWM (resident peak) of a process, in kB."""
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_cpu_seconds() -> float:
    """Busy CPU time of the whole machine (all cores) from /proc/stat: what Kafka,
    PostgreSQL and anything else running took shows as the rest beyond our processes."""
    parts = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    values = [int(v) for v in parts]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / CLOCK_TICKS


def _cpu_by_command() -> dict[int, tuple[str, float]]:
    """(command name, CPU seconds) of every process now; a process gone meanwhile is skipped."""
    out: dict[int, tuple[str, float]] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat.rsplit(")", 1)[1].split()
        out[int(proc.name)] = (comm, (int(fields[11]) + int(fields[12])) / CLOCK_TICKS)
    return out


# The shared services, found by command name: every PostgreSQL backend is a `postgres`
# process (one per connection), the Kafka broker a `java` one.
SERVICES = {"postgres": "postgres", "java": "kafka"}


class CpuMeter:
    """CPU seconds each named process, PostgreSQL (all its processes), Kafka and the whole
    machine used between start() and stop(): which process a throughput figure was bound by."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.before: dict[str, float] = {}
        self.procs: dict[int, tuple[str, float]] = {}
        # The services' processes as last read: a backend that exits between two readings
        # still counts what it had used when last seen.
        self.seen: dict[int, tuple[str, float]] = {}
        self.wall = 0.0

    def start(self) -> None:
        self.before = {n: cpu_seconds(p) for n, p in self.pids.items()}
        self.before["machine"] = machine_cpu_seconds()
        self.procs = _cpu_by_command()
        self.seen = {}
        self.wall = time.monotonic()

    def stop(self) -> dict[str, float]:
        """CPU seconds per process over the interval, `postgres` and `kafka`, plus `wall_s`,
        the machine's total, `rest` (this script and anything else running, e.g. another
        benchmark or a test run) and `available` (wall time x cores). May be read more than
        once. A PostgreSQL backend that exited before a reading counts what it had used at
        the one before (if any); the rest of its CPU lands in `rest`."""
        used = {n: cpu_seconds(p) - self.before[n] for n, p in self.pids.items()}
        for name in SERVICES.values():
            used[name] = 0.0
        self.seen |= {p: v for p, v in _cpu_by_command().items() if v[0] in SERVICES}
        for pid, (comm, cpu) in self.seen.items():
            if comm in SERVICES:
                was = self.procs.get(pid)
                used[SERVICES[comm]] += cpu - (was[1] if was and was[0] == comm else 0.0)
        used["machine"] = machine_cpu_seconds() - self.before["machine"]
        used["rest"] = used["machine"] - sum(v for k, v in used.items() if k != "machine")
        used["wall_s"] = time.monotonic() - self.wall
        used["available"] = used["wall_s"] * (os.cpu_count() or 1)
        return {k: round(v, 2) for k, v in used.items()}
