"""The console in a real browser (Debian's chromium): sign-in per role, every main page
readable at desktop and phone width with no serious accessibility violation, screenshots
kept as artefacts, and a form without its CSRF token refused."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from services.identity.models import Role
from tests.integration.browser.conftest import check_accessibility, screenshot
from tests.integration.console_helpers import PASSWORD, make_user
from tests.integration.test_flows import open_case

COORDINATOR_PAGES = [
    ("board", "/console/board"),
    ("on-call", "/console/on-call"),
    ("schedules", "/console/schedules"),
    ("peers", "/console/peers"),
    ("policies", "/console/policies"),
    ("debriefs", "/console/debriefs"),
    ("directory", "/console/directory"),
    ("metrics", "/console/metrics"),
]


async def sign_in_as(page: Page, base: str, username: str, password: str = PASSWORD) -> None:
    await page.goto(f"{base}/console/signin")
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_load_state("networkidle")


async def no_sideways_scroll(page: Page) -> None:
    wide = await page.evaluate("document.documentElement.scrollWidth > window.innerWidth + 1")
    assert not wide, f"{page.url} scrolls sideways at {page.viewport_size}"


async def test_sign_in_page_is_accessible_and_refuses_a_wrong_password(stack, page: Page):
    await page.goto(f"{stack.api_url}/console/signin")
    await check_accessibility(page)
    await screenshot(page, "console-signin")
    await page.get_by_label("Username").fill("nobody")
    await page.get_by_label("Password").fill("not the password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text("do not match")
    await check_accessibility(page)


@pytest.mark.parametrize("width", ["desktop", "phone"])
async def test_every_coordinator_page_reads_well(stack, db, browser, width):
    case = await open_case(db)
    username = await make_user(Role.coordinator)
    size = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 360, "height": 740}}
    context = await browser.new_context(viewport=size[width])
    page = await context.new_page()
    try:
        await sign_in_as(page, stack.api_url, username)
        assert page.url.endswith("/console/board")
        for name, path in COORDINATOR_PAGES + [("case", f"/console/cases/{case.id}")]:
            response = await page.goto(f"{stack.api_url}{path}")
            assert response is not None and response.status == 200, (path, response)
            await check_accessibility(page)
            await no_sideways_scroll(page) if width == "phone" else None
            await screenshot(page, f"console-coordinator-{name}-{width}")
    finally:
        await context.close()


async def test_the_board_moves_live_and_counts_down(stack, db, page: Page):
    case = await open_case(db)
    await sign_in_as(page, stack.api_url, await make_user(Role.coordinator))
    row = page.locator(f"#case-{case.id}")
    await expect(row).to_contain_text("Peer paged")
    countdown = row.locator("time[data-due]")
    await expect(countdown).to_have_text(__import__("re").compile(r"in \d+:\d\d"))
    from tests.integration.test_flows import accepted_by_peer

    await accepted_by_peer(db, case)
    await expect(row).to_contain_text("Support offered", timeout=5_000)


async def test_a_form_without_its_csrf_token_is_refused_in_the_browser(stack, db, page: Page):
    case = await open_case(db)
    await sign_in_as(page, stack.api_url, await make_user(Role.coordinator))
    await page.goto(f"{stack.api_url}/console/cases/{case.id}")
    # What a forged cross-site form would send: the same fields, without the token.
    await page.evaluate(
        "document.querySelectorAll('input[name=csrftoken]').forEach(e => e.remove())"
    )
    await page.locator("#action-tier3").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("This form has expired")
    await page.goto(f"{stack.api_url}/console/cases/{case.id}")
    await expect(page.locator("#case-state")).to_contain_text("Peer paged")


async def test_the_coordinator_acts_on_a_case(stack, db, page: Page):
    case = await open_case(db)
    await sign_in_as(page, stack.api_url, await make_user(Role.coordinator))
    await page.goto(f"{stack.api_url}/console/cases/{case.id}")
    await page.locator("#action-tier3").click()
    await expect(page.get_by_role("status")).to_contain_text("Referred to Tier 3")
    await expect(page.locator("#case-state")).to_contain_text("Tier 3 referral")
    await page.get_by_label("Close the case, because").select_option("support_given")
    await page.locator("#action-close").click()
    await expect(page.locator("#case-state")).to_contain_text("Closed")
    await screenshot(page, "console-coordinator-case-closed")


async def test_sign_in_and_open_a_case_with_the_keyboard_alone(stack, db, page: Page):
    """Labelled and keyboard-usable: from the skip link to a case's actions, no mouse."""
    case = await open_case(db)
    username = await make_user(Role.coordinator)
    await page.goto(f"{stack.api_url}/console/signin")
    await page.keyboard.press("Tab")
    await expect(page.locator(".skip")).to_be_focused()
    await page.keyboard.press("Enter")  # skip to the content
    await page.keyboard.press("Tab")
    await expect(page.get_by_label("Username")).to_be_focused()
    await page.keyboard.type(username)
    await page.keyboard.press("Tab")
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(f"{stack.api_url}/console/board")
    link = page.locator(f"#case-{case.id} a")
    for _ in range(40):  # Tab through the page until the case's link has the focus
        await page.keyboard.press("Tab")
        if await link.evaluate("e => e === document.activeElement"):
            break
    await expect(link).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.locator("#case-state")).to_contain_text("Peer paged")
    seen = page.locator("#action-seen")
    for _ in range(40):
        await page.keyboard.press("Tab")
        if await seen.evaluate("e => e === document.activeElement"):
            break
    await expect(seen).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("status")).to_contain_text("Marked as seen")


