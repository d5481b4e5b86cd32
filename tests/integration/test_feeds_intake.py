"""Feed intake on PostgreSQL (services.feeds.intake): a record starts an incident, joins
one, waits on the coordinator or is kept ignored, in the caller's transaction; the same
event from three feeds is one incident; a replay changes nothing; two records of one event
taken at the same moment still make one incident.

Every test has its own unit and staff (a fresh prefix), so no other test's incidents are
candidates for matching, and its own record ids.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from schemas.events import HarmLevel, IncidentReported, IncidentType
from services import clock
from services.db import transaction
from services.feeds import intake
from services.feeds.config import Feeds, FeedSettings
from services.feeds.intake import Choice, Disposition, NotAsked
from services.feeds.record import FeedRecord, Problem, Source, StaffRef
from services.feeds.triggers import DEFAULT_RULES
from services.identity.models import Role
from services.identity.principal import Principal
from services.incidents import involvement
from tests.integration.wards import Ward as BaseWard
from tests.integration.wards import make_ward
from tests.stack import Stack, eventually

SYSTEM = "urn:test:staff-id"


class Ward(BaseWard):
    """Four clinicians, A to D, and the feeds and records of this test's own."""

    def feed(self, source: Source, name: str = "main") -> FeedSettings:
        return FeedSettings(source, f"{name}-{self.tag}", staff_id_systems=frozenset({SYSTEM}))

    def record(
        self,
        source: Source,
        record_id: str,
        at: datetime,
        *staff: str,
        event_type: IncidentType = IncidentType.code_blue,
        harm: HarmLevel = HarmLevel.unknown,
        unit: str | None = None,
        feed: str = "main",
    ) -> FeedRecord:
        return FeedRecord(
            source=source,
            feed=f"{feed}-{self.tag}",
            record_id=f"{record_id}-{self.tag}",
            occurred_at=at,
            unit=self.unit if unit is None else unit,
            event_type=event_type,
            harm_level=harm,
            staff=tuple(StaffRef(value=s, system=SYSTEM) for s in staff),
        )


@pytest.fixture
def ward(db: Engine) -> Ward:
    return make_ward(db, "Fi", 4, Ward)


def coordinator() -> Principal:
    return Principal(kind="user", id=uuid.uuid4(), name="intake test", role=Role.coordinator)


async def take(records: list[FeedRecord], feed: FeedSettings) -> list[intake.Taken]:
    async with transaction() as session:
        return await intake.take(session, records, feed, at=clock.now())


def incident_row(db: Engine, incident_id: uuid.UUID) -> dict[str, object]:
    with db.connect() as conn:
        row = conn.execute(
            text("SELECT unit, staff_ids, reported_by FROM incidents WHERE id = :id"),
            {"id": incident_id},
        ).one()
    return dict(row._mapping)


def reported_events(db: Engine, incident_id: uuid.UUID) -> list[list[str]]:
    """The staff of every IncidentReported queued for the incident, oldest first."""
    with db.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT payload->'staff_ids' FROM outbox WHERE key = :key "
                "AND payload->>'event' = 'IncidentReported' ORDER BY id"
            ),
            {"key": str(incident_id)},
        ).all()
    return [r[0] for r in rows]


def a_while_ago(minutes: int) -> datetime:
    return clock.now().replace(microsecond=0) - timedelta(minutes=minutes)


