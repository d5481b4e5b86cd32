"""MLLP: the HL7 v2 feed's service (`svrr feed mllp`) under load, beside the whole stack.

Two figures from issue 12, measured on the real processes (stand-in, API, worker, engine,
and the MLLP service), each a phase of one run:

1. **Death to page**: HL7 ADT A03 deaths sent one at a time at a steady rate over one
   connection, from the moment the message leaves this script to the moment the first
   page for its incident reaches the Twilio stand-in (target p99 under 200 ms). Each death
   names one clinician never named before, on its own unit in turn, so each message is one
   new incident and one first page. The time to the ACK (the commit) is kept beside it.
2. **Sustained throughput**: ACKed messages per second over several connections at once
   (an interface engine's), each sending the next message as soon as the last one was
   ACKed, for a fixed time (target at least 1,000 a second on 2 cores, with the worker
   running). The realistic mix is an ADT feed's: admissions (A01) and updates (A08) that
   are no trigger, with a share of deaths (A03 expired, `--deaths`, 2% by default), every
   death an incident that the worker pages for while the load goes on. Then the same
   with every message a death: each one a transaction's worth of work (group-committed)
   before its ACK, while the worker pages for all of them.

Every message carries a synthetic PID, NK1 and DG1, as real ADT messages do: reading a
message costs what reading a real one costs. Every ACK is checked (AA), and every death
sent is counted in the store afterwards: an ACK for a death that was not stored would be a
lost incident.

CPU per process over each phase (ours: the MLLP service, API, worker, engine; the stand-in,
PostgreSQL, Kafka and this script beside them) says which one bound the figure; ms of CPU
per message is given for the throughput phases, per page for the latency phase.

Real stack, its own database (svrr_bench_mllp) and topic prefix.

    python -m benchmarks.mllp [--seconds 20] [--connections 4] [--deaths 0.02]
        [--latency-count 300 --latency-rate 5] [--all-deaths-seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import psycopg
import uvloop

from benchmarks import costs, plots
from benchmarks.common import (
    UNITS,
    CpuMeter,
    Roster,
    StandinLog,
    drop_kafka_state,
    machine,
    now_iso,
    percentile,
    prepare,
    python_pid,
    report,
)
from tests.stack import RUN, Proc, Stack, start_mllp, start_stack, stop_stack

TARGET_ACKS_PER_S = 1000.0
TARGET_P99_MS = 200.0
START, END = b"\x0b", b"\x1c\x0d"
OURS = ("mllp", "api", "worker", "engine")


# --- messages -------------------------------------------------------------------------------


def _hl7_time(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%d%H%M%S+0000")


def adt(event: str, control_id: str, unit: str, clinician: str, n: int, *, died: bool) -> bytes:
    """One ADT message as a hospital's engine sends it: a synthetic patient (PID, NK1, DG1)
    around the fields the adapter reads. `died`: PV1-36 41 (expired in a medical facility)."""
    now = _hl7_time(datetime.now(UTC))
    structure = {"A01": "ADT_A01", "A08": "ADT_A01", "A03": "ADT_A03"}[event]
    disposition = "41" if died else ""
    discharged = now if died else ""
    segments = [
        f"MSH|^~\\&|ADTENGINE|BENCHHOSP|SVRR|BENCHHOSP|{now}||ADT^{event}^{structure}|"
        f"{control_id}|P|2.5.1",
        f"EVN|{event}|{now}|||OP{n % 97:02d}^CLERK^SAM|{now}",
        f"PID|1||MRN{700000 + n}^^^BENCHHOSP^MR||DOE^JANE^Q||19600101|F|||"
        f"{n % 900 + 1} MAIN STREET^^SPRINGFIELD^IL^62704||(217)555-{n % 10000:04d}|||||"
        f"ACCT{900000 + n}",
        "NK1|1|DOE^JOHN|SPO^Spouse|1 MAIN STREET^^SPRINGFIELD^IL^62704|(217)555-0199",
        f"PV1|1|I|{unit}^{100 + n % 300}^A^BENCHHOSP||||{clinician}^SMITH^ALEX^^^DR|||MED"
        f"|||||||{clinician}^SMITH^ALEX^^^DR||V{800000 + n}^^^BENCHHOSP^VN"
        + "|" * 17
        + f"{disposition}||||||||20261125083000+0000|{discharged}",
        "DG1|1||I50.9^Heart failure, unspecified^I10||20261130|F",
    ]
    return "\r".join(segments).encode()


@dataclass
class Load:
    """The messages of a phase, made ahead of time (this script's CPU competes with what it
    measures), and the deaths among them by control id."""

    run: str
    clinicians: Iterator[str]
    made: int = 0
    deaths: dict[str, str] = field(default_factory=dict)  # control id -> clinician

    def message(self, death: bool) -> tuple[str, bytes]:
        self.made += 1
        n = self.made
        control_id = f"{self.run}-{n}"
        unit = UNITS[n % len(UNITS)]
        if death:
            clinician = next(self.clinicians)
            self.deaths[control_id] = clinician
            return control_id, adt("A03", control_id, unit, clinician, n, died=True)
        event = "A01" if n % 3 == 0 else "A08"
        return control_id, adt(event, control_id, unit, "S00000", n, died=False)

    def mix(self, count: int, share: float) -> list[tuple[str, bytes]]:
        """`count` messages, deaths spread evenly at `share` of them."""
        out, owed = [], 0.0
        for _ in range(count):
            owed += share
            death = owed >= 1.0
            owed -= 1.0 if death else 0.0
            out.append(self.message(death))
        return out


# --- an MLLP sender ---------------------------------------------------------------------------


class Connection:
    """One MLLP connection, one message at a time (as MLLP senders do)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
        return cls(reader, writer)

    async def send(self, message: bytes) -> str:
        """The ACK's MSA-1 (AA, AE, AR); raises when the service hung up without one."""
        self.writer.write(START + message + END)
        ack = await self.reader.readuntil(END)
        at = ack.find(b"\rMSA|")
        return ack[at + 5 : at + 7].decode() if at >= 0 else "??"

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


