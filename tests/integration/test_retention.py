"""Retention on the real store: closed cases driven through the tiered response (a peer's
acceptance, the peer-details message, a clinician's acceptance and follow-ups; a clinician's
decline), an SMS from a number nobody knows and a dead letter, then the clock moved past the
retention period and the purge run. The programme metrics read the same before and after;
no number, name or reply text of the closed cases is left in any row of any table outside the
staff directory, in the clear, as a lookup key or sealed; the open case's data is untouched;
a second purge changes nothing.

The flows are test_flows' (its helpers drive the same in-process paths, a day ahead of the
live engine's clock); the metrics are computed with the small-cell threshold at 1, so a
handful of cases shows as numbers, not as suppressed cells that would compare equal whatever
happened to them.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from schemas.events import CaseStateChanged, FeedIncidentReported
from schemas.topics import topic_name
from services import clock, retention
from services.config import get_settings
from services.db import Base, transaction
from services.programme import metrics
from services.programme.tables import CountTable, Period, TimeTable
from services.sealing import Sealed
from tests.integration.phi_scan import scan_store
from tests.integration.sealed import lookup, opened
from tests.integration.test_agents import stored_incident
from tests.integration.test_flows import (
    CLINICIAN,
    CLINICIAN_NUMBER,
    Case,
    accepted_by_peer,
    ahead_of_the_engine,
    at,
    messages,
    open_case,
    q,
    reply,
    state,
)
from tests.stack import leaked

DECLINER, DECLINER_NUMBER = "N1002", "+15550101002"  # Sam Okafor, RN on 4E
OPEN_CLINICIAN, OPEN_NUMBER = "N1102", "+15550101102"  # Riley Chen, RN on 5W
UNKNOWN_NUMBER = "+15557770142"  # no one in the directory
PERIOD_DAYS = 90
NUMBERS = (CLINICIAN_NUMBER, DECLINER_NUMBER, UNKNOWN_NUMBER)  # the closed cases' and a stranger's


@pytest.fixture(autouse=True)
def clock_ahead() -> Iterator[None]:
    clock.reset()
    ahead_of_the_engine()
    yield
    clock.reset()


@dataclass
class Story:
    closed: list[Case]
    open: Case
    markers: dict[str, str]  # who -> a reply text only this run wrote


async def _story(db: Engine) -> Story:
    tag = uuid.uuid4().hex[:8]
    markers = {
        "journey": f"see you at the cafe {tag}j",
        "decliner": f"thanks anyway {tag}d",
        "unknown": f"who is this {tag}u",
        "open": f"not sure yet {tag}o",
    }
    # 1. The whole journey: peer accepts (and gets the clinician's name and number), the
    # clinician accepts, writes once more, three follow-ups, closed.
    journey = await open_case(db, CLINICIAN)
    peer_a = await accepted_by_peer(db, journey)
    details = [b for k, b in messages(db, journey, to=peer_a) if k == "peer_details"]
    assert details  # the peer-details message, to be purged with the case
    assert await reply(db, CLINICIAN_NUMBER, "Yes please") == "clinician accepted"
    await reply(db, CLINICIAN_NUMBER, markers["journey"])
    await at(timedelta(hours=24, minutes=1))
    await at(timedelta(hours=48))
    await at(timedelta(days=4))
    assert state(db, journey) == "closed"
    # 2. A decline: terminal at once; a last word after it.
    declined = await open_case(db, DECLINER)
    await accepted_by_peer(db, declined)
    assert await reply(db, DECLINER_NUMBER, "No thanks") == "declined"
    await reply(db, DECLINER_NUMBER, markers["decliner"])
    # 3. A number nobody knows, answered with help: tied to no case.
    assert await reply(db, UNKNOWN_NUMBER, markers["unknown"]) == "help"
    # 4. A case still open at the end: the peer accepted, the clinician has not answered.
    still_open = await open_case(db, OPEN_CLINICIAN)
    await accepted_by_peer(db, still_open)
    await reply(db, OPEN_NUMBER, markers["open"])
    assert state(db, still_open) == "clinician_offered"
    letter = f'{{"from_number": "{UNKNOWN_NUMBER}", "body": "{markers["unknown"]}"}}'
    with db.begin() as conn:
        # The sends the stand-in would have taken (these flows run without it): the first
        # page's time is a figure the metrics publish, and must survive the purge.
        conn.execute(
            text(
                "UPDATE pages SET sent_at = requested_at + interval '30 seconds' "
                "WHERE sent_at IS NULL AND case_id = ANY(:c)"
            ),
            {"c": [journey.id, declined.id, still_open.id]},
        )
        conn.execute(
            text("INSERT INTO dead_letters (topic, reason, payload) VALUES ('x', 'schema', :p)"),
            {"p": letter.encode()},
        )
    return Story([journey, declined], still_open, markers)


def _period() -> Period:
    today = datetime.now(UTC).date()
    first = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    last = date(today.year + (today.month == 12), today.month % 12 + 1, 1)
    return Period(first, last, "UTC")


async def _metrics(
    monkeypatch: pytest.MonkeyPatch, period: Period
) -> tuple[TimeTable, CountTable, CountTable, CountTable, CountTable]:
    """Every programme table over `period`, nothing suppressed. One period for before and
    after: read twice across a month's last midnight, it named other months."""
    monkeypatch.setattr(metrics, "SMALL", 1)
    async with transaction() as session:
        return (
            await metrics.response_times(session, period),
            await metrics.answer_rates(session, period),
            await metrics.tier_mix(session, period),
            await metrics.volumes_by_discipline(session, period),
            await metrics.volumes_by_unit(session, period),
        )


