"""The tiered response under a controlled clock: every reply form, every escalation step,
deferral, reminder, follow-up, crisis, STOP/START, and crashes between escalation steps."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from schemas.events import CaseStateChanged, SmsReceived
from services import clock
from services.cases import dispatch, engine, flows, inbound, machine, outbound, outreach, replies
from services.config import get_settings
from services.db import transaction
from services.incidents import involvement
from services.paging.models import InboundSms
from services.sealing import default_keyring
from tests.integration.sealed import lookup, opened
from tests.integration.test_agents import stored_incident

CLINICIAN = "N1001"  # RN on 4E; 4E's Tier 1 lead is N1000
CLINICIAN_NUMBER = "+15550101001"
LEAD_NUMBER = "+15550101000"


# The stack's deadline engine (`svrr engine`, its own process, started by the first test that
# asks for the stack) fires whatever is due by the real clock, and its worker sends pages and
# messages due by it. The tests here fire deadlines themselves (`at`) and count what fired,
# so their clock runs a day ahead: whatever they schedule, "at once" included, falls due by
# their clock only, and neither live process takes it first, nor later in the run.
ENGINE_LEAD = timedelta(days=1)


def ahead_of_the_engine() -> None:
    """Run this test's clock ENGINE_LEAD ahead of the live processes'; call it first."""
    clock.advance(ENGINE_LEAD)


@pytest.fixture(autouse=True)
def fresh_clock() -> Iterator[None]:
    clock.reset()
    yield
    clock.reset()


@pytest.fixture(autouse=True)
def clock_ahead(fresh_clock: None) -> None:
    ahead_of_the_engine()


@dataclass
class Case:
    id: uuid.UUID
    incident_id: uuid.UUID


def q(db: Engine, sql: str, **params: object) -> list[tuple[object, ...]]:
    with db.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params).all()]


def state(db: Engine, case: Case) -> str:
    return str(q(db, "SELECT state FROM support_cases WHERE id = :c", c=case.id)[0][0])


def pages(db: Engine, case: Case) -> list[tuple[object, ...]]:
    """(attempt, peer, number, code, state) of the case's pages, the number opened."""
    rows = q(
        db,
        "SELECT attempt, peer_staff_id, to_number, reply_code, state FROM pages "
        "WHERE case_id = :c ORDER BY attempt",
        c=case.id,
    )
    return [(a, p, opened(str(n), "pages.to_number"), c, s) for a, p, n, c, s in rows]


def messages(db: Engine, case: Case | None = None, to: str | None = None) -> list[tuple[str, str]]:
    rows = q(
        db,
        "SELECT kind, body FROM messages WHERE (CAST(:c AS uuid) IS NULL OR case_id = :c) "
        "AND (CAST(:t AS text) IS NULL OR to_number_key = :t) ORDER BY created_at",
        c=case.id if case else None,
        t=None if to is None else lookup(to),
    )
    return [(str(k), str(opened(str(b), "messages.body"))) for k, b in rows]


def close_open_cases(db: Engine) -> None:
    """Cases left open by earlier tests closed, so a clinician's replies can only mean the
    next one, and the on-call peers start with no open load (pages offered and unanswered
    count toward a peer's case limit)."""
    with db.begin() as conn:
        conn.execute(
            text(
                "UPDATE pages SET state = 'superseded' WHERE state IN "
                "('requested', 'sending', 'sent', 'delivered') AND case_id IN "
                "(SELECT id FROM support_cases WHERE state NOT IN ('closed', 'declined'))"
            )
        )
        # With closed_at, as every close in the product sets it (services.cases.machine):
        # a case "closed" without one still counted as open where closed_at decides
        # (services.retention kept its clinician's replies for ever).
        conn.execute(
            text(
                "UPDATE support_cases SET state = 'closed', closed_at = coalesce(closed_at, now()) "
                "WHERE state NOT IN ('closed', 'declined')"
            )
        )