async def _sustained(
    host: str, port: int, messages: list[tuple[str, bytes]], connections: int, seconds: float
) -> dict[str, object]:
    """Every connection sends the next message as soon as its last one was ACKed, until
    `seconds` have passed or the messages ran out; ACKs counted by code and by second."""
    conns = [await Connection.open(host, port) for _ in range(connections)]
    codes: dict[str, int] = {}
    acked_at: list[float] = []
    sent: list[str] = []
    feed = iter(messages)
    t0 = time.monotonic()
    deadline = t0 + seconds

    async def pump(conn: Connection) -> None:
        for control_id, message in feed:
            if time.monotonic() >= deadline:
                return
            sent.append(control_id)
            code = await conn.send(message)
            codes[code] = codes.get(code, 0) + 1
            acked_at.append(time.monotonic())

    await asyncio.gather(*(pump(c) for c in conns))
    wall = time.monotonic() - t0
    for c in conns:
        await c.close()
    per_second = [0] * (int(wall) + 1)
    for at in acked_at:
        per_second[min(int(at - t0), len(per_second) - 1)] += 1
    return {
        "wall_s": round(wall, 2),
        "acked": len(acked_at),
        "codes": codes,
        "sent": sent,
        "acked_per_s": round(len(acked_at) / wall, 1) if wall else None,
        "per_second": per_second,
        "ran_out": len(sent) == len(messages),
    }


async def _steady(
    host: str, port: int, messages: list[tuple[str, bytes]], rate: float
) -> dict[str, tuple[float, float, str]]:
    """One connection, one message every 1/rate s: control id -> (sent, ACKed, code)."""
    conn = await Connection.open(host, port)
    out: dict[str, tuple[float, float, str]] = {}
    start = time.monotonic()
    for i, (control_id, message) in enumerate(messages):
        await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
        sent = time.time()
        code = await conn.send(message)
        out[control_id] = (sent, time.time(), code)
    await conn.close()
    return out


# --- measuring ------------------------------------------------------------------------------


def _pids(stack: Stack, mllp: Proc) -> dict[str, int]:
    return costs.stack_pids(stack) | {"mllp": python_pid(mllp.popen.pid)}  # type: ignore[union-attr]