def _rows_of(db: Engine, case: Case) -> list[str]:
    """Every row that belongs to a case, as text: the case, its pages, messages, replies to
    its pages, transitions, deadlines, and its clinician's own replies."""
    sqls = [
        "SELECT t::text FROM support_cases t WHERE id = :c",
        "SELECT t::text FROM pages t WHERE case_id = :c",
        "SELECT t::text FROM messages t WHERE case_id = :c",
        "SELECT t::text FROM inbound_sms t "
        "WHERE page_id IN (SELECT id FROM pages WHERE case_id = :c)",
        "SELECT t::text FROM case_transitions t WHERE case_id = :c",
        "SELECT t::text FROM deadlines t WHERE case_id = :c",
        # Its clinician's own replies, which answer no page.
        "SELECT i::text FROM inbound_sms i JOIN support_cases c ON c.id = :c "
        "JOIN staff s ON s.staff_id = c.staff_id "
        "WHERE i.from_number_key = s.mobile_key AND i.page_id IS NULL",
    ]
    return sorted(str(r[0]) for sql in sqls for r in q(db, sql, c=case.id))


def _store(db: Engine) -> dict[str, str]:
    """Every row of every table as text, as tests.integration.phi_scan reads it, with what the
    text does not show: each sealed value opened, each binary value decoded. A number sealed
    at rest is still kept; only a NULL is gone."""
    sealed: dict[str, list[str]] = {}
    for table in Base.metadata.tables.values():
        for column in table.columns:
            if isinstance(column.type, Sealed):
                sealed.setdefault(table.name, []).append(column.name)
    assert {"pages", "messages", "inbound_sms"} <= set(sealed), sealed
    texts: dict[str, list[str]] = {}
    with db.connect() as conn:
        tables = conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
        ).scalars()
        for table in list(tables):
            texts[table] = [
                str(r) for r in conn.execute(text(f'SELECT t::text FROM "{table}" t')).scalars()
            ]
            for column in sealed.get(table, []):
                for value in conn.execute(text(f'SELECT "{column}" FROM "{table}"')).scalars():
                    texts[table].append(str(opened(value, f"{table}.{column}")))
            binary = conn.execute(
                text(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_name = :t AND data_type = 'bytea'"
                ),
                {"t": table},
            ).scalars()
            for column in list(binary):
                for value in conn.execute(text(f'SELECT "{column}" FROM "{table}"')).scalars():
                    texts[table].append(bytes(value or b"").decode("utf-8", "replace"))
    return {table: "\n".join(rows) for table, rows in texts.items()}


def _scan(db: Engine, phi: list[str]) -> dict[str, list[str]]:
    """{table: identifiers found}, in the clear, sealed or binary."""
    return {t: hits for t, body in _store(db).items() if (hits := leaked(body, phi))}


def _identifiers(story: Story) -> list[str]:
    """What must be gone: the closed cases' clinicians (numbers, names), their words, the
    unknown number and its words."""
    return [
        *NUMBERS,
        *(lookup(n) for n in NUMBERS),  # what queries compare: as identifying as the number
        "Alex",  # first names, given to the peers in the peer-details messages
        "Sam",
        story.markers["journey"],
        story.markers["decliner"],
        story.markers["unknown"],
    ]


