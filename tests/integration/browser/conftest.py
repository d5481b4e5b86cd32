"""A real browser for the console's tests: Debian's chromium, driven by Playwright.

Why Debian's chromium through executable_path: Playwright's own browser download cannot reach
its CDN from development or CI machines; deploy/browser.sh installs the distribution's
package instead (deploy/test.sh runs it before pytest). A missing or broken browser fails
every browser test loudly, naming that script: it is never a skip, because a console whose
browser tests were skipped is a console nobody tested.

Fixtures: `browser` (one per run), `page` (a fresh context per test, desktop size) and
`phone` (a fresh context 360 px wide, as the console must be readable on a phone). Both pages
fail the test at teardown on an uncaught JavaScript error, so a page whose script broke
(htmx not loading, a typo in an inline handler) cannot pass by looking right.

Helpers for tests: `check_accessibility(page)` (axe-core, vendored, no serious or critical
violations), `screenshot(page, name)` (full-page PNG under $SVRR_RUN/screenshots, kept by CI
as an artefact) and `serve(app)` (an ASGI app on a free loopback port, in a thread).
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.async_api import Browser, Error, Page, async_playwright

from tests.stack import ROOT, RUN

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# No sandbox: CI runs as root in a container, where chromium's sandbox cannot start. The rest
# keep the browser off the network it would otherwise call on its own (updates, sync, QUIC
# probes), so a test never waits on, or leaks to, anything but the app under test.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VENDOR = ROOT / "services" / "console" / "static" / "vendor"
AXE = VENDOR / "axe.min.js"
SCREENSHOTS = RUN / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 360, "height": 740}
# What the issue asks: no serious or critical violation. Minor and moderate ones are listed
# by axe too, but they are advice (e.g. "every page has an h1"), not barriers.
BLOCKING = ("serious", "critical")
NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


def _no_browser(why: str) -> None:
    pytest.fail(
        f"No usable browser for the browser tests: {why}. Run `bash deploy/browser.sh` "
        "(it installs Debian's chromium package), or set CHROMIUM to a chromium binary.",
        pytrace=False,
    )


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        _no_browser(f"{CHROMIUM} is missing or not executable")
    async with async_playwright() as pw:
        try:
            launched = await pw.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, timeout=60_000
            )
        except Error as exc:
            _no_browser(f"{CHROMIUM} did not start headless ({exc.message.splitlines()[0]})")
        try:
            yield launched
        finally:
            await launched.close()


async def _page(browser: Browser, viewport: dict[str, int], **options: Any) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport=viewport, locale="en-US", **options)
    context.set_default_timeout(10_000)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page
    finally:
        await context.close()
    assert not errors, f"uncaught JavaScript errors on {page.url}: {errors}"


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A desktop-sized page in a context of its own: no cookies shared between tests."""
    async for p in _page(browser, DESKTOP):
        yield p


@pytest.fixture
async def phone(browser: Browser) -> AsyncIterator[Page]:
    """A 360 px wide touch page: the console must be readable and usable on a phone."""
    async for p in _page(browser, PHONE, is_mobile=True, has_touch=True, device_scale_factor=2):
        yield p


async def check_accessibility(page: Page, *, exclude: list[str] | None = None) -> None:
    """Run the vendored axe-core in the page; fail on any serious or critical violation.

    axe is evaluated through the DevTools protocol rather than added as a <script>, so a
    page's Content-Security-Policy (which rightly refuses inline scripts) does not block
    the check, and the page under test never links to the checker. `exclude` takes CSS
    selectors of regions axe should skip (for third-party content the page does not own).
    """
    await page.evaluate(AXE.read_text())
    context: Any = {"exclude": [[s] for s in exclude]} if exclude else "html"
    result = await page.evaluate(
        """async (context) => {
            const r = await axe.run(context, {resultTypes: ["violations"]});
            return r.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                targets: v.nodes.map(n => n.target.join(" ")),
            }));
        }""",
        context,
    )
    blocking = [v for v in result if v["impact"] in BLOCKING]
    if blocking:
        lines = [
            f"- {v['id']} ({v['impact']}): {v['help']}; at "
            + ", ".join(v["targets"][:5])
            + (f" and {len(v['targets']) - 5} more" if len(v["targets"]) > 5 else "")
            for v in blocking
        ]
        raise AssertionError(
            f"axe-core found {len(blocking)} serious or critical accessibility violation(s) "
            f"on {page.url}:\n" + "\n".join(lines)
        )


async def screenshot(page: Page, name: str) -> Path:
    """A full-page PNG at $SVRR_RUN/screenshots/<name>.png; CI keeps the folder."""
    assert NAME.match(name), f"screenshot name {name!r}: use lower-case letters, digits, -_."
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


@contextlib.contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve an ASGI app on 127.0.0.1 (a free port) from a thread; yields its base URL.

    A thread, not a task on the test's loop: a test may block (a sync HTTP call, a wait)
    without freezing the server the browser is talking to.
    """
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
