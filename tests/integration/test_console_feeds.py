"""The console's feed pages, in-process: the trigger rule editor (a draft moved, added and
removed without touching the store; a valid table saved and audited; a refused table shown
back with every problem beside its rule and nothing saved; a stale page's save refused; a
stored table that fails its check shown as a warning), the board's feed section (records
the rules ask about, started, joined or dismissed once; silent feeds), and only the
coordinator let in.

Every test that may write the rules puts the stored table back (`kept_table`); every test
of the board's section has its own unit and staff (`ward`, from the intake's tests)."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from schemas.events import HarmLevel, IncidentType
from services import clock
from services.db import transaction
from services.feeds import intake
from services.feeds.config import load_feeds
from services.feeds.intake import Disposition
from services.feeds.record import Source
from services.feeds.store import load_rules
from services.feeds.triggers import DEFAULT_RULES, Action, Rule, rules_to_rows
from services.identity.models import Role
from tests.integration.console_helpers import console_client, make_user, sign_in
from tests.integration.test_feeds_intake import Ward, a_while_ago, take
from tests.integration.test_feeds_store import (
    _stored,
    kept_table,  # noqa: F401 (the fixture, by name)
)
from tests.integration.wards import make_ward

RULES = "/console/feeds/rules"
pytestmark = pytest.mark.usefixtures("kept_table")


@pytest.fixture
async def web(db: Engine):
    async with console_client("10.4.4.4") as c:
        yield c


async def coordinator(c: httpx.AsyncClient) -> str:
    return await sign_in(c, await make_user(Role.coordinator))


def base_of(html: str) -> str:
    found = re.search(r'name="base" value="([0-9a-f]+)"', html)
    assert found, "the rules form carries no base fingerprint"
    return found.group(1)


def form(rows: list[dict[str, Any]], token: str, base: str, op: str) -> dict[str, Any]:
    """The editor's form as a browser posts it (one box per ticked event or harm)."""
    data: dict[str, Any] = {"csrftoken": token, "rows": str(len(rows)), "base": base, "op": op}
    for i, row in enumerate(rows):
        data[f"r{i}_source"] = row.get("source") or ""
        data[f"r{i}_event"] = list(row.get("event_types") or [])
        data[f"r{i}_harm"] = list(row.get("harm_levels") or [])
        data[f"r{i}_action"] = row["action"]
        data[f"r{i}_note"] = row.get("note", "")
    return data


def section(html: str, element_id: str) -> str:
    """The text of the element with this id up to its closing tag of the same name."""
    start = html.index(f'id="{element_id}"')
    tag = html.rfind("<", 0, start)
    name = re.match(r"<(\w+)", html[tag:]).group(1)  # type: ignore[union-attr]
    return html[tag : html.index(f"</{name}>", start)]


def legends(html: str) -> list[str]:
    return re.findall(r"<legend>Rule (\d+)</legend>", html)


def notes(html: str) -> list[str]:
    return re.findall(r'name="r\d+_note" maxlength="\d+" value="([^"]*)"', html)


def audit_count(db: Engine, action: str) -> int:
    with db.connect() as conn:
        return int(
            conn.execute(
                text("SELECT count(*) FROM audit_log WHERE action = :a"), {"a": action}
            ).scalar_one()
        )


async def test_only_the_coordinator_opens_the_rules(db, web):
    for role in (Role.risk_manager, Role.admin):
        web.cookies.clear()
        token = await sign_in(web, await make_user(role))
        assert (await web.get(RULES)).status_code == 403, role
        refused = await web.post(RULES, data={"op": "save", "rows": "0", "csrftoken": token})
        assert refused.status_code == 403, role
    web.cookies.clear()
    await coordinator(web)
    before = audit_count(db, "feed_rules.view")
    page = await web.get(RULES)
    assert page.status_code == 200
    assert audit_count(db, "feed_rules.view") == before + 1
    in_force = section(page.text, "in-force")
    assert in_force.count("<tr>") == len(DEFAULT_RULES) + 1  # with the heading row
    assert DEFAULT_RULES[0].note in in_force and "Start outreach" in in_force
    assert legends(page.text) == [str(n) for n in range(1, len(DEFAULT_RULES) + 1)]
    assert notes(page.text) == [r.note for r in DEFAULT_RULES]
    assert 'href="/console/feeds/rules"' in page.text  # in the coordinator's nav


