"""Identity and sessions: sign-in, CSRF, throttling, tokens with roles, the audit log."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, text

from services.db import transaction
from services.identity import tokens
from services.identity.models import USER_ROLES, AuditEntry, Role, User, UserSession
from services.identity.users import UserRefused, create_user
from tests.integration.console_helpers import (
    PASSWORD,
    console_client,
    csrf_from,
    make_user,
    sign_in,
)


@pytest.fixture
async def browser_client(db):
    """An in-process client that keeps cookies like a browser (no bearer token)."""
    async with console_client("10.1.2.3") as c:
        yield c


async def test_each_role_signs_in_and_lands_on_its_own_page(browser_client):
    homes = {
        Role.risk_manager: "/console/incidents",
        Role.coordinator: "/console/board",
        Role.admin: "/console/admin/users",
    }
    for role, home in homes.items():
        browser_client.cookies.clear()
        await sign_in(browser_client, await make_user(role))
        landing = await browser_client.get("/console/")
        assert landing.status_code == 303
        assert landing.headers["location"] == home
        cookie = next(c for c in browser_client.cookies.jar if c.name == "svrr_session")
        assert cookie.path == "/console"
        assert cookie.has_nonstandard_attr("HttpOnly")


async def test_a_sign_in_without_the_csrf_token_is_refused(browser_client):
    username = await make_user(Role.coordinator)
    await browser_client.get("/console/signin")  # the CSRF cookie, but no form field
    refused = await browser_client.post(
        "/console/signin", data={"username": username, "password": PASSWORD}
    )
    assert refused.status_code == 403
    assert "expired" in refused.text
    assert "svrr_session" not in browser_client.cookies


async def test_a_signed_in_form_post_without_csrf_is_refused(browser_client):
    await sign_in(browser_client, await make_user(Role.coordinator))
    refused = await browser_client.post("/console/signout", data={})
    assert refused.status_code == 403
    still = await browser_client.get("/console/")
    assert still.headers["location"] == "/console/board"  # still signed in: nothing changed


async def test_wrong_password_and_unknown_user_read_the_same(browser_client):
    username = await make_user(Role.coordinator)
    page = await browser_client.get("/console/signin")
    token = csrf_from(page.text)
    wrong = await browser_client.post(
        "/console/signin",
        data={"username": username, "password": "not the password!", "csrftoken": token},
    )
    unknown = await browser_client.post(
        "/console/signin",
        data={"username": "nobody-here", "password": "not the password!", "csrftoken": token},
    )
    assert wrong.status_code == unknown.status_code == 401
    assert "do not match" in wrong.text and "do not match" in unknown.text


async def test_sign_in_is_throttled_per_account_then_eases(db):
    username = await make_user(Role.coordinator)
    async with console_client("10.9.9.9") as c:
        token = csrf_from((await c.get("/console/signin")).text)
        for _ in range(5):
            r = await c.post(
                "/console/signin",
                data={"username": username, "password": "wrong password!!", "csrftoken": token},
            )
            assert r.status_code == 401
        # Now even the right password waits: the account is throttled, not the guess.
        r = await c.post(
            "/console/signin",
            data={"username": username, "password": PASSWORD, "csrftoken": token},
        )
        assert r.status_code == 429
        assert 0 < int(r.headers["retry-after"]) <= 15 * 60 + 1
        assert "Too many attempts" in r.text
    async with transaction() as session:
        await session.execute(
            text("UPDATE signin_failures SET at = at - interval '16 minutes' WHERE username = :u"),
            {"u": username},
        )
    async with console_client("10.9.9.9") as c:
        await sign_in(c, username)


async def test_sign_in_is_throttled_per_address(db):
    async with console_client("10.7.7.7") as c:
        token = csrf_from((await c.get("/console/signin")).text)
        statuses = []
        for i in range(21):
            r = await c.post(
                "/console/signin",
                data={"username": f"guess-{i}", "password": "wrong password!!", "csrftoken": token},
            )
            statuses.append(r.status_code)
        assert statuses[:20] == [401] * 20 and statuses[20] == 429


async def test_sign_out_ends_the_session_in_the_store(browser_client):
    username = await make_user(Role.admin)
    token = await sign_in(browser_client, username)
    out = await browser_client.post("/console/signout", data={"csrftoken": token})
    assert out.status_code == 303
    async with transaction() as session:
        user = await session.scalar(select(User).where(User.username == username))
        left = await session.scalar(select(UserSession).where(UserSession.user_id == user.id))
        actions = (
            await session.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.actor_id == str(user.id))
                .order_by(AuditEntry.id)
            )
        ).all()
    assert left is None
    assert actions == ["sign_in", "sign_out"]


async def test_sign_in_never_redirects_outside_the_console(browser_client):
    username = await make_user(Role.coordinator)
    page = await browser_client.get("/console/signin")
    token = csrf_from(page.text)
    r = await browser_client.post(
        "/console/signin",
        data={
            "username": username,
            "password": PASSWORD,
            "csrftoken": token,
            "next": "//evil.example/console/",
        },
    )
    assert r.headers["location"] == "/console/board"


async def test_a_peer_account_needs_a_peer_on_the_roster(db):
    async with transaction() as session:
        with pytest.raises(UserRefused) as refused:
            await create_user(
                session,
                username="peer-without-staff",
                display_name="x",
                role=Role.peer,
                password=PASSWORD,
            )
    assert refused.value.field == "staff_id"


async def test_a_weak_password_is_refused_with_the_rule(db):
    async with transaction() as session:
        with pytest.raises(UserRefused) as refused:
            await create_user(
                session, username="weak-one", display_name="x", role=Role.admin, password="short"
            )
    assert refused.value.field == "password" and "12" in str(refused.value)


async def test_tokens_carry_a_role_are_hashed_and_revocable(client):
    async with transaction() as session:
        token_id, token = await tokens.issue(session, "monitoring", Role.admin, None)
        stored = await session.scalar(
            text("SELECT token_hash FROM api_tokens WHERE id = :i"), {"i": token_id}
        )
    assert token not in stored and len(stored) == 64
    auth = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/healthz", headers=auth)).status_code == 200
    assert (await client.get("/admin/cases", headers=auth)).status_code == 403
    async with transaction() as session:
        assert await tokens.revoke(session, token_id, __import__("services.clock").clock.now())
    assert (await client.get("/healthz", headers=auth)).status_code == 401


async def test_a_token_in_use_elsewhere_never_makes_a_request_wait(db):
    """Whoever holds the token's row (another request stamping "last used") is not waited
    for: the stamp is theirs. Before, every cache miss queued on the row lock."""
    async with transaction() as session:
        token_id, token = await tokens.issue(session, "integration", Role.risk_manager, None)
    now = __import__("services.clock").clock.now()
    with db.begin() as holder:
        holder.execute(text("SELECT 1 FROM api_tokens WHERE id = :i FOR UPDATE"), {"i": token_id})
        tokens._cache.clear()
        async with transaction() as session:
            await session.execute(text("SET LOCAL lock_timeout = '2s'"))
            who = await tokens.lookup(session, token, now)
    assert who is not None and who.role is Role.risk_manager
    # Free, it is stamped, and stamped again only a minute on.
    tokens._cache.clear()
    async with transaction() as session:
        await tokens.lookup(session, token, now)
    tokens._cache.clear()
    async with transaction() as session:
        await tokens.lookup(session, token, now + timedelta(seconds=30))
    with db.connect() as conn:
        used = conn.execute(
            text("SELECT last_used_at FROM api_tokens WHERE id = :i"), {"i": token_id}
        ).scalar_one()
    assert used == now


async def test_the_audit_log_cannot_be_changed(db):
    async with transaction() as session:
        with pytest.raises(Exception, match="append-only"):
            await session.execute(text("UPDATE audit_log SET action = 'x'"))
    async with transaction() as session:
        with pytest.raises(Exception, match="append-only"):
            await session.execute(text("DELETE FROM audit_log"))


async def _change(c, token: str, current: str, new: str, again: str | None = None):
    return await c.post(
        "/console/account/password",
        data={
            "current": current,
            "new": new,
            "again": new if again is None else again,
            "csrftoken": token,
        },
    )


async def test_a_person_changes_their_own_password_and_other_sessions_end(db):
    new = "a different staple horse battery"
    for role in USER_ROLES:
        staff = None
        if role is Role.peer:
            async with transaction() as session:
                staff = await session.scalar(
                    text("SELECT staff_id FROM peer_supporters ORDER BY staff_id DESC LIMIT 1")
                )
        username = await make_user(role, staff_id=staff) if staff is None else None
        if staff is not None:
            from tests.integration.console_helpers import peer_user

            username = await peer_user(staff)
        async with console_client("10.4.4.4") as here, console_client("10.4.4.5") as there:
            token = await sign_in(here, username)
            await sign_in(there, username)
            page = await here.get("/console/account")
            assert page.status_code == 200 and "Change your password" in page.text
            done = await _change(here, token, PASSWORD, new)
            assert done.status_code == 303, done.text[:300]
            assert done.headers["location"] == "/console/account?changed=1"
            shown = await here.get(done.headers["location"])  # this browser stays signed in
            assert shown.status_code == 200 and "Your password is changed" in shown.text
            assert (await there.get("/console/account")).status_code == 303  # the other ended
        async with console_client("10.4.4.6") as later:
            await sign_in(later, username, new)
        async with transaction() as session:
            user = await session.scalar(select(User).where(User.username == username))
            audited = await session.scalar(
                select(AuditEntry.action).where(
                    AuditEntry.target_id == str(user.id), AuditEntry.action == "password_changed"
                )
            )
        assert audited == "password_changed"


async def test_a_wrong_or_weak_change_is_refused_beside_its_field_and_changes_nothing(db):
    username = await make_user(Role.coordinator)
    async with console_client("10.4.5.5") as c:
        token = await sign_in(c, username)
        cases = [
            ("not my password!!", "long enough new one", None, "current", "not your current"),
            (PASSWORD, "long enough new one", "something else entirely", "again", "differ"),
            (PASSWORD, "short", None, "new", "12 characters"),
            (PASSWORD, PASSWORD, None, "new", "other than the one you have"),
        ]
        for current, new, again, field, why in cases:
            r = await _change(c, token, current, new, again)
            assert r.status_code == 400, (field, r.status_code)
            assert f'id="{field}-error"' in r.text and why in r.text, (field, r.text[-800:])
            assert new not in r.text.replace("long enough new one", "") or new == PASSWORD
        assert (await c.get("/console/account")).status_code == 200  # still signed in
    async with console_client("10.4.5.6") as c:
        await sign_in(c, username)  # the old password still works


async def test_guessing_the_current_password_is_throttled_like_a_sign_in(db):
    username = await make_user(Role.admin)
    async with console_client("10.4.6.6") as c:
        token = await sign_in(c, username)
        statuses = [
            (await _change(c, token, f"guess number {i}!", "long enough new one")).status_code
            for i in range(6)
        ]
        assert statuses == [400] * 5 + [429]
        r = await _change(c, token, PASSWORD, "long enough new one")
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
