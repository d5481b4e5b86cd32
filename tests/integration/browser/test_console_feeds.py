"""The console's feed pages in a real browser (Debian's chromium), on the real stack: a record
the trigger rules ask about appears on an open board by itself and the coordinator starts
outreach from it; the coordinator edits, moves and saves a rule; a table the check refuses
comes back with each problem beside its rule, on a phone, and nothing is saved. Every page
on the way is checked for accessibility and kept as a screenshot."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect
from sqlalchemy import text
from sqlalchemy.engine import Engine

from schemas.events import HarmLevel, IncidentType
from services.db import transaction
from services.feeds.intake import Disposition
from services.feeds.record import Source
from services.feeds.store import load_rules
from services.feeds.triggers import DEFAULT_RULES
from services.identity.models import Role
from tests.integration import test_console_feeds
from tests.integration.browser.conftest import check_accessibility, screenshot
from tests.integration.browser.test_console_pages import no_sideways_scroll, sign_in_as
from tests.integration.console_helpers import make_user
from tests.integration.test_feeds_intake import Ward, a_while_ago, take
from tests.integration.test_feeds_store import (
    _stored,
    kept_table,  # noqa: F401 (the fixture, by name)
)

ward = test_console_feeds.ward  # the fixture, by name
# Both tests may save rules: the stored table is put back after each.
pytestmark = pytest.mark.usefixtures("kept_table")


def status_of(db: Engine, row_id: object) -> tuple[object, ...]:
    with db.connect() as conn:
        return tuple(
            conn.execute(
                text("SELECT status, incident_id IS NOT NULL FROM feed_records WHERE id = :id"),
                {"id": row_id},
            ).one()
        )


async def test_a_coordinator_starts_outreach_from_an_asked_record_and_edits_a_rule(
    stack, db: Engine, page: Page, phone: Page, ward: Ward
):
    a, b, *_ = ward.staff
    await sign_in_as(page, stack.api_url, await make_user(Role.coordinator))
    await expect(page).to_have_url(re.compile(r"/console/board$"))
    # The board is open before the record arrives: it must appear without a reload.
    await expect(page.locator("#live-status")).to_have_attribute("data-live", "ready")
    record = ward.record(
        Source.reporting,
        "IR-B1",
        a_while_ago(20),
        a,
        b,
        event_type=IncidentType.medication_error,
        harm=HarmLevel.moderate,
    ).model_copy(update={"raw_event": "MED-ERR-7", "raw_harm": "E"})
    (taken,) = await take([record], ward.feed(Source.reporting))
    assert taken.disposition is Disposition.asked
    asked = page.locator(f"#asked-{taken.row_id}")
    await expect(asked).to_contain_text("Medication error on " + ward.unit, timeout=10_000)
    await expect(asked).to_contain_text("MED-ERR-7")
    await expect(asked).to_contain_text("2 found in the directory")
    await expect(page.locator("#asked-summary")).to_contain_text("waiting for you")
    await check_accessibility(page)
    await screenshot(page, "console-feeds-board-asked")
    # The same board on a phone: the record and its buttons readable at 360 px.
    await sign_in_as(phone, stack.api_url, await make_user(Role.coordinator))
    await expect(phone.locator(f"#start-{taken.row_id}")).to_be_visible()
    await no_sideways_scroll(phone)
    await check_accessibility(phone)
    await screenshot(phone, "console-feeds-board-asked-phone")

    await page.locator(f"#start-{taken.row_id}").click()
    await expect(page.locator("#feeds-notice")).to_contain_text("Outreach started")
    await expect(asked).to_have_count(0)
    assert status_of(db, taken.row_id) == ("started", True)

    # The rule editor, from the nav: rule 3 gets a new note and moves up, then is saved.
    await page.get_by_role("link", name="Feed rules").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Feed rules")
    await check_accessibility(page)
    await screenshot(page, "console-feeds-rules")
    await page.locator("#r2-note").fill("near misses: kept, nobody paged")
    await page.locator("#rule-3-up").click()
    await expect(page.locator("#rules-notice")).to_contain_text("moved up")
    await expect(page.locator("#r1-note")).to_have_value("near misses: kept, nobody paged")
    await page.locator("#rules-save").click()
    await expect(page.locator("#rules-notice")).to_have_text("Saved.")
    await expect(page.locator("#in-force tbody tr").nth(1)).to_contain_text(
        "near misses: kept, nobody paged"
    )
    async with transaction() as session:
        stored = await load_rules(session)
    assert [r.action for r in stored] == [
        DEFAULT_RULES[0].action,
        DEFAULT_RULES[2].action,
        DEFAULT_RULES[1].action,
        DEFAULT_RULES[3].action,
    ]
    assert stored[1].note == "near misses: kept, nobody paged"


async def test_a_refused_rule_table_shows_its_problems_on_a_phone(stack, db: Engine, phone: Page):
    before = _stored(db)
    await sign_in_as(phone, stack.api_url, await make_user(Role.coordinator))
    await phone.goto(f"{stack.api_url}/console/feeds/rules")
    # Rule 1 (death or severe harm) set to ignore, and the final catch-all removed.
    await phone.locator("#r0-action").select_option("ignore")
    await phone.locator("#rule-4-remove").click()
    await expect(phone.locator("#rules-notice")).to_contain_text("Rule 4 removed")
    await expect(phone.locator("#r0-action")).to_have_value("ignore")  # the draft kept
    await phone.locator("#rules-save").click()
    await expect(phone.locator("#rules-error")).to_contain_text("Nothing was saved")
    await expect(phone.locator("#rule-1-problems")).to_contain_text(
        "would ignore a death or severe harm"
    )
    await expect(phone.locator("#rules-problems")).to_contain_text(
        "the last rule must match any record"
    )
    await expect(phone.locator("#rule-1")).to_have_attribute("aria-describedby", "rule-1-problems")
    await check_accessibility(phone)
    await no_sideways_scroll(phone)
    await screenshot(phone, "console-feeds-rules-refused-phone")
    assert _stored(db) == before
