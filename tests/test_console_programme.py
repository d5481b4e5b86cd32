"""The coordinator's programme pages: on call and coverage, schedules and overrides, the peer
roster, escalation policies and group debriefs.

Destructive tests make their own schedule, peers and policies (unique names), and look far
ahead (2035) when they change who is on call, so the seeded schedule and the peers other
tests page are never touched.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select

from services.db import transaction
from services.identity.models import AuditEntry, Role, Site, User
from services.incidents.models import Incident
from services.people.matching import load_context, rank
from services.people.models import GroupDebrief, Involvement, PeerSupporter, Staff
from services.schedules import admin
from services.schedules.demo import DEMO_SCHEDULE
from services.schedules.inputs import OverrideIn, ScheduleIn
from tests.console_helpers import console_client, csrf_from, make_user, sign_in

ADMIN = {"Authorization": "Bearer test-admin-token"}
# Far enough ahead that every seeded peer's training has lapsed and no other test's
# override reaches: who is on call then is whatever these tests put there.
FUTURE = datetime(2035, 3, 1, 14, 0, tzinfo=UTC)


@pytest.fixture
async def browser(db):
    async with console_client("10.4.4.4") as c:
        yield c


@pytest.fixture
async def api(client):
    """The API in-process (conftest's `client`), beside the console's `browser`."""
    return client


async def coordinator(client: httpx.AsyncClient) -> tuple[str, str]:
    """Signs in a fresh coordinator; returns (username, CSRF token)."""
    username = await make_user(Role.coordinator)
    return username, await sign_in(client, username)


async def site_zone() -> ZoneInfo:
    async with transaction() as session:
        return ZoneInfo(await session.scalar(select(Site.time_zone).where(Site.code == "main")))


def wall(at: datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%Y-%m-%dT%H:%M")


async def actions_of(username: str) -> list[str]:
    async with transaction() as session:
        user_id = await session.scalar(select(User.id).where(User.username == username))
        return list(
            await session.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.actor_id == str(user_id))
                .order_by(AuditEntry.id)
            )
        )


async def make_peer(
    discipline: str = "RN", supports: tuple[str, ...] = (), until: date = date(2036, 12, 31)
) -> str:
    """A new member of staff on the roster, trained until `until`."""
    staff_id = f"T{uuid.uuid4().hex[:8].upper()}"
    async with transaction() as session:
        session.add(
            Staff(
                staff_id=staff_id,
                display_name=f"Test Peer {staff_id}",
                discipline=discipline,
                role="test",
                home_unit="ICU",
                mobile_e164=f"+1555019{uuid.uuid4().int % 10_000:04d}",
                language="en",
            )
        )
        await session.flush()
        session.add(
            PeerSupporter(
                staff_id=staff_id,
                trained_on=date(2025, 1, 1),
                trained_until=until,
                supports=list(supports),
                languages=["en"],
                max_open_cases=2,
                active=True,
            )
        )
    return staff_id


async def make_schedule() -> uuid.UUID:
    async with transaction() as session:
        made = await admin.create_schedule(
            session, ScheduleIn(name=f"Test {uuid.uuid4().hex[:8]}", time_zone="America/Chicago")
        )
    return uuid.UUID(str(made["id"]))


def card(html: str, element_id: str) -> str:
    """The HTML from the element with `element_id` to the next card (rough, enough here)."""
    start = html.index(f'id="{element_id}"')
    end = html.find('<div class="card"', start + 1)
    return html[start : end if end > 0 else len(html)]


# --------------------------------------------------------------------------- access


async def test_each_page_renders_for_a_coordinator_only(browser):
    async with transaction() as session:
        seeded = await admin.schedule_id_by_name(session, DEMO_SCHEDULE)
    pages = [
        "/console/on-call",
        "/console/schedules",
        f"/console/schedules/{seeded}",
        "/console/peers",
        "/console/peers/new",
        "/console/peers/N1101",
        "/console/policies",
        "/console/policies/new",
        "/console/debriefs",
    ]
    await coordinator(browser)
    for url in pages:
        r = await browser.get(url)
        assert r.status_code == 200, (url, r.text[:300])
        assert 'name="csrftoken"' in r.text  # at least the sign-out form
    for role, staff_id in ((Role.risk_manager, None), (Role.peer, "N1101")):
        browser.cookies.clear()
        await sign_in(browser, await make_user(role, staff_id=staff_id))
        for url in pages:
            r = await browser.get(url)
            assert r.status_code == 403, (role, url)
            assert "Not available to your role" in r.text
    browser.cookies.clear()
    assert (await browser.get("/console/on-call")).status_code == 303


async def test_a_post_without_csrf_is_refused_and_changes_nothing(browser):
    username, _ = await coordinator(browser)
    peer = await make_peer()
    r = await browser.post(f"/console/peers/{peer}/pause", data={})
    assert r.status_code == 403
    async with transaction() as session:
        assert await session.scalar(
            select(PeerSupporter.active).where(PeerSupporter.staff_id == peer)
        )
    assert "peer.paused" not in await actions_of(username)


# --------------------------------------------------------------------------- on call


async def test_on_call_shows_the_seeded_schedules_on_call_peers(browser, api):
    username, _ = await coordinator(browser)
    async with transaction() as session:
        seeded = await admin.schedule_id_by_name(session, DEMO_SCHEDULE)
    resolved = (await api.get("/admin/schedules/on-call", headers=ADMIN)).json()
    expected = {p["staff_id"] for p in resolved["on_call"] if DEMO_SCHEDULE in p["schedules"]}
    assert expected, "the seeded schedule always has someone on call"
    page = await browser.get("/console/on-call")
    assert page.status_code == 200
    section = card(page.text, f"schedule-{seeded}")
    shown = set(re.findall(r'class="on-call-now" data-staff-id="([^"]+)"', section))
    assert shown == expected
    # Load and training for every peer on the roster, the seeded ones included.
    assert 'data-staff-id="N1101"' in card(page.text, "peer-load")
    # N1103's training lapsed in 2025: highlighted.
    n1103 = page.text[page.text.index('<tr data-staff-id="N1103"') :]
    assert "training-expired" in n1103[: n1103.index("</tr>")]
    assert "on_call.view" in await actions_of(username)


async def test_a_gap_shows_until_an_override_covers_it(browser, api):
    username, _ = await coordinator(browser)
    zone = await site_zone()
    peer = await make_peer(discipline="pharmacist", supports=("pharmacist",))
    schedule_id = await make_schedule()
    look = f"/console/on-call?from={wall(FUTURE, zone)}"
    before = await browser.get(look)
    assert before.status_code == 200, before.text[:500]
    assert 'data-discipline="pharmacist"' in card(before.text, "gaps")

    token = csrf_from((await browser.get(f"/console/schedules/{schedule_id}")).text)
    added = await browser.post(
        f"/console/schedules/{schedule_id}/overrides",
        data={
            "csrftoken": token,
            "add_staff_id": peer,
            "remove_staff_id": "",
            "starts_at": wall(FUTURE - timedelta(hours=1), zone),
            "ends_at": wall(FUTURE + timedelta(hours=25), zone),
        },
    )
    assert added.status_code == 200, added.text[:800]
    assert 'id="notice"' in added.text
    after = await browser.get(look)
    assert 'data-discipline="pharmacist"' not in card(after.text, "gaps")
    assert peer in card(after.text, f"schedule-{schedule_id}")
    assert "schedule.override_added" in await actions_of(username)


# --------------------------------------------------------------------------- schedules


async def test_rotation_refusals_show_beside_their_fields_and_the_form_is_refilled(browser):
    username, token = await coordinator(browser)
    schedule_id = await make_schedule()
    await browser.get(f"/console/schedules/{schedule_id}")
    token = csrf_from((await browser.get(f"/console/schedules/{schedule_id}")).text)
    base = {"csrftoken": token, "rows": "3"}
    r = await browser.post(
        f"/console/schedules/{schedule_id}/rotations",
        data={
            **base,
            "r0_name": "",
            "r0_kind": "daily",
            "r0_start": "2035-01-01T07:00",
            "r0_people": "N1101",
            "r1_name": "Nights",
            "r1_kind": "custom",
            "r1_hours": "",
            "r1_start": "2035-01-01T19:00",
            "r1_people": "N1102",
        },
    )
    assert r.status_code == 422
    assert re.search(r'id="r0-name-error">[^<]*at least 1', r.text)
    assert re.search(r'id="r1-hours-error">[^<]*custom rotation needs shift_hours', r.text)
    assert re.search(r'id="r1-name"[^>]*value="Nights"', r.text)
    assert re.search(r'id="r1-start"[^>]*value="2035-01-01T19:00"', r.text)

    unknown = f"ZZ{uuid.uuid4().hex[:6]}"
    r = await browser.post(
        f"/console/schedules/{schedule_id}/rotations",
        data={
            **base,
            "r0_name": "Days",
            "r0_kind": "daily",
            "r0_start": "2035-01-01T07:00",
            "r0_people": f"N1101, {unknown}",
        },
    )
    assert r.status_code == 422
    assert re.search(rf'id="r0-people-error">[^<]*unknown staff {unknown}', r.text)
    assert re.search(rf'id="r0-people"[^>]*value="N1101, {unknown}"', r.text)
    async with transaction() as session:
        assert (await admin.get_schedule(session, schedule_id))["rotations"] == []

    peer = await make_peer()
    r = await browser.post(
        f"/console/schedules/{schedule_id}/rotations",
        data={
            **base,
            "r0_name": "Days",
            "r0_kind": "custom",
            "r0_hours": "12",
            "r0_start": "2035-01-01T07:00",
            "r0_people": peer,
        },
    )
    assert r.status_code == 200 and "Rotations saved" in r.text
    async with transaction() as session:
        view = await admin.get_schedule(session, schedule_id)
    assert [(x["name"], x["shift_hours"], x["start_local"]) for x in view["rotations"]] == [
        ("Days", 12, "2035-01-01T07:00:00")
    ]
    assert "schedule.rotations_replaced" in await actions_of(username)


async def test_an_override_made_in_the_page_is_what_the_api_resolves(browser, api):
    username, _ = await coordinator(browser)
    zone = await site_zone()
    peer = await make_peer()
    schedule_id = await make_schedule()
    token = csrf_from((await browser.get(f"/console/schedules/{schedule_id}")).text)
    at = FUTURE + timedelta(days=3)
    r = await browser.post(
        f"/console/schedules/{schedule_id}/overrides",
        data={
            "csrftoken": token,
            "add_staff_id": peer,
            "starts_at": wall(at - timedelta(hours=2), zone),
            "ends_at": wall(at + timedelta(hours=2), zone),
        },
    )
    assert r.status_code == 200, r.text[:500]
    resolved = (
        await api.get("/admin/schedules/on-call", params={"at": at.isoformat()}, headers=ADMIN)
    ).json()
    mine = [p for p in resolved["on_call"] if p["staff_id"] == peer]
    assert len(mine) == 1 and mine[0]["schedules"] == [view_name := mine[0]["schedules"][0]]
    detail = (await api.get(f"/admin/schedules/{schedule_id}", headers=ADMIN)).json()
    assert detail["name"] == view_name
    (override,) = detail["overrides"]
    assert datetime.fromisoformat(override["starts_at"]) == at - timedelta(hours=2)
    assert override["add_staff_id"] == peer

    # A refused override: the end before the start, shown beside "Until"; nothing added.
    bad = await browser.post(
        f"/console/schedules/{schedule_id}/overrides",
        data={
            "csrftoken": token,
            "add_staff_id": peer,
            "starts_at": wall(at, zone),
            "ends_at": wall(at - timedelta(hours=1), zone),
        },
    )
    assert bad.status_code == 422
    assert re.search(r'id="override-ends-error">[^<]*after', bad.text)

    gone = await browser.post(
        f"/console/schedules/{schedule_id}/overrides/{override['id']}/delete",
        data={"csrftoken": token},
    )
    assert gone.status_code == 200 and "Override removed" in gone.text
    resolved = (
        await api.get("/admin/schedules/on-call", params={"at": at.isoformat()}, headers=ADMIN)
    ).json()
    assert peer not in {p["staff_id"] for p in resolved["on_call"]}
    actions = await actions_of(username)
    assert "schedule.override_added" in actions and "schedule.override_deleted" in actions


# --------------------------------------------------------------------------- peers


async def test_pausing_a_peer_in_the_page_excludes_them_from_matching(browser):
    username, token = await coordinator(browser)
    zone = await site_zone()
    peer = await make_peer()
    schedule_id = await make_schedule()
    at = FUTURE + timedelta(days=6)
    async with transaction() as session:
        await admin.add_override(
            session,
            schedule_id,
            OverrideIn(
                starts_at=at - timedelta(hours=1),
                ends_at=at + timedelta(hours=1),
                add_staff_id=peer,
            ),
        )
    clinician = Staff(staff_id="C-none", home_unit="5W", discipline="RN", language="en")

    async def ranked() -> list[str]:
        async with transaction() as session:
            ctx = await load_context(session, at, "off")
        return [p.staff_id for p in rank(ctx, clinician, set()).ranked]

    assert peer in await ranked()
    token = csrf_from((await browser.get("/console/peers")).text)
    r = await browser.post(f"/console/peers/{peer}/pause", data={"csrftoken": token})
    assert r.status_code == 303
    assert peer not in await ranked()
    listed = await browser.get(r.headers["location"])
    assert f'id="peer-resume-{peer}"' in listed.text
    on_call = await browser.get(f"/console/on-call?from={wall(at, zone)}")
    assert f'data-staff-id="{peer}"' in card(on_call.text, "paused-peers")
    r = await browser.post(f"/console/peers/{peer}/resume", data={"csrftoken": token})
    assert r.status_code == 303
    assert peer in await ranked()
    actions = await actions_of(username)
    assert {"peers.view", "peer.paused", "peer.resumed", "on_call.view"} <= set(actions)


async def test_a_peer_is_added_and_changed_through_the_apis_rules(browser, api):
    username, _ = await coordinator(browser)
    peer = await make_peer()
    async with transaction() as session:
        await session.execute(
            PeerSupporter.__table__.delete().where(PeerSupporter.staff_id == peer)
        )
    token = csrf_from((await browser.get("/console/peers/new")).text)
    form = {
        "csrftoken": token,
        "staff_id": peer,
        "trained_on": "2026-02-01",
        "trained_until": "2026-01-01",
        "supports": ["RN", "LPN"],
        "languages": "en, ES",
        "max_open_cases": "3",
        "status": "active",
    }
    refused = await browser.post("/console/peers", data=form)
    assert refused.status_code == 422
    assert re.search(r'id="peer-trained-until-error">[^<]*before trained_on', refused.text)
    assert 'id="supports-LPN" name="supports" value="LPN" checked' in refused.text
    unknown = await browser.post(
        "/console/peers", data={**form, "staff_id": "NOBODY-x1", "trained_until": "2028-01-01"}
    )
    assert re.search(r'id="peer-staff-id-error">[^<]*unknown staff id', unknown.text)

    added = await browser.post("/console/peers", data={**form, "trained_until": "2028-01-01"})
    assert added.status_code == 303
    (seen,) = [
        p for p in (await api.get("/admin/peers", headers=ADMIN)).json() if p["staff_id"] == peer
    ]
    assert seen["supports"] == ["RN", "LPN"] and seen["languages"] == ["en", "es"]
    assert seen["max_open_cases"] == 3 and seen["trained_until"] == "2028-01-01"
    page = await browser.get(added.headers["location"])
    assert page.status_code == 200 and "Saved." in page.text
    changed = await browser.post(
        "/console/peers", data={**form, "trained_until": "2029-06-30", "max_open_cases": "1"}
    )
    assert changed.status_code == 303
    (seen,) = [
        p for p in (await api.get("/admin/peers", headers=ADMIN)).json() if p["staff_id"] == peer
    ]
    assert seen["trained_until"] == "2029-06-30" and seen["max_open_cases"] == 1
    actions = await actions_of(username)
    assert {"peer.added", "peer.updated", "peer.view"} <= set(actions)


# --------------------------------------------------------------------------- policies


async def test_a_policy_saved_in_the_page_is_the_apis_policy(browser, api):
    username, _ = await coordinator(browser)
    name = f"Test policy {uuid.uuid4().hex[:6]}"
    site = f"x{uuid.uuid4().hex[:8]}"
    token = csrf_from((await browser.get("/console/policies/new")).text)
    form = {
        "csrftoken": token,
        "existing": "no",
        "rows": "3",
        "name": name,
        "site": site,
        "s0_target": "peer",
        "s0_wait": "5",
        "s1_target": "coordinator",
        "s1_wait": "0",
        "s2_target": "peer",
        "s2_wait": "",
        "repeat": "2",
        "active": "yes",
    }
    refused = await browser.post("/console/policies", data=form)
    assert refused.status_code == 422
    assert re.search(r'id="s1-wait-error">[^<]*greater than 0', refused.text)
    saved = await browser.post("/console/policies", data={**form, "s1_wait": "12.5"})
    assert saved.status_code == 303
    listed = (await api.get("/admin/escalation-policies", headers=ADMIN)).json()
    (mine,) = [p for p in listed if p["name"] == name]
    assert mine == {
        "name": name,
        "site": site,
        "steps": [
            {"target": "peer", "wait_minutes": 5.0},
            {"target": "coordinator", "wait_minutes": 12.5},
        ],
        "repeat": 2,
        "active": True,
    }
    page = await browser.get(saved.headers["location"])
    assert re.search(r'id="s1-wait"[^>]*value="12.5"', page.text)

    # Another policy for the same site: the API's 409, shown beside the site.
    clash = await browser.post(
        "/console/policies", data={**form, "name": name + " b", "s1_wait": "3"}
    )
    assert clash.status_code == 409
    assert re.search(r'id="policy-site-error">[^<]*already covers', clash.text)
    api_clash = await api.put(
        f"/admin/escalation-policies/{name} c",
        json={"site": site, "steps": [{"target": "peer", "wait_minutes": 3}]},
        headers=ADMIN,
    )
    assert api_clash.status_code == 409
    assert "policy.saved" in await actions_of(username)


# --------------------------------------------------------------------------- debriefs


async def test_a_debrief_proposal_is_decided_and_shows_no_names(browser):
    username, _ = await coordinator(browser)
    incident_id, debrief_id = uuid.uuid4(), uuid.uuid4()
    unit = "ICU"
    async with transaction() as session:
        session.add(
            Incident(
                id=incident_id,
                request_hash=uuid.uuid4().hex,
                occurred_at=datetime(2026, 2, 3, 4, 5, tzinfo=UTC),
                unit=unit,
                event_type="unexpected_death",
                harm_level="death",
                staff_ids=["N1101", "N1102"],
            )
        )
        await session.flush()
        session.add_all(
            [
                Involvement(incident_id=incident_id, staff_id=s, source="named", status="confirmed")
                for s in ("N1101", "N1102")
            ]
            + [GroupDebrief(id=debrief_id, incident_id=incident_id, reason="test")]
        )
    page = await browser.get("/console/debriefs")
    row = page.text[page.text.index(f'id="debrief-{debrief_id}"') :]
    row = row[: row.index("</tr>")]
    assert f">{unit}<" in row and 'data-label="Staff">2<' in row and "Proposed" in row
    assert "Morgan Patel" not in page.text and "Riley Chen" not in page.text
    token = csrf_from(page.text)
    r = await browser.post(
        f"/console/debriefs/{debrief_id}", data={"csrftoken": token, "decision": "scheduled"}
    )
    assert r.status_code == 303
    async with transaction() as session:
        assert (
            await session.scalar(select(GroupDebrief.status).where(GroupDebrief.id == debrief_id))
            == "scheduled"
        )
    bad = await browser.post(
        f"/console/debriefs/{debrief_id}", data={"csrftoken": token, "decision": "maybe"}
    )
    assert bad.status_code == 422
    actions = await actions_of(username)
    assert {"debriefs.view", "debrief.scheduled"} <= set(actions)


# --------------------------------------------------------------------------- coverage rules


def test_gaps_merge_spans_and_honour_training_supports_and_reachability():
    from services.people.matching import Peer
    from services.schedules.coverage import gaps
    from services.schedules.rules import Shift

    start = datetime(2030, 1, 1, 12, tzinfo=UTC)
    end = start + timedelta(hours=24)

    def peer(sid: str, supports: tuple[str, ...] = (), until: date = date(2031, 1, 1), **kw):
        return Peer(sid, "ICU", "RN", "+15550000000", until, supports, ("en",), 2, **kw)

    peers = {
        "A": peer("A"),
        "B": peer("B", supports=("physician",)),
        # Training ends at the end of 1 January (UTC): covers only until midnight.
        "C": peer("C", until=date(2030, 1, 1)),
        "D": peer("D", unreachable="STOP"),
    }
    shifts = [
        Shift("A", start, start + timedelta(hours=6)),
        Shift("A", start + timedelta(hours=4), start + timedelta(hours=8)),
        Shift("C", start + timedelta(hours=8), end),
        Shift("B", start, end),
        Shift("D", start, end),
        Shift("Z", start, end),  # not a peer matching would consider
    ]
    found = gaps(shifts, peers, ["RN", "physician", "chaplain"], start, end)
    midnight = datetime(2030, 1, 2, tzinfo=UTC)
    assert [(g.discipline, g.starts_at, g.ends_at, g.whole_window) for g in found] == [
        ("RN", midnight, end, False),
        ("chaplain", midnight, end, False),
    ]
    assert [g.discipline for g in gaps([], peers, ["RN"], start, end) if g.whole_window] == ["RN"]
