"""Every inbound SMS gets an answer or a deliberate silence, whatever state its case is in.

Found by trying the product as a hospital would: a second "later" became a dead letter, a
deferral into quiet hours promised a time that was not kept, a peer in crisis was answered
and nothing else, an opted-out clinician's peer was told "they are being asked now".
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine

from services import clock
from services.cases import flows, machine
from services.cases.refs import case_ref
from services.config import get_settings
from services.db import transaction
from services.paging.models import Page, PageState
from services.paging.service import page_body
from tests.integration.sealed import lookup
from tests.integration.test_flows import (  # noqa: F401 (fresh_clock, clock_ahead: autouse fixtures)
    CLINICIAN,
    CLINICIAN_NUMBER,
    LEAD_NUMBER,
    Case,
    accepted_by_peer,
    at,
    clock_ahead,
    daytime,
    fired_for,
    fresh_clock,
    messages,
    open_case,
    pages,
    q,
    reply,
    state,
)

ADMIN = {"Authorization": "Bearer test-admin-token"}
REPLIES = {
    "accept": "yes please",
    "defer": "later 2h",
    "decline": "no thanks",
    "help": "help",
    "unknown": "which ward is it",
    "question": "who is this?",
    "acknowledge": "thanks",
    "crisis": "I want to end it all",
    "stop": "STOP",
    "start": "START",
}


def coordinator_texts(db: Engine) -> list[str]:
    return [b for _, b in messages(db, to=get_settings().coordinator_number)]


def set_state(db: Engine, case: Case, to: str) -> None:
    with db.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE support_cases SET state = %(s)s WHERE id = %(c)s", {"s": to, "c": case.id}
        )
        conn.exec_driver_sql(
            "DELETE FROM sms_opt_outs WHERE number_key = %(n)s", {"n": lookup(CLINICIAN_NUMBER)}
        )
    help_texts_aged(db, CLINICIAN_NUMBER)


def help_texts_aged(db: Engine, number: str) -> None:
    """The number's help texts so far moved out of the cap's window (services.limits.
    may_send_help; its own test: test_limits.py): each reply here is asked of one state as
    if it came first, and one phone answering every state would reach the day's cap."""
    with db.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE messages SET created_at = created_at - make_interval(hours => %(h)s + 1) "
            "WHERE to_number_key = %(n)s AND kind = 'help'",
            {"n": lookup(number), "h": get_settings().help_answer_hours},
        )


@pytest.mark.parametrize("case_state", sorted(machine.ALLOWED))
async def test_every_state_and_reply_gets_an_answer_or_a_deliberate_silence(
    db: Engine, case_state: str
) -> None:
    daytime()
    case = await open_case(db)
    await accepted_by_peer(db, case)
    for kind, body in REPLIES.items():
        set_state(db, case, case_state)
        before = len(messages(db, to=CLINICIAN_NUMBER))
        done = await reply(db, CLINICIAN_NUMBER, body)  # never raises: no dead letter
        answered = [k for k, _ in messages(db, to=CLINICIAN_NUMBER)[before:]]
        silent = (
            kind in ("stop", "start")
            or (kind == "decline" and case_state in ("declined", "closed"))
            or (kind == "acknowledge" and case_state not in ("clinician_offered", "deferred"))
        )
        assert bool(answered) != silent, (case_state, kind, done)
        if kind == "crisis":
            assert answered[0] == "crisis_reply"


async def test_a_second_deferral_is_a_new_deferral(db: Engine) -> None:
    """It was an IllegalTransition (deferred -> deferred): a dead letter and no answer."""
    daytime()
    case = await open_case(db)
    await accepted_by_peer(db, case)
    assert await reply(db, CLINICIAN_NUMBER, "LATER") == "deferred"
    assert await reply(db, CLINICIAN_NUMBER, "tmrw") == "deferred"
    assert await reply(db, CLINICIAN_NUMBER, "tomorrow 3pm") == "deferred"
    acks = [b for k, b in messages(db, case, to=CLINICIAN_NUMBER) if k == "ack"]
    assert len(acks) == 3 and "15:00" in acks[-1]
    due = q(
        db,
        "SELECT due_at FROM deadlines WHERE case_id = :c AND kind = 'reoffer' AND fired_at IS NULL",
        c=case.id,
    )
    assert len(due) == 1  # the earlier re-offers were replaced, not stacked