async def test_a_death_starts_an_incident_with_its_event_and_its_source_link(
    db: Engine, ward: Ward
) -> None:
    a, b, *_ = ward.staff
    feed = ward.feed(Source.hl7v2)
    record = ward.record(
        Source.hl7v2,
        "msg1",
        a_while_ago(30),
        a,
        b,
        "NOBODY",
        event_type=IncidentType.unexpected_death,
        harm=HarmLevel.death,
    )
    (taken,) = await take([record], feed)
    assert taken.disposition is Disposition.started
    assert taken.incident_id is not None
    row = incident_row(db, taken.incident_id)
    assert row["unit"] == ward.unit
    assert sorted(row["staff_ids"]) == [a, b]  # type: ignore[arg-type]
    assert row["reported_by"] == f"feed:{feed.label}"
    assert reported_events(db, taken.incident_id) == [[a, b]]
    with db.connect() as conn:
        kept = conn.execute(
            text(
                "SELECT status, incident_id, unresolved, staff_ids, action FROM feed_records "
                "WHERE id = :id"
            ),
            {"id": taken.row_id},
        ).one()
        beat = conn.execute(
            text("SELECT received, refused FROM feed_heartbeats WHERE feed = :f"),
            {"f": feed.feed},
        ).one()
    assert kept.status == "started" and kept.incident_id == taken.incident_id
    assert kept.unresolved == 1 and sorted(kept.staff_ids) == [a, b]
    assert kept.action == "start"
    assert (beat.received, beat.refused) == (1, 0)

    # Delivered again (an MLLP resend after a lost ACK): the same incident, nothing new.
    (again,) = await take([record], feed)
    assert again.disposition is Disposition.started
    assert again.incident_id == taken.incident_id
    assert reported_events(db, taken.incident_id) == [[a, b]]
    with db.connect() as conn:
        times = conn.execute(
            text("SELECT times_received FROM feed_records WHERE id = :id"), {"id": taken.row_id}
        ).scalar_one()
    assert times == 2


async def test_the_issues_night_is_one_incident_and_later_staff_join_it(
    db: Engine, ward: Ward
) -> None:
    """Code blue (A, B), then the report (B, C), then the death ADT (A, D): one incident
    whose IncidentReported is queued again each time someone joins."""
    a, b, c, d = ward.staff
    at = a_while_ago(120)
    (blue,) = await take(
        [ward.record(Source.code_blue, "cb", at, a, b)], ward.feed(Source.code_blue)
    )
    assert blue.disposition is Disposition.started
    iid = blue.incident_id
    assert iid is not None
    (rep,) = await take(
        [
            ward.record(
                Source.reporting,
                "IR-1",
                at - timedelta(minutes=5),
                b,
                c,
                event_type=IncidentType.serious_safety_event,
                harm=HarmLevel.severe,
            )
        ],
        ward.feed(Source.reporting),
    )
    assert (rep.disposition, rep.incident_id) == (Disposition.joined, iid)
    (adt,) = await take(
        [
            ward.record(
                Source.hl7v2,
                "adt",
                at + timedelta(minutes=90),
                a,
                d,
                event_type=IncidentType.unexpected_death,
                harm=HarmLevel.death,
            )
        ],
        ward.feed(Source.hl7v2),
    )
    assert (adt.disposition, adt.incident_id) == (Disposition.joined, iid)
    assert sorted(incident_row(db, iid)["staff_ids"]) == [a, b, c, d]  # type: ignore[arg-type]
    assert [sorted(s) for s in reported_events(db, iid)] == [[a, b], [a, b, c], [a, b, c, d]]
    with db.connect() as conn:
        links = conn.execute(
            text("SELECT source FROM feed_records WHERE incident_id = :id ORDER BY source"),
            {"id": iid},
        ).scalars()
        assert list(links) == ["code_blue", "hl7v2", "reporting"]

    # Another unit the same night is another event.
    other = await _other_unit(db, ward)
    (elsewhere,) = await take(
        [ward.record(Source.code_blue, "cb2", at, a, unit=other)], ward.feed(Source.code_blue)
    )
    assert elsewhere.disposition is Disposition.started and elsewhere.incident_id != iid


async def _other_unit(db: Engine, ward: Ward) -> str:
    code = f"Fo{ward.tag}"
    with db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO units (code, name, site, time_zone, active) "
                "VALUES (:code, 'Intake test 2', 'main', 'America/New_York', true)"
            ),
            {"code": code},
        )
    return code