async def open_case(db: Engine, clinician: str = CLINICIAN) -> Case:
    """A new case for the clinician, after close_open_cases."""
    close_open_cases(db)
    incident = stored_incident(db, [clinician], unit="5W")
    async with transaction() as session:
        (need,) = await involvement.identify(session, incident, group_threshold=5)
        await outreach.start_outreach(session, need, get_settings())
    return Case(need.case_id, incident.incident_id)


async def stored_reply(number: str, body: str) -> SmsReceived:
    """An inbound SMS's row as the webhook stores it, and the event that names it (a claim
    check: no number, no text). The event is not put in the outbox: the test hands it to the
    reply path itself, so the stack's worker (if it runs) never races it."""
    sms_id = uuid.uuid4()
    async with transaction() as session:
        session.add(
            InboundSms(
                id=sms_id,
                provider_sid=f"SM{sms_id.hex}",
                from_number=number,
                to_number="+15005550006",
                body=body,
                received_at=clock.now(),
            )
        )
    return SmsReceived(
        sms_id=sms_id, provider_sid=f"SM{sms_id.hex}", sender=default_keyring().lookup(number)
    )


async def reply(db: Engine, number: str, body: str) -> str:
    """An inbound SMS as the webhook stores it, handled as the reply agent handles it: the
    row the event names, read in the transaction that acts on it (no race with a worker)."""
    event = await stored_reply(number, body)
    async with transaction() as session:
        held = await inbound.claim(session, event)
        assert held is not None, "a new SMS is never a redelivery"
        return await replies.handle_sms(session, held, get_settings())


async def at(after: timedelta) -> int:
    """Let `after` pass, then fire whatever fell due: every test's deadlines share the store
    (daytime() moves the clock up to a day, and earlier tests' reminders fall due), so a
    test counts its own case's firings (fired_for), not this count."""
    clock.advance(after)
    fired = 0
    while n := await engine.fire_due(get_settings()):
        fired += n
    return fired


async def accepted_by_peer(db: Engine, case: Case) -> str:
    _, _, number, code, _ = pages(db, case)[0]
    assert await reply(db, str(number), f"{code}A") == "accepted"
    return str(number)


def case_events(db: Engine, case: Case) -> list[CaseStateChanged]:
    rows = q(
        db,
        "SELECT payload FROM outbox WHERE topic LIKE '%case-events%' AND key = :k ORDER BY id",
        k=str(case.id),
    )
    return [CaseStateChanged.model_validate(r[0]) for r in rows]


async def test_whole_journey_and_replay(db: Engine) -> None:
    case = await open_case(db)
    assert state(db, case) == "peer_paged"
    # Tier 1: the unit lead is prompted, with no patient or event detail.
    tier1 = messages(db, to=LEAD_NUMBER)
    assert tier1 and tier1[-1][0] == "tier1_prompt" and "Someone on your team" in tier1[-1][1]
    assert "Alex" not in tier1[-1][1]  # minimum necessary: the lead is not told who
    peer_number = await accepted_by_peer(db, case)
    details = [b for k, b in messages(db, case, to=peer_number) if k == "peer_details"]
    assert details and "Alex" in details[0] and CLINICIAN_NUMBER in details[0]
    assert state(db, case) == "clinician_offered"
    assert [k for k, _ in messages(db, case, to=CLINICIAN_NUMBER)] == ["offer"]

    assert await reply(db, CLINICIAN_NUMBER, "Yes please") == "clinician accepted"
    assert state(db, case) == "clinician_accepted"
    assert any(k == "peer_go" for k, _ in messages(db, case, to=peer_number))

    await at(timedelta(hours=24, minutes=1))
    assert state(db, case) == "follow_up"
    await at(timedelta(hours=48))
    await at(timedelta(days=4))
    follow = [k for k, _ in messages(db, case, to=CLINICIAN_NUMBER) if k == "follow_up"]
    assert len(follow) == 3
    assert state(db, case) == "closed"

    # The case's history on the topic replays to the state in the store.
    events = case_events(db, case)
    assert machine.replay(events) == "closed"
    assert [e.to_state for e in events][:3] == ["tier1_notified", "peer_paged", "peer_accepted"]


