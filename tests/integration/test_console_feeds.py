"""The console's feed pages, in-process: the trigger rule editor (a draft moved, added and
removed without touching the store; a valid table saved and audited; a refused table shown
back with every problem beside its rule and nothing saved; a stale page's save refused; a
stored table that fails its check shown as a warning), and only the coordinator let in.

Every test that may write the rules puts the stored table back (`kept_table`)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from services.db import transaction
from services.feeds.store import load_rules
from services.feeds.triggers import DEFAULT_RULES, Action, Rule, rules_to_rows
from services.identity.models import Role
from tests.integration.console_helpers import console_client, make_user, sign_in
from tests.integration.test_feeds_store import (
    _stored,
    kept_table,  # noqa: F401 (the fixture, by name)
)

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