async def test_a_record_the_rules_ask_about_waits_and_the_coordinator_decides_once(
    db: Engine, ward: Ward
) -> None:
    a, b, *_ = ward.staff
    feed = ward.feed(Source.reporting)
    moderate = ward.record(
        Source.reporting,
        "IR-9",
        a_while_ago(60),
        a,
        b,
        event_type=IncidentType.medication_error,
        harm=HarmLevel.moderate,
    )
    (taken,) = await take([moderate], feed)
    assert taken.disposition is Disposition.asked and taken.incident_id is None
    async with transaction() as session:
        waiting = {r.row_id: r for r in await intake.asked(session)}
    shown = waiting[taken.row_id]
    assert (shown.unit, shown.staff_resolved, shown.unresolved) == (ward.unit, 2, 0)
    assert "rule 4" in shown.why

    who = coordinator()
    async with transaction() as session:
        started = await intake.settle(session, taken.row_id, Choice.start, who, at=clock.now())
    assert started.disposition is Disposition.started and started.incident_id is not None
    assert sorted(incident_row(db, started.incident_id)["staff_ids"]) == [a, b]  # type: ignore[arg-type]
    with pytest.raises(NotAsked, match="already decided"):
        async with transaction() as session:
            await intake.settle(session, taken.row_id, Choice.dismiss, who, at=clock.now())
    async with transaction() as session:
        assert taken.row_id not in {r.row_id for r in await intake.asked(session)}
    with db.connect() as conn:
        audited = conn.execute(
            text(
                "SELECT detail->>'choice' FROM audit_log WHERE action = 'feed_record.settled' "
                "AND target_id = :id"
            ),
            {"id": str(taken.row_id)},
        ).scalars()
        assert list(audited) == ["start"]

    # The same report delivered again is the incident's (rule 1), not a second question.
    (again,) = await take([moderate], feed)
    assert (again.disposition, again.incident_id) == (Disposition.started, started.incident_id)


async def test_dismissed_stays_dismissed_and_joining_widens_the_chosen_incident(
    db: Engine, ward: Ward
) -> None:
    a, b, c, _ = ward.staff
    at = a_while_ago(200)
    (first,) = await take([ward.record(Source.code_blue, "cb", at, a)], ward.feed(Source.code_blue))
    feed = ward.feed(Source.reporting)
    other = ward.record(
        Source.reporting, "IR-2", at, b, event_type=IncidentType.other, harm=HarmLevel.mild
    )
    third = ward.record(
        Source.reporting, "IR-3", at, c, event_type=IncidentType.other, harm=HarmLevel.mild
    )
    asked_one, asked_two = await take([other, third], feed)
    assert asked_one.disposition is asked_two.disposition is Disposition.asked
    who = coordinator()
    async with transaction() as session:
        await intake.settle(session, asked_one.row_id, Choice.dismiss, who, at=clock.now())
        joined = await intake.settle(
            session,
            asked_two.row_id,
            Choice.join,
            who,
            at=clock.now(),
            incident_id=first.incident_id,
        )
    assert joined.incident_id == first.incident_id
    assert first.incident_id is not None
    assert sorted(incident_row(db, first.incident_id)["staff_ids"]) == [a, c]  # type: ignore[arg-type]
    (replayed,) = await take([other], feed)
    assert replayed.disposition is Disposition.dismissed

    # An update the rules would start on is asked again, never started over the answer.
    worse = other.model_copy(update={"harm_level": HarmLevel.death})
    (update,) = await take([worse], feed)
    assert update.disposition is Disposition.asked
    assert "dismissed" in update.why