async def test_a_deferral_into_quiet_hours_promises_the_real_time(db: Engine) -> None:
    daytime(21)  # 21:00 in New York: "later 2h" asks for 23:00, inside quiet hours
    case = await open_case(db)
    peer_number = await accepted_by_peer(db, case)
    assert await reply(db, CLINICIAN_NUMBER, "later 2h") == "deferred"
    ack = [b for k, b in messages(db, case, to=CLINICIAN_NUMBER) if k == "ack"][-1]
    assert "07:00" in ack and "23:00" not in ack and "quiet hours" in ack
    assert "07:00" in messages(db, case, to=peer_number)[-1][1]
    (due,) = q(
        db, "SELECT due_at FROM deadlines WHERE case_id = :c AND kind = 'reoffer'", c=case.id
    )[0]
    assert due.astimezone(ZoneInfo("America/New_York")).hour == 7  # type: ignore[attr-defined]
    await at(timedelta(hours=2, minutes=1))
    assert state(db, case) == "deferred"  # not re-offered at 23:00 either


async def test_yes_is_acknowledged_with_the_peers_first_name(db: Engine) -> None:
    daytime()
    case = await open_case(db)
    await accepted_by_peer(db, case)
    (peer_id,) = q(db, "SELECT peer_staff_id FROM pages WHERE case_id = :c", c=case.id)[0]
    (name,) = q(db, "SELECT display_name FROM staff WHERE staff_id = :s", s=peer_id)[0]
    assert await reply(db, CLINICIAN_NUMBER, "yes") == "clinician accepted"
    ack = messages(db, case, to=CLINICIAN_NUMBER)[-1]
    first = flows.first_name(type("S", (), {"display_name": str(name)})())  # type: ignore[arg-type]
    assert ack == ("ack", f"Thank you. {first} will contact you.")


async def test_a_peer_in_crisis_reaches_the_coordinator_and_the_case_moves_on(db: Engine) -> None:
    daytime()
    case = await open_case(db)
    (_, peer_id, peer_number, code, _) = pages(db, case)[0]
    (name,) = q(db, "SELECT display_name FROM staff WHERE staff_id = :s", s=peer_id)[0]
    assert await reply(db, str(peer_number), "honestly i cant go on") == "crisis"
    assert messages(db, to=str(peer_number))[-1][0] == "crisis_reply"
    urgent = coordinator_texts(db)[-1]
    assert "URGENT" in urgent and str(peer_id) in urgent and str(name) in urgent
    assert pages(db, case)[0][4] == "declined"
    await at(timedelta(0))
    assert fired_for(db, case) == 1  # the next peer now, not after the five minutes
    second = pages(db, case)
    assert len(second) == 2 and second[1][1] not in (None, peer_id)
    assert state(db, case) == "peer_paged"


async def test_a_peer_in_crisis_after_accepting_hands_the_case_on(db: Engine) -> None:
    daytime()
    case = await open_case(db)
    peer_number = await accepted_by_peer(db, case)
    assert state(db, case) == "clinician_offered"
    assert await reply(db, peer_number, "i cant do this anymore") == "crisis"
    now_pages = pages(db, case)
    assert [p[4] for p in now_pages][:1] == [PageState.superseded]
    assert len(now_pages) == 2 and now_pages[1][2] != peer_number
    assert state(db, case) == "peer_paged"


async def test_a_unit_lead_in_crisis_reaches_the_coordinator(db: Engine) -> None:
    daytime()
    await open_case(db)
    assert await reply(db, LEAD_NUMBER, "i feel like everyone would be better off without me") == (
        "crisis"
    )
    assert "N1000" in coordinator_texts(db)[-1]


