"""The browser fixtures themselves: the vendored htmx runs, axe bites, screenshots land.

Why test test fixtures: every console page's accessibility result rests on
check_accessibility, so it must be seen to fail on a page with known barriers, not only to
pass on good ones; and a browser that cannot start must stop the run, never skip it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from playwright.async_api import Browser, Page, expect
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from tests.integration.browser.conftest import (
    DESKTOP,
    SCREENSHOTS,
    VENDOR,
    _page,
    check_accessibility,
    screenshot,
    serve,
)
from tests.stack import ROOT

GOOD = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Fixture check</title><script src="/static/vendor/htmx.min.js"></script></head>
<body><main><h1>Fixture check</h1>
<button type="button" hx-get="/fragment" hx-target="#out">Load the fragment</button>
<p id="out" aria-live="polite">Nothing loaded yet.</p></main></body></html>"""

# Two known critical barriers: an image with no text alternative, a field with no label.
BROKEN = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Broken</title></head>
<body><main><h1>Broken</h1><img src="/nowhere.png" class="chart">
<form><input type="text" name="who" id="who"></form></main></body></html>"""

THROWS = """<!doctype html><html lang="en"><head><title>Throws</title></head>
<body><main><h1>Throws</h1><script>window.notAFunction()</script></main></body></html>"""


async def good(_request: Request) -> HTMLResponse:
    return HTMLResponse(GOOD)


async def fragment(request: Request) -> HTMLResponse:
    # htmx marks its requests; a plain GET of the fragment would mean htmx did not run.
    assert request.headers.get("hx-request") == "true"
    return HTMLResponse("Loaded by htmx.")


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    app = Starlette(
        routes=[
            Route("/", good),
            Route("/fragment", fragment),
            Route("/broken", lambda _r: HTMLResponse(BROKEN)),
            Route("/throws", lambda _r: HTMLResponse(THROWS)),
            Mount("/static/vendor", StaticFiles(directory=VENDOR)),
        ]
    )
    with serve(app) as url:
        yield url


async def test_vendored_htmx_runs_and_the_page_passes_axe(page: Page, site: str) -> None:
    await page.goto(site)
    assert (await page.evaluate("htmx.version")).startswith("2.")
    await page.get_by_role("button", name="Load the fragment").click()
    await expect(page.locator("#out")).to_have_text("Loaded by htmx.")
    await check_accessibility(page)
    shot = await screenshot(page, "fixture-check")
    assert shot == SCREENSHOTS / "fixture-check.png"
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 1000


async def test_phone_page_is_360_px_wide(phone: Page, site: str) -> None:
    await phone.goto(site)
    assert await phone.evaluate("document.documentElement.clientWidth") == 360
    await check_accessibility(phone)


async def test_axe_finds_the_barriers_on_a_broken_page(page: Page, site: str) -> None:
    await page.goto(f"{site}/broken")
    with pytest.raises(AssertionError) as failed:
        await check_accessibility(page)
    message = str(failed.value)
    assert "- image-alt (critical): Images must have alternative text; at img" in message
    assert "- label (critical): Form elements must have labels; at #who" in message
    assert f"on {site}/broken" in message
    # Excluding the region that holds a barrier leaves the other one reported.
    with pytest.raises(AssertionError) as still:
        await check_accessibility(page, exclude=["img.chart"])
    assert "image-alt" not in str(still.value) and "- label (critical)" in str(still.value)


async def test_an_uncaught_script_error_fails_the_test(browser: Browser, site: str) -> None:
    pages = _page(browser, DESKTOP)
    p = await anext(pages)
    await p.goto(f"{site}/throws")
    with pytest.raises(AssertionError, match="notAFunction"):
        await anext(pages)


def test_a_missing_browser_fails_the_run_naming_the_script() -> None:
    """Run one browser test in a child pytest with no browser: a failure, not a skip."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "-rs",
            f"{__file__}::test_phone_page_is_360_px_wide",
        ],
        cwd=ROOT,
        env=dict(os.environ, CHROMIUM="/nonexistent/chromium"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1, out.stdout[-3000:]
    assert "deploy/browser.sh" in out.stdout and "/nonexistent/chromium" in out.stdout
    assert "skipped" not in out.stdout