async def test_a_start_without_known_staff_or_unit_asks_the_coordinator(ward: Ward) -> None:
    feed = ward.feed(Source.code_blue)
    at = a_while_ago(10)
    nobody, unknown_unit = await take(
        [
            ward.record(Source.code_blue, "n1", at, "NOT-STAFF"),
            ward.record(Source.code_blue, "n2", at, ward.staff[0], unit=f"Nx{ward.tag}"),
        ],
        feed,
    )
    assert nobody.disposition is Disposition.asked
    assert "1 unresolved" in nobody.why
    assert unknown_unit.disposition is Disposition.asked
    assert "unit" in unknown_unit.why
    with pytest.raises(intake.CannotStart):
        async with transaction() as session:
            await intake.settle(session, nobody.row_id, Choice.start, coordinator(), at=clock.now())


async def test_ignored_records_are_kept_and_old_or_future_ones_are_not_started(
    ward: Ward,
) -> None:
    a = ward.staff[0]
    feed = ward.feed(Source.reporting)
    now = clock.now()
    no_harm, ancient, future = await take(
        [
            ward.record(
                Source.reporting, "r1", now - timedelta(hours=1), a,
                event_type=IncidentType.medication_error, harm=HarmLevel.none,
            ),
            ward.record(
                Source.reporting, "r2", now - timedelta(days=400), a,
                event_type=IncidentType.unexpected_death, harm=HarmLevel.death,
            ),
            ward.record(
                Source.reporting, "r3", now + timedelta(hours=2), a,
                event_type=IncidentType.unexpected_death, harm=HarmLevel.death,
            ),
        ],
        feed,
    )  # fmt: skip
    assert no_harm.disposition is Disposition.ignored
    assert ancient.disposition is Disposition.ignored and "year" in ancient.why
    assert future.disposition is Disposition.asked and "future" in future.why


async def test_two_records_of_one_event_taken_at_once_make_one_incident(
    db: Engine, ward: Ward
) -> None:
    """The unit lock: without it both transactions see no incident and both start one."""
    a, b, *_ = ward.staff
    at = a_while_ago(15)
    blue = ward.record(Source.code_blue, "cb", at, a, b)
    adt = ward.record(
        Source.hl7v2, "adt", at, a, event_type=IncidentType.unexpected_death, harm=HarmLevel.death
    )
    results = await asyncio.gather(
        take([blue], ward.feed(Source.code_blue)), take([adt], ward.feed(Source.hl7v2))
    )
    outcomes = sorted(r[0].disposition for r in results)
    assert outcomes == [Disposition.joined, Disposition.started]
    assert results[0][0].incident_id == results[1][0].incident_id


async def test_refusals_are_kept_without_values_and_the_heartbeat_counts_them(
    db: Engine, ward: Ward
) -> None:
    feed = ward.feed(Source.fhir)
    async with transaction() as session:
        refusal = await intake.refuse(
            session,
            feed,
            [Problem("AdverseEvent.date", "is required and missing")],
            kept={"resourceType": "AdverseEvent"},
            at=clock.now(),
        )
    with db.connect() as conn:
        row = conn.execute(
            text("SELECT problems, kept FROM feed_refusals WHERE id = :id"), {"id": refusal}
        ).one()
        beat = conn.execute(
            text("SELECT received, refused FROM feed_heartbeats WHERE feed = :f"),
            {"f": feed.feed},
        ).one()
    assert row.problems == [{"where": "AdverseEvent.date", "why": "is required and missing"}]
    assert row.kept == {"resourceType": "AdverseEvent"}
    assert (beat.received, beat.refused) == (0, 1)


async def test_a_feed_never_heard_from_or_quiet_too_long_is_silent(ward: Ward) -> None:
    heard = FeedSettings(Source.fhir, f"heard-{ward.tag}", silent_after=timedelta(minutes=30))
    never = FeedSettings(Source.hl7v2, f"never-{ward.tag}")
    feeds = Feeds({(f.source, f.feed): f for f in (heard, never)})
    now = clock.now()
    async with transaction() as session:
        await intake.beat(session, heard, at=now)
        quiet = await intake.silent(session, feeds, at=now + timedelta(minutes=10))
        assert [(s.feed, s.last_seen_at) for s in quiet] == [(never.feed, None)]
        later = await intake.silent(session, feeds, at=now + timedelta(minutes=31))
        assert [s.feed for s in later] == [heard.feed, never.feed]


