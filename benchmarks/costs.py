"""What a run cost and whether it kept its promise, the same way in every benchmark that pages:
CPU per page for each process, and lost and duplicated pages counted once the stale-claim
interval has passed. Also which checkout's processes ran (`--root`, for a "before" figure).

Why CPU is read twice: at the end of the run (the last page at the stand-in), each process's
share of the run's wall time says which one bound it (a Python process is bound at 100% of
one core, the machine at 100% of each of its cores); a couple of seconds later the work the
last pages still caused (their status callbacks, the records of their sends) is in too, so
CPU per page is taken then. "Ours" is the API, the worker(s) and the engine: the stand-in
(Twilio's part), PostgreSQL and Kafka are reported beside it, not in it.

Why lost and duplicated pages are counted late: a send interrupted after Twilio took the
message leaves a claim that goes stale after `sending_stale_seconds`, and only then is it
reconciled and perhaps sent again. A duplicate born that way shows up after the interval,
never at the first SMS, so the stand-in is read again once it has passed (plus a margin).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
from collections.abc import Collection, Sequence
from pathlib import Path

import httpx
import psycopg

from benchmarks.common import ROOT, CpuMeter, StandinLog, page_counts, python_pid
from tests.stack import Proc, Stack

TARGET_OURS_MS = 4.0
# Seconds after the run's last page still counted in CPU per page (its callbacks).
CPU_TAIL_S = 2.0
# Beyond the stale-claim interval: the page sweep's period and a reconciliation's round trip.
RECHECK_MARGIN_S = 10.0
SEPARATE = {
    "standin": "stand-in",
    "postgres": "PostgreSQL",
    "kafka": "Kafka",
    "bench": "this script (the load, its polling)",
}


def is_ours(name: str) -> bool:
    return name in ("api", "engine") or name.startswith("worker")


def stack_pids(stack: Stack, extra_workers: Sequence[Proc] = ()) -> dict[str, int]:
    """The Python interpreter of each of the stack's processes, by the name the tables use
    (api, worker, worker1.., engine when the checkout has one, standin), and this script
    (`bench`): on 2 cores the load it makes competes with what it measures."""
    procs: list[tuple[str, Proc | None]] = [("api", stack.api), ("worker", stack.worker)]
    procs += [(w.name, w) for w in extra_workers]
    procs += [("engine", stack.engine), ("standin", stack.standin)]
    pids = {n: python_pid(p.popen.pid) for n, p in procs if p is not None and p.popen is not None}
    return pids | {"bench": os.getpid()}


def check_alive(stack: Stack, extra_workers: Sequence[Proc] = ()) -> None:
    """Stop waiting for pages that a dead process will never send."""
    for p in (stack.worker, stack.engine, stack.api, *extra_workers):
        if p is not None and not p.alive():
            raise RuntimeError(f"{p.name} died:\n{p.tail()}")


class DbWork:
    """Statements and transactions the run's database served, from PostgreSQL's own counters:
    every process's round trips at once, which no one process's count can give.

    Statements are pg_stat_statements' calls (deploy/postgres.sh loads it), BEGIN and COMMIT
    included, so they are round trips; transactions are pg_stat_database's commits and
    rollbacks (a statement outside a transaction counts as one). Both are read through the
    `svrr` database, where the extension lives, for the run's database only.
    """

    def __init__(self, db_url: str) -> None:
        base, self.name = db_url.replace("+psycopg", "").rsplit("/", 1)
        self.admin = base + "/svrr"
        self.before: tuple[int, int] | None = None

    def read(self) -> tuple[int, int] | None:
        """(statements, transactions) so far; None when pg_stat_statements is not loaded."""
        with psycopg.connect(self.admin, autocommit=True) as conn:
            try:
                stmts, xacts = conn.execute(
                    "SELECT (SELECT coalesce(sum(s.calls), 0) FROM pg_stat_statements s "
                    "WHERE s.dbid = d.datid), d.xact_commit + d.xact_rollback "
                    "FROM pg_stat_database d WHERE d.datname = %s",
                    (self.name,),
                ).fetchone() or (0, 0)
            except (psycopg.errors.UndefinedTable, psycopg.errors.ObjectNotInPrerequisiteState):
                return None  # a server set up or started before deploy/postgres.sh loaded it
            return int(stmts), int(xacts)

    def start(self) -> None:
        self.before = self.read()

    def per_page(self, pages: int) -> dict[str, object]:
        after = self.read()
        if self.before is None or after is None:
            return {}
        stmts, xacts = (a - b for a, b in zip(after, self.before, strict=True))
        per = max(pages, 1)
        return {
            "statements": stmts,
            "transactions": xacts,
            "statements_per_page": round(stmts / per, 1),
            "transactions_per_page": round(xacts / per, 2),
        }


class PageCpu:
    """A CpuMeter read at the run's end and again CPU_TAIL_S later; with the run's database,
    its statements and transactions over the same span (DbWork)."""

    def __init__(self, pids: dict[str, int], db_url: str | None = None) -> None:
        self.meter = CpuMeter(pids)
        self.db = DbWork(db_url) if db_url else None
        self.run: dict[str, float] | None = None

    def start(self) -> None:
        if self.db is not None:
            self.db.start()
        self.meter.start()

    def run_over(self) -> None:
        """The last page is at the stand-in: the run's wall time ends here."""
        self.run = self.meter.stop()

    def finish(self, pages: int, tail_s: float = CPU_TAIL_S) -> dict[str, object]:
        """Wait out the tail, read again; CPU per page (see cpu_per_page)."""
        if self.run is None:
            self.run_over()
        time.sleep(tail_s)
        assert self.run is not None
        result = cpu_per_page(self.run, self.meter.stop(), pages)
        if self.db is not None:
            result["db"] = self.db.per_page(pages)
        return result


