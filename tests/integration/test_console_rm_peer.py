"""The risk manager's and the peer supporter's console pages, in-process with cookies.

What users hold these pages to (domain.md): a risk manager learns that support was offered,
never who took it up, who the peer is, a case state or a clinician's number; a peer sees
only the cases they accepted, the clinician's first name and number, and records codes only.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import Engine

from schemas.events import IncidentReported
from services import clock
from services.cases import outreach
from services.cases.machine import CaseState
from services.config import get_settings
from services.db import transaction
from services.identity.models import AuditEntry, Role, User
from services.identity.passwords import hash_password
from services.incidents import involvement
from services.people.matching import load_context
from tests.integration.console_helpers import PASSWORD, console_client, make_user, sign_in
from tests.integration.sealed import opened
from tests.integration.test_flows import CLINICIAN, CLINICIAN_NUMBER, close_open_cases, q, reply
from tests.stack import TOKEN, leaked

ZONE = ZoneInfo("America/New_York")  # the seeded site "main"
CASE_WORDS = [s.value for s in CaseState] + [
    "accepted",
    "declined",
    "deferred",
    "opted out",
    "contact made",
    "follow-up",
]


@pytest.fixture(autouse=True)
async def fresh_clock():
    clock.reset()
    yield
    await forget_peer_users()


# Peer accounts this module made: a staff record has at most one account, so they are
# removed after each test and other modules can make their own for the same peers.
MADE: list[str] = []


async def forget_peer_users() -> None:
    async with transaction() as session:
        for username in MADE:
            found = await session.scalar(select(User.id).where(User.username == username))
            if found is None:
                continue
            await session.execute(
                text("DELETE FROM user_sessions WHERE user_id = :u"), {"u": found}
            )
            await session.execute(text("DELETE FROM users WHERE id = :u"), {"u": found})
    MADE.clear()


@pytest.fixture
async def browser(db: Engine):
    async with console_client("10.2.3.4") as c:
        yield c


async def new_browser():
    return console_client("10.2.3.5")


async def user_id(username: str) -> uuid.UUID:
    async with transaction() as session:
        return await session.scalar(select(User.id).where(User.username == username))


async def peer_user(staff_id: str) -> str:
    """The one console account of a peer (a staff record has at most one): made once, and
    given the test password again if an earlier test made it."""
    async with transaction() as session:
        existing = await session.scalar(select(User).where(User.staff_id == staff_id))
        if existing is not None:
            existing.password_hash = hash_password(PASSWORD)
            existing.active = True
            await session.execute(
                text("DELETE FROM signin_failures WHERE username = :u"),
                {"u": existing.username},
            )
            return existing.username
    username = await make_user(Role.peer, staff_id=staff_id)
    MADE.append(username)
    return username


def local_now(minus: timedelta = timedelta(hours=1)) -> str:
    return (datetime.now(UTC) - minus).astimezone(ZONE).strftime("%Y-%m-%dT%H:%M")


def on_shift(db: Engine, staff_id: str, unit: str) -> None:
    now = datetime.now(UTC)
    with db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO shifts (staff_id, unit, starts_at, ends_at) "
                "VALUES (:s, :u, :a, :b) ON CONFLICT DO NOTHING"
            ),
            {
                "s": staff_id,
                "u": unit,
                "a": now - timedelta(hours=4),
                "b": now + timedelta(hours=8),
            },
        )


async def log_through_form(
    client: httpx.AsyncClient, token: str, staff: list[str], unit: str = "5W", **over: str
) -> httpx.Response:
    form = (await client.get("/console/incidents/new")).text
    key = re.search(r'name="incident_key" value="([^"]+)"', form)
    assert key
    data: dict[str, object] = {
        "csrftoken": token,
        "incident_key": key.group(1),
        "unit": unit,
        "event_type": "code_blue",
        "harm_level": "severe",
        "occurred_at": local_now(),
        "staff_ids": staff,
        "reporter_ref": "IR-2026-0412",
    } | over
    return await client.post("/console/incidents/new", data=data)


async def worker_identifies(db: Engine, incident_id: str) -> list[uuid.UUID]:
    """What the worker does with the outbox's IncidentReported: involvement and cases.

    The session's live stack (started by an earlier test) relays the same outbox row to its
    own worker, which may get there first; identify is idempotent, so the incident's cases
    are read back from the store whichever of the two made them.
    """
    (payload,) = q(
        db,
        "SELECT payload FROM outbox WHERE key = :k AND payload->>'event' = 'IncidentReported'",
        k=incident_id,
    )[0]
    event = IncidentReported.model_validate(payload)
    async with transaction() as session:
        await involvement.identify(session, event, group_threshold=5)
    rows = q(
        db,
        "SELECT id FROM support_cases WHERE incident_id = :i ORDER BY staff_id",
        i=incident_id,
    )
    return [r[0] for r in rows]


async def run_outreach(case_id: uuid.UUID) -> None:
    from schemas.events import SupportNeeded

    async with transaction() as session:
        (incident_id, staff_id) = (
            await session.execute(
                text("SELECT incident_id, staff_id FROM support_cases WHERE id = :c"),
                {"c": case_id},
            )
        ).one()
        need = SupportNeeded(case_id=case_id, incident_id=incident_id, staff_id=staff_id)
        await outreach.start_outreach(session, need, get_settings())


def first_page(db: Engine, case_id: uuid.UUID) -> tuple[str, str, str]:
    peer, number, code = q(
        db,
        "SELECT peer_staff_id, to_number, reply_code FROM pages WHERE case_id = :c "
        "ORDER BY attempt LIMIT 1",
        c=case_id,
    )[0]
    assert peer is not None, "no peer on call for the test case"
    return str(peer), str(opened(str(number), "pages.to_number")), str(code)


def staff_name(db: Engine, staff_id: str) -> str:
    return str(q(db, "SELECT display_name FROM staff WHERE staff_id = :s", s=staff_id)[0][0])


def audit_actions(db: Engine, actor: uuid.UUID) -> list[str]:
    rows = q(db, "SELECT action FROM audit_log WHERE actor_id = :a ORDER BY id", a=str(actor))
    return [str(r[0]) for r in rows]


# --- the risk manager -----------------------------------------------------------------------


async def test_the_form_logs_an_incident_and_its_cases_appear(browser, db: Engine) -> None:
    close_open_cases(db)
    on_shift(db, "N1002", "5W")  # on the unit at the time, not named: a proposal
    username = await make_user(Role.risk_manager)
    token = await sign_in(browser, username)
    me = await user_id(username)

    form = await browser.get("/console/incidents/new")
    assert form.status_code == 200
    assert 'name="csrftoken"' in form.text and 'id="staff-search"' in form.text
    found = await browser.get("/console/incidents/staff", params={"q": "rivera"})
    assert 'id="staff-N1001"' in found.text and "Alex Rivera" in found.text
    assert "+1555" not in found.text  # the picker never shows a number
    # A new search keeps whoever is already picked, ticked.
    again = await browser.get(
        "/console/incidents/staff", params={"q": "okafor", "staff_ids": "N1001"}
    )
    assert re.search(r'id="staff-N1001"[^>]*checked', again.text) and "Sam Okafor" in again.text

    when = local_now(timedelta(minutes=30))
    done = await log_through_form(browser, token, [CLINICIAN], occurred_at=when)
    assert done.status_code == 303, done.text[:2000]
    incident_id = done.headers["location"].split("/")[-1].split("?")[0]
    (reported_by, occurred_at), *_ = q(
        db, "SELECT reported_by, occurred_at FROM incidents WHERE id = :i", i=incident_id
    )
    assert reported_by == f"user:{me}"
    typed = datetime.strptime(when, "%Y-%m-%dT%H:%M").replace(tzinfo=ZONE)
    assert occurred_at == typed  # read as the viewer's wall time, stored as that instant

    # The suite's live worker may have identified the staff already: either is right.
    pending = await browser.get(done.headers["location"])
    assert pending.status_code == 200
    assert 'id="involvement-pending"' in pending.text or 'id="involved"' in pending.text

    await worker_identifies(db, incident_id)
    page = await browser.get(f"/console/incidents/{incident_id}")
    assert 'id="support-offered">1<' in page.text
    assert 'id="confirm-N1002"' in page.text and 'id="remove-N1002"' in page.text
    confirmed = await browser.post(
        f"/console/incidents/{incident_id}/involvement/N1002",
        data={"csrftoken": token, "decision": "confirm"},
    )
    assert confirmed.status_code == 303
    page = await browser.get(f"/console/incidents/{incident_id}")
    assert 'id="support-offered">2<' in page.text and 'id="confirm-N1002"' not in page.text
    # htmx asks for the section alone.
    part = await browser.get(
        f"/console/incidents/{incident_id}/involvement", headers={"HX-Request": "true"}
    )
    assert part.text.lstrip().startswith("<section") and "<html" not in part.text

    listing = await browser.get("/console/incidents")
    assert f'id="incident-{incident_id}"' in listing.text
    actions = audit_actions(db, me)
    for needed in ("incident.log", "incident.view", "involvement.confirm", "incident.list"):
        assert needed in actions


async def test_each_refusal_shows_next_to_its_field_and_nothing_is_lost(
    browser, db: Engine
) -> None:
    username = await make_user(Role.risk_manager)
    token = await sign_in(browser, username)
    me = await user_id(username)

    future = (datetime.now(UTC) + timedelta(hours=3)).astimezone(ZONE).strftime("%Y-%m-%dT%H:%M")
    r = await log_through_form(
        browser,
        token,
        [],
        unit="",
        harm_level="moderate",
        occurred_at=future,
        reporter_ref="Jane Smith",
    )
    assert r.status_code == 422
    errors = dict(re.findall(r'<p class="error" id="([a-z_]+)-error">([^<]+)</p>', r.text))
    assert set(errors) == {"unit", "occurred_at", "staff_ids", "reporter_ref"}, errors
    assert "future" in errors["occurred_at"] and "name" in errors["reporter_ref"]
    assert 'aria-describedby="unit-error"' in r.text
    # What was typed comes back.
    assert '<option value="moderate" selected>' in r.text
    assert '<option value="code_blue" selected>' in r.text
    assert f'value="{future}"' in r.text and 'value="Jane Smith"' in r.text

    bad_time = await log_through_form(browser, token, [CLINICIAN], occurred_at="last tuesday")
    assert bad_time.status_code == 422 and 'id="occurred_at-error"' in bad_time.text
    assert re.search(r'id="staff-N1001"[^>]*checked', bad_time.text)

    unknown_unit = await log_through_form(browser, token, [CLINICIAN], unit="ZZ9")
    assert unknown_unit.status_code == 422
    assert re.search(r'id="unit-error">[^<]*no longer in the directory', unknown_unit.text)
    assert re.search(r'id="staff-N1001"[^>]*checked', unknown_unit.text)

    unknown_staff = await log_through_form(browser, token, [CLINICIAN, "ZZ999"])
    assert unknown_staff.status_code == 422
    assert re.search(r'id="staff_ids-error">[^<]*ZZ999', unknown_staff.text)
    assert re.search(r'id="staff-N1001"[^>]*checked', unknown_staff.text)
    assert 'value="IR-2026-0412"' in unknown_staff.text

    assert not q(db, "SELECT 1 FROM incidents WHERE reported_by = :b", b=f"user:{me}")


async def test_a_double_submit_logs_one_incident(browser, db: Engine) -> None:
    username = await make_user(Role.risk_manager)
    token = await sign_in(browser, username)
    form = (await browser.get("/console/incidents/new")).text
    key = re.search(r'name="incident_key" value="([^"]+)"', form).group(1)
    data = {
        "csrftoken": token,
        "incident_key": key,
        "unit": "5W",
        "event_type": "code_blue",
        "harm_level": "severe",
        "occurred_at": local_now(),
        "staff_ids": [CLINICIAN],
    }
    first = await browser.post("/console/incidents/new", data=data)
    second = await browser.post("/console/incidents/new", data=data)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    me = await user_id(username)
    assert len(q(db, "SELECT 1 FROM incidents WHERE reported_by = :b", b=f"user:{me}")) == 1


async def test_risk_manager_pages_never_show_a_peer_a_case_state_or_a_number(
    browser, db: Engine
) -> None:
    close_open_cases(db)
    username = await make_user(Role.risk_manager)
    token = await sign_in(browser, username)
    done = await log_through_form(browser, token, [CLINICIAN])
    incident_id = done.headers["location"].split("/")[-1].split("?")[0]
    (case_id,) = await worker_identifies(db, incident_id)
    await run_outreach(case_id)
    peer, peer_number, code = first_page(db, case_id)
    assert await reply(db, peer_number, f"{code}A") == "accepted"
    assert await reply(db, CLINICIAN_NUMBER, "Yes please") == "clinician accepted"

    pages = [
        await browser.get("/console/incidents"),
        await browser.get(f"/console/incidents/{incident_id}"),
        await browser.get(f"/console/incidents/{incident_id}/involvement"),
    ]
    peer_name = staff_name(db, peer)
    for page in pages:
        assert page.status_code == 200
        body = page.text.lower()
        assert peer_name.lower() not in body
        assert CLINICIAN_NUMBER not in page.text and peer_number not in page.text
        for word in CASE_WORDS:
            assert not re.search(rf"\b{re.escape(word.lower())}\b", body), word
    assert 'id="support-offered">1<' in pages[1].text


async def test_another_managers_incident_is_not_found(browser, db: Engine) -> None:
    mine = await make_user(Role.risk_manager)
    token = await sign_in(browser, mine)
    done = await log_through_form(browser, token, [CLINICIAN])
    incident_id = done.headers["location"].split("/")[-1].split("?")[0]

    async with await new_browser() as other:
        other_token = await sign_in(other, await make_user(Role.risk_manager))
        theirs = await other.get(f"/console/incidents/{incident_id}")
        nowhere = await other.get(f"/console/incidents/{uuid.uuid4()}")
        assert theirs.status_code == nowhere.status_code == 404
        assert theirs.text == nowhere.text  # nothing tells the two apart
        part = await other.get(f"/console/incidents/{incident_id}/involvement")
        assert part.status_code == 404
        decided = await other.post(
            f"/console/incidents/{incident_id}/involvement/{CLINICIAN}",
            data={"csrftoken": other_token, "decision": "remove"},
        )
        assert decided.status_code == 404
        assert incident_id not in (await other.get("/console/incidents")).text


async def test_the_api_records_which_token_logged_an_incident(client, db: Engine) -> None:
    r = await client.post(
        "/incidents",
        json={
            "occurred_at": datetime.now(UTC).isoformat(),
            "unit": "4E",
            "event_type": "code_blue",
            "harm_level": "severe",
            "staff_ids": [CLINICIAN],
        },
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert r.status_code == 202
    (by,) = q(db, "SELECT reported_by FROM incidents WHERE id = :i", i=r.json()["incident_id"])[0]
    assert str(by).startswith("token:")
    (token_id,) = q(db, "SELECT id FROM api_tokens WHERE id::text = :t", t=str(by)[6:])[0]
    assert token_id is not None


async def test_each_role_keeps_to_its_own_pages(browser, db: Engine) -> None:
    await sign_in(browser, await make_user(Role.coordinator))
    for path in ("/console/incidents", "/console/incidents/new", "/console/peer"):
        assert (await browser.get(path)).status_code == 403
    browser.cookies.clear()
    await sign_in(browser, await make_user(Role.risk_manager))
    assert (await browser.get("/console/peer")).status_code == 403
    assert (await browser.get(f"/console/peer/cases/{uuid.uuid4()}")).status_code == 403
    browser.cookies.clear()
    assert (await browser.get("/console/incidents")).status_code == 303  # sign in first


async def test_a_post_without_the_csrf_token_is_refused(browser, db: Engine) -> None:
    username = await make_user(Role.risk_manager)
    await sign_in(browser, username)
    r = await browser.post(
        "/console/incidents/new",
        data={
            "unit": "5W",
            "event_type": "code_blue",
            "harm_level": "severe",
            "occurred_at": local_now(),
            "staff_ids": [CLINICIAN],
        },
    )
    assert r.status_code == 403
    me = await user_id(username)
    assert not q(db, "SELECT 1 FROM incidents WHERE reported_by = :b", b=f"user:{me}")
    browser.cookies.clear()
    await sign_in(browser, await peer_user("N1101"))
    assert (await browser.post("/console/peer/pause", data={})).status_code == 403
    assert q(db, "SELECT active FROM peer_supporters WHERE staff_id = 'N1101'")[0][0] is True


# --- the peer supporter -----------------------------------------------------------------------


async def paged_case(db: Engine) -> tuple[uuid.UUID, str, str, str]:
    """A case of the clinician, first page out: (case, peer, peer's number, reply code)."""
    close_open_cases(db)
    async with transaction() as session:
        (incident_id,) = (
            await session.execute(
                text(
                    "INSERT INTO incidents (id, request_hash, occurred_at, unit, event_type, "
                    "harm_level, staff_ids) VALUES (:i, 'x', now(), '5W', 'code_blue', "
                    "'severe', :s) RETURNING id"
                ),
                {"i": uuid.uuid4(), "s": [CLINICIAN]},
            )
        ).one()
    event = IncidentReported(
        incident_id=incident_id,
        occurred_at=datetime.now(UTC),
        unit="5W",
        event_type="code_blue",
        harm_level="severe",
        staff_ids=[CLINICIAN],
    )
    async with transaction() as session:
        (need,) = await involvement.identify(session, event, group_threshold=5)
        await outreach.start_outreach(session, need, get_settings())
    return (need.case_id, *first_page(db, need.case_id))


def other_peer(db: Engine, *not_these: str) -> str:
    rows = q(db, "SELECT staff_id FROM peer_supporters ORDER BY staff_id")
    return next(str(r[0]) for r in rows if r[0] not in not_these)


async def test_a_peer_sees_only_the_cases_they_accepted(browser, db: Engine) -> None:
    case_id, peer, number, code = await paged_case(db)
    await sign_in(browser, await peer_user(peer))
    # Paged, not yet accepted: not theirs.
    assert (await browser.get(f"/console/peer/cases/{case_id}")).status_code == 404
    assert str(case_id) not in (await browser.get("/console/peer")).text

    assert await reply(db, number, f"{code}A") == "accepted"
    mine = await browser.get("/console/peer")
    assert f'id="case-{case_id}"' in mine.text
    case = await browser.get(f"/console/peer/cases/{case_id}")
    assert case.status_code == 200
    assert "Alex" in case.text and "Rivera" not in case.text  # first name only
    assert f'href="tel:{CLINICIAN_NUMBER}"' in case.text
    assert f'href="sms:{CLINICIAN_NUMBER}"' in case.text
    # The page's random CSRF token may hold "4e" by chance: it is cut out before scanning.
    shown = re.sub(r'(csrftoken" value="|x-csrftoken": ")[^"]+', r"\1", case.text).lower()
    details = ("5W", "5 West", "4E", "4 East", "code blue", "code_blue", "severe")
    assert leaked(shown, details) == []
    assert 'id="contact-not-yet"' in case.text  # the clinician has not said yes yet

    async with await new_browser() as other:
        await sign_in(other, await peer_user(other_peer(db, peer)))
        assert (await other.get(f"/console/peer/cases/{case_id}")).status_code == 404
        assert str(case_id) not in (await other.get("/console/peer")).text

    async with transaction() as session:
        views = (
            await session.scalars(
                select(AuditEntry.action).where(
                    AuditEntry.target_id == str(case_id), AuditEntry.action == "case.view"
                )
            )
        ).all()
    assert len(views) == 1  # the accepted view; the refused ones showed nothing


def transitions_to(db: Engine, case_id: uuid.UUID, state: str) -> int:
    return len(
        q(
            db,
            "SELECT 1 FROM case_transitions WHERE case_id = :c AND to_state = :s",
            c=case_id,
            s=state,
        )
    )


async def test_recording_contact_moves_the_case_once(browser, db: Engine) -> None:
    case_id, peer, number, code = await paged_case(db)
    assert await reply(db, number, f"{code}A") == "accepted"
    username = await peer_user(peer)
    token = await sign_in(browser, username)
    me = await user_id(username)

    early = await browser.post(
        f"/console/peer/cases/{case_id}/contact", data={"csrftoken": token, "outcome": "supported"}
    )
    assert early.status_code == 409 and 'id="case-message"' in early.text
    assert "said yes" in early.text

    assert await reply(db, CLINICIAN_NUMBER, "Yes please") == "clinician accepted"
    page = await browser.get(f"/console/peer/cases/{case_id}")
    assert 'id="contact-form"' in page.text and "<textarea" not in page.text
    assert 'id="next-check-in">Follow up by' in page.text

    free_text = await browser.post(
        f"/console/peer/cases/{case_id}/contact",
        data={"csrftoken": token, "outcome": "we talked about the code"},
    )
    assert free_text.status_code == 422

    for _ in range(2):
        done = await browser.post(
            f"/console/peer/cases/{case_id}/contact",
            data={"csrftoken": token, "outcome": "follow_up_planned"},
        )
        assert done.status_code == 303
    state, contact_at, outcome = q(
        db, "SELECT state, contact_at, outcome FROM support_cases WHERE id = :c", c=case_id
    )[0]
    assert state == "follow_up" and contact_at is not None and outcome == "follow_up_planned"
    assert transitions_to(db, case_id, "contact_made") == 1
    assert transitions_to(db, case_id, "follow_up") == 1
    actions = audit_actions(db, me)
    assert actions.count("case.contact") == 1 and actions.count("case.contact_repeat") == 1
    shown = await browser.get(f"/console/peer/cases/{case_id}")
    assert 'id="contact-recorded"' in shown.text and 'id="contact-form"' not in shown.text

    # Later still, a crisis: Tier 3 is taken after contact was recorded, and the coordinator told.
    tier3 = await browser.post(
        f"/console/peer/cases/{case_id}/contact",
        data={"csrftoken": token, "outcome": "referred_tier3"},
    )
    assert tier3.status_code == 303
    assert q(db, "SELECT state FROM support_cases WHERE id = :c", c=case_id)[0][0] == (
        "tier3_referred"
    )
    assert q(
        db,
        "SELECT 1 FROM messages WHERE case_id = :c AND kind = 'coordinator'",
        c=case_id,
    )
    assert not q(
        db,
        "SELECT 1 FROM deadlines WHERE case_id = :c AND fired_at IS NULL",
        c=case_id,
    )


async def test_a_decline_on_contact_ends_the_check_ins(browser, db: Engine) -> None:
    case_id, peer, number, code = await paged_case(db)
    assert await reply(db, number, f"{code}A") == "accepted"
    assert await reply(db, CLINICIAN_NUMBER, "Yes please") == "clinician accepted"
    token = await sign_in(browser, await peer_user(peer))
    done = await browser.post(
        f"/console/peer/cases/{case_id}/contact",
        data={"csrftoken": token, "outcome": "clinician_declined_on_contact"},
    )
    assert done.status_code == 303
    assert q(db, "SELECT state FROM support_cases WHERE id = :c", c=case_id)[0][0] == (
        "contact_made"
    )
    assert not q(
        db,
        "SELECT 1 FROM deadlines WHERE case_id = :c AND kind = 'follow_up' AND fired_at IS NULL",
        c=case_id,
    )


async def test_pause_and_resume_and_a_paused_peer_is_not_matched(browser, db: Engine) -> None:
    # The peer matching picks first for this clinician is the one who pauses.
    waiting_case, peer, *_ = await paged_case(db)
    token = await sign_in(browser, await peer_user(peer))
    confirm = await browser.get("/console/peer/pause")
    assert 'id="confirm-pause"' in confirm.text and "does not hand them back" in confirm.text
    try:
        paused = await browser.post("/console/peer/pause", data={"csrftoken": token})
        assert paused.status_code == 303
        assert (
            q(db, "SELECT active FROM peer_supporters WHERE staff_id = :s", s=peer)[0][0] is False
        )
        home = await browser.get(paused.headers["location"])
        assert 'id="resume"' in home.text and 'id="paused-notice"' in home.text
        # The page they had not answered is due to move on now, not after the step's wait.
        (due,) = q(
            db,
            "SELECT due_at FROM deadlines WHERE case_id = :c AND kind = 'page_timeout' "
            "AND fired_at IS NULL",
            c=waiting_case,
        )[0]
        assert due <= datetime.now(UTC)
        async with transaction() as session:
            ctx = await load_context(session, clock.now(), "preferred")
        assert peer not in {p.staff_id for p in ctx.peers}
        # The same clinician's next case is paged to someone else.
        _, paged, *_ = await paged_case(db)
        assert paged != peer
    finally:
        resumed = await browser.post("/console/peer/resume", data={"csrftoken": token})
    assert resumed.status_code == 303
    assert q(db, "SELECT active FROM peer_supporters WHERE staff_id = :s", s=peer)[0][0] is True
    async with transaction() as session:
        ctx = await load_context(session, clock.now(), "preferred")
    assert peer in {p.staff_id for p in ctx.peers}
    me = await user_id(await peer_user(peer))
    assert {"peer.paused", "peer.resumed"} <= set(audit_actions(db, me))


async def test_a_peer_paused_through_the_api_passes_their_unanswered_pages_on(
    db: Engine, client: httpx.AsyncClient
) -> None:
    """The sibling of the peer's own pause and the coordinator's page: every way of pausing
    a peer moves their unanswered pages on at once."""
    waiting_case, peer, *_ = await paged_case(db)
    admin = {"Authorization": "Bearer test-admin-token"}
    current = (await client.get(f"/admin/peers?staff_id={peer}", headers=admin)).json()
    row = next(p for p in (current if isinstance(current, list) else current["peers"]))
    body = {
        k: row[k]
        for k in ("trained_on", "trained_until", "supports", "languages", "max_open_cases")
    }
    try:
        paused = await client.put(
            f"/admin/peers/{peer}", json={**body, "status": "paused"}, headers=admin
        )
        assert paused.status_code == 200, paused.text
        (due,) = q(
            db,
            "SELECT due_at FROM deadlines WHERE case_id = :c AND kind = 'page_timeout' "
            "AND fired_at IS NULL",
            c=waiting_case,
        )[0]
        assert due <= datetime.now(UTC)
    finally:
        await client.put(f"/admin/peers/{peer}", json={**body, "status": "active"}, headers=admin)