def cpu_rows(used: dict[str, float], units: int, unit: str) -> dict[str, object]:
    """Per process: CPU s, share of one core over the phase, ms per message (or page)."""
    wall = max(used["wall_s"], 1e-6)
    per = max(units, 1)
    names = [n for n in used if n not in ("machine", "rest", "wall_s", "available")]
    rows = {
        n: {
            "cpu_s": round(used[n], 2),
            "busy_pct": round(100 * used[n] / wall, 1),
            f"ms_per_{unit}": round(1000 * used[n] / per, 3),
        }
        for n in sorted(names, key=lambda n: (OURS.index(n) if n in OURS else 9, n))
    }
    ours = sum(used[n] for n in names if n in OURS)
    return {
        "wall_s": round(wall, 2),
        "unit": unit,
        "units": units,
        "processes": rows,
        "ours": {
            "cpu_s": round(ours, 2),
            "busy_pct": round(100 * ours / wall, 1),
            f"ms_per_{unit}": round(1000 * ours / per, 3),
        },
        "machine_busy_pct": round(100 * used["machine"] / wall, 1),
        "rest_cpu_s": round(used["rest"], 2),
        "rest_busy_pct": round(100 * used["rest"] / wall, 1),
        "cores": os.cpu_count() or 1,
    }


def cpu_table(cpu: dict[str, object]) -> str:
    unit = str(cpu["unit"])
    lines = [
        f"| process | CPU s over {cpu['wall_s']} s | busy, % of one core | "
        f"ms CPU per {unit} ({cpu['units']}) |",
        "|---|---|---|---|",
    ]
    procs = cpu["processes"]
    assert isinstance(procs, dict)
    label = {"postgres": "PostgreSQL", "kafka": "Kafka", "bench": "this script (the load)"}
    for name, r in procs.items():
        shown = name if name in OURS else f"{label.get(name, name)} (not ours)"
        lines.append(f"| {shown} | {r['cpu_s']} | {r['busy_pct']} | {r[f'ms_per_{unit}']} |")
    ours = cpu["ours"]
    assert isinstance(ours, dict)
    lines.append(
        f"| **ours** ({' + '.join(OURS)}) | {ours['cpu_s']} | {ours['busy_pct']} | "
        f"{ours[f'ms_per_{unit}']} |"
    )
    lines.append(
        f"| rest (anything else running on the machine) | {cpu['rest_cpu_s']} | "
        f"{cpu['rest_busy_pct']} | |"
    )
    cores = int(str(cpu["cores"]))
    lines.append(f"| machine ({cores} cores = {100 * cores}%) | | {cpu['machine_busy_pct']} | |")
    return "\n".join(lines)


def stored(url: str, control_ids: list[str]) -> dict[str, str | None]:
    """control id -> incident id (None: stored, no incident) of the records in the store."""
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        rows = conn.execute(
            "SELECT record_id, incident_id::text FROM feed_records "
            "WHERE source = 'hl7v2' AND record_id = ANY(%s)",
            (control_ids,),
        ).fetchall()
    return {str(r[0]): r[1] for r in rows}


def first_page_of(url: str, incident_ids: list[str]) -> dict[str, str]:
    """incident id -> its first page's id."""
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        rows = conn.execute(
            "SELECT c.incident_id::text, p.id::text FROM pages p "
            "JOIN support_cases c ON c.id = p.case_id "
            "WHERE p.attempt = 1 AND c.incident_id::text = ANY(%s)",
            (incident_ids,),
        ).fetchall()
    return {str(a): str(b) for a, b in rows}