async def test_moving_adding_and_removing_changes_the_page_not_the_store(db, web):
    before = _stored(db)
    token = await coordinator(web)
    page = await web.get(RULES)
    base = base_of(page.text)
    rows = rules_to_rows(DEFAULT_RULES)
    moved = await web.post(RULES, data=form(rows, token, base, "down:0"))
    assert moved.status_code == 200
    assert "moved down" in section(moved.text, "rules-notice")
    assert notes(moved.text)[:2] == [DEFAULT_RULES[1].note, DEFAULT_RULES[0].note]
    added = await web.post(RULES, data=form(rows, token, base, "add"))
    # Added above the final catch-all, where it can be reached.
    assert notes(added.text) == [r.note for r in DEFAULT_RULES[:-1]] + ["", DEFAULT_RULES[-1].note]
    # A stale or forged button (no such rule, the first rule up) changes nothing.
    for op in ("up:0", "down:3", "remove:9", "up:x", "sideways:1"):
        same = await web.post(RULES, data=form(rows, token, base, op))
        assert same.status_code == 200 and "rules-notice" not in same.text, op
        assert notes(same.text) == [r.note for r in DEFAULT_RULES], op
    removed = await web.post(RULES, data=form(rows, token, base, "remove:2"))
    assert notes(removed.text) == [r.note for r in DEFAULT_RULES if r is not DEFAULT_RULES[2]]
    assert base_of(removed.text) == base  # the draft still answers to the table it came from
    assert _stored(db) == before


async def test_a_valid_table_is_saved_and_audited(db, web):
    token = await coordinator(web)
    base = base_of((await web.get(RULES)).text)
    rows = rules_to_rows(DEFAULT_RULES)
    rows.insert(
        2,
        {
            "source": "code_blue",
            "event_types": ["medication_error"],
            "harm_levels": None,
            "action": "start",
            "note": "code team: page at once",
        },
    )
    before = audit_count(db, "feed_rules.saved")
    saved = await web.post(RULES, data=form(rows, token, base, "save"))
    assert saved.status_code == 303 and saved.headers["location"] == f"{RULES}?saved=1"
    async with transaction() as session:
        stored = await load_rules(session)
    assert stored[2] == Rule(
        Action.start,
        "code team: page at once",
        source="code_blue",
        event_types={"medication_error"},
    )
    assert stored[:2] == DEFAULT_RULES[:2] and stored[3:] == DEFAULT_RULES[2:]
    assert audit_count(db, "feed_rules.saved") == before + 1
    page = await web.get(f"{RULES}?saved=1")
    assert "Saved." in section(page.text, "rules-notice")
    assert "code team: page at once" in section(page.text, "in-force")


async def test_a_refused_table_shows_every_problem_beside_its_rule_and_saves_nothing(db, web):
    before = _stored(db)
    token = await coordinator(web)
    base = base_of((await web.get(RULES)).text)
    rows = [
        # Ignores severe harm: refused at rule 1.
        {
            "source": None,
            "event_types": None,
            "harm_levels": ["severe", "moderate"],
            "action": "ignore",
            "note": "severe is handled by the ward",
        },
        {
            "source": "fhir",
            "event_types": None,
            "harm_levels": None,
            "action": "ask",
            "note": "tab\tin a note",
        },
        # No final catch-all: a record could meet no rule (a problem of the whole table).
        {
            "source": None,
            "event_types": ["code_blue"],
            "harm_levels": None,
            "action": "start",
            "note": "",
        },
    ]
    refused = await web.post(RULES, data=form(rows, token, base, "save"))
    assert refused.status_code == 422
    assert "Nothing was saved" in section(refused.text, "rules-error")
    assert "printable" in section(refused.text, "rule-2-problems")
    # A row's own problem stops the check of the whole table; fixed, the rest show.
    rows[1]["note"] = "tab gone"
    refused = await web.post(RULES, data=form(rows, token, base, "save"))
    assert refused.status_code == 422
    assert "would ignore a death or severe harm" in section(refused.text, "rule-1-problems")
    assert "rule-2-problems" not in refused.text and "rule-3-problems" not in refused.text
    assert "the last rule must match any record" in section(refused.text, "rules-problems")
    # The draft comes back as it was sent, for the coordinator to fix.
    assert notes(refused.text) == ["severe is handled by the ward", "tab gone", ""]
    assert 'id="r0-harm-severe" name="r0_harm" value="severe" checked' in refused.text
    assert _stored(db) == before