async def test_a_clinician_who_sent_stop_is_not_offered_to_a_peer(db: Engine) -> None:
    daytime()
    case = await open_case(db)
    peer_number = await accepted_by_peer(db, case)
    assert await reply(db, CLINICIAN_NUMBER, "STOP") == "stop"
    assert state(db, case) == "opted_out"
    assert messages(db, case, to=peer_number)[-1][0] == "peer_stand_down"
    # The next incident: no lead prompt about them, no peer paged, the case visible.
    lead_before = len(messages(db, to=LEAD_NUMBER))
    later = await open_case(db)
    assert state(db, later) == "opted_out"
    assert pages(db, later) == []
    assert len(messages(db, to=LEAD_NUMBER)) == lead_before
    with db.begin() as conn:
        conn.exec_driver_sql(
            "DELETE FROM sms_opt_outs WHERE number_key = %(n)s", {"n": lookup(CLINICIAN_NUMBER)}
        )


async def test_coordinator_pages_say_why_and_carry_a_case_reference(db: Engine) -> None:
    daytime()
    case = await open_case(db)
    await at(timedelta(minutes=5, seconds=1))
    await at(timedelta(minutes=5, seconds=1))
    coordinator_page = pages(db, case)[2]
    assert coordinator_page[1] is None
    async with transaction() as session:
        page = await session.get(Page, (await _page_id(case, 3)))
        assert page is not None
        body = page_body(page)
    assert "no peer answered after 2 pages" in body and case_ref(case.id) in body
    assert await reply(db, CLINICIAN_NUMBER, "I want to end it all") == "crisis"
    assert f"crisis reply on case {case_ref(case.id)}" in coordinator_texts(db)[-1]


async def _page_id(case: Case, attempt: int) -> uuid.UUID:
    from sqlalchemy import select

    async with transaction() as session:
        found = await session.scalar(
            select(Page.id).where(Page.case_id == case.id, Page.attempt == attempt)
        )
    assert found is not None
    return found


async def test_the_coordinator_finds_cases_by_reference_and_state(db: Engine, client) -> None:
    daytime()
    case = await open_case(db)
    r = await client.get("/admin/cases", params={"ref": case_ref(case.id)}, headers=ADMIN)
    assert r.status_code == 200
    found = r.json()["cases"]
    assert [c["case_id"] for c in found] == [str(case.id)]
    assert found[0]["clinician"]["staff_id"] == CLINICIAN
    listed = await client.get(
        "/admin/cases", params={"state": "peer_paged", "limit": 1}, headers=ADMIN
    )
    body = listed.json()
    assert listed.status_code == 200 and len(body["cases"]) == 1
    assert body["cases"][0]["state"] == "peer_paged"
    assert (body["next_offset"] == 1) == (body["total"] > 1)
    view = (await client.get(f"/admin/cases/{case.id}", headers=ADMIN)).json()
    assert view["ref"] == case_ref(case.id)
    assert view["clinician"]["mobile"] == CLINICIAN_NUMBER
    bad = await client.get("/admin/cases", params={"state": "nonsense"}, headers=ADMIN)
    assert bad.status_code == 422 and "nonsense" not in bad.text
    assert (
        await client.get("/admin/cases", params={"ref": "Jane"}, headers=ADMIN)
    ).status_code == 422
    assert (await client.get("/admin/cases")).status_code in (401, 403)
    clock.reset()


@pytest.mark.parametrize("body", ["ending it tonight", "thinking about ending it"])
async def test_the_reported_crisis_replies_go_to_tier3_not_a_deferral(
    db: Engine, body: str
) -> None:
    daytime()
    case = await open_case(db)
    await accepted_by_peer(db, case)
    assert await reply(db, CLINICIAN_NUMBER, body) == "crisis"
    assert state(db, case) == "tier3_referred"
    assert f"crisis reply on case {case_ref(case.id)}" in coordinator_texts(db)[-1]


