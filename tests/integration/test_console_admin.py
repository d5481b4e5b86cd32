"""The administrator's pages: users, integration tokens, SMS texts per language, crisis lines
per site, and the audit log. In-process, with cookies, as a browser would use them."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import Engine

from services import clock, texts
from services.console.admin import Refused
from services.console.admin_users import _check_admin_kept
from services.db import transaction
from services.identity import audit
from services.identity.models import AuditEntry, Role, User
from services.identity.principal import Principal
from tests.integration.console_helpers import (
    PASSWORD,
    console_client,
    csrf_from,
    make_user,
    sign_in,
)
from tests.integration.test_flows import (  # noqa: F401 (fresh_clock is an autouse fixture)
    CLINICIAN,
    CLINICIAN_NUMBER,
    accepted_by_peer,
    daytime,
    fresh_clock,
    messages,
    open_case,
    reply,
)


def _client() -> httpx.AsyncClient:
    return console_client("10.4.4.4")


@pytest.fixture
async def admin(db: Engine) -> AsyncIterator[tuple[httpx.AsyncClient, str, str]]:
    """(a signed-in administrator's client, their CSRF token, their username)."""
    username = await make_user(Role.admin)
    async with _client() as c:
        token = await sign_in(c, username)
        yield c, token, username


async def _user_id(username: str) -> uuid.UUID:
    async with transaction() as session:
        found = await session.scalar(select(User.id).where(User.username == username))
    assert found is not None
    return found


async def _actions(actor_id: uuid.UUID | str, action: str) -> list[AuditEntry]:
    async with transaction() as session:
        rows = await session.scalars(
            select(AuditEntry)
            .where(AuditEntry.actor_id == str(actor_id), AuditEntry.action == action)
            .order_by(AuditEntry.id)
        )
        return list(rows.all())


def _shown(html: str, field_id: str) -> str:
    found = re.search(rf'id="{field_id}" readonly value="([^"]+)"', html)
    assert found, f"no {field_id} on the page"
    return found.group(1)


async def test_every_admin_page_renders_for_an_admin_and_refuses_a_coordinator(admin) -> None:
    c, _, username = admin
    me = await _user_id(username)
    paths = [
        "/console/admin/users",
        "/console/admin/users/new",
        f"/console/admin/users/{me}",
        "/console/admin/tokens",
        "/console/admin/templates",
        "/console/admin/templates/clinician_offer/es",
        "/console/admin/sites",
        "/console/admin/audit",
    ]
    for path in paths:
        page = await c.get(path)
        assert page.status_code == 200, (path, page.text[:300])
        assert 'name="csrftoken"' in page.text and '<main id="main"' in page.text
    async with _client() as other:
        await sign_in(other, await make_user(Role.coordinator))
        for path in paths:
            refused = await other.get(path)
            assert refused.status_code == 403, path
            assert "Not available to your role" in refused.text
            refused = await other.post(path, data={"csrftoken": csrf_from(refused.text)})
            assert refused.status_code in (403, 405), path
    async with _client() as nobody:
        away = await nobody.get("/console/admin/users")
        assert away.status_code == 303 and away.headers["location"].startswith("/console/signin")


async def test_a_created_user_sees_their_password_once_and_can_sign_in(admin) -> None:
    c, token, username = admin
    name = f"rm-{uuid.uuid4().hex[:8]}"
    made = await c.post(
        "/console/admin/users",
        data={
            "csrftoken": token,
            "username": name.upper(),
            "display_name": "Robin Risk",
            "role": "risk_manager",
            "site": "main",
            "password_mode": "generate",
        },
    )
    assert made.status_code == 200, made.text[:500]
    password = _shown(made.text, "new-password")
    assert "shown once" in made.text
    user_id = await _user_id(name)
    again = await c.get(f"/console/admin/users/{user_id}")
    listing = await c.get("/console/admin/users")
    assert password not in again.text and password not in listing.text
    assert f'id="user-{name}"' in listing.text
    async with _client() as newcomer:
        await sign_in(newcomer, name, password)
        home = await newcomer.get("/console/")
        assert home.headers["location"] == "/console/incidents"
    (row,) = await _actions(await _user_id(username), "user_create")
    assert row.target_id == str(user_id) and row.detail["role"] == "risk_manager"
    assert password not in str(row.detail)


async def test_a_typed_password_and_refusals_are_shown_by_their_fields(admin) -> None:
    c, token, _ = admin
    base = {"csrftoken": token, "display_name": "Pat Peer", "password_mode": "typed"}
    no_staff = await c.post(
        "/console/admin/users",
        data={
            **base,
            "username": f"p-{uuid.uuid4().hex[:6]}",
            "role": "peer",
            "password": PASSWORD,
            "password_again": PASSWORD,
        },
    )
    assert no_staff.status_code == 400
    assert 'id="err-staff_id"' in no_staff.text and 'aria-invalid="true"' in no_staff.text
    weak = await c.post(
        "/console/admin/users",
        data={
            **base,
            "username": f"w-{uuid.uuid4().hex[:6]}",
            "role": "coordinator",
            "password": "short",
            "password_again": "short",
        },
    )
    assert weak.status_code == 400 and 'id="err-password"' in weak.text
    differ = await c.post(
        "/console/admin/users",
        data={
            **base,
            "username": f"d-{uuid.uuid4().hex[:6]}",
            "role": "coordinator",
            "password": PASSWORD,
            "password_again": PASSWORD + "x",
        },
    )
    assert differ.status_code == 400 and 'id="err-password_again"' in differ.text
    # A peer on the roster without an account is offered in the list, and linked.
    form = await c.get("/console/admin/users/new")
    staff_id = re.findall(r'<option value="([A-Z]\d+)"', form.text)[0]
    name = f"peer-{uuid.uuid4().hex[:6]}"
    made = await c.post(
        "/console/admin/users",
        data={
            **base,
            "username": name,
            "role": "peer",
            "staff_id": staff_id,
            "password": PASSWORD,
            "password_again": PASSWORD,
        },
    )
    assert made.status_code == 200 and 'id="new-password"' not in made.text
    listing = await c.get("/console/admin/users")
    assert re.search(rf'id="user-{name}".*?{staff_id}', listing.text, re.S)
    async with _client() as peer:
        await sign_in(peer, name)
    again = await c.get("/console/admin/users/new")
    assert f'value="{staff_id}"' not in again.text  # an account each, at most


async def test_deactivation_and_a_new_role_end_sessions_at_once(admin) -> None:
    c, token, username = admin
    target = await make_user(Role.coordinator)
    target_id = await _user_id(target)
    async with _client() as them:
        await sign_in(them, target)
        assert (await them.get("/console/")).headers["location"] == "/console/board"
        done = await c.post(
            f"/console/admin/users/{target_id}/access",
            data={"csrftoken": token, "role": "coordinator"},  # unchecked: not active
        )
        assert done.status_code == 303
        gone = await them.get("/console/")
        assert gone.headers["location"] == "/console/signin"
        refused = await them.post(
            "/console/signin",
            data={
                "username": target,
                "password": PASSWORD,
                "csrftoken": csrf_from((await them.get("/console/signin")).text),
            },
        )
        assert refused.status_code == 401
    await c.post(
        f"/console/admin/users/{target_id}/access",
        data={"csrftoken": token, "role": "risk_manager", "active": "yes"},
    )
    async with _client() as them:
        await sign_in(them, target)
        assert (await them.get("/console/")).headers["location"] == "/console/incidents"
        await c.post(
            f"/console/admin/users/{target_id}/access",
            data={"csrftoken": token, "role": "coordinator", "active": "yes"},
        )
        assert (await them.get("/console/")).headers["location"] == "/console/signin"
    rows = await _actions(await _user_id(username), "user_access")
    assert [r.detail["after"] for r in rows] == [
        {"role": "coordinator", "active": False},
        {"role": "risk_manager", "active": True},
        {"role": "coordinator", "active": True},
    ]


async def test_a_password_reset_is_shown_once_and_ends_their_sessions(admin) -> None:
    c, token, username = admin
    target = await make_user(Role.coordinator)
    target_id = await _user_id(target)
    async with _client() as them:
        await sign_in(them, target)
        reset = await c.post(
            f"/console/admin/users/{target_id}/password",
            data={"csrftoken": token, "password_mode": "generate"},
        )
        assert reset.status_code == 200
        password = _shown(reset.text, "new-password")
        assert (await them.get("/console/")).headers["location"] == "/console/signin"
        await sign_in(them, target, password)
    (row,) = await _actions(await _user_id(username), "user_password_reset")
    assert row.target_id == str(target_id) and row.detail == {"generated": True}


async def test_an_admin_cannot_remove_their_own_access(admin) -> None:
    c, token, username = admin
    me = await _user_id(username)
    for data, field in (
        ({"role": "admin"}, "active"),
        ({"role": "coordinator", "active": "yes"}, "role"),
    ):
        refused = await c.post(
            f"/console/admin/users/{me}/access", data={"csrftoken": token, **data}
        )
        assert refused.status_code == 400
        assert f'id="err-{field}"' in refused.text and "your own" in refused.text
    async with transaction() as session:
        user = await session.get(User, me)
        assert user is not None and user.active and user.role == "admin"
    assert (await c.get("/console/admin/users")).status_code == 200  # still signed in


async def test_the_last_active_admin_is_kept(db: Engine) -> None:
    """Two administrators removing each other at once: whoever comes second is the one who
    would remove the last, and is refused."""
    async with transaction() as session:
        admins = (
            await session.scalars(select(User).where(User.role == "admin", User.active.is_(True)))
        ).all()
        keep, *others = admins
        for other in others:
            other.active = False
        await session.flush()
        someone = Principal(kind="user", id=uuid.uuid4(), name="other admin", role=Role.admin)
        with pytest.raises(Refused) as refused:
            await _check_admin_kept(session, someone, keep, Role.admin, False)
        assert "last active administrator" in refused.value.errors["active"]
        with pytest.raises(Refused):
            await _check_admin_kept(session, someone, keep, Role.coordinator, True)
        await session.rollback()


async def test_a_token_is_shown_once_hashed_works_with_its_role_and_revokes(admin) -> None:
    c, token, username = admin
    made = await c.post(
        "/console/admin/tokens",
        data={"csrftoken": token, "name": "incident feed", "role": "risk_manager"},
    )
    assert made.status_code == 200
    secret = _shown(made.text, "new-token")
    assert "shown once" in made.text
    listing = await c.get("/console/admin/tokens")
    assert secret not in listing.text and secret[:9] in listing.text  # the prefix only
    async with transaction() as session:
        stored = (
            await session.execute(
                text("SELECT id, token_hash FROM api_tokens WHERE prefix = :p"),
                {"p": secret[:9]},
            )
        ).all()
    ((token_id, digest),) = stored
    assert digest == hashlib.sha256(secret.encode()).hexdigest() and secret not in digest
    async with _client() as api:
        auth = {"Authorization": f"Bearer {secret}"}
        assert (await api.get("/healthz", headers=auth)).status_code == 200
        assert (await api.get("/admin/cases", headers=auth)).status_code == 403
        revoked = await c.post(
            f"/console/admin/tokens/{token_id}/revoke", data={"csrftoken": token}
        )
        assert revoked.status_code == 303
        assert (await api.get("/healthz", headers=auth)).status_code == 401
    after = await c.get("/console/admin/tokens")
    assert f'id="revoke-{token_id}"' not in after.text
    me = await _user_id(username)
    assert [r.target_id for r in await _actions(me, "token_create")] == [str(token_id)]
    assert [r.target_id for r in await _actions(me, "token_revoke")] == [str(token_id)]


async def test_a_peer_token_is_refused_and_a_form_without_csrf_changes_nothing(admin) -> None:
    c, token, _ = admin
    peer = await c.post(
        "/console/admin/tokens", data={"csrftoken": token, "name": "x", "role": "peer"}
    )
    assert peer.status_code == 400 and 'id="err-role"' in peer.text
    name = f"no-csrf-{uuid.uuid4().hex[:6]}"
    refused = await c.post("/console/admin/tokens", data={"name": name, "role": "admin"})
    assert refused.status_code == 403 and "expired" in refused.text
    async with transaction() as session:
        assert (
            await session.scalar(
                text("SELECT count(*) FROM api_tokens WHERE name = :n"), {"n": name}
            )
            == 0
        )


async def test_a_text_with_an_unknown_or_missing_placeholder_is_refused(admin) -> None:
    c, token, _ = admin
    url = "/console/admin/templates/crisis_reply/es"
    cases = {
        "Llama al {crisis_line} {nombre}.": "{nombre} is not a placeholder",
        "Llama al {crisis_line}, {patient_name}.": "details of a patient",
        "Si estás en peligro, llama ahora.": "{crisis_line} is missing",
        "Llama al {crisis_line.__class__}.": "not a placeholder",
        "Llama al {crisis_line} " + "x" * 320: "at most 320",
    }
    for body, why in cases.items():
        refused = await c.post(url, data={"csrftoken": token, "body": body, "intent": "save"})
        assert refused.status_code == 400, body
        assert why in refused.text.replace("&#34;", '"'), (body, refused.text[:2000])
    preview = await c.post(
        url,
        data={"csrftoken": token, "body": "Llama o escribe al {crisis_line}.", "intent": "preview"},
    )
    assert preview.status_code == 200 and "Llama o escribe al 988." in preview.text
    async with transaction() as session:
        assert (
            await session.scalar(
                text("SELECT count(*) FROM sms_templates WHERE kind = 'crisis_reply'")
            )
            == 0
        )


async def test_a_spanish_text_reaches_a_spanish_clinician_and_english_stays_default(
    admin, db: Engine
) -> None:
    c, token, username = admin
    spanish = (
        "Apoyo entre pares: tras un evento difícil, un colega está listo para hablar. "
        "Responde YES, LATER o NO."
    )
    saved = await c.post(
        "/console/admin/templates/clinician_offer/es",
        data={"csrftoken": token, "body": spanish, "intent": "save"},
    )
    assert saved.status_code == 303
    listing = await c.get("/console/admin/templates")
    assert 'id="override-clinician_offer-es"' in listing.text
    crisis = await c.post(
        "/console/admin/sites/main", data={"csrftoken": token, "crisis_line": "+1 555 0100"}
    )
    assert crisis.status_code == 303
    try:
        daytime()
        with db.begin() as conn:
            conn.execute(
                text("UPDATE staff SET language = 'es' WHERE staff_id = :s"), {"s": CLINICIAN}
            )
        case = await open_case(db)
        await accepted_by_peer(db, case)
        assert ("offer", spanish) in messages(db, case, to=CLINICIAN_NUMBER)
        with db.begin() as conn:
            conn.execute(
                text("UPDATE staff SET language = 'en' WHERE staff_id = :s"), {"s": CLINICIAN}
            )
        case = await open_case(db)
        await accepted_by_peer(db, case)
        offers = [b for k, b in messages(db, case, to=CLINICIAN_NUMBER) if k == "offer"]
        assert offers and offers[0].startswith("Peer support: after a difficult event")
        # The crisis reply names the line of the clinician's own site.
        assert await reply(db, CLINICIAN_NUMBER, "I want to end it all") == "crisis"
        kind, body = messages(db, to=CLINICIAN_NUMBER)[-1]
        assert kind == "crisis_reply" and "+1 555 0100 now" in body
    finally:
        clock.reset()  # daytime() moved the clock: the admin's session would read as idle
        with db.begin() as conn:
            conn.execute(
                text("UPDATE staff SET language = 'en' WHERE staff_id = :s"), {"s": CLINICIAN}
            )
        restored = await c.post(
            "/console/admin/sites/main", data={"csrftoken": token, "crisis_line": "988"}
        )
        reset = await c.post(
            "/console/admin/templates/clinician_offer/es/reset", data={"csrftoken": token}
        )
    assert reset.status_code == restored.status_code == 303
    assert reset.headers["location"].endswith("saved=reset")
    me = await _user_id(username)
    (save,) = await _actions(me, "sms_template_save")
    assert save.target_id == "clinician_offer:es"
    assert [r.target_id for r in await _actions(me, "sms_template_reset")] == ["clinician_offer:es"]
    lines = await _actions(me, "site_crisis_line")
    assert [r.detail["after"] for r in lines] == ["+1 555 0100", "988"]


async def test_a_bad_crisis_line_is_refused_by_its_field(admin) -> None:
    c, token, _ = admin
    refused = await c.post(
        "/console/admin/sites/main", data={"csrftoken": token, "crisis_line": "call {patient}"}
    )
    assert refused.status_code == 400 and 'id="err-crisis-main"' in refused.text


async def test_the_audit_log_filters_and_pages_newest_first(admin) -> None:
    c, _, _ = admin
    actor = Principal(
        kind="token", id=uuid.uuid4(), name="audit test feed", role=Role.coordinator, ip="10.0.0.9"
    )
    async with transaction() as session:
        for n in range(55):
            await audit.record(session, actor, "test_action", "thing", f"t{n}")
        await audit.record(session, actor, "other_action", "widget", "w1")
    first = await c.get("/console/admin/audit", params={"actor": str(actor.id)})
    assert first.status_code == 200
    ids = [int(i) for i in re.findall(r'<tr id="audit-(\d+)"', first.text)]
    assert len(ids) == 50 and ids == sorted(ids, reverse=True)
    assert "other_action" in first.text and "10.0.0.9" in first.text
    older = re.search(r'href="([^"]+)" id="audit-older"', first.text)
    assert older
    second = await c.get(older.group(1).replace("&amp;", "&"))
    rest = [int(i) for i in re.findall(r'<tr id="audit-(\d+)"', second.text)]
    assert len(rest) == 6 and max(rest) < min(ids)
    assert 'id="audit-older"' not in second.text
    newest = re.search(r'href="([^"]+)" id="audit-newest"', second.text)
    assert newest
    back = await c.get(newest.group(1).replace("&amp;", "&"))
    assert [int(i) for i in re.findall(r'<tr id="audit-(\d+)"', back.text)] == ids
    one = await c.get(
        "/console/admin/audit",
        params={"actor": "Audit Test Feed", "target_kind": "thing", "target_id": "t7"},
    )
    assert len(re.findall(r'<tr id="audit-', one.text)) == 1 and "t7" in one.text
    by_action = await c.get(
        "/console/admin/audit", params={"actor": str(actor.id), "action": "other_action"}
    )
    assert len(re.findall(r'<tr id="audit-', by_action.text)) == 1
    today = clock.now().date()
    future = await c.get(
        "/console/admin/audit",
        params={"actor": str(actor.id), "since": str(today + timedelta(days=2))},
    )
    assert "Nothing matches" in future.text
    window = await c.get(
        "/console/admin/audit",
        params={
            "actor": str(actor.id),
            "since": str(today - timedelta(days=1)),
            "until": str(today + timedelta(days=1)),
        },
    )
    assert len(re.findall(r'<tr id="audit-', window.text)) == 50
    bad = await c.get("/console/admin/audit", params={"since": "yesterday"})
    assert bad.status_code == 400 and 'id="err-since"' in bad.text


async def test_a_stored_text_that_no_longer_fills_sends_the_default(db: Engine) -> None:
    """A text saved before a placeholder was dropped must never stop a crisis reply."""
    async with transaction() as session:
        await session.execute(
            text(
                "INSERT INTO sms_templates (kind, language, body) "
                "VALUES ('crisis_reply', 'fr', 'Appelez le {crisis_line} {dropped}.')"
            )
        )
    texts.forget()
    try:
        async with transaction() as session:
            peer = type("S", (), {"language": "fr", "home_unit": "5W"})()
            body = await texts.text_for(session, peer, "crisis_reply")  # type: ignore[arg-type]
        assert body == texts.default("crisis_reply", crisis_line="988")
    finally:
        async with transaction() as session:
            await session.execute(text("DELETE FROM sms_templates WHERE language = 'fr'"))
        texts.forget()


async def test_a_feed_holds_a_token_and_never_an_account(admin) -> None:
    """The feed role is for hospital systems: a token made with it calls health, not the
    board's API; an account with it is refused on the form, never a 500 from the store."""
    c, token, _ = admin
    base = {"csrftoken": token, "display_name": "EHR interface", "password_mode": "typed"}
    person = await c.post(
        "/console/admin/users",
        data={
            **base,
            "username": f"feed-{uuid.uuid4().hex[:6]}",
            "role": "feed",
            "password": PASSWORD,
            "password_again": PASSWORD,
        },
    )
    assert person.status_code == 400 and 'id="err-role"' in person.text
    made = await c.post(
        "/console/admin/tokens", data={"csrftoken": token, "name": "EHR FHIR", "role": "feed"}
    )
    assert made.status_code == 200
    secret = _shown(made.text, "new-token")
    async with _client() as api:
        auth = {"Authorization": f"Bearer {secret}"}
        assert (await api.get("/healthz", headers=auth)).status_code == 200
        assert (await api.get("/admin/cases", headers=auth)).status_code == 403
        assert (await api.post("/incidents", headers=auth, json={})).status_code == 403
