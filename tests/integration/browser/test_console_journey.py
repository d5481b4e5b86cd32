"""One incident through the console in a real browser, on the real stack (API, worker,
Kafka, PostgreSQL, the Twilio stand-in): a risk manager logs it from the form, the
coordinator's board shows the case and moves live when the peer answers on the stand-in's
phones page, and the peer records on their phone that contact happened. Every page on the
way is checked for accessibility and kept as a screenshot."""

from __future__ import annotations

import re

import httpx
from playwright.async_api import Browser, Page, expect
from sqlalchemy import text
from sqlalchemy.engine import Engine

from services.identity.models import Role
from tests.integration.browser.conftest import check_accessibility, screenshot
from tests.integration.browser.test_console_pages import sign_in_as
from tests.integration.console_helpers import make_user, peer_user
from tests.integration.sealed import opened
from tests.stack import TWILIO_SID

CLINICIAN, CLINICIAN_NAME, CLINICIAN_NUMBER = "P2001", "Dr Jordan Lee", "+15550102001"


def q(db: Engine, sql: str, **params: object) -> list[tuple[object, ...]]:
    with db.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params).all()]


async def new_page(browser: Browser, width: int = 1280) -> Page:
    context = await browser.new_context(viewport={"width": width, "height": 800})
    context.set_default_timeout(15_000)
    return await context.new_page()


async def test_an_incident_from_the_form_to_contact_made(stack, db: Engine, browser: Browser):
    with db.begin() as conn:  # nothing else open for this clinician or load on the peers
        conn.execute(
            text(
                "UPDATE pages SET state = 'superseded' WHERE state IN "
                "('requested', 'sending', 'sent', 'delivered', 'accepted')"
            )
        )
        conn.execute(
            text(
                "UPDATE support_cases SET state = 'closed', closed_at = coalesce(closed_at, now()) "
                "WHERE state NOT IN ('closed', 'declined')"
            )
        )
    risk, board, phones = [await new_page(browser) for _ in range(3)]
    try:
        # The risk manager logs the incident from the form.
        await sign_in_as(risk, stack.api_url, await make_user(Role.risk_manager))
        await expect(risk).to_have_url(re.compile(r"/console/incidents$"))
        await check_accessibility(risk)
        await screenshot(risk, "console-risk-incidents")
        await risk.goto(f"{stack.api_url}/console/incidents/new")
        await risk.locator("#unit").select_option("4E")
        await risk.locator("#event_type").select_option(index=1)
        await risk.locator("#harm_level").select_option(index=1)
        await risk.locator("#occurred_at").fill("2026-11-29T21:30")
        await risk.locator("#staff-search").fill("Jordan")
        await risk.locator(f"#staff-{CLINICIAN}").check()
        await check_accessibility(risk)
        await screenshot(risk, "console-risk-new-incident")
        await risk.locator("#log-incident").click()
        await expect(risk.locator("#support-offered")).to_contain_text("1", timeout=30_000)
        page_text = await risk.locator("main").inner_text()
        assert "Peer paged" not in page_text and "+1555" not in page_text
        await check_accessibility(risk)
        await screenshot(risk, "console-risk-incident")

        # The coordinator sees the case on the board.
        await sign_in_as(board, stack.api_url, await make_user(Role.coordinator))
        row = board.locator("#board-rows tr", has_text=CLINICIAN_NAME)
        await expect(row).to_contain_text("Peer paged", timeout=30_000)
        case_id = (await row.get_attribute("id") or "").removeprefix("case-")
        peer_id, sealed_number, code = q(
            db,
            "SELECT peer_staff_id, to_number, reply_code FROM pages WHERE case_id = :c "
            "AND peer_staff_id IS NOT NULL ORDER BY attempt DESC LIMIT 1",
            c=case_id,
        )[0]
        peer_number = opened(str(sealed_number), "pages.to_number")

        # The peer answers on the stand-in's phones page; the board moves by itself.
        await phones.goto(f"{stack.standin_url}/_standin/phones")
        await phones.get_by_label(f"Reply as {peer_number}").fill(f"{code}A")
        await phones.get_by_label(f"Reply as {peer_number}").press("Enter")
        await expect(row).to_contain_text(
            re.compile("Support offered|Peer accepted"), timeout=15_000
        )
        await screenshot(board, "console-coordinator-board-live")
        await screenshot(phones, "standin-phones-peer-answered")

        # The clinician says yes (by SMS, through the stand-in, as Twilio would deliver it).
        httpx.post(
            f"{stack.standin_url}/_standin/inbound",
            json={"from": CLINICIAN_NUMBER, "to": "+15005550006", "body": "YES"},
            timeout=10,
        ).raise_for_status()
        await expect(row).to_contain_text("Clinician accepted", timeout=15_000)

        # The peer records, on their phone, that contact happened.
        peer = await new_page(browser, width=360)
        try:
            await sign_in_as(peer, stack.api_url, await peer_user(str(peer_id)))
            await expect(peer.locator(f"#case-{case_id}")).to_be_visible()
            await check_accessibility(peer)
            await screenshot(peer, "console-peer-cases-phone")
            await peer.locator(f"#case-{case_id} a").first.click()
            await expect(peer.locator("main")).to_contain_text("Jordan")
            assert "Lee" not in await peer.locator("main").inner_text()  # first name only
            await check_accessibility(peer)
            await screenshot(peer, "console-peer-case-phone")
            await peer.goto(f"{stack.api_url}/console/peer/pause")
            await check_accessibility(peer)
            await screenshot(peer, "console-peer-pause-phone")
            await peer.go_back()
            await peer.locator("#outcome-supported").check()
            await peer.locator("#record-contact").click()
            await expect(peer.locator("#contact-recorded")).to_be_visible()
            await screenshot(peer, "console-peer-contact-recorded-phone")
        finally:
            await peer.context.close()
        await expect(row).to_contain_text("Contact made", timeout=15_000)
        assert q(db, "SELECT outcome FROM support_cases WHERE id = :c", c=case_id) == [
            ("supported",)
        ]
        assert TWILIO_SID  # the stand-in is the real twilio client's Twilio
    finally:
        for p in (risk, board, phones):
            await p.context.close()


async def test_admin_pages_read_well(stack, browser: Browser):
    page = await new_page(browser)
    try:
        await sign_in_as(page, stack.api_url, await make_user(Role.admin))
        for name in ("users", "tokens", "templates", "sites", "audit"):
            response = await page.goto(f"{stack.api_url}/console/admin/{name}")
            assert response is not None and response.status == 200, name
            await check_accessibility(page)
            await screenshot(page, f"console-admin-{name}")
        await page.goto(f"{stack.api_url}/console/admin/users/new")
        await check_accessibility(page)
        await screenshot(page, "console-admin-user-new")
        await page.goto(f"{stack.api_url}/console/admin/tokens")
        await page.locator("#token-name, input[name=name]").first.fill("browser check")
        await page.locator("#create-token").click()
        await expect(page.locator("#new-token")).to_be_visible()
        await check_accessibility(page)
        await screenshot(page, "console-admin-token-created")
    finally:
        await page.context.close()