async def test_an_unread_reply_with_distress_gets_help_and_a_human_look(db: Engine) -> None:
    daytime()
    case = await open_case(db)
    await accepted_by_peer(db, case)
    body = "tonight I keep seeing her face"
    assert await reply(db, CLINICIAN_NUMBER, body) == "help"
    assert state(db, case) == "clinician_offered"  # not a deferral
    look = coordinator_texts(db)[-1]
    assert case_ref(case.id) in look and "human look" in look and body not in look


async def test_a_peer_accepts_only_with_a_code_or_a_plain_yes(db: Engine) -> None:
    daytime()
    case = await open_case(db)
    (_, _, peer_number, code, _) = pages(db, case)[0]
    assert await reply(db, str(peer_number), "dead tired but ok") == "help"
    assert state(db, case) == "peer_paged"
    assert await reply(db, str(peer_number), f"{code}A") == "accepted"


async def test_any_unread_clinician_reply_gets_a_look_but_a_peers_only_with_distress(
    db: Engine,
) -> None:
    daytime()
    case = await open_case(db)
    (_, _, peer_number, _, _) = pages(db, case)[0]
    before = len(coordinator_texts(db))
    assert await reply(db, str(peer_number), "which ward is this for") == "help"
    assert len(coordinator_texts(db)) == before  # a peer's logistics question: help text only
    await accepted_by_peer(db, case)
    assert await reply(db, CLINICIAN_NUMBER, "which ward is it") == "help"
    look = coordinator_texts(db)[-1]
    assert case_ref(case.id) in look and "human look (not understood)" in look


PEER_REPLIES = {
    "accept": "{code}A",
    "pass": "{code}P",
    "refer": "{code}R",
    "bare yes": "yes",
    "help": "help",
    "unknown": "which ward is it",
    "crisis": "i cant do this anymore, i want to end it all",
    "stop": "STOP",
    "start": "START",
}


@pytest.mark.parametrize("case_state", sorted(machine.ALLOWED))
async def test_every_state_and_peer_reply_gets_an_answer_or_a_deliberate_silence(
    db: Engine, case_state: str
) -> None:
    """A peer's answer to a page whose case has moved on in any way is answered, never a
    dead letter (an IllegalTransition raised here would be one in the worker)."""
    daytime()
    case = await open_case(db)
    (_, _, number, code, _) = pages(db, case)[0]
    for kind, template in PEER_REPLIES.items():
        set_state(db, case, case_state)
        with db.begin() as conn:
            conn.exec_driver_sql(
                "UPDATE pages SET state = 'sent' WHERE case_id = %(c)s AND attempt = 1",
                {"c": case.id},
            )
            conn.exec_driver_sql(
                "DELETE FROM sms_opt_outs WHERE number_key = %(n)s", {"n": lookup(str(number))}
            )
        help_texts_aged(db, str(number))
        before = len(messages(db, to=str(number)))
        done = await reply(db, str(number), template.format(code=code))
        answered = [k for k, _ in messages(db, to=str(number))[before:]]
        if done == "accepted":  # the answer is the clinician's details (queued once)
            answered += [k for k, _ in messages(db, case, to=str(number)) if k == "peer_details"]
        silent = kind in ("stop", "start")
        assert bool(answered) != silent, (case_state, kind, done)


async def test_a_question_about_us_is_explained_and_wrong_number_reaches_the_coordinator(
    db: Engine,
) -> None:
    daytime()
    case = await open_case(db)
    await accepted_by_peer(db, case)
    before = len(coordinator_texts(db))
    assert await reply(db, CLINICIAN_NUMBER, "is this confidential?") == "explained"
    assert "in confidence" in messages(db, case, to=CLINICIAN_NUMBER)[-1][1]
    assert len(coordinator_texts(db)) == before  # no look needed for a plain question
    assert await reply(db, CLINICIAN_NUMBER, "wrong number") == "explained"
    assert f"case {case_ref(case.id)}: the reply says wrong number" in coordinator_texts(db)[-1]
    assert state(db, case) == "clinician_offered"