def cpu_per_page(run: dict[str, float], total: dict[str, float], pages: int) -> dict[str, object]:
    """Per process: CPU seconds over the run and its share of the run's wall time (% of one
    core), CPU seconds with the tail and ms of it per page; `ours` summed; the machine."""
    wall = max(run["wall_s"], 1e-6)
    per = max(pages, 1)

    def row(run_s: float, all_s: float) -> dict[str, float]:
        return {
            "run_cpu_s": round(run_s, 2),
            "busy_pct": round(100 * run_s / wall, 1),
            "cpu_s": round(all_s, 2),
            "ms_per_page": round(1000 * all_s / per, 2),
        }

    named = [n for n in run if n not in ("machine", "rest", "wall_s", "available")]
    processes = {n: row(run[n], total[n]) for n in sorted(named, key=_order)}
    ours = [n for n in named if is_ours(n)]
    ours_row = row(sum(run[n] for n in ours), sum(total[n] for n in ours))
    return {
        "pages": pages,
        "run_wall_s": round(run["wall_s"], 2),
        "tail_s": round(total["wall_s"] - run["wall_s"], 2),
        "cores": os.cpu_count() or 1,
        "processes": processes,
        "ours": ours_row,
        "ours_are": ours,
        "ours_ms_per_page": ours_row["ms_per_page"],
        "target_ours_ms_per_page": TARGET_OURS_MS,
        "rest": row(run["rest"], total["rest"]),
        "machine": row(run["machine"], total["machine"]),
    }


def _order(name: str) -> tuple[int, str]:
    """Ours first (API, workers, engine), then the stand-in and the shared services."""
    rank = {"api": 0, "engine": 2, "standin": 3, "postgres": 4, "kafka": 5, "bench": 6}
    return (rank.get(name, 1 if name.startswith("worker") else 7), name)


def cpu_table(cpu: dict[str, object]) -> str:
    """The CPU rows as markdown, and a line saying what bound the run."""
    procs = cpu["processes"]
    assert isinstance(procs, dict)
    cores = int(str(cpu["cores"]))
    lines = [
        f"| process | CPU s over the run ({cpu['run_wall_s']} s) | busy, % of one core | "
        f"CPU s incl. {cpu['tail_s']} s after | ms CPU per page ({cpu['pages']} pages) |",
        "|---|---|---|---|---|",
    ]

    def line(label: str, r: object) -> str:
        assert isinstance(r, dict)
        cells = (r["run_cpu_s"], r["busy_pct"], r["cpu_s"], r["ms_per_page"])
        return f"| {label} | " + " | ".join(str(c) for c in cells) + " |"

    for name, r in procs.items():
        if is_ours(name):
            lines.append(line(name, r))
    ours_are = " + ".join(str(n) for n in cpu["ours_are"])  # type: ignore[attr-defined]
    lines.append(line(f"**ours** ({ours_are}; target <= {TARGET_OURS_MS:g} ms/page)", cpu["ours"]))
    for name, r in procs.items():
        if not is_ours(name):
            lines.append(line(f"{SEPARATE.get(name, name)} (not ours)", r))
    lines.append(line("rest (anything else running on the machine)", cpu["rest"]))
    lines.append(line(f"machine ({cores} cores = {100 * cores}%)", cpu["machine"]))
    return "\n".join(lines) + "\n\n" + bound_by(cpu) + db_line(cpu)


def db_line(cpu: dict[str, object]) -> str:
    """The database's side of the same span, when it was measured."""
    db = cpu.get("db")
    if not isinstance(db, dict):
        return ""
    if not db:
        return "\n\nStatements per page: not measured (pg_stat_statements is not loaded)."
    return (
        f"\n\nPostgreSQL served {db['statements']} statements ({db['statements_per_page']} "
        f"per page, BEGIN and COMMIT included: round trips) in {db['transactions']} "
        f"transactions ({db['transactions_per_page']} per page), every process together "
        "(this script's polling of the store included, a few statements a second)."
    )