async def test_the_coordinator_uploads_a_directory_export(stack, db, page: Page, tmp_path):
    """A real multipart upload from the page: htmx carries the CSRF token in its header."""
    import uuid

    code = f"B{uuid.uuid4().hex[:5].upper()}"
    export = tmp_path / "units.csv"
    export.write_text(f"code,name,site,time_zone\n{code},Browser ward,main,UTC\n")
    await sign_in_as(page, stack.api_url, await make_user(Role.coordinator))
    await page.goto(f"{stack.api_url}/console/directory")
    await page.get_by_label("The file holds").select_option("units")
    await page.get_by_label("CSV file (up to 10 MB)").set_input_files(str(export))
    await page.locator("#upload").click()
    await expect(page.locator("#import-report")).to_contain_text("applied 1 rows: 1 added")
    await check_accessibility(page)
    await screenshot(page, "console-coordinator-directory-applied")
    from tests.integration.test_flows import q

    assert q(db, "SELECT name FROM units WHERE code = :c", c=code) == [("Browser ward",)]


async def test_a_person_changes_their_password_on_a_phone(stack, db, browser):
    username = await make_user(Role.risk_manager)
    context = await browser.new_context(viewport={"width": 360, "height": 740})
    page = await context.new_page()
    try:
        await sign_in_as(page, stack.api_url, username)
        await page.get_by_role("link", name="Test risk_manager").click()
        await expect(page.get_by_role("heading", name="Your account")).to_be_visible()
        await page.get_by_label("Current password").fill("not my password at all")
        await page.get_by_label("New password", exact=True).fill("three unrelated words here")
        await page.get_by_label("New password again").fill("three unrelated words here")
        await page.get_by_role("button", name="Change password").click()
        await expect(page.get_by_role("alert")).to_contain_text("not your current password")
        await check_accessibility(page)
        await screenshot(page, "console-account-refused-phone")
        await page.get_by_label("Current password").fill(PASSWORD)
        await page.get_by_label("New password", exact=True).fill("three unrelated words here")
        await page.get_by_label("New password again").fill("three unrelated words here")
        await page.get_by_role("button", name="Change password").click()
        await expect(page.get_by_role("status")).to_contain_text("Your password is changed")
        await check_accessibility(page)
        await no_sideways_scroll(page)
        await screenshot(page, "console-account-changed-phone")
    finally:
        await context.close()
    again = await browser.new_page()
    try:
        await sign_in_as(again, stack.api_url, username, "three unrelated words here")
        assert again.url.endswith("/console/incidents")
    finally:
        await again.close()