async def test_a_save_from_a_page_opened_before_another_save_is_refused(db, web):
    token = await coordinator(web)
    stale_base = base_of((await web.get(RULES)).text)
    rows = rules_to_rows(DEFAULT_RULES)
    first = [dict(r) for r in rows]
    first[0]["note"] = "first coordinator's note"
    assert (await web.post(RULES, data=form(first, token, stale_base, "save"))).status_code == 303
    second = [dict(r) for r in rows]
    second[0]["note"] = "second coordinator's note"
    refused = await web.post(RULES, data=form(second, token, stale_base, "save"))
    assert refused.status_code == 409
    assert "Someone saved the rules" in section(refused.text, "rules-error")
    async with transaction() as session:
        assert (await load_rules(session))[0].note == "first coordinator's note"


async def test_a_stored_table_that_fails_its_check_is_shown_as_a_warning(db, web):
    with db.begin() as conn:  # edited outside the console: ignores everything
        conn.execute(text("DELETE FROM feed_rules"))
        conn.execute(
            text(
                "INSERT INTO feed_rules (position, source, event_types, harm_levels, action, "
                "note, updated_at, updated_by) VALUES (1, NULL, NULL, NULL, 'ignore', "
                "'by hand', now(), 'dba')"
            )
        )
    await coordinator(web)
    page = await web.get(RULES)
    assert page.status_code == 200
    warning = section(page.text, "stored-refused")
    assert "default rules" in warning
    assert "would ignore a death or severe harm" in warning
    assert "in-force" not in page.text
    # The editor starts from what the feeds run on meanwhile: the defaults.
    assert notes(page.text) == [r.note for r in DEFAULT_RULES]


async def test_a_save_without_the_csrf_token_is_refused(db, web):
    before = _stored(db)
    token = await coordinator(web)
    base = base_of((await web.get(RULES)).text)
    rows = rules_to_rows((Rule(Action.ask, "only ask"),))
    data = form(rows, token, base, "save")
    del data["csrftoken"]
    assert (await web.post(RULES, data=data)).status_code == 403
    assert _stored(db) == before


# --------------------------------------------------------------------------- the board's panel


@pytest.fixture
def ward(db: Engine) -> Ward:
    return make_ward(db, "Fc", 4, Ward)


def decision(row_id: uuid.UUID, token: str, choice: str, **more: str) -> tuple[str, dict[str, str]]:
    return (
        f"/console/feeds/records/{row_id}/decision",
        {"csrftoken": token, "choice": choice, **more},
    )


def feed_row(db: Engine, row_id: uuid.UUID) -> dict[str, Any]:
    with db.connect() as conn:
        row = conn.execute(
            text("SELECT status, incident_id, decided_by FROM feed_records WHERE id = :id"),
            {"id": row_id},
        ).one()
    return dict(row._mapping)


def settled_audits(db: Engine, row_id: uuid.UUID) -> list[str]:
    with db.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT detail->>'choice' FROM audit_log "
                    "WHERE action = 'feed_record.settled' AND target_id = :id ORDER BY id"
                ),
                {"id": str(row_id)},
            ).scalars()
        )


async def asked_record(ward: Ward, name: str, *staff: str, **kw: Any) -> intake.Taken:
    """A record the default rules send to the coordinator (rule 4: a medication error with
    harm above none), with the source's raw codes."""
    record = ward.record(
        Source.reporting,
        name,
        a_while_ago(30),
        *staff,
        event_type=kw.pop("event_type", IncidentType.medication_error),
        harm=kw.pop("harm", HarmLevel.moderate),
        **kw,
    )
    record = record.model_copy(update={"raw_event": "MED-ERR-7", "raw_harm": "NCC MERP E"})
    (taken,) = await take([record], ward.feed(Source.reporting))
    assert taken.disposition is Disposition.asked, taken
    return taken


