"""Every benchmark in turn, then one table of the headline figures against their targets.

Why one command: the figures answer one question (does the pipeline keep the programme's
promises under load?) and are only comparable when measured on the same machine in one
sitting. Each benchmark runs as its own process, one after another, never two at once (on
2 cores they would measure each other); each writes its own table, JSON and plots under
benchmarks/results/, and this script reads the JSON each one wrote to build the summary
(benchmarks/results/summary-latest.md and summary-<stamp>.json). A benchmark that fails
is reported as failed and the rest still run; the exit status is then 1.

Full size (about half an hour on 2 cores): latency 1,000 incidents at 5/s then 3,000 at
50/s; burst 200 + 500; escalation 10,000 pages due over 60 s; memory 10,000 open cases;
scale-out 1, 2, 4 workers with 1,000 incidents each; matching; crisis (the reply reader
against the labelled set, in process, seconds); mllp (HL7 deaths to pages, ACKed messages
per second over MLLP, about two minutes). Every benchmark that pages reports CPU per
page for each process (ours: API, worker(s), engine) and waits out the stale-claim interval
before counting lost and duplicated pages. `--quick` runs small sizes as a smoke test (a
few minutes): it says the machinery works, not how fast anything is.

`--root PATH` measures another checkout (the "before" figure, same machine, same sitting):
the parts that start the stack run that checkout's API, worker and engine (if it has one)
beside this checkout's stand-in and file their results as `<name>-<label>-<date>.json`
(label `at-<commit>` unless `--label` says otherwise); the summary is filed under the label
too. The in-process parts (matching, crisis, board) are left out of such a run.

    python -m benchmarks [--quick] [--root PATH [--label NAME]]
        [--only latency,burst,escalation,memory,scaleout,matching,crisis,board,mllp]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks import costs
from benchmarks.common import RESULTS, ROOT, machine, now_iso, report

# name: (full-size arguments, --quick arguments); run in this order.
PARTS: dict[str, tuple[list[str], list[str]]] = {
    "latency": (
        ["--rates", "5,50", "--counts", "1000,3000"],
        ["--rates", "5,50", "--counts", "20,100", "--staff", "1000", "--peers", "200"]
        + ["--on-call", "100"],
    ),
    "burst": (
        ["--mci-staff", "200", "--incidents", "500", "--window", "1"],
        ["--mci-staff", "20", "--incidents", "50", "--staff", "1000", "--peers", "200"]
        + ["--on-call", "100"],
    ),
    "escalation": (
        ["--pages", "10000", "--spread", "60", "--lead", "20"],
        ["--pages", "300", "--spread", "10", "--lead", "25", "--timeout", "180"],
    ),
    "memory": (
        ["--cases", "10000", "--rate", "50"],
        ["--cases", "300", "--staff", "1500", "--peers", "300", "--on-call", "150"]
        + ["--views", "200"],
    ),
    "scaleout": (
        ["--workers", "1,2,4", "--incidents", "1000"],
        ["--workers", "1,2,4", "--incidents", "100", "--staff", "1000", "--peers", "200"]
        + ["--on-call", "100"],
    ),
    "matching": ([], ["--repeat", "5"]),
    "crisis": ([], ["--repeat", "1"]),
    "board": (
        ["--cases", "10000"],
        ["--cases", "1000", "--renders", "20", "--changes", "30", "--boards", "2"],
    ),
    "mllp": (
        ["--seconds", "20", "--all-deaths-seconds", "10", "--latency-count", "300"],
        ["--seconds", "4", "--all-deaths-seconds", "3", "--latency-count", "20", "--pause", "2"]
        + ["--staff", "3000", "--peers", "500", "--on-call", "200", "--ceiling", "2500"],
    ),
}

# The parts that start the stack, and so can run another checkout's processes (--root).
STACK_PARTS = ("latency", "burst", "escalation", "memory", "scaleout")

TARGET_MLLP_ACKS = 1000.0
Row = tuple[str, object, str, str]  # measure, result, target, verdict


def against(measure: str, value: object, target: str, ok: Callable[[float], bool]) -> Row:
    """A figure with a target; `ok` says whether the value meets it."""
    if not isinstance(value, int | float):
        return (measure, value, target, "no figure")
    return (measure, value, target, "met" if ok(float(value)) else "missed")


def info(measure: str, value: object) -> Row:
    """A figure the issue asks for without a target (scale-out, matching)."""
    return (measure, value, "", "")


def cpu_row(value: object, where: str = "") -> Row:
    """CPU per page summed over our processes (API, worker(s), engine), against 4 ms."""
    measure = "ms CPU per page, ours (API + worker(s) + engine)" + (f", {where}" if where else "")
    return against(measure, value, f"<= {costs.TARGET_OURS_MS:g}", le(costs.TARGET_OURS_MS))


def headlines(name: str, r: dict[str, object]) -> list[Row]:
    """The figures the issue asks about, from one benchmark's JSON; every benchmark that
    sends pages also reports CPU per page and its lost and duplicated pages (counted after
    the stale-claim interval), whose target is always zero."""
    rows: list[Row] = []
    # Extra pages in the store (all of them where the JSON has the sum) and SMS twice.
    dupes: list[object] = [
        r.get("duplicate_pages", r.get("duplicate_pages_per_step")),
        r.get("duplicate_sms"),
    ]
    lost: list[object] = [r.get("lost_pages")]
    if name == "latency":
        phases = r.get("rates")
        for ph in phases if isinstance(phases, list) else []:
            rate = float(ph["rate_per_s"])
            at = f"at {rate:g}/s"
            if rate == float(str(r.get("target_rate_per_s", 50))):
                p50 = float(str(r.get("target_p50_ms", 25)))
                p99 = float(str(r.get("target_p99_ms", 75)))
                rows.append(
                    against(
                        f"p50 ms {at}, API answer -> SMS", ph.get("p50_ms"), f"<= {p50:g}", le(p50)
                    )
                )
                rows.append(
                    against(
                        f"p99 ms {at}, API answer -> SMS", ph.get("p99_ms"), f"<= {p99:g}", le(p99)
                    )
                )
            else:
                rows.append(info(f"p50 ms {at}, API answer -> SMS", ph.get("p50_ms")))
                rows.append(info(f"p99 ms {at}, API answer -> SMS", ph.get("p99_ms")))
            rows.append(cpu_row(ph.get("ours_cpu_ms_per_page"), at))
    elif name == "burst":
        rate = r.get("pages_per_s")
        rows.append(against("pages/s, first POST -> last first page", rate, ">= 500", ge(500)))
        rows.append(
            against(
                "s from the last POST until every first page is out",
                r.get("all_out_after_last_post_s"),
                "<= 2",
                le(2),
            )
        )
        rows.append(info("s until every first page (from the first POST)", r.get("all_paged_s")))
        rows.append(info("p99 ms, POST answer -> SMS", _get(r, "latency_ms", "p99")))
        rows.append(cpu_row(r.get("ours_cpu_ms_per_page")))
    elif name == "escalation":
        p99 = _get(r, "lateness_ms", "p99")
        rows.append(against("p99 ms, due -> next peer's SMS", p99, "<= 1000", le(1000)))
        rows.append(info("p50 ms, due -> next peer's SMS", _get(r, "lateness_ms", "p50")))
        rows.append(info("max ms, due -> next peer's SMS", _get(r, "lateness_ms", "max")))
        rows.append(cpu_row(r.get("ours_cpu_ms_per_page")))
        if "duplicate_pages" not in r:  # a result from before the sum was kept
            dupes = [r.get("duplicate_pages_per_case"), r.get("duplicate_sms")]
    elif name == "memory":
        for proc in ("worker", "api", "engine"):
            peak = _get(r, "processes", proc, "peak_mb")
            if peak is None and proc == "engine":
                continue  # a checkout without an engine
            measure = f"{proc} peak MB (VmHWM), {r.get('open_cases')} open cases"
            rows.append(against(measure, peak, "<= 300", le(300)))
        rows.append(cpu_row(r.get("ours_cpu_ms_per_page")))
    elif name == "scaleout":
        rounds = r.get("rounds")
        dupes, lost = [], []
        for rd in rounds if isinstance(rounds, list) else []:
            k = rd["workers"]
            rows.append(info(f"pages/s with {k} worker(s)", rd.get("pages_per_s")))
            rows.append(cpu_row(rd.get("ours_cpu_ms_per_page"), f"{k} worker(s)"))
            dupes += [rd.get("duplicate_pages", rd.get("duplicate_pages_per_step"))]
            dupes += [rd.get("duplicate_sms")]
            lost.append(rd.get("lost_pages"))
        rows.append(info("knee", r.get("knee")))
    elif name == "crisis":
        sets = r.get("sets")
        for one in sets if isinstance(sets, list) else []:
            label = one.get("name", "set")
            recall, fp = one.get("recall_crisis"), one.get("false_positive_rate")
            rows.append(against(f"{label}: recall on crisis rows", recall, "1.0", ge(1.0)))
            rows.append(against(f"{label}: crisis flags on the others", fp, "< 0.05", lt(0.05)))
            reached = one.get("crisis_to_a_human")
            rows.append(against(f"{label}: crisis rows to a human", reached, "1.0", ge(1.0)))
            rows.append(
                info(f"{label}: first sight recall", _get(one, "first_sight", "recall_crisis"))
            )
        rows.append(info("us per message p99", _get(r, "crisis_us", "p99")))
    elif name == "board":
        rows.append(against("board first render p95 ms", r.get("render_p95_ms"), "< 300", lt(300)))
        rows.append(
            against("change -> open board p99 ms", r.get("change_p99_ms"), "< 1000", lt(1000))
        )
        rows.append(against("changes never shown", r.get("changes_missed"), "0", le(0)))
    elif name == "mllp":
        rows.append(
            against(
                "ACKed HL7 messages/s, realistic mix (2% deaths), worker running",
                r.get("acks_per_s_mix"),
                f">= {TARGET_MLLP_ACKS:g}",
                ge(TARGET_MLLP_ACKS),
            )
        )
        rows.append(
            info("ACKed HL7 messages/s, every message a death", r.get("acks_per_s_all_deaths"))
        )
        p99 = r.get("death_to_page_p99_ms")
        rows.append(against("p99 ms, HL7 death -> first page", p99, "< 200", lt(200)))
        rows.append(info("p50 ms, HL7 death -> first page", r.get("death_to_page_p50_ms")))
    elif name == "matching":
        found = r.get("rows")
        for row in found if isinstance(found, list) else []:
            if row["measure"] in ("one_clinician_ms", "incident_context_once_ms"):
                rows.append(info(f"{row['measure']} p95", row["p95_ms"]))
    if name not in STACK_PARTS:
        return rows
    counted = [d for d in dupes if isinstance(d, int)]
    if counted:
        rows.append(against("duplicate pages + SMS", sum(counted), "0", le(0)))
    missing = [n for n in lost if isinstance(n, int)]
    if missing:
        rows.append(against("lost pages", sum(missing), "0", le(0)))
    return rows


def le(limit: float) -> Callable[[float], bool]:
    return lambda v: v <= limit


def lt(limit: float) -> Callable[[float], bool]:
    return lambda v: v < limit


def ge(limit: float) -> Callable[[float], bool]:
    return lambda v: v >= limit


def _get(r: object, *keys: str) -> object:
    """r[k1][k2]... or None where a level is missing (a benchmark's JSON may change)."""
    for k in keys:
        if not isinstance(r, dict):
            return None
        r = r.get(k)
    return r


def newest_result(name: str, since: float) -> Path | None:
    """The JSON the benchmark wrote in this sitting (report() stamps it with the date)."""
    found = [p for p in RESULTS.glob(f"{name}-2*.json") if p.stat().st_mtime >= since]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def table(result: dict[str, object]) -> str:
    lines = ["| benchmark | measure | result | target | verdict |", "|---|---|---|---|---|"]
    for row in result["rows"]:  # type: ignore[union-attr]
        lines.append("| " + " | ".join(str(c) for c in row) + " |")
    parts = result["parts"]
    assert isinstance(parts, dict)
    took = ", ".join(f"{n} {p['seconds']:.0f} s" for n, p in parts.items())
    return "\n".join(lines) + f"\n\nRun time: {took}. Details: benchmarks/results/<name>-latest.md"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--only", default=",".join(PARTS), help="benchmarks, comma separated")
    parser.add_argument(
        "--keep-others",
        action="store_true",
        help="with --only: keep the other parts' figures from the newest summary",
    )
    costs.add_root_args(parser)
    args = parser.parse_args()
    where = costs.checkout(args.root, args.label)
    chosen = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = sorted(set(chosen) - set(PARTS))
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    if where["label"]:
        # Another checkout: only the parts that start its processes mean anything.
        chosen = [n for n in chosen if n in STACK_PARTS]
    summary = costs.result_name("summary", where)
    rows: list[list[object]] = []
    parts: dict[str, dict[str, object]] = {}
    if args.keep_others:
        # Re-running one part (after a fix) keeps the other parts' figures from the newest
        # full sitting, each still naming the JSON file (and so the date) it came from.
        last = max(RESULTS.glob(f"{summary}-2*.json"), key=lambda p: p.stat().st_mtime)
        before = json.loads(last.read_text())
        parts = {n: p for n, p in before["parts"].items() if n not in chosen}
        rows = [r for r in before["rows"] if r[0] not in chosen]
    for name in [n for n in PARTS if n in chosen]:
        argv = PARTS[name][1 if args.quick else 0]
        if where["label"]:
            argv = [*argv, "--root", where["root"], "--label", where["label"]]
        print(f"\n=== {name}: python -m benchmarks.{name} {' '.join(argv)}", flush=True)
        started = time.time()
        rc = subprocess.run(
            [sys.executable, "-m", f"benchmarks.{name}", *argv], cwd=ROOT
        ).returncode
        path = newest_result(costs.result_name(name, where), started) if rc == 0 else None
        parts[name] = {
            "argv": argv,
            "exit": rc,
            "seconds": round(time.time() - started, 1),
            "json": str(path.relative_to(ROOT)) if path else None,
        }
        if path is None:
            rows.append([name, "run", f"failed (exit {rc})", "", "failed"])
            continue
        for measure, value, target, ok in headlines(name, json.loads(path.read_text())):
            rows.append([name, measure, value, target, ok])
    order = list(PARTS)
    rows.sort(key=lambda r: order.index(str(r[0])))
    parts = {n: parts[n] for n in order if n in parts}
    result: dict[str, object] = {
        "benchmark": "summary: headline figures against the targets",
        "date": now_iso(),
        "machine": machine(),
        "quick": args.quick,
        "parts": parts,
        "rows": rows,
    } | where
    title = str(result["benchmark"]) + (
        " (--quick: smoke sizes, not figures)" if args.quick else ""
    )
    print()
    report(summary, costs.titled(title, where), result, table(result))
    return 1 if any(p["exit"] != 0 for p in parts.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
