"""Faults injected during bursts of incidents on the real stack: after recovery, every case
has exactly one first page, and that page reached the provider exactly once.

Why a suite of its own (the `faults` marker, run by `make test` like every integration
test): users trust a pager only if it never drops or doubles a page, and the ways it can
are the moments nobody tests by hand: Twilio answering 500 or 429 for a while, or taking a
message and never answering (the caller times out, the SMS went out), and the worker
killed with SIGKILL between a send and its record. Each kind below runs a burst of
incidents, one clinician each, while its fault is injected, waits for recovery, then looks
again after the stale-claim interval (when the page sweep could have re-sent anything
unrecorded) and counts, per case: first pages expected, sent, lost, duplicated. The table is
printed and kept with the benchmark results (benchmarks/results/faults-latest.md).

Counted from the store and the stand-in's own log: a page is sent once when exactly one SMS
at the stand-in carries its id in its status callback (a bundled SMS carries several).

"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.integration.sealed import opened
from tests.integration.wards import Ward, make_ward
from tests.stack import ROOT, TWILIO_SID, Stack, wait_for

# Disruptive: it restarts the broker, and its bursts leave every peer at their case limit,
# so it runs after the other tests (tests/integration/conftest.py).
pytestmark = [pytest.mark.faults, pytest.mark.disruptive]
RESULTS = ROOT / "benchmarks" / "results" / "faults-latest.md"
BURST = 20  # incidents per fault kind
KINDS = 9  # fault kinds below; the table is kept only when all of them ran
STALE_S = 3  # SENDING_STALE_SECONDS in the test environment (tests/integration/conftest.py)


@dataclass
class Row:
    kind: str
    faults: int
    incidents: int
    expected: int
    sent: int
    lost: int
    duplicated: int
    seconds: float


@pytest.fixture(scope="module")
def table() -> Iterator[list[Row]]:
    rows: list[Row] = []
    yield rows
    if len(rows) < KINDS:  # a part of the suite (-k): printed by its tests, not kept
        return
    lines = [
        "faults: bursts of incidents with faults injected, counted after recovery",
        "",
        f"{datetime.now(UTC).isoformat(timespec='seconds')} (tests/integration/test_faults.py)",
        "",
        "| fault kind | faults injected | incidents | pages expected | sent once | lost | "
        "duplicated | seconds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.kind} | {r.faults} | {r.incidents} | {r.expected} | {r.sent} | {r.lost} | "
        f"{r.duplicated} | {r.seconds:.1f} |"
        for r in rows
    ]
    text_ = "\n".join(lines) + "\n"
    print("\n" + text_)
    Path(RESULTS).write_text(text_, encoding="utf-8")


@pytest.fixture
def ward(db: Engine) -> Ward:
    return make_ward(db, "Fx", BURST)


def burst(stack: Stack, ward: Ward, between: float = 0.0, during: object = None) -> list[str]:
    """Log one incident per clinician of the ward; `during(i)` runs before the i-th."""
    ids = []
    with stack.client() as c:
        for i, staff_id in enumerate(ward.staff):
            if callable(during):
                during(i)
            r = c.post(
                "/incidents",
                json={
                    "occurred_at": datetime.now(UTC).isoformat(),
                    "unit": ward.unit,
                    "event_type": "unexpected_death",
                    "harm_level": "death",
                    "staff_ids": [staff_id],
                },
            )
            assert r.status_code == 202, r.text
            ids.append(r.json()["incident_id"])
            if between:
                time.sleep(between)
    return ids


def pages_at(db: Engine, incident_ids: list[str], attempt: int = 1) -> dict[str, list[str]]:
    """Each case of the incidents: the ids of its pages of this attempt (1: first pages)."""
    with db.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT c.id, p.id FROM support_cases c LEFT JOIN pages p "
                "ON p.case_id = c.id AND p.attempt = :a WHERE c.incident_id = ANY(:i)"
            ),
            {"i": incident_ids, "a": attempt},
        ).all()
    out: dict[str, list[str]] = {}
    for case_id, page_id in rows:
        out.setdefault(str(case_id), [])
        if page_id is not None:
            out[str(case_id)].append(str(page_id))
    return out


def sms_per_page(stack: Stack, page_ids: set[str]) -> dict[str, int]:
    messages = httpx.get(f"{stack.standin_url}/_standin/messages", timeout=30).json()
    counts = dict.fromkeys(page_ids, 0)
    for m in messages:
        callback = m.get("status_callback") or ""
        for page_id in page_ids:
            if page_id in callback:
                counts[page_id] += 1
    return counts


def settle_and_count(
    stack: Stack,
    db: Engine,
    kind: str,
    faults: int,
    incident_ids: list[str],
    started: float,
    busy_until: float = 0.0,
    timeout: float = 90,
) -> Row:
    """Wait until every case's first page reached the stand-in (or 90 s passed), then past
    the stale-claim interval, and past `busy_until` (monotonic: when the last answer Twilio
    held back has come, or timed out, so whatever the sender does then has happened), and
    count."""

    def all_out() -> bool:
        pages = pages_at(db, incident_ids)
        ids = all_of(pages)
        if len(pages) < len(incident_ids) or any(not ps for ps in pages.values()):
            return False
        return all(n >= 1 for n in sms_per_page(stack, ids).values())

    try:
        wait_for(all_out, timeout, f"{kind}: every first page at the stand-in", 0.5)
    finally:
        httpx.delete(f"{stack.standin_url}/_standin/faults", timeout=10)
    # The sweep has had its chance to send anything again.
    time.sleep(max(STALE_S + 3, busy_until + STALE_S + 3 - time.monotonic()))
    pages = pages_at(db, incident_ids)
    return counted(
        kind, faults, len(incident_ids), pages, sms_per_page(stack, all_of(pages)), started
    )


def all_of(pages: dict[str, list[str]]) -> set[str]:
    return {p for ps in pages.values() for p in ps}


def counted(
    kind: str,
    faults: int,
    expected: int,
    pages: dict[str, list[str]],
    sms: dict[str, int],
    started: float,
) -> Row:
    """The row for `expected` cases' pages of one step: lost when a case has no page that
    reached the stand-in (or no case at all), duplicated for each page beyond one per case
    and each SMS beyond one per page."""
    lost = sum(1 for ps in pages.values() if not ps or all(sms[p] == 0 for p in ps))
    lost += expected - len(pages)
    duplicated = sum(max(0, len(ps) - 1) for ps in pages.values())
    duplicated += sum(n - 1 for n in sms.values() if n > 1)
    sent = sum(1 for n in sms.values() if n == 1)
    return Row(kind, faults, expected, expected, sent, lost, duplicated, time.monotonic() - started)


def fault(stack: Stack, **body: object) -> None:
    r = httpx.post(f"{stack.standin_url}/_standin/faults", json=body, timeout=10)
    assert r.status_code == 200, r.text


def fault_hits(stack: Stack) -> int:
    return int(httpx.get(f"{stack.standin_url}/_standin/faults", timeout=10).json()["hits"])


@pytest.mark.parametrize(
    ("kind", "injected"),
    [
        ("Twilio answers 500 for 3 s", {"kind": "error", "seconds": 3}),
        ("Twilio answers 429, Retry-After 1 s, 10 times", {"kind": "throttle", "count": 10}),
        (
            "Twilio takes 3 messages and never answers in time",
            {"kind": "hang", "count": 3, "hang": 12},
        ),
    ],
)
def test_twilio_failing_for_a_while_loses_and_doubles_nothing(
    stack: Stack, db: Engine, ward: Ward, table: list[Row], kind: str, injected: dict
) -> None:
    started = time.monotonic()
    fault(stack, **injected)
    incident_ids = burst(stack, ward, between=0.05)
    hits = fault_hits(stack)
    # A held answer ends when the stand-in gives it or the sender stops waiting (10 s).
    busy_until = started + float(injected.get("hang", 0)) + 10 if injected["kind"] == "hang" else 0
    row = settle_and_count(stack, db, kind, hits, incident_ids, started, busy_until)
    table.append(row)
    assert hits > 0, "the fault never met a send: the test proved nothing"
    assert (row.lost, row.duplicated) == (0, 0), row
    assert row.sent == row.expected


def test_the_worker_killed_mid_burst_loses_and_doubles_nothing(
    stack: Stack, db: Engine, ward: Ward, table: list[Row]
) -> None:
    """SIGKILL at two random points of the burst, each time restarted: whatever it held
    (a batch read but not committed, pages claimed but not recorded) is taken again by the
    next worker or the sweep, never twice."""
    started = time.monotonic()
    rng = random.Random(13)
    kills = sorted(rng.sample(range(2, BURST - 1), 2))
    done = []

    def kill_at(i: int) -> None:
        if i in kills:
            time.sleep(rng.uniform(0, 0.2))
            stack.worker.stop(signal.SIGKILL)
            done.append(i)
            stack.start_worker()

    incident_ids = burst(stack, ward, between=0.1, during=kill_at)
    row = settle_and_count(stack, db, "worker SIGKILL mid-burst", len(done), incident_ids, started)
    table.append(row)
    assert len(done) == 2 and stack.worker.alive()
    assert (row.lost, row.duplicated) == (0, 0), row
    assert row.sent == row.expected


def test_the_engine_killed_mid_escalation_wave_escalates_each_case_once(
    stack: Stack, db: Engine, ward: Ward, table: list[Row]
) -> None:
    """Every case's page goes unanswered at once (its timeout made due) and the deadline
    engine is SIGKILLed while it works through the wave, then restarted: each case gets one
    escalation page (attempt 2), sent once, and each timeout fires once."""
    assert stack.engine is not None
    incident_ids = burst(stack, ward)
    wait_for(
        lambda: (
            all(
                ps and all(n >= 1 for n in sms_per_page(stack, set(ps)).values())
                for ps in pages_at(db, incident_ids).values()
            )
            and len(pages_at(db, incident_ids)) == BURST
        ),
        90,
        "every first page out before the wave",
        0.5,
    )
    started = time.monotonic()
    with db.begin() as conn:
        due = conn.execute(
            text(
                "UPDATE deadlines d SET due_at = now() - interval '1 minute' FROM support_cases c "
                "WHERE d.case_id = c.id AND c.incident_id = ANY(:i) AND d.kind = 'page_timeout' "
                "AND d.fired_at IS NULL"
            ),
            {"i": incident_ids},
        ).rowcount
    assert due == BURST
    time.sleep(random.Random(7).uniform(0.05, 0.3))
    stack.engine.stop(signal.SIGKILL)
    stack.engine.start_ready(30)

    def escalated() -> bool:
        second = pages_at(db, incident_ids, 2)
        sms = sms_per_page(stack, all_of(second))
        return all(second.values()) and all(n >= 1 for n in sms.values())

    wait_for(escalated, 90, "every case escalated", 0.5)
    time.sleep(STALE_S + 3)
    second = pages_at(db, incident_ids, 2)
    sms = sms_per_page(stack, all_of(second))
    with db.connect() as conn:
        fired = conn.execute(
            text(
                "SELECT count(*) FROM deadlines d JOIN support_cases c ON c.id = d.case_id "
                "WHERE c.incident_id = ANY(:i) AND d.kind = 'page_timeout' "
                "AND d.fired_at IS NOT NULL"
            ),
            {"i": incident_ids},
        ).scalar_one()
    row = counted("engine SIGKILL mid escalation wave", 1, BURST, second, sms, started)
    table.append(row)
    assert (row.lost, row.duplicated) == (0, 0), row
    assert row.sent == row.expected
    assert fired == BURST  # each timeout that fell due fired once, and no other yet


def test_status_callbacks_twice_late_and_out_of_order_change_nothing_twice(
    stack: Stack, db: Engine, ward: Ward, table: list[Row]
) -> None:
    """Twilio retries callbacks and does not order them: every delivered page's callback is
    posted again twice, and a stale `sent` after it. Each page stays delivered, with one
    `delivered` step in its history, and no page is sent again."""
    started = time.monotonic()
    incident_ids = burst(stack, ward)

    def delivered() -> bool:
        with db.connect() as conn:
            states = (
                conn.execute(
                    text(
                        "SELECT p.state FROM pages p JOIN support_cases c ON c.id = p.case_id "
                        "WHERE c.incident_id = ANY(:i) AND p.attempt = 1"
                    ),
                    {"i": incident_ids},
                )
                .scalars()
                .all()
            )
        return len(states) == BURST and all(s == "delivered" for s in states)

    wait_for(delivered, 90, "every first page delivered", 0.5)
    ids = all_of(pages_at(db, incident_ids))
    messages = httpx.get(f"{stack.standin_url}/_standin/messages", timeout=30).json()
    sids = [m["sid"] for m in messages if any(p in (m.get("status_callback") or "") for p in ids)]
    replays = 0
    for sid in sids:
        for status, times in (("delivered", 2), ("sent", 1)):
            r = httpx.post(
                f"{stack.standin_url}/_standin/messages/{sid}/callbacks",
                json={"status": status, "times": times},
                timeout=30,
            )
            assert r.status_code == 200, r.text
            replays += times
    time.sleep(STALE_S + 3)
    with db.connect() as conn:
        steps = conn.execute(
            text(
                "SELECT p.id, p.state, count(t.id) FILTER (WHERE t.state = 'delivered') "
                "FROM pages p JOIN support_cases c ON c.id = p.case_id "
                "LEFT JOIN page_transitions t ON t.page_id = p.id "
                "WHERE c.incident_id = ANY(:i) AND p.attempt = 1 GROUP BY p.id, p.state"
            ),
            {"i": incident_ids},
        ).all()
    sms = sms_per_page(stack, ids)
    twice = sum(1 for _, state, n in steps if state != "delivered" or n != 1)
    row = Row(
        "status callbacks twice, late, out of order",
        replays,
        BURST,
        BURST,
        sum(1 for n in sms.values() if n == 1),
        sum(1 for n in sms.values() if n == 0),
        sum(n - 1 for n in sms.values() if n > 1) + twice,
        time.monotonic() - started,
    )
    table.append(row)
    assert replays == 3 * len(sids) and len(sids) >= 1
    assert (row.lost, row.duplicated) == (0, 0), (row, steps)
    assert row.sent == row.expected


def run(command: str) -> None:
    subprocess.run(command, shell=True, check=True, capture_output=True, timeout=180)


def test_the_broker_restarted_mid_burst_loses_and_doubles_nothing(
    stack: Stack, db: Engine, ward: Ward, table: list[Row]
) -> None:
    """Kafka stopped a third of the way through a burst and started again two thirds in:
    what was logged meanwhile waits in the outbox, and every case is paged once after."""
    stop = os.environ.get("KAFKA_STOP_CMD", f"bash {ROOT}/deploy/kafka.sh stop")
    start = os.environ.get("KAFKA_START_CMD", f"bash {ROOT}/deploy/kafka.sh start")
    started = time.monotonic()
    state = {"down": False}

    def outage(i: int) -> None:
        if i == BURST // 3:
            run(stop)
            state["down"] = True
        elif i == 2 * BURST // 3 and state["down"]:
            run(start)
            state["down"] = False

    try:
        incident_ids = burst(stack, ward, between=0.1, during=outage)
    finally:
        if state["down"]:
            run(start)
    row = settle_and_count(
        stack, db, "broker stopped and started mid-burst", 1, incident_ids, started, timeout=180
    )
    table.append(row)
    assert (row.lost, row.duplicated) == (0, 0), row
    assert row.sent == row.expected


def test_postgresql_restarted_mid_burst_loses_and_doubles_nothing(
    stack: Stack, db: Engine, ward: Ward, table: list[Row]
) -> None:
    """PostgreSQL stopped a third of the way through a burst and started again: while it
    is down the API refuses to accept (nothing can be stored), the sender retries with the
    same incident key until it is accepted, and every process reconnects by itself."""
    stop = os.environ.get("POSTGRES_STOP_CMD", f"bash {ROOT}/deploy/postgres.sh stop")
    start = os.environ.get("POSTGRES_START_CMD", f"bash {ROOT}/deploy/postgres.sh start")
    started = time.monotonic()
    refused = 0
    incident_ids: list[str] = []
    down = False
    try:
        with stack.client() as c:
            for i, staff_id in enumerate(ward.staff):
                if i == BURST // 3:
                    run(stop)
                    down = True
                if i == BURST // 3 + 3 and down:
                    run(start)
                    down = False
                key = str(uuid.uuid4())
                body = {
                    "occurred_at": datetime.now(UTC).isoformat(),
                    "unit": ward.unit,
                    "event_type": "unexpected_death",
                    "harm_level": "death",
                    "staff_ids": [staff_id],
                    "incident_key": key,
                }
                deadline = time.monotonic() + 120
                while True:
                    try:
                        r = c.post("/incidents", json=body)
                    except httpx.HTTPError:
                        r = None
                    if r is not None and r.status_code in (200, 202):
                        incident_ids.append(r.json()["incident_id"])
                        break
                    assert r is None or r.status_code >= 500, r.text
                    refused += 1
                    assert time.monotonic() < deadline, "the API never took the incident back"
                    if down and refused >= 3:
                        run(start)  # the sender's retries met the outage: end it
                        down = False
                    time.sleep(0.5)
    finally:
        if down:
            run(start)
    db.dispose()  # this test's own pool held connections to the stopped server
    row = settle_and_count(
        stack, db, "PostgreSQL stopped and started mid-burst", 1, incident_ids, started,
        timeout=180,
    )  # fmt: skip
    table.append(row)
    assert refused > 0, "no POST met the outage: the test proved nothing"
    assert (row.lost, row.duplicated) == (0, 0), row
    assert row.sent == row.expected


def test_replies_delivered_twice_and_late_are_applied_once(
    stack: Stack, db: Engine, ward: Ward, table: list[Row]
) -> None:
    """Twilio may post one inbound SMS twice (a retry after a slow answer), and a copy may
    come late: each peer's "yes" to each page is posted twice at once and a third time a
    second later, under its one MessageSid. Each page is accepted once: one `accepted`
    step, one PageAnswered event, one stored inbound message per MessageSid."""
    from tests.integration.test_webhooks import signed

    started = time.monotonic()
    incident_ids = burst(stack, ward)

    def sent() -> list[tuple[str, str, str]]:
        with db.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT p.id, p.to_number, p.reply_code FROM pages p JOIN support_cases c "
                    "ON c.id = p.case_id WHERE c.incident_id = ANY(:i) AND p.attempt = 1 "
                    "AND p.provider_sid IS NOT NULL"
                ),
                {"i": incident_ids},
            ).all()
        if len(rows) != BURST:
            return []
        return [(str(r[0]), str(opened(r[1], "pages.to_number")), r[2]) for r in rows]

    pages = wait_for(sent, 90, "every first page sent", 0.5)
    sids = {page_id: "SM" + uuid.uuid4().hex for page_id, _, _ in pages}

    def reply(page_id: str, number: str, code: str) -> None:
        """The peer's "yes" to the page, signed as Twilio signs it, under its one sid."""
        form = {
            "MessageSid": sids[page_id],
            "AccountSid": TWILIO_SID,
            "From": number,
            "To": "+15005550006",
            "Body": f"{code}A",
        }
        r = httpx.post(
            f"{stack.api_url}/twilio/sms", data=form, headers=signed("/twilio/sms", form)
        )
        assert r.status_code == 200, r.text

    for page in pages:
        reply(*page)
        reply(*page)
    time.sleep(1)
    for page in pages:  # the late copies
        reply(*page)
    replies = 3 * len(pages)

    ids = [p for p, _, _ in pages]

    def answered() -> list[tuple[str, str, int, int]]:
        with db.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT p.id, p.state, "
                    "(SELECT count(*) FROM page_transitions t WHERE t.page_id = p.id "
                    "AND t.state = 'accepted'), "
                    "(SELECT count(*) FROM outbox o WHERE o.payload->>'event' = 'PageAnswered' "
                    "AND o.payload->>'page_id' = CAST(p.id AS text)) "
                    "FROM pages p WHERE p.id = ANY(CAST(:i AS uuid[]))"
                ),
                {"i": ids},
            ).all()
        return [(str(r[0]), r[1], r[2], r[3]) for r in rows]

    wait_for(lambda: all(state == "accepted" for _, state, _, _ in answered()), 60, "accepted", 0.5)
    time.sleep(STALE_S)  # any copy still on its way through the worker
    final = answered()
    with db.connect() as conn:
        stored = conn.execute(
            text("SELECT count(*) FROM inbound_sms WHERE provider_sid = ANY(:s)"),
            {"s": list(sids.values())},
        ).scalar_one()
    twice = sum(1 for _, state, steps, events in final if steps != 1 or events != 1)
    row = Row(
        "inbound replies twice and late",
        replies - len(pages),
        BURST,
        BURST,
        sum(1 for _, state, steps, events in final if (state, steps, events) == ("accepted", 1, 1)),
        sum(1 for _, state, _, _ in final if state != "accepted"),
        twice + max(0, stored - len(sids)),
        time.monotonic() - started,
    )
    table.append(row)
    assert stored == len(sids)
    assert (row.lost, row.duplicated) == (0, 0), (row, final)
    assert row.sent == row.expected