def bound_by(cpu: dict[str, object]) -> str:
    """Which process was busiest over the run, and whether the machine's cores ran out."""
    procs = cpu["processes"]
    machine = cpu["machine"]
    assert isinstance(procs, dict) and isinstance(machine, dict)
    cores = int(str(cpu["cores"]))
    name, busiest = max(procs.items(), key=lambda kv: kv[1]["busy_pct"])
    used = machine["busy_pct"] / cores
    said = f"Busiest over the run: {SEPARATE.get(name, name)} at {busiest['busy_pct']}% of one core"
    if used >= 90:
        return f"{said}; the machine's cores were used up ({used:.0f}% of all {cores})."
    if busiest["busy_pct"] >= 90 and name not in ("postgres", "kafka"):
        return f"{said}: that process bound the run (the machine was at {used:.0f}%)."
    return f"{said}; the machine was at {used:.0f}% of its {cores} cores."


def stale_wait_s() -> float:
    """How long after the run a late send could still happen: the stale-claim interval
    (SENDING_STALE_SECONDS, as the stack's processes read it) plus a margin."""
    from services.config import Settings

    return Settings().sending_stale_seconds + RECHECK_MARGIN_S


def recheck(log: StandinLog, stack: Stack, extra_workers: Sequence[Proc] = ()) -> float:
    """Wait out the stale-claim interval with the stack still up, then read the stand-in again.
    Returns the seconds waited."""
    wait_s = stale_wait_s()
    print(
        f"waiting {wait_s:g} s (stale-claim interval + margin) before counting lost and "
        "duplicated pages",
        flush=True,
    )
    time.sleep(wait_s)
    with httpx.Client() as client:
        log.poll(client)
    check_alive(stack, extra_workers)
    return wait_s


def delivery(
    url: str,
    log: StandinLog,
    page_ids: Collection[str],
    expected: int,
    waited_s: float,
    first_sight: dict[str, int] | None = None,
) -> dict[str, object]:
    """Lost (expected pages never at the stand-in: never written, or written and never sent)
    and duplicated pages (extra pages for one case and step in the store; a page at the
    stand-in more than once), read after `recheck`."""
    counts = page_counts(url)
    arrived = {p for p in page_ids if p in log.per_page}
    return {
        "checked_after_s": round(waited_s, 1),
        "expected": expected,
        "written": len(set(page_ids)),
        "at_standin": len(arrived),
        "lost": max(0, expected - len(arrived)),
        "duplicate_pages": counts["duplicate_pages"],
        "duplicate_sms": log.duplicate_sms(),
        "at_first_sight": first_sight or {},
    }


def sighting(log: StandinLog, page_ids: Collection[str]) -> dict[str, int]:
    """Pages at the stand-in and duplicate SMS when the run ended, before the wait."""
    return {
        "at_standin": sum(1 for p in set(page_ids) if p in log.per_page),
        "duplicate_sms": log.duplicate_sms(),
    }


def delivery_line(d: dict[str, object]) -> str:
    seen = d["at_first_sight"]
    assert isinstance(seen, dict)
    early = (
        f" (when the run ended: {seen['at_standin']} at the stand-in, {seen['duplicate_sms']} "
        "duplicate SMS)"
        if seen
        else ""
    )
    return (
        f"Checked {d['checked_after_s']} s after the run (stale-claim interval + margin): "
        f"lost {d['lost']} of {d['expected']} pages ({d['written']} written, "
        f"{d['at_standin']} at the stand-in), duplicated pages {d['duplicate_pages']} in the "
        f"store, duplicate SMS {d['duplicate_sms']} at the stand-in (target 0 each){early}."
    )


# --- which checkout runs -------------------------------------------------------------------


def add_root_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--root",
        type=Path,
        default=ROOT,
        help="the checkout whose API, worker and engine run (a 'before' figure); its "
        "migrations and topics set up the database and broker; the stand-in stays this one's",
    )
    parser.add_argument(
        "--label", default="", help="names the results (default: at-<commit> with --root)"
    )


def checkout(root: Path, label: str) -> dict[str, str]:
    """The root, its commit and the label results are filed under ('' for this checkout)."""
    root = root.resolve()
    commit = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    if not label and root != ROOT:
        label = f"at-{commit or root.name}"
    return {"root": str(root), "commit": commit, "label": label}


def result_name(name: str, where: dict[str, str]) -> str:
    """`burst`, or `burst-at-dfc0e11` for another checkout's run: kept apart from this
    checkout's results (benchmarks/__main__.py reads `<name>-<date>.json`)."""
    return f"{name}-{where['label']}" if where["label"] else name


def titled(title: str, where: dict[str, str]) -> str:
    if not where["label"]:
        return title
    return f"{title} [{where['label']}: processes from {where['root']} at {where['commit']}]"