async def test_every_escalation_step(db: Engine) -> None:
    case = await open_case(db)
    first = pages(db, case)
    assert len(first) == 1 and first[0][1] is not None
    await at(timedelta(minutes=4))
    assert len(pages(db, case)) == 1  # not yet
    await at(timedelta(minutes=1, seconds=1))
    second = pages(db, case)
    assert len(second) == 2 and second[1][1] not in (None, first[0][1])  # the next peer
    await at(timedelta(minutes=5, seconds=1))
    third = pages(db, case)
    assert len(third) == 3 and third[2][1] is None  # then the coordinator
    assert third[2][2] == get_settings().coordinator_number
    assert state(db, case) == "waiting_coordinator"
    await at(timedelta(minutes=16))
    assert len(pages(db, case)) == 3  # exhausted: the coordinator has it, no page storm
    # A late yes from the first peer still takes the case; the second peer is told politely.
    _, _, n1, c1, _ = first[0]
    assert await reply(db, str(n1), f"{c1}a") == "accepted"
    _, _, n2, c2, _ = second[1]
    assert await reply(db, str(n2), f"{c2}A") == "already taken"
    assert messages(db, to=str(n2))[-1][0] == "taken"
    assert state(db, case) == "clinician_offered"


async def test_pass_and_delivery_failure_escalate_at_once(db: Engine) -> None:
    case = await open_case(db)
    _, _, number, code, _ = pages(db, case)[0]
    assert await reply(db, str(number), f" {code} p ") == "passed"
    # Counted for this case: other modules' deadlines may fall due at the moved clock too.
    await at(timedelta(0))
    assert fired_for(db, case) == 1  # no waiting out the five minutes
    assert len(pages(db, case)) == 2
    first_id, second_id = (
        r[0] for r in q(db, "SELECT id FROM pages WHERE case_id = :c ORDER BY attempt", c=case.id)
    )
    async with transaction() as session:
        await flows.escalate_now(session, case.id, first_id)  # a late failure of page 1
    await at(timedelta(0))
    assert fired_for(db, case) == 1  # does not cut page 2's wait short
    async with transaction() as session:
        await flows.escalate_now(session, case.id, second_id)  # page 2's own failure
    await at(timedelta(0))
    assert fired_for(db, case) == 2
    assert len(pages(db, case)) == 3


def fired_for(db: Engine, case: Case) -> int:
    """Page timeouts of this case that fired (an escalation, at once or when due)."""
    return int(
        q(
            db,
            "SELECT count(*) FROM deadlines WHERE case_id = :c AND kind = 'page_timeout' "
            "AND fired_at IS NOT NULL AND outcome LIKE 'escalated%'",
            c=case.id,
        )[0][0]
    )


async def test_a_late_pass_of_an_earlier_page_does_not_cut_the_next_wait(db: Engine) -> None:
    case = await open_case(db)
    _, _, number, code, _ = pages(db, case)[0]
    await at(timedelta(minutes=5, seconds=1))  # no answer: page 2 goes out
    assert len(pages(db, case)) == 2
    assert await reply(db, str(number), f"{code}P") == "passed"  # page 1's peer, late
    await at(timedelta(0))
    assert fired_for(db, case) == 1  # page 2 keeps its five minutes
    assert len(pages(db, case)) == 2


def daytime(hour: int = 10) -> None:
    """Move the clock to `hour` local time on 5W (New York): deferrals then stay clear of
    quiet hours whatever time the suite runs."""
    zone = ZoneInfo("America/New_York")
    local_now = clock.now().astimezone(zone)
    target = local_now.replace(hour=hour, minute=0, second=0, microsecond=0)
    if target < local_now:
        target += timedelta(days=1)
    clock.advance(target.astimezone(UTC) - clock.now())