def latency_phase(
    stack: Stack, mllp: Proc, port: int, url: str, load: Load, count: int, rate: float
) -> dict[str, object]:
    log = StandinLog(stack.standin_url)
    with httpx.Client() as client:
        log.poll(client)  # only what arrives from now on
    messages = [load.message(death=True) for _ in range(count)]
    meter = CpuMeter(_pids(stack, mllp))
    print(f"latency: {count} deaths at {rate:g}/s over one connection", flush=True)
    meter.start()
    sent = uvloop.run(_steady("127.0.0.1", port, messages, rate))
    ids = [c for c, _m in messages]
    deadline = time.monotonic() + 60
    pages: dict[str, str] = {}
    with httpx.Client() as client:
        while time.monotonic() < deadline:
            log.poll(client)
            incidents = {c: i for c, i in stored(url, ids).items() if i}
            pages = first_page_of(url, list(incidents.values()))
            if len(pages) >= count and all(log.first(p) for p in pages.values()):
                break
            costs.check_alive(stack)
            time.sleep(0.5)
    used = meter.stop()
    incidents = {c: i for c, i in stored(url, ids).items() if i}
    page_of = {c: pages.get(i) for c, i in incidents.items()}
    lat_ms = [
        (at - sent[c][0]) * 1000
        for c, p in page_of.items()
        if p is not None and (at := log.first(p)) is not None
    ]
    ack_ms = [(a - s) * 1000 for s, a, _code in sent.values()]
    figures: dict[str, object] = {
        "deaths": count,
        "rate_per_s": rate,
        "acks": {code: sum(1 for *_x, k in sent.values() if k == code) for code in ("AA", "AE")},
        "incidents": len(incidents),
        "pages_at_standin": len(lat_ms),
        "ack_p50_ms": round(statistics.median(ack_ms), 1),
        "ack_p99_ms": round(percentile(ack_ms, 99), 1),
        "cpu": cpu_rows(used, max(len(lat_ms), 1), "page"),
    }
    if lat_ms:
        figures |= {
            "p50_ms": round(statistics.median(lat_ms), 1),
            "p95_ms": round(percentile(lat_ms, 95), 1),
            "p99_ms": round(percentile(lat_ms, 99), 1),
            "max_ms": round(max(lat_ms), 1),
        }
    figures["samples_ms"] = [round(x, 1) for x in lat_ms]
    return figures


def throughput_phase(
    stack: Stack,
    mllp: Proc,
    port: int,
    url: str,
    load: Load,
    label: str,
    share: float,
    seconds: float,
    args: argparse.Namespace,
) -> dict[str, object]:
    """Messages are made ahead, `--ceiling` a second of the phase: more than can be sent."""
    connections = args.connections
    messages = load.mix(int(seconds * args.ceiling), share)
    deaths = set(load.deaths)
    meter = CpuMeter(_pids(stack, mllp))
    print(f"{label}: {connections} connections for {seconds:g} s, deaths {share:.0%}", flush=True)
    meter.start()
    got = uvloop.run(_sustained("127.0.0.1", port, messages, connections, seconds))
    used = meter.stop()
    sent = got.pop("sent")
    assert isinstance(sent, list)
    sent_deaths = [c for c in sent if c in deaths]
    in_store = stored(url, sent_deaths)
    figures: dict[str, object] = {
        "label": label,
        "connections": connections,
        "death_share": share,
        "seconds": seconds,
        **got,
        "deaths_acked": len(sent_deaths),
        "deaths_in_store": len(in_store),
        "deaths_with_incident": sum(1 for i in in_store.values() if i),
        "cpu": cpu_rows(used, int(str(got["acked"])), "message"),
    }
    if got["ran_out"]:
        print(f"  {label}: ran out of messages: raise the ceiling", flush=True)
    return figures