async def test_a_stored_table_that_fails_its_check_falls_back_to_the_defaults(
    db: Engine,
) -> None:
    async with transaction() as session:
        await session.execute(text("UPDATE feed_rules SET action = 'ignore' WHERE position = 1"))
        rules, stored = await intake.current_rules(session)
        assert (rules, stored) == (DEFAULT_RULES, False)
        await session.rollback()


def cases_and_pages(db: Engine, incident_id: uuid.UUID) -> dict[str, int]:
    """Each clinician's case on the incident, with the number of first pages (attempt 1)."""
    with db.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT c.staff_id, count(p.id) FILTER (WHERE p.attempt = 1) FROM support_cases c "
                "LEFT JOIN pages p ON p.case_id = c.id WHERE c.incident_id = :i "
                "GROUP BY c.staff_id"
            ),
            {"i": incident_id},
        ).all()
    return {r[0]: r[1] for r in rows}


async def test_the_worker_opens_one_case_for_each_clinician_who_joins(
    stack: Stack, db: Engine, ward: Ward
) -> None:
    """The join publishes the incident again with everyone: the worker must open a case for
    the newcomer only, and page nobody twice, also after the page sweep could have fired."""
    a, b, c, _ = ward.staff
    at = a_while_ago(20)
    (blue,) = await take(
        [ward.record(Source.code_blue, "cb", at, a, b)], ward.feed(Source.code_blue)
    )
    iid = blue.incident_id
    assert iid is not None
    await eventually(lambda: cases_and_pages(db, iid) == {a: 1, b: 1}, 30, "A and B paged")
    (rep,) = await take(
        [
            ward.record(
                Source.reporting, "IR", at, b, c,
                event_type=IncidentType.serious_safety_event, harm=HarmLevel.severe,
            )
        ],
        ward.feed(Source.reporting),
    )  # fmt: skip
    assert rep.disposition is Disposition.joined
    await eventually(lambda: cases_and_pages(db, iid) == {a: 1, b: 1, c: 1}, 30, "C paged")
    # The stale-claim interval (SENDING_STALE_SECONDS=3) and a sweep: still once each.
    await asyncio.sleep(4)
    assert cases_and_pages(db, iid) == {a: 1, b: 1, c: 1}


async def test_an_incident_and_its_widened_copy_in_one_worker_batch_open_each_case_once(
    db: Engine, ward: Ward
) -> None:
    """A join right after a start: both IncidentReported events of the incident can reach
    the worker in one batch. Each clinician must get one case and one need (one outreach),
    not one per copy of the event. The incident is stored without an outbox row, so the
    running worker cannot take it first."""
    a, b, c, _ = ward.staff
    incident_id = uuid.uuid4()
    with db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO incidents (id, request_hash, occurred_at, unit, event_type, "
                "harm_level, staff_ids) VALUES (:i, 'x', now(), :u, 'code_blue', 'unknown', :s)"
            ),
            {"i": incident_id, "u": ward.unit, "s": [a, b, c]},
        )
    first = IncidentReported(
        incident_id=incident_id,
        occurred_at=a_while_ago(5),
        unit=ward.unit,
        event_type=IncidentType.code_blue,
        harm_level=HarmLevel.unknown,
        staff_ids=[a, b],
    )
    widened = first.model_copy(update={"staff_ids": [a, b, c]})
    opened: list[involvement.Opened] = []
    async with transaction() as session:
        needs = await involvement.identify_many(
            session, [first, widened], 50, events=[], opened=opened
        )
    assert sorted(n.staff_id for n in needs) == [a, b, c]
    assert sorted(o.clinician.staff_id for o in opened) == [a, b, c]