async def test_deferral_reoffers_at_the_chosen_time(db: Engine) -> None:
    daytime()
    case = await open_case(db)
    peer_number = await accepted_by_peer(db, case)
    assert await reply(db, CLINICIAN_NUMBER, "later 2h") == "deferred"
    assert state(db, case) == "deferred"
    assert messages(db, case, to=CLINICIAN_NUMBER)[-1][0] == "ack"
    assert messages(db, case, to=peer_number)[-1][0] == "peer_wait"
    await at(timedelta(hours=1))
    assert state(db, case) == "deferred"
    await at(timedelta(hours=1, minutes=1))
    assert state(db, case) == "clinician_offered"
    offers = [k for k, _ in messages(db, case, to=CLINICIAN_NUMBER) if k == "offer"]
    assert len(offers) == 2
    assert await reply(db, CLINICIAN_NUMBER, "YES") == "clinician accepted"


async def test_silence_gets_one_reminder_then_the_coordinator(db: Engine) -> None:
    case = await open_case(db)
    await accepted_by_peer(db, case)
    await at(timedelta(hours=2, minutes=1))
    kinds = [k for k, _ in messages(db, case, to=CLINICIAN_NUMBER)]
    assert kinds.count("offer_reminder") == 1
    await at(timedelta(hours=4, minutes=1))
    assert state(db, case) == "waiting_coordinator"
    await at(timedelta(hours=10))
    assert [k for k, _ in messages(db, case, to=CLINICIAN_NUMBER)].count("offer_reminder") == 1
    coord = messages(db, case, to=get_settings().coordinator_number)
    assert coord and coord[-1][0] == "coordinator"


async def test_decline_sends_resources_once_and_ends_outreach(db: Engine) -> None:
    case = await open_case(db)
    await accepted_by_peer(db, case)
    assert await reply(db, CLINICIAN_NUMBER, "No thanks") == "declined"
    assert state(db, case) == "declined"
    await at(timedelta(days=8))  # no reminder, no follow-up
    kinds = [k for k, _ in messages(db, case, to=CLINICIAN_NUMBER)]
    assert kinds == ["offer", "resources"]
    assert await reply(db, CLINICIAN_NUMBER, "no") == "noted"  # nothing more
    assert [k for k, _ in messages(db, case, to=CLINICIAN_NUMBER)] == ["offer", "resources"]


async def test_crisis_goes_to_tier3_at_once(db: Engine) -> None:
    case = await open_case(db)
    await accepted_by_peer(db, case)
    assert await reply(db, CLINICIAN_NUMBER, "honestly I can't go on") == "crisis"
    assert state(db, case) == "tier3_referred"
    reply_text = messages(db, to=CLINICIAN_NUMBER)[-1]
    assert reply_text[0] == "crisis_reply" and "988" in reply_text[1]
    assert messages(db, case, to=get_settings().coordinator_number)[-1][0] == "coordinator"
    await at(timedelta(days=8))
    assert state(db, case) == "tier3_referred"  # no reminders or follow-ups after that


async def test_peer_can_refer_to_tier3(db: Engine) -> None:
    case = await open_case(db)
    _, _, number, code, _ = pages(db, case)[0]
    assert await reply(db, str(number), f"{code}R") == "referred"
    assert state(db, case) == "tier3_referred"


async def test_peer_refers_after_talking_with_the_clinician(db: Engine) -> None:
    case = await open_case(db)
    peer_number = await accepted_by_peer(db, case)
    assert await reply(db, CLINICIAN_NUMBER, "yes") == "clinician accepted"
    assert await reply(db, peer_number, "R") == "referred"
    assert state(db, case) == "tier3_referred"
    assert messages(db, case, to=get_settings().coordinator_number)[-1][0] == "coordinator"
    await at(timedelta(days=8))
    assert [k for k, _ in messages(db, case, to=CLINICIAN_NUMBER)].count("follow_up") == 0


