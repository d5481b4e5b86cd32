"""Crisis detection against independent labelled sets: recall, false alarms, and speed.

Why: a missed crisis is the worst thing this product can do, and a detector that only knows
its own examples misses the next person's words. Each set (columns text,label,category,
source_note; labels crisis, distress, ordinary, idiom) was written by another engineer without
seeing the detector. Set 1 (benchmarks/data/crisis_eval.csv) scored 62.1% recall at first
sight and was then used to add concepts; set 2 (crisis_heldout.csv), written later, scored
63.6% at first sight against the tuned detector (commit 517f577), so the fit to set 1 had not
generalised; its classes were then added as concepts too. Set 3 (crisis_heldout3.csv), written
blind after that, scored 69.3% at first sight (commit 0031c1c): better, still far from 100%.
`first sight` (the JSON files next to each set) is the detector as it was before anyone on
its branch read that set: the honest figure for words it has never seen. The figures on a
set after it was read measure the fit.

Targets per set: recall 100% on the crisis rows; crisis flags on under 5% of the other rows.
`to a human` is what the product does with a reply, not the detector alone: a crisis row
reaches a person when signals_crisis fires OR parse_offer_reply reads it as `unknown` (every
unread clinician reply goes to the coordinator for a look); a crisis row read as an answer
(accept, defer, decline) is the failure that matters most and is listed. For the other rows the
same column counts the coordinator looks they would cost; a reply read as `question` (wholly a
question about us) or `acknowledge` (wholly a thanks) is answered without one, and the report
lists them and compares the looks with main at 0031c1c, before those readings existed. Replies
are parsed as a clinician's answer to an offer at a fixed instant (2026-11-30 12:00 UTC,
Europe/London), so runs compare.
Every missed crisis row and every false alarm is listed by its line in the CSV. Time is per
call of `signals_crisis` (and `signals_distress`) on one message, in microseconds.

A second opinion from a sentence-embedding model was measured and not adopted. Looked at:
the PyPI list for static (model2vec-style) models that ship their weights inside the package
and load offline. model2vec itself and most wrappers download weights from a hub at run time;
packaged PyTorch copies of MiniLM need torch (far over 50 MB). tokenlearn-static-model 0.1.1
bakes a 10k-token, 64-dimension int8 static model into a 7.3 MB wheel (20 MB installed; 2.9 s
to load once, then about 0.2 ms a message). Used as a nearest-prototype classifier (crisis
examples vs ordinary, idiom and distress examples from tests/test_crisis.py, never the set):
at a margin where its own false alarms stay under 5% (0.15: recall 33.9%, false alarms
3.5%), adding it to the first-sight rules raised recall on the set from 62.1% to 69.0% while
false alarms rose from 0.9% to 4.1%; at margins that catch most crisis rows it flags a third
to two thirds of everything else. With the current rules at 100% recall on the set it adds
no measurable recall, only false alarms, a 2.9 s cold start and a native library from a
young single-maintainer package. The rules stay alone; `--model` is not offered.

    python -m benchmarks.crisis [--repeat 5] [--extra PATH [--extra-first-sight JSON]]

`--extra` adds a further set (a fourth blind set, say) to the report, after sets 1 to 3.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from benchmarks.common import machine, now_iso, percentile, report
from services.conversations.crisis import signals_crisis, signals_distress
from services.conversations.parsing import parse_offer_reply

DATA = Path(__file__).parent / "data"
SETS: tuple[tuple[str, Path, Path | None], ...] = (
    ("set 1", DATA / "crisis_eval.csv", DATA / "crisis_first_sight.json"),
    ("set 2", DATA / "crisis_heldout.csv", DATA / "crisis_heldout_first_sight.json"),
    ("set 3", DATA / "crisis_heldout3.csv", DATA / "crisis_heldout3_first_sight.json"),
)
LABELS = ("crisis", "distress", "ordinary", "idiom")
# Coordinator looks per set and label at main 0031c1c, before replies wholly a question about us
# ("question") or wholly an acknowledgement ("acknowledge") stopped costing a look.
LOOKS_BEFORE = Path(__file__).parent / "results" / "crisis-looks-before-0031c1c.json"
PARSE_AT = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
PARSE_TZ = ZoneInfo("Europe/London")
ROOT = Path(__file__).resolve().parents[1]


def load(path: Path) -> list[dict[str, str]]:
    """The set's rows, each with `line`: its line number in the CSV (header is line 1)."""
    with path.open(newline="") as f:
        return [dict(row, line=str(n)) for n, row in enumerate(csv.DictReader(f), start=2)]