def run(args: argparse.Namespace) -> dict[str, object]:
    roster = Roster.of(args)
    url, env = prepare("mllp", roster)
    stack = start_stack(env, RUN / "log" / "bench-mllp")
    run_id = f"B{int(time.time()) % 100000:05d}"
    # Every death names a clinician never named before while the pool lasts (the phases
    # made ahead hold more deaths than are sent); after that, names come round again.
    load = Load(run_id, itertools.cycle(roster.clinicians))
    try:
        mllp, port = start_mllp(stack)
        try:
            # Warm up: connections, prepared statements, the worker's caches.
            warm = [load.message(death=i % 2 == 0) for i in range(20)]
            uvloop.run(_steady("127.0.0.1", port, warm, 20.0))
            time.sleep(2)
            latency = latency_phase(
                stack, mllp, port, url, load, args.latency_count, args.latency_rate
            )
            print(
                f"  death -> page: p50 {latency.get('p50_ms')} ms, p99 {latency.get('p99_ms')} ms",
                flush=True,
            )
            mix = throughput_phase(
                stack, mllp, port, url, load, "realistic mix", args.deaths, args.seconds, args
            )
            print(f"  mix: {mix['acked_per_s']} ACKed/s", flush=True)
            time.sleep(args.pause)
            everything = throughput_phase(
                stack, mllp, port, url, load, "all deaths", 1.0, args.all_deaths_seconds, args
            )
            print(f"  all deaths: {everything['acked_per_s']} ACKed/s", flush=True)
        finally:
            mllp.stop()
    finally:
        stop_stack(stack)
        drop_kafka_state(env)
    return {
        "benchmark": "mllp: HL7 v2 over MLLP, death -> first page, and ACKed messages per second",
        "date": now_iso(),
        "machine": machine(),
        "target_acks_per_s": TARGET_ACKS_PER_S,
        "target_p99_ms": TARGET_P99_MS,
        "latency": latency,
        "mix": mix,
        "all_deaths": everything,
        "acks_per_s_mix": mix["acked_per_s"],
        "acks_per_s_all_deaths": everything["acked_per_s"],
        "death_to_page_p50_ms": latency.get("p50_ms"),
        "death_to_page_p99_ms": latency.get("p99_ms"),
        "staff": roster.staff,
        "peers": roster.peers,
        "peers_on_call": roster.on_call,
    }


def table(result: dict[str, object]) -> str:
    lat, mix, alld = result["latency"], result["mix"], result["all_deaths"]
    assert isinstance(lat, dict) and isinstance(mix, dict) and isinstance(alld, dict)
    lines = [
        "| figure | result | target |",
        "|---|---|---|",
        f"| HL7 death -> first page at the stand-in, p50 / p95 / p99 / max ms "
        f"({lat['pages_at_standin']} of {lat['deaths']} deaths at {lat['rate_per_s']:g}/s) | "
        f"{lat.get('p50_ms')} / {lat.get('p95_ms')} / {lat.get('p99_ms')} / {lat.get('max_ms')}"
        f" | p99 < {TARGET_P99_MS:g} |",
        f"| HL7 death -> its ACK (committed), p50 / p99 ms | {lat['ack_p50_ms']} / "
        f"{lat['ack_p99_ms']} | |",
    ]
    for phase, target in ((mix, f">= {TARGET_ACKS_PER_S:g}"), (alld, "")):
        lines.append(
            f"| ACKed messages/s, {phase['label']} ({phase['connections']} connections, "
            f"{phase['seconds']:g} s, deaths {phase['death_share']:.0%}) | "
            f"{phase['acked_per_s']} | {target} |"
        )
    parts = ["\n".join(lines)]
    for phase in (mix, alld):
        parts.append(
            f"{phase['label']}: ACK codes {phase['codes']}; deaths ACKed {phase['deaths_acked']},"
            f" in the store {phase['deaths_in_store']} (with an incident "
            f"{phase['deaths_with_incident']}); ACKs per second {phase['per_second']}"
        )
    for title, phase in (("death -> page", lat), ("realistic mix", mix), ("all deaths", alld)):
        cpu = phase["cpu"]
        assert isinstance(cpu, dict)
        parts.append(f"CPU, {title}:\n\n{cpu_table(cpu)}")
    return "\n\n".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="the mix phase's length")
    parser.add_argument("--all-deaths-seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--deaths", type=float, default=0.02, help="deaths' share of the mix")
    parser.add_argument("--latency-count", type=int, default=300)
    parser.add_argument("--latency-rate", type=float, default=5.0)
    parser.add_argument(
        "--ceiling", type=float, default=4000.0, help="messages made per second of a phase"
    )
    parser.add_argument(
        "--pause", type=float, default=10.0, help="s between the phases (the worker catches up)"
    )
    Roster.add_arguments(parser, staff=9000, peers=2000, on_call=1000)
    args = parser.parse_args()
    result = run(args)
    title = str(result["benchmark"])
    report("mllp", title, result, table(result))
    lat = result["latency"]
    assert isinstance(lat, dict)
    plots.latency(
        "mllp",
        lat["samples_ms"],
        f"{title}\ndeath -> first page at {lat['rate_per_s']:g}/s",
        {"p99 target": TARGET_P99_MS},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
