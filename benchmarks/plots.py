"""PNG plots of the benchmarks' results, drawn with matplotlib's Agg backend (no display).

Why pictures as well as tables: a p99 hides the shape. A histogram with its percentile curve
shows a second mode (a batch that waited for the one before) or a long tail; throughput over
time shows a stall or a slow ramp that one pages-per-second figure averages away; memory
over time shows whether resident size levels off or keeps climbing with the open cases.

Files have stable names, benchmarks/results/<name>-<kind>.png, overwritten by each run so
the README can link them; the run's JSON keeps the numbers they were drawn from.
matplotlib comes with the `bench` extra (deploy/bench.sh installs it). Without it a
benchmark still runs and writes its table and JSON, and says that it drew no plot.

    python -m benchmarks.plots latency benchmarks/results/latency-<stamp>.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType

from benchmarks.common import RESULTS, percentile

# Targets from the issue: drawn as dashed lines so a plot says at once which side it is on.
TARGET_STYLE = {"color": "tab:red", "linestyle": "--", "linewidth": 1}


def _pyplot() -> ModuleType | None:
    try:
        import matplotlib
    except ImportError:
        print("plots: matplotlib is not installed (SVRR_EXTRAS=test,bench); no plot drawn")
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt: ModuleType, fig: object, name: str, kind: str) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}-{kind}.png"
    fig.savefig(path, dpi=110)  # type: ignore[attr-defined]
    plt.close(fig)
    print(f"plot: {path.relative_to(RESULTS.parent.parent)}")
    return path


def latency(
    name: str,
    samples_ms: Sequence[float],
    title: str,
    targets: Mapping[str, float] | None = None,
    what: str = "latency",
) -> Path | None:
    """Histogram and percentile curve of one distribution, as `<name>-latency.png`.

    `targets` maps a label (e.g. "p99 target") to a value in ms, drawn as dashed lines.
    A distribution spanning more than two decades gets a log axis, so both the body and
    the tail stay readable."""
    plt = _pyplot()
    if plt is None or not samples_ms:
        return None
    values = sorted(float(v) for v in samples_ms)
    lo, hi = max(values[0], 0.1), max(values[-1], 0.2)
    log_scale = hi / lo > 100
    fig, (hist, curve) = plt.subplots(1, 2, figsize=(11, 4.2))
    if log_scale:
        import numpy as np

        bins = np.geomspace(lo, hi, 50)
        hist.hist([max(v, lo) for v in values], bins=bins, color="tab:blue")
        hist.set_xscale("log")
    else:
        hist.hist(values, bins=50, color="tab:blue")
    hist.set_xlabel(f"{what} (ms)")
    hist.set_ylabel("pages")
    hist.set_title(f"distribution, n={len(values)}")
    qs = [i / 10 for i in range(0, 1001)]
    curve.plot(qs, [percentile(values, q) for q in qs], color="tab:blue")
    marked = []
    for q in (50, 95, 99):
        v = percentile(values, q)
        curve.plot([q], [v], "o", color="black", markersize=4)
        marked.append(f"p{q} {v:,.1f} ms")
    marked.append(f"max {values[-1]:,.1f} ms")
    curve.text(
        0.03,
        0.97,
        "\n".join(marked),
        transform=curve.transAxes,
        va="top",
        family="monospace",
        bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "grey"},
    )
    if log_scale:
        curve.set_yscale("log")
    curve.set_xlabel("percentile")
    curve.set_ylabel(f"{what} (ms)")
    curve.set_title("percentile curve")
    for i, (label, value) in enumerate((targets or {}).items()):
        curve.axhline(value, **TARGET_STYLE)
        # Side by side, not stacked: two targets are often close (p50 50 ms, p99 250 ms).
        at = (30 + 35 * i, value)
        curve.annotate(label, at, textcoords="offset points", xytext=(0, 3), color="red")
        hist.axvline(value, **TARGET_STYLE)
    for ax in (hist, curve):
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(plt, fig, name, "latency")


def throughput(
    name: str,
    bucket_s: float,
    counts: Sequence[int],
    title: str,
    target_per_s: float | None = None,
    unit: str = "pages",
) -> Path | None:
    """Arrivals per bucket as a rate (per second), with the running total on a second axis,
    as `<name>-throughput.png`."""
    plt = _pyplot()
    if plt is None or not counts:
        return None
    t = [i * bucket_s for i in range(len(counts))]
    fig, ax = plt.subplots(figsize=(10, 4.2))
    ax.bar(t, [c / bucket_s for c in counts], width=bucket_s, align="edge", color="tab:blue")
    ax.set_xlabel("seconds since the first request")
    ax.set_ylabel(f"{unit}/s (per {bucket_s:g} s bucket)")
    if target_per_s is not None:
        ax.axhline(target_per_s, **TARGET_STYLE)
        ax.annotate(
            f"target {target_per_s:g}/s",
            (0, target_per_s),
            xytext=(0, 3),
            color="red",
            textcoords="offset points",
        )
    total = ax.twinx()
    running, acc = [], 0
    for c in counts:
        acc += c
        running.append(acc)
    total.plot([x + bucket_s for x in t], running, color="black", linewidth=1)
    total.set_ylabel(f"{unit} so far")
    ax.grid(alpha=0.3)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return _save(plt, fig, name, "throughput")


def progress(
    name: str, trace: Sequence[Mapping[str, float]], title: str, rate_of: str
) -> Path | None:
    """A once-a-second trace of running totals (escalation.py's `trace`): the totals, and the
    rate of `rate_of` between samples, as `<name>-throughput.png`."""
    plt = _pyplot()
    if plt is None or len(trace) < 2:
        return None
    t = [float(row["t_s"]) for row in trace]
    keys = [k for k in trace[0] if k != "t_s"]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    for k in keys:
        top.plot(t, [float(row[k]) for row in trace], label=k)
    top.set_ylabel("running total")
    top.legend(loc="upper left")
    top.grid(alpha=0.3)
    rates = [
        (float(b[rate_of]) - float(a[rate_of])) / max(1e-6, float(b["t_s"]) - float(a["t_s"]))
        for a, b in zip(trace, trace[1:], strict=False)
    ]
    bottom.step(t[1:], rates, where="pre", color="tab:blue")
    bottom.set_ylabel(f"{rate_of} per second")
    bottom.set_xlabel("seconds since the first sample")
    bottom.grid(alpha=0.3)
    top.set_title(title, fontsize=10)
    fig.tight_layout()
    return _save(plt, fig, name, "throughput")


def memory(
    name: str,
    series: Mapping[str, Sequence[tuple[float, float]]],
    title: str,
    target_mb: float | None = None,
    marks: Sequence[tuple[float, str]] = (),
) -> Path | None:
    """Resident memory (MB) of each process over time, as `<name>-rss.png`; `marks` are
    (seconds, label) of the benchmark's phases, drawn as vertical lines."""
    plt = _pyplot()
    if plt is None or not series:
        return None
    fig, ax = plt.subplots(figsize=(10, 4.2))
    for proc, points in series.items():
        ax.plot([p[0] for p in points], [p[1] for p in points], label=proc)
    if target_mb is not None:
        ax.axhline(target_mb, **TARGET_STYLE)
        ax.annotate(
            f"target {target_mb:g} MB",
            (0, target_mb),
            xytext=(0, 3),
            color="red",
            textcoords="offset points",
        )
    for at, label in marks:
        ax.axvline(at, color="grey", linewidth=0.8)
        ax.annotate(label, (at, 0), xytext=(3, 3), textcoords="offset points", rotation=90)
    ax.set_xlabel("seconds since the stack was up")
    ax.set_ylabel("resident memory, VmRSS (MB)")
    ax.set_ylim(bottom=0)
    ax.legend(loc="center right")
    ax.grid(alpha=0.3)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return _save(plt, fig, name, "rss")


def bars(
    name: str,
    labels: Sequence[str],
    values: Sequence[float],
    title: str,
    ylabel: str,
    kind: str = "throughput",
    target: float | None = None,
) -> Path | None:
    """One bar per configuration (e.g. pages/s for 1, 2, 4 workers), as `<name>-<kind>.png`."""
    plt = _pyplot()
    if plt is None or not values:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.2))
    drawn = ax.bar(list(labels), list(values), color="tab:blue")
    ax.bar_label(drawn, fmt="%.1f")
    if target is not None:
        ax.axhline(target, **TARGET_STYLE)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3, axis="y")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return _save(plt, fig, name, kind)


def main() -> int:
    """Redraw a latency or escalation run's plots from its JSON, without running it again."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("name", choices=["latency", "escalation"])
    parser.add_argument("json", type=Path)
    args = parser.parse_args()
    result = json.loads(args.json.read_text())
    title = str(result["benchmark"])
    if args.name == "latency":
        latency("latency", result["samples_ms"], title, {"p50 target": 50, "p99 target": 250})
    else:
        latency(
            "escalation",
            result["samples_lateness_ms"],
            title,
            {"p99 target": 1000},
            what="lateness",
        )
        progress("escalation", result["trace"], title, rate_of="arrived")
    return 0


if __name__ == "__main__":
    sys.exit(main())