async def test_an_asked_record_is_on_the_board_and_the_coordinator_starts_outreach(db, web, ward):
    a, b, *_ = ward.staff
    taken = await asked_record(ward, "IR-1", a, b, "NOBODY-KNOWN")
    token = await coordinator(web)
    board = await web.get("/console/board")
    assert board.status_code == 200
    shown = section(board.text, f"asked-{taken.row_id}")
    for words in (
        ward.unit,
        "Medication error on",
        "Incident reporting (reporting/main-",
        "medication error",
        "MED-ERR-7",
        "moderate",
        "NCC MERP E",
        "2 found in the directory",
        "1 not found",
        "rule 4",
    ):
        assert words in shown, words
    assert a not in shown and b not in shown  # counts, not who
    # Above the cases, only how many wait and a link down to them.
    assert "waiting for you" in section(board.text, "asked-summary")
    assert board.text.index('id="asked-summary"') < board.text.index('id="board-rows"')
    assert board.text.index('id="board-rows"') < board.text.index(f'id="asked-{taken.row_id}"')
    url, data = decision(taken.row_id, token, "start")
    started = await web.post(url, data=data)
    assert started.status_code == 303
    assert started.headers["location"] == "/console/board?feed=start#asked-heading"
    after = await web.get("/console/board?feed=start")
    assert "Outreach started" in section(after.text, "feeds-notice")
    assert f'id="asked-{taken.row_id}"' not in after.text
    row = feed_row(db, taken.row_id)
    assert row["status"] == "started" and row["incident_id"] is not None
    with db.connect() as conn:
        staff = conn.execute(
            text("SELECT staff_ids FROM incidents WHERE id = :id"), {"id": row["incident_id"]}
        ).scalar_one()
    assert sorted(staff) == [a, b]
    assert settled_audits(db, taken.row_id) == ["start"]
    # Deciding again (a second tab, another coordinator): told, not a 500, nothing changed.
    url, data = decision(taken.row_id, token, "dismiss")
    again = await web.post(url, data=data)
    assert again.status_code == 409
    assert "already decided" in again.text and "Back to the board" in again.text
    assert feed_row(db, taken.row_id)["status"] == "started"
    assert settled_audits(db, taken.row_id) == ["start"]


async def test_a_record_joins_a_candidate_incident_or_is_dismissed(db, web, ward):
    a, b, c, d = ward.staff
    feed = ward.feed(Source.reporting)
    death = ward.record(
        Source.reporting,
        "IR-D",
        a_while_ago(40),
        a,
        b,
        event_type=IncidentType.unexpected_death,
        harm=HarmLevel.death,
    )
    (first,) = await take([death], feed)
    assert first.disposition is Disposition.started and first.incident_id
    # The same unit an hour's side of it, sharing a clinician: shown with the incident.
    later = await asked_record(ward, "IR-J", b, c)
    other = await asked_record(ward, "IR-X", d)
    token = await coordinator(web)
    board = await web.get("/console/board")
    shown = section(board.text, f"asked-{later.row_id}")
    short = str(first.incident_id)[:8].upper()
    assert f"Incident {short}: unexpected death on {ward.unit}" in shown
    assert "2 staff named" in shown
    assert f'id="join-{later.row_id}-{first.incident_id}"' in shown
    url, data = decision(later.row_id, token, "join", incident_id=str(first.incident_id))
    joined = await web.post(url, data=data)
    assert joined.status_code == 303
    assert joined.headers["location"].endswith("feed=join#asked-heading")
    assert feed_row(db, later.row_id)["incident_id"] == first.incident_id
    with db.connect() as conn:
        staff = conn.execute(
            text("SELECT staff_ids FROM incidents WHERE id = :id"), {"id": first.incident_id}
        ).scalar_one()
    assert sorted(staff) == [a, b, c]
    url, data = decision(other.row_id, token, "dismiss")
    assert (await web.post(url, data=data)).status_code == 303
    assert feed_row(db, other.row_id) == {
        "status": "dismissed",
        "incident_id": None,
        "decided_by": "Test coordinator",
    }
    board = await web.get("/console/board?feed=dismiss")
    assert "Dismissed" in section(board.text, "feeds-notice")
    assert f"asked-{later.row_id}" not in board.text and f"asked-{other.row_id}" not in board.text
    assert settled_audits(db, later.row_id) == ["join"]
    assert settled_audits(db, other.row_id) == ["dismiss"]


