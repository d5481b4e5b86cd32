"""The Twilio stand-in's phones page in a real browser: a person answers as a phone.

Why a browser: the page's worth is that a person reads a conversation on a phone-sized
screen, types a reply with the keyboard, and sees it land, live; markup assertions cannot
show that the vendored htmx polls, that a half-typed reply survives a refresh, or that the
page has no accessibility barriers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from playwright.async_api import Page, expect
from twilio.rest import Client

from tests.integration.browser.conftest import check_accessibility, screenshot
from tests.unit.test_twilio_standin import (
    ACCOUNT,
    SENDER,
    TOKEN,
    Receiver,
    ServerThread,
    number,
    standin_mod,
)

PAGE_TEXT = "Page from the peer support programme: can you support a colleague? Reply YES or NO"


@pytest.fixture(scope="module")
def product() -> Iterator[Receiver]:
    """Plays the product's SMS webhook: checks the signature, answers with a TwiML reply."""
    rec = Receiver()
    with ServerThread(rec.app()) as server:
        rec.url = server.url
        yield rec


@pytest.fixture(scope="module")
def standin(product: Receiver) -> Iterator[str]:
    app = standin_mod.create_app(
        ACCOUNT, TOKEN, sms_url=f"{product.url}/sms/reply", status_delay=0.01
    )
    with ServerThread(app) as server:
        yield server.url


def texting(standin: str) -> Client:
    c = Client(ACCOUNT, TOKEN, environment={})
    c.api.base_url = standin
    return c


async def test_reply_as_a_phone_and_watch_the_conversation(
    phone: Page, standin: str, product: Receiver
) -> None:
    peer = number()
    sms = texting(standin)
    await asyncio.to_thread(sms.messages.create, to=peer, from_=SENDER, body=PAGE_TEXT)
    await phone.goto(f"{standin}/_standin/phones")
    mine = phone.get_by_role("region", name=peer)
    await expect(mine.get_by_role("listitem")).to_have_count(1)
    await expect(mine.get_by_role("listitem").first).to_contain_text(PAGE_TEXT)
    await expect(mine.get_by_role("listitem").first).to_contain_text("delivered")
    assert await phone.evaluate("document.documentElement.scrollWidth") <= 360
    await check_accessibility(phone)
    await screenshot(phone, "standin-phones-paged")

    # Keyboard only: the labelled field, type, Enter.
    reply = mine.get_by_label(f"Reply as {peer}")
    await reply.focus()
    await phone.keyboard.type("YES")
    await phone.keyboard.press("Enter")
    await expect(mine.get_by_role("status")).to_contain_text("the product answered 200")
    await expect(reply).to_have_value("")
    items = mine.get_by_role("listitem")
    # The reply, then the product's TwiML answer, in order, without reloading the page.
    await expect(items).to_have_count(3)
    await expect(items.nth(1)).to_contain_text("Sent from this phone")
    await expect(items.nth(1)).to_contain_text("YES")
    await expect(items.nth(1)).to_contain_text("the product answered 200")
    await expect(items.nth(2)).to_contain_text("Thanks, you are confirmed")
    hit = next(h for h in product.at("/sms/reply") if h.params.get("From") == peer)
    assert hit.valid and hit.params["Body"] == "YES" and hit.params["To"] == SENDER

    # A half-typed reply survives the live refresh a new message brings, focus included.
    await reply.focus()
    await phone.keyboard.type("Can we talk at")
    await asyncio.to_thread(
        sms.messages.create, to=peer, from_=SENDER, body="Reminder: please follow up today"
    )
    await expect(items).to_have_count(4, timeout=5_000)
    await expect(items.nth(3)).to_contain_text("Reminder: please follow up today")
    await expect(reply).to_have_value("Can we talk at")
    await expect(reply).to_be_focused()
    await check_accessibility(phone)
    await screenshot(phone, "standin-phones-replied")


async def test_a_new_phone_appears_live_and_the_desktop_page_passes_axe(
    page: Page, standin: str
) -> None:
    await page.goto(f"{standin}/_standin/phones")
    clinician = number()
    await asyncio.to_thread(
        texting(standin).messages.create,
        to=clinician,
        from_=SENDER,
        body="A colleague from the peer support programme will call you today.",
    )
    await expect(page.get_by_role("heading", name=clinician)).to_be_visible(timeout=5_000)
    await check_accessibility(page)
    await screenshot(page, "standin-phones-desktop")