async def test_unknown_replies_get_help(db: Engine) -> None:
    case = await open_case(db)
    _, _, number, _, _ = pages(db, case)[0]
    assert await reply(db, str(number), "what is this?") == "help"
    assert messages(db, to=str(number))[-1][0] == "help"
    assert await reply(db, "+15557770000", "hello") == "help"


async def test_a_clinicians_auto_responder_gets_help_five_times_then_silence(db: Engine) -> None:
    """A loop with the clinician's own auto-responder ends too: its messages are never
    understood, so each got a help text, which it answered, for ever. At most five help texts
    a day to one number; a person is still asked to look at what the phone sent."""
    case = await open_case(db)
    with db.begin() as conn:  # earlier tests' help texts to this phone, out of the window
        conn.execute(
            text(
                "UPDATE messages SET created_at = created_at - interval '25 hours' "
                "WHERE to_number_key = :n AND kind = 'help'"
            ),
            {"n": lookup(CLINICIAN_NUMBER)},
        )
    done = [await reply(db, CLINICIAN_NUMBER, "Automatic reply from my phone") for _ in range(7)]
    assert done == ["help"] * 5 + ["unanswered"] * 2
    assert [k for k, _ in messages(db, case) if k == "help"] == ["help"] * 5
    looks = q(db, "SELECT count(*) FROM case_attention WHERE case_id = :c", c=case.id)[0][0]
    assert looks >= 1  # the coordinator's board shows the case whatever we sent


async def test_stop_and_start_per_number(db: Engine) -> None:
    case = await open_case(db)
    await accepted_by_peer(db, case)
    assert await reply(db, CLINICIAN_NUMBER, "STOP") == "stop"
    async with transaction() as session:
        held = await outbound.enqueue(
            session, kind="follow_up", to_number=CLINICIAN_NUMBER, body="x", case_id=case.id
        )
    assert held is None  # nothing is sent to a number that said STOP
    assert await reply(db, CLINICIAN_NUMBER, "start") == "start"
    assert await reply(db, CLINICIAN_NUMBER, "please stop texting me") == "stop"
    assert q(
        db, "SELECT count(*) FROM sms_opt_outs WHERE number_key = :n", n=lookup(CLINICIAN_NUMBER)
    )[0][0]
    # YES re-subscribes the number; the case stays with the coordinator, who is told.
    assert await reply(db, CLINICIAN_NUMBER, "yes") == "to coordinator"
    assert state(db, case) == "opted_out"

    async with transaction() as session:
        sent = await outbound.enqueue(
            session, kind="follow_up", to_number=CLINICIAN_NUMBER, body="x", case_id=case.id
        )
    assert sent is not None


async def test_quiet_hours_hold_clinician_messages(db: Engine) -> None:
    zone = ZoneInfo("America/New_York")
    local_now = clock.now().astimezone(zone)
    night = local_now.replace(hour=23, minute=30, second=0, microsecond=0)
    # At least two hours ahead: a reply an earlier test sent "just now" must not count as the
    # clinician having written within the hour (it did, run at 22:45 New York time).
    if night < local_now + timedelta(hours=2):
        night += timedelta(days=1)
    clock.advance(night.astimezone(UTC) - clock.now())
    case = await open_case(db)
    await accepted_by_peer(db, case)  # the peer is paged and answered at night: allowed
    (not_before,) = q(
        db, "SELECT not_before FROM messages WHERE case_id = :c AND kind = 'offer'", c=case.id
    )[0]
    assert not_before.astimezone(zone).hour == 7  # type: ignore[attr-defined]