async def test_decisions_that_cannot_be_made_are_explained_and_change_nothing(db, web, ward):
    nobody = await asked_record(ward, "IR-N", "NOT-IN-THE-DIRECTORY")
    token = await coordinator(web)
    cases = [
        (decision(nobody.row_id, token, "start"), 409, "no clinician of the directory"),
        (decision(nobody.row_id, token, "maybe"), 422, "Choose to start outreach"),
        (decision(nobody.row_id, token, "join"), 422, "Choose the incident"),
        (decision(nobody.row_id, token, "join", incident_id="x"), 422, "Choose the incident"),
        (
            decision(nobody.row_id, token, "join", incident_id=str(uuid.uuid4())),
            409,
            "no such incident",
        ),
        (decision(uuid.uuid4(), token, "dismiss"), 409, "no such feed record"),
    ]
    for (url, data), status, words in cases:
        r = await web.post(url, data=data)
        assert r.status_code == status, (data, r.status_code)
        assert words in r.text, (data, words)
    assert feed_row(db, nobody.row_id)["status"] == "asked"
    assert settled_audits(db, nobody.row_id) == []
    # Without the form's token, or by another role: refused before anything is read.
    url, data = decision(nobody.row_id, token, "dismiss")
    assert (await web.post(url, data={"choice": "dismiss"})).status_code == 403
    web.cookies.clear()
    risk = await sign_in(web, await make_user(Role.risk_manager))
    url, data = decision(nobody.row_id, risk, "dismiss")
    r = await web.post(url, data=data)
    assert r.status_code == 403
    assert "NOT-IN-THE-DIRECTORY" not in r.text
    assert feed_row(db, nobody.row_id)["status"] == "asked"


def feeds_file(tmp_path: Path, tag: str, body: str | None = None) -> Path:
    path = tmp_path / "feeds.yaml"
    path.write_text(
        body
        if body is not None
        else f"code_blue:\n  quiet-{tag}:\n    silent_after: 30min\n"
        f"hl7v2:\n  adt-{tag}:\n    silent_after: 2h\n"
    )
    return path


async def test_feeds_quiet_longer_than_allowed_are_warned_about(db, web, tmp_path, monkeypatch):
    tag = uuid.uuid4().hex[:8]
    monkeypatch.setenv("SVRR_FEEDS", str(feeds_file(tmp_path, tag)))
    feeds = load_feeds()
    quiet, adt = feeds.get(Source.code_blue, f"quiet-{tag}"), feeds.get(Source.hl7v2, f"adt-{tag}")
    await coordinator(web)
    board = await web.get("/console/board")
    warned = section(board.text, "silent-feeds")
    assert "never heard from" in section(warned, f"silent-code_blue-quiet-{tag}")
    assert "(a warning after 30 min)" in warned
    assert "(a warning after 2 h)" in section(warned, f"silent-hl7v2-adt-{tag}")
    async with transaction() as session:
        await intake.beat(session, quiet, at=clock.now() - timedelta(minutes=45))
        await intake.beat(session, adt, at=clock.now() - timedelta(minutes=45))
    board = await web.get("/console/board")
    quiet_one = section(board.text, f"silent-code_blue-quiet-{tag}")
    assert "nothing for 45 min" in quiet_one and "last heard" in quiet_one
    assert f"silent-hl7v2-adt-{tag}" not in board.text  # 45 min of its 2 h
    async with transaction() as session:
        await intake.beat(session, quiet, at=clock.now())
    board = await web.get("/console/board")
    assert "silent-feeds" not in board.text
    # A feeds file that cannot be read is a warning; the board still opens.
    monkeypatch.setenv("SVRR_FEEDS", str(feeds_file(tmp_path, tag, "code_blue: [1, 2]\n")))
    board = await web.get("/console/board")
    assert board.status_code == 200
    assert "cannot be read" in section(board.text, "feeds-unreadable")


async def test_the_board_warns_when_the_stored_rules_fail_their_check(db, web):
    await coordinator(web)
    assert "feed-rules-refused" not in (await web.get("/console/board")).text
    with db.begin() as conn:
        conn.execute(text("UPDATE feed_rules SET action = 'ignore' WHERE position = 1"))
    board = await web.get("/console/board")
    assert "default rules" in section(board.text, "feed-rules-refused")