def time_calls(texts: list[str], detector: Callable[[str], bool], repeat: int) -> list[float]:
    """Microseconds per call, every message `repeat` times after one warm-up pass."""
    for t in texts:
        detector(t)
    out: list[float] = []
    for _ in range(repeat):
        for t in texts:
            start = time.perf_counter_ns()
            detector(t)
            out.append((time.perf_counter_ns() - start) / 1000)
    return out


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _name(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def run_set(name: str, path: Path, first_sight: Path | None) -> dict[str, object]:
    rows = load(path)
    for row in rows:
        row["crisis_flag"] = "1" if signals_crisis(row["text"]) else ""
        row["distress_flag"] = "1" if signals_distress(row["text"]) else ""
        row["parsed"] = parse_offer_reply(row["text"], PARSE_AT, PARSE_TZ).kind
        row["to_human"] = "1" if row["crisis_flag"] or row["parsed"] == "unknown" else ""
    groups: dict[str, dict[str, int]] = {}
    for row in rows:
        for key in (row["label"], f"{row['label']}/{row['category']}"):
            g = groups.setdefault(
                key, {"count": 0, "crisis_flags": 0, "distress_flags": 0, "to_a_human": 0}
            )
            g["count"] += 1
            g["crisis_flags"] += bool(row["crisis_flag"])
            g["distress_flags"] += bool(row["distress_flag"])
            g["to_a_human"] += bool(row["to_human"])
    crisis_rows = [r for r in rows if r["label"] == "crisis"]
    other_rows = [r for r in rows if r["label"] != "crisis"]
    missed = [
        (int(r["line"]), r["category"], r["text"]) for r in crisis_rows if not r["crisis_flag"]
    ]
    read_as_action = [
        (int(r["line"]), r["parsed"], r["text"]) for r in crisis_rows if not r["to_human"]
    ]
    false_alarms = [
        (int(r["line"]), f"{r['label']}/{r['category']}", r["text"])
        for r in other_rows
        if r["crisis_flag"]
    ]
    answered_without_a_look = [
        (int(r["line"]), r["parsed"], f"{r['label']}/{r['category']}", r["text"])
        for r in rows
        if r["parsed"] in ("question", "acknowledge")
    ]
    looks_before: dict[str, object] | None = None
    if LOOKS_BEFORE.exists():
        before = json.loads(LOOKS_BEFORE.read_text())
        looks_before = {"commit": before.get("commit"), **before.get("sets", {}).get(name, {})}
    first: dict[str, object] | None = None
    if first_sight is not None and first_sight.exists():
        loaded = json.loads(first_sight.read_text())
        first = {
            k: loaded.get(k)
            for k in ("commit", "recall_crisis", "false_positive_rate_non_crisis", "by_label")
        }
    return {
        "name": name,
        "set": _name(path),
        "rows": len(rows),
        "groups": groups,
        "recall_crisis": _ratio(len(crisis_rows) - len(missed), len(crisis_rows)),
        "false_positive_rate": _ratio(len(false_alarms), len(other_rows)),
        "crisis_to_a_human": _ratio(len(crisis_rows) - len(read_as_action), len(crisis_rows)),
        "others_to_a_human": _ratio(sum(bool(r["to_human"]) for r in other_rows), len(other_rows)),
        "missed": missed,
        "crisis_read_as_an_answer": read_as_action,
        "false_alarms": false_alarms,
        "answered_without_a_look": answered_without_a_look,
        "looks_before": looks_before,
        "first_sight": first,
    }


def run(sets: list[tuple[str, Path, Path | None]], repeat: int) -> dict[str, object]:
    results = [run_set(*s) for s in sets]
    texts = [row["text"] for _name_, path, _first in sets for row in load(path)]
    crisis_us = time_calls(texts, signals_crisis, repeat)
    distress_us = time_calls(texts, signals_distress, repeat)
    return {
        "benchmark": "crisis: signals_crisis on the independent labelled sets",
        "date": now_iso(),
        "machine": machine(),
        "repeat": repeat,
        "parsed_at": PARSE_AT.isoformat(),
        "parsed_tz": str(PARSE_TZ),
        "sets": results,
        "crisis_us": {
            "p50": round(percentile(crisis_us, 50), 1),
            "p99": round(percentile(crisis_us, 99), 1),
        },
        "distress_us": {
            "p50": round(percentile(distress_us, 50), 1),
            "p99": round(percentile(distress_us, 99), 1),
        },
    }


def _pct(v: object) -> str:
    return f"{100 * float(v):.1f}%" if isinstance(v, int | float) else "-"


def _first_human(first: dict[str, object] | None) -> tuple[str, str]:
    """First sight's `to a human` for crisis rows and coordinator looks on the others."""
    by_label = first.get("by_label") if first else None
    if not isinstance(by_label, dict) or not all(
        isinstance(g, dict) and "to_a_human" in g for g in by_label.values()
    ):
        return "-", "-"
    crisis = by_label.get("crisis", {"count": 0, "to_a_human": 0})
    others = [g for k, g in by_label.items() if k != "crisis"]
    o_count = sum(g["count"] for g in others)
    o_human = sum(g["to_a_human"] for g in others)
    return (
        f"{_pct(crisis['to_a_human'] / crisis['count'])}",
        f"{_pct(o_human / o_count)} ({o_human}/{o_count})",
    )


def set_table(r: dict[str, object]) -> str:
    groups = r["groups"]
    assert isinstance(groups, dict)
    lines = [
        f"### {r['name']}: {r['set']} ({r['rows']} rows)",
        "",
        "| rows | count | flagged crisis | recall (crisis) | false alarms (others) "
        "| to a human (crisis: reached; others: coordinator looks) | flagged distress or crisis |",
        "|---|---|---|---|---|---|---|",
    ]
    keys = [k for k in LABELS if k in groups]
    keys += sorted(k for k in groups if "/" in k)
    for key in keys:
        g = groups[key]
        is_crisis = key.split("/")[0] == "crisis"
        recall = _pct(g["crisis_flags"] / g["count"]) if is_crisis else ""
        fp = "" if is_crisis else _pct(g["crisis_flags"] / g["count"])
        name = f"**{key}**" if "/" not in key else key
        lines.append(
            f"| {name} | {g['count']} | {g['crisis_flags']} | {recall} | {fp} "
            f"| {g['to_a_human']} ({_pct(g['to_a_human'] / g['count'])}) "
            f"| {g['distress_flags']} |"
        )
    recall, fp = r["recall_crisis"], r["false_positive_rate"]
    met_recall = "met" if recall == 1.0 else "missed"
    met_fp = "met" if isinstance(fp, float) and fp < 0.05 else "missed"
    human = r["crisis_to_a_human"]
    met_human = "met" if human == 1.0 else "missed"
    out = [
        "\n".join(lines),
        "",
        "| figure | now | first sight | target | verdict |",
        "|---|---|---|---|---|",
    ]
    first = r["first_sight"]
    f_recall = f_fp = f_commit = "-"
    if isinstance(first, dict):
        f_recall = _pct(first["recall_crisis"])
        f_fp = _pct(first["false_positive_rate_non_crisis"])
        f_commit = str(first["commit"])[:7]
    f_human, f_looks = _first_human(first if isinstance(first, dict) else None)
    groups_other = [g for k, g in groups.items() if "/" not in k and k != "crisis"]
    looks = sum(g["to_a_human"] for g in groups_other)
    others = sum(g["count"] for g in groups_other)
    out += [
        f"| recall on crisis rows (signals_crisis) | {_pct(recall)} | {f_recall} | 100% "
        f"| {met_recall} |",
        f"| crisis flags on distress, ordinary, idiom rows | {_pct(fp)} | {f_fp} | < 5% "
        f"| {met_fp} |",
        f"| crisis rows to a human (crisis, or unread reply) | {_pct(human)} | {f_human} "
        f"| 100% | {met_human} |",
        f"| other rows costing a coordinator look | {_pct(r['others_to_a_human'])} "
        f"({looks}/{others}) | {f_looks} | | |",
        f"| first sight measured at commit | | {f_commit} | | |",
    ]
    before = r.get("looks_before")
    if isinstance(before, dict) and len(before) > 1:
        by_label = [
            f"{k} {before[k]['to_a_human']}/{before[k]['count']} -> {groups[k]['to_a_human']}"
            for k in LABELS[1:]
            if k in before and k in groups
        ]
        b_looks = sum(before[k]["to_a_human"] for k in LABELS[1:] if k in before)
        b_count = sum(before[k]["count"] for k in LABELS[1:] if k in before)
        out += [
            f"| other rows costing a coordinator look, before (main {str(before['commit'])[:7]}) "
            f"-> now | {b_looks}/{b_count} -> {looks}/{others}; {', '.join(by_label)} | | "
            "fewer, no crisis row lost | "
            f"{'met' if looks <= b_looks and human == 1.0 else 'missed'} |",
        ]
    missed, false_alarms = r["missed"], r["false_alarms"]
    as_answer = r["crisis_read_as_an_answer"]
    assert isinstance(missed, list) and isinstance(false_alarms, list)
    assert isinstance(as_answer, list)
    out += ["", f"Missed crisis rows ({len(missed)}):"]
    out += [f"- line {n} ({cat}): {text}" for n, cat, text in missed] or ["- none"]
    out += ["", f"Crisis rows read as an answer, reaching nobody ({len(as_answer)}):"]
    out += [f"- line {n} (read as {kind}): {text}" for n, kind, text in as_answer] or ["- none"]
    out += ["", f"False alarms ({len(false_alarms)}):"]
    out += [f"- line {n} ({cat}): {text}" for n, cat, text in false_alarms] or ["- none"]
    quiet = r["answered_without_a_look"]
    assert isinstance(quiet, list)
    out += ["", f"Read as a question about us or an acknowledgement, no look ({len(quiet)}):"]
    out += [f"- line {n} ({kind}, {cat}): {text}" for n, kind, cat, text in quiet] or ["- none"]
    return "\n".join(out)


def table(r: dict[str, object]) -> str:
    sets = r["sets"]
    crisis_us, distress_us = r["crisis_us"], r["distress_us"]
    assert isinstance(sets, list) and isinstance(crisis_us, dict)
    assert isinstance(distress_us, dict)
    speed = [
        "### speed (all sets' messages)",
        "",
        "| figure | result |",
        "|---|---|",
        f"| signals_crisis per message, p50 / p99 | {crisis_us['p50']} / {crisis_us['p99']} us |",
        f"| signals_distress per message, p50 / p99 | {distress_us['p50']} / "
        f"{distress_us['p99']} us |",
        "",
        "Embedding second opinion: measured, not adopted (tokenlearn-static-model, 20 MB, "
        "offline): with the first-sight rules it raised set 1 recall 62.1% -> 69.0% but false "
        "alarms 0.9% -> 4.1%; with the rules tuned to set 1 it added no recall. See the module "
        "docstring of benchmarks/crisis.py.",
    ]
    return "\n\n".join([*(set_table(s) for s in sets), "\n".join(speed)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed passes over the sets")
    parser.add_argument("--extra", type=Path, help="a further labelled CSV to report")
    parser.add_argument("--extra-first-sight", type=Path, help="its first-sight JSON, if any")
    args = parser.parse_args()
    sets: list[tuple[str, Path, Path | None]] = list(SETS)
    if args.extra is not None:
        first = args.extra_first_sight.resolve() if args.extra_first_sight else None
        sets.append(("extra", args.extra.resolve(), first))
    result = run(sets, args.repeat)
    report("crisis", str(result["benchmark"]), result, table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