async def test_purge_keeps_the_metrics_and_leaves_no_identifier(
    db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    story = await _story(db)
    # The premise: nobody of the story is in an open case but the open one. The run's other
    # tests (the live stack among them) may have opened one for these seed clinicians since
    # the story began, and a reply its sender's open case may still need is kept.
    with db.begin() as conn:
        others = "SELECT id FROM support_cases WHERE closed_at IS NULL AND id <> :o"
        conn.execute(
            text(
                "UPDATE pages SET state = 'superseded' WHERE state IN "
                f"('requested', 'sending', 'sent', 'delivered') AND case_id IN ({others})"
            ),
            {"o": story.open.id},
        )
        conn.execute(
            text(
                "UPDATE support_cases SET state = CASE WHEN state = 'declined' THEN state "
                f"ELSE 'closed' END, closed_at = now() WHERE id IN ({others})"
            ),
            {"o": story.open.id},
        )
    period = _period()
    before = await _metrics(monkeypatch, period)
    answered = Counter[str]()
    for cell in before[1].cells:
        answered[cell.category] += cell.count or 0
    assert answered["accepted"] >= 1 and answered["declined"] >= 1, answered  # shown, not hidden
    assert any(r.measure == "first_page" and r.cases for r in before[0].rows), before[0]
    open_rows = _rows_of(db, story.open)
    closed_rows = {c.id: _rows_of(db, c) for c in story.closed}
    phi = _identifiers(story)
    found = _scan(db, phi)
    # The scan sees them before: numbers, lookup keys, names and words, sealed or not.
    assert {"messages", "inbound_sms", "dead_letters"} <= set(found), found
    assert set(phi) == {h for hits in found.values() for h in hits}, found
    assert {"Alex", "Sam", CLINICIAN_NUMBER, DECLINER_NUMBER} <= set(found["messages"]), found
    # Read as a dump reads it (no keys), only the directory's names are in the clear.
    in_clear = [p for p in phi if p not in {lookup(n) for n in NUMBERS}]
    assert set(scan_store(db, in_clear)) <= {"staff", "dead_letters"}  # sealed at rest

    clock.advance(timedelta(days=PERIOD_DAYS + 1))
    settings = get_settings()
    assert settings.retention_days == PERIOD_DAYS
    dry = await retention.purge(settings, dry_run=True)
    assert _scan(db, phi) == found  # a dry run changes nothing
    # Two purges at once (two engines): each row is taken by one of them (SKIP LOCKED).
    one, other = await asyncio.gather(retention.purge(settings), retention.purge(settings))
    done = retention.Report(one.cutoff, one.rows + other.rows, False)
    totals, expected = done.by_table(), dry.by_table()
    for table in ("support_cases", "pages", "messages", "dead_letters", "case_attention"):
        assert totals[table] == expected[table], (table, one.rows, other.rows, dry.rows)
    # A reply's number may be cleared by one purge's cases rule after the other cleared
    # its text: counted by both, changed once.
    assert totals["inbound_sms"] >= expected["inbound_sms"] > 0
    assert done.rows[("cases", "support_cases")] >= 2
    assert done.rows[("cases", "messages")] > 0
    assert done.rows[("dead_letters", "dead_letters")] >= 1

    # The programme metrics, unchanged.
    assert await _metrics(monkeypatch, period) == before
    # Nothing identifying of the closed cases anywhere but in the directory.
    left = _scan(db, phi)
    assert set(left) <= {"staff"}, left
    for case in story.closed:
        assert _rows_of(db, case) != closed_rows[case.id]
        assert q(db, "SELECT details_purged_at FROM support_cases WHERE id = :c", c=case.id)[0][0]
        assert not q(
            db,
            "SELECT id FROM pages WHERE case_id = :c AND "
            "(to_number IS NOT NULL OR to_number_key IS NOT NULL OR sent_body IS NOT NULL)",
            c=case.id,
        )
        assert not q(
            db,
            "SELECT id FROM messages WHERE case_id = :c AND "
            "(to_number IS NOT NULL OR to_number_key IS NOT NULL OR body IS NOT NULL)",
            c=case.id,
        )
    # The open case: every row as it was, its clinician's reply (answering no page) too.
    assert _rows_of(db, story.open) == open_rows
    kept = _scan(db, [story.markers["open"], OPEN_NUMBER, lookup(OPEN_NUMBER)])
    assert set(kept["inbound_sms"]) == {story.markers["open"], OPEN_NUMBER, lookup(OPEN_NUMBER)}

    # A second purge finds nothing to do and changes nothing.
    again = await retention.purge(settings)
    assert sum(again.rows.values()) == 0, again.rows
    assert _rows_of(db, story.open) == open_rows


async def test_outbox_keeps_a_published_event_as_long_as_its_topic(db: Engine) -> None:
    """A raw feed record's event leaves the outbox after three days, as it leaves its topic;
    a case event after a week; an event not yet published never."""
    now = datetime.now(UTC)
    raw, events = topic_name(FeedIncidentReported), topic_name(CaseStateChanged)
    rows = {
        "raw 4 days": (raw, now - timedelta(days=4)),
        "event 4 days": (events, now - timedelta(days=4)),
        "event 8 days": (events, now - timedelta(days=8)),
        "raw unpublished": (raw, None),
    }
    ids: dict[str, int] = {}
    with db.begin() as conn:
        for name, (topic, published) in rows.items():
            ids[name] = conn.execute(
                text(
                    "INSERT INTO outbox (topic, key, payload, created_at, published_at) "
                    "VALUES (:t, 'k', '{}', :c, :p) RETURNING id"
                ),
                {"t": topic, "c": now - timedelta(days=30), "p": published},
            ).scalar_one()
    report = await retention.purge(get_settings(), at=now)
    assert report.rows[("outbox", "outbox")] >= 2
    left = {r[0] for r in q(db, "SELECT id FROM outbox WHERE id = ANY(:i)", i=list(ids.values()))}
    assert left == {ids["event 4 days"], ids["raw unpublished"]}


def test_the_cli_prints_counts_per_table(db: Engine) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "retention", "purge", "--dry-run"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("dry run: nothing changed; retention 90 days")
    for table in ("support_cases", "pages", "messages", "inbound_sms", "dead_letters", "outbox"):
        assert re.search(rf"^  {table} +\d+$", done.stdout, re.M), done.stdout


async def test_a_message_being_sent_waits_for_the_next_purge(db: Engine) -> None:
    """A closed case's message claimed by a sender at that moment is left alone (its send is
    in flight and will record its sid), and the case is not marked purged until it is; a
    message still queued that long after its case closed is cancelled, never sent."""
    incident = stored_incident(db, ["N1103"], unit="5W")
    case_id, now = uuid.uuid4(), datetime.now(UTC)
    with db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO support_cases (id, incident_id, staff_id, tier, state, "
                "escalation_step, escalation_round, closed_at) "
                "VALUES (:c, :i, 'N1103', 2, 'closed', 0, 0, :closed)"
            ),
            {"c": case_id, "i": incident.incident_id, "closed": now - timedelta(days=100)},
        )
        for state_ in ("sending", "queued", "sent"):
            conn.execute(
                text(
                    "INSERT INTO messages (id, case_id, kind, to_number_key, dedupe_key, state) "
                    "VALUES (:m, :c, 'follow_up', :k, :d, :s)"
                ),
                {
                    "m": uuid.uuid4(),
                    "c": case_id,
                    "k": f"key-{state_}",
                    "d": f"d-{state_}-{case_id}",
                    "s": state_,
                },
            )

    def held() -> dict[str, bool]:
        rows = q(db, "SELECT state, to_number_key FROM messages WHERE case_id = :c", c=case_id)
        return {str(s): k is not None for s, k in rows}

    def purged_at() -> object:
        return q(db, "SELECT details_purged_at FROM support_cases WHERE id = :c", c=case_id)[0][0]

    await retention.purge(get_settings(), at=now)
    assert held() == {"sending": True, "cancelled": False, "sent": False}
    assert purged_at() is None
    with db.begin() as conn:
        conn.execute(
            text("UPDATE messages SET state = 'sent' WHERE case_id = :c AND state = 'sending'"),
            {"c": case_id},
        )
    await retention.purge(get_settings(), at=now)
    assert held() == {"sent": False, "cancelled": False}
    assert purged_at() is not None


async def test_a_cleared_flag_keeps_its_reason_not_who_after_the_period(db: Engine) -> None:
    """A coordinator's flag about a colleague in crisis names them by staff id: once looked at
    and older than the period it keeps why and when, not who; an open flag keeps who."""
    now = datetime.now(UTC)
    old = now - timedelta(days=PERIOD_DAYS + 5)
    with db.begin() as conn:
        ids = [
            conn.execute(
                text(
                    "INSERT INTO case_attention (staff_id, reason, at, cleared_at, cleared_by) "
                    "VALUES ('N1103', 'crisis', :at, :cleared, :by) RETURNING id"
                ),
                {"at": old, "cleared": cleared, "by": "coordinator" if cleared else None},
            ).scalar_one()
            for cleared in (old + timedelta(hours=1), None)
        ]
    await retention.purge(get_settings(), at=now)
    rows = dict(q(db, "SELECT id, staff_id FROM case_attention WHERE id = ANY(:i)", i=ids))
    assert rows == {ids[0]: None, ids[1]: "N1103"}
    assert q(db, "SELECT reason FROM case_attention WHERE id = :i", i=ids[0]) == [("crisis",)]
