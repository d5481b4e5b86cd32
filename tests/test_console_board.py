"""The coordinator's board and case page: what needs a person first, the actions, the
audit of every view, and the live feed on a real API process."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from services.identity.models import Role
from services.paging.models import PageState
from tests.console_helpers import PASSWORD, console_client, csrf_from, make_user, sign_in
from tests.test_flows import CLINICIAN_NUMBER, accepted_by_peer, open_case, pages, q, reply, state


@pytest.fixture
async def browser_client(db):
    async with console_client("10.1.2.4") as c:
        yield c


async def coordinator(c: httpx.AsyncClient) -> str:
    return await sign_in(c, await make_user(Role.coordinator))


def audit_rows(db: Engine, action: str, target: str) -> int:
    return int(
        q(
            db,
            "SELECT count(*) FROM audit_log WHERE action = :a AND target_id = :t",
            a=action,
            t=target,
        )[0][0]
    )


async def test_a_page_without_a_session_sends_to_sign_in_and_back(browser_client):
    r = await browser_client.get("/console/board?tier=3")
    assert r.status_code == 303
    assert r.headers["location"] == "/console/signin?next=/console/board%3Ftier%3D3"


async def test_only_the_coordinator_sees_the_board_and_cases(db, browser_client):
    case = await open_case(db)
    for role in (Role.risk_manager, Role.admin):
        browser_client.cookies.clear()
        await sign_in(browser_client, await make_user(role))
        for url in ("/console/board", f"/console/cases/{case.id}", "/console/board/events"):
            r = await browser_client.get(url)
            assert r.status_code == 403, (role, url)
            assert "N1001" not in r.text and "Nina" not in r.text
    browser_client.cookies.clear()
    await coordinator(browser_client)
    board = await browser_client.get("/console/board")
    assert board.status_code == 200
    assert f'id="case-{case.id}"' in board.text
    assert "Peer paged" in board.text


async def test_each_case_view_writes_an_audit_row(db, browser_client, client):
    case = await open_case(db)
    await coordinator(browser_client)
    before = audit_rows(db, "case.view", str(case.id))
    assert (await browser_client.get(f"/console/cases/{case.id}")).status_code == 200
    assert audit_rows(db, "case.view", str(case.id)) == before + 1
    api = await client.get(
        f"/admin/cases/{case.id}", headers={"Authorization": "Bearer test-admin-token"}
    )
    assert api.status_code == 200
    assert audit_rows(db, "case.view", str(case.id)) == before + 2
    who = q(
        db,
        "SELECT actor_kind, ip FROM audit_log WHERE action = 'case.view' AND target_id = :t "
        "ORDER BY id",
        t=str(case.id),
    )
    assert who[-2] == ("user", "10.1.2.4") and who[-1][0] == "token"


async def test_crisis_reply_is_first_on_the_board_until_seen(db, browser_client):
    case = await open_case(db)
    await accepted_by_peer(db, case)
    assert await reply(db, CLINICIAN_NUMBER, "i cant do this anymore i want to die") == "crisis"
    token = await coordinator(browser_client)
    board = await browser_client.get("/console/board?attention=true")
    assert "Crisis words: call now" in board.text
    first_row = board.text.index('id="case-')
    assert board.text[first_row : first_row + 50].startswith(f'id="case-{case.id}"')
    seen = await browser_client.post(
        f"/console/cases/{case.id}/actions", data={"action": "seen", "csrftoken": token}
    )
    assert seen.status_code == 303
    page = await browser_client.get(f"/console/cases/{case.id}")
    assert "Crisis words" not in page.text.split("<h2>Pages</h2>")[0].split("Act</h2>")[0]
    # Tier 3 itself still asks for a person until the case is closed.
    board = await browser_client.get("/console/board?attention=true")
    assert f'id="case-{case.id}"' in board.text
    assert audit_rows(db, "case.seen", str(case.id)) == 1


async def test_coordinator_actions_move_the_case_and_are_audited(db, browser_client):
    case = await open_case(db)
    token = await coordinator(browser_client)
    first_peer = pages(db, case)[0][1]
    r = await browser_client.post(
        f"/console/cases/{case.id}/actions", data={"action": "reassign", "csrftoken": token}
    )
    assert r.status_code == 303 and r.headers["location"].endswith("notice=reassign")
    after = pages(db, case)
    assert after[0][4] == PageState.superseded and after[1][1] not in (None, first_peer)
    r = await browser_client.post(
        f"/console/cases/{case.id}/actions", data={"action": "escalate_now", "csrftoken": token}
    )
    assert r.status_code == 303
    due = q(
        db,
        "SELECT count(*) FROM deadlines WHERE case_id = :c AND kind = 'page_timeout' "
        "AND fired_at IS NULL AND due_at <= now() + interval '1 second'",
        c=case.id,
    )
    assert due[0][0] == 1
    refused = await browser_client.post(
        f"/console/cases/{case.id}/actions", data={"action": "contact_made", "csrftoken": token}
    )
    assert refused.status_code == 409 and "cannot move" in refused.text
    no_reason = await browser_client.post(
        f"/console/cases/{case.id}/actions", data={"action": "close", "csrftoken": token}
    )
    assert no_reason.status_code == 409 and state(db, case) != "closed"
    closed = await browser_client.post(
        f"/console/cases/{case.id}/actions",
        data={"action": "close", "close_reason": "supported_elsewhere", "csrftoken": token},
    )
    assert closed.status_code == 303
    assert q(db, "SELECT state, close_reason FROM support_cases WHERE id = :c", c=case.id) == [
        ("closed", "supported_elsewhere")
    ]
    for action in ("case.reassign", "case.escalate_now", "case.close"):
        assert audit_rows(db, action, str(case.id)) == 1, action
    board = await browser_client.get("/console/board")
    assert f'id="case-{case.id}"' not in board.text


async def test_an_action_without_the_csrf_token_is_refused(db, browser_client):
    case = await open_case(db)
    await coordinator(browser_client)
    r = await browser_client.post(f"/console/cases/{case.id}/actions", data={"action": "tier3"})
    assert r.status_code == 403
    assert state(db, case) == "peer_paged"


async def test_board_filters_and_bad_filters(db, browser_client):
    case = await open_case(db)
    await coordinator(browser_client)
    from services.cases.refs import case_ref

    by_ref = await browser_client.get(f"/console/board?ref={case_ref(case.id)}")
    assert f'id="case-{case.id}"' in by_ref.text
    tier3 = await browser_client.get("/console/board?tier=3")
    assert f'id="case-{case.id}"' not in tier3.text
    assert (await browser_client.get("/console/board?state=nonsense")).status_code == 422
    assert (await browser_client.get("/console/board?ref=X-1")).status_code == 422


def _signed_in(api_url: str, username: str) -> httpx.Client:
    c = httpx.Client(base_url=api_url, timeout=10)
    token = csrf_from(c.get("/console/signin").text)
    r = c.post(
        "/console/signin", data={"username": username, "password": PASSWORD, "csrftoken": token}
    )
    assert r.status_code == 303, r.text[:300]
    return c


async def test_a_state_change_reaches_an_open_board_within_a_second(db, stack):
    """On the real API process: an SSE stream open, a case moves in the store, the row
    arrives rendered."""
    case = await open_case(db)
    username = await make_user(Role.coordinator)
    received: list[tuple[str, str, float]] = []
    ready = asyncio.Event()

    def listen() -> None:
        c = _signed_in(stack.api_url, username)
        try:
            with c.stream("GET", "/console/board/events") as events:
                name, data = "", []
                for line in events.iter_lines():
                    if line.startswith("event:"):
                        name = line.split(":", 1)[1].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].removeprefix(" "))
                    elif not line and name:  # a blank line ends an event
                        data_text = "\n".join(data)
                        received.append((name, data_text, time.monotonic()))
                        if name == "ready":
                            loop.call_soon_threadsafe(ready.set)
                        moved = any(w in data_text for w in ("Support offered", "Peer accepted"))
                        if name == "case" and str(case.id) in data[0] and moved:
                            return
                        name, data = "", []
        finally:
            c.close()

    loop = asyncio.get_running_loop()
    listener = loop.run_in_executor(None, listen)
    await asyncio.wait_for(ready.wait(), 10)
    moved_at = time.monotonic()
    await accepted_by_peer(db, case)
    await asyncio.wait_for(listener, 10)
    # The row may change on its own first (the page's delivery callback); what counts is
    # the row showing the acceptance.
    arrived = [
        t
        for name, data, t in received
        if name == "case"
        and str(case.id) in data
        and ("Support offered" in data or "Peer accepted" in data)
    ]
    assert arrived, received
    assert arrived[0] - moved_at < 1.0


async def test_an_open_board_stream_ends_when_its_user_is_deactivated(db, stack):
    """A stream outlives the request that opened it; deactivating the person ends it."""
    username = await make_user(Role.coordinator)
    ended = asyncio.Event()
    opened = asyncio.Event()
    loop = asyncio.get_running_loop()

    def listen() -> None:
        c = _signed_in(stack.api_url, username)
        try:
            with c.stream("GET", "/console/board/events", timeout=60) as events:
                for line in events.iter_lines():
                    if line.startswith("event: ready") or line == "event:ready":
                        loop.call_soon_threadsafe(opened.set)
        finally:
            c.close()
            loop.call_soon_threadsafe(ended.set)

    listener = loop.run_in_executor(None, listen)
    await asyncio.wait_for(opened.wait(), 10)
    with db.begin() as conn:
        conn.execute(text("UPDATE users SET active = false WHERE username = :u"), {"u": username})
    await asyncio.wait_for(ended.wait(), 45)
    await listener
