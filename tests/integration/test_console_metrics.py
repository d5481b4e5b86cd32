"""The metrics page and its CSV: for the coordinator and administrators, aggregates only."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET

import pytest

from services.identity.models import Role
from tests.integration.console_helpers import console_client, make_user, sign_in


@pytest.fixture
async def browser_client(db):
    async with console_client("10.1.2.5") as c:
        yield c


@pytest.mark.parametrize("role", [Role.coordinator, Role.admin])
async def test_metrics_show_charts_and_download_csv(browser_client, role):
    await sign_in(browser_client, await make_user(role))
    page = await browser_client.get("/console/metrics?months=6")
    assert page.status_code == 200
    for name in ("times", "answers", "tiers", "disciplines", "units"):
        assert f'id="figure-{name}"' in page.text
        start = page.text.index("<svg", page.text.index(f'id="figure-{name}"'))
        ET.fromstring(page.text[start : page.text.index("</svg>", start) + 6])
        download = await browser_client.get(f"/console/metrics/{name}.csv?months=6")
        assert download.status_code == 200
        assert download.headers["content-type"].startswith("text/csv")
        assert "attachment" in download.headers["content-disposition"]
        rows = list(csv.reader(io.StringIO(download.text)))
        assert len(rows) == 1 + 6  # a header and one row per month
    assert (await browser_client.get("/console/metrics/people.csv")).status_code == 404
    assert (await browser_client.get("/console/metrics?months=999")).status_code == 422


@pytest.mark.parametrize("role", [Role.risk_manager])
async def test_metrics_are_not_for_risk_management(browser_client, role):
    await sign_in(browser_client, await make_user(role))
    assert (await browser_client.get("/console/metrics")).status_code == 403
    assert (await browser_client.get("/console/metrics/answers.csv")).status_code == 403