async def test_the_engine_passes_over_a_case_a_person_holds(db: Engine) -> None:
    """A person's action locks the case, then its deadlines; the engine holds deadlines and
    then locks cases. Waiting for the case closed a lock cycle (a coordinator's "close"
    during an escalation failed with a deadlock): the engine must pass it over, leave the
    deadline due, and fire it once the action has committed."""
    case = await open_case(db)
    clock.advance(timedelta(minutes=5, seconds=1))
    async with transaction() as holder:  # the coordinator's action, not yet committed
        await holder.execute(
            text("SELECT id FROM support_cases WHERE id = :c FOR UPDATE"), {"c": case.id}
        )
        # Returns at once (not waited for); other modules' deadlines may fire meanwhile.
        await asyncio.wait_for(engine.fire_due(get_settings()), 10)
        assert fired_for(db, case) == 0
    while await engine.fire_due(get_settings()):
        pass
    assert fired_for(db, case) == 1  # fired once the case was free
    assert len(pages(db, case)) == 2


async def test_crash_between_escalation_steps_pages_once(
    db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = await open_case(db)
    clock.advance(timedelta(minutes=5, seconds=1))
    real_flush = dispatch.Writes.flush
    stall = asyncio.Event()

    async def dies_mid_step(writes: dispatch.Writes, session: object) -> None:
        await real_flush(writes, session)  # type: ignore[arg-type]
        stall.set()
        await asyncio.Event().wait()  # the engine is killed here, before the commit

    monkeypatch.setattr(dispatch.Writes, "flush", dies_mid_step)
    task = asyncio.create_task(engine.fire_due(get_settings()))
    await asyncio.wait_for(stall.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    monkeypatch.setattr(dispatch.Writes, "flush", real_flush)
    assert len(pages(db, case)) == 1  # nothing of the half-done step survived
    while await engine.fire_due(get_settings()):  # the restarted worker fires what is due
        pass
    assert len(pages(db, case)) == 2  # once
    deadlines = q(
        db,
        "SELECT fired_at IS NOT NULL FROM deadlines WHERE case_id = :c ORDER BY id",
        c=case.id,
    )
    assert [bool(r[0]) for r in deadlines] == [True, False]  # fired once; the next one waits


async def test_a_failing_step_is_retried_then_reported(
    db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = await open_case(db)

    async def broken(*args: object, **kwargs: object) -> str:
        raise RuntimeError("matching service bug")

    monkeypatch.setattr(dispatch, "page_cases", broken)
    for attempt in range(1, engine.MAX_ATTEMPTS + 1):
        clock.advance(timedelta(minutes=10))
        await engine.fire_due(get_settings())
        (fired, payload) = q(
            db, "SELECT fired_at, payload FROM deadlines WHERE case_id = :c", c=case.id
        )[0]
        assert payload["attempts"] == attempt  # type: ignore[index]
        assert (fired is not None) == (attempt == engine.MAX_ATTEMPTS)
    coord = messages(db, case, to=get_settings().coordinator_number)
    assert coord[-1][0] == "coordinator" and "failed" in coord[-1][1]


async def test_quiet_hours_give_way_when_the_clinician_just_wrote(db: Engine) -> None:
    zone = ZoneInfo("America/New_York")
    local_now = clock.now().astimezone(zone)
    night = local_now.replace(hour=23, minute=30, second=0, microsecond=0)
    if night < local_now:
        night += timedelta(days=1)
    clock.advance(night.astimezone(UTC) - clock.now())
    case = await open_case(db)
    await accepted_by_peer(db, case)  # the offer waits for the morning...
    assert await reply(db, CLINICIAN_NUMBER, "later 30 min") == "deferred"
    with db.begin() as conn:  # ...but they wrote to us just now (received_at is the DB's now)
        conn.execute(
            text("UPDATE inbound_sms SET received_at = :t WHERE from_number_key = :n"),
            {"t": clock.now(), "n": lookup(CLINICIAN_NUMBER)},
        )
    await at(timedelta(minutes=31))
    offers = q(
        db,
        "SELECT not_before FROM messages WHERE case_id = :c AND kind = 'offer' ORDER BY created_at",
        c=case.id,
    )
    assert len(offers) == 2
    assert offers[1][0] <= clock.now()  # type: ignore[operator]
