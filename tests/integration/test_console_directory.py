"""The coordinator's directory uploads: the same importers, all or nothing, checked first."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from sqlalchemy.engine import Engine

from services.identity.models import Role
from tests.integration.console_helpers import console_client, csrf_from, make_user, sign_in
from tests.integration.test_flows import q


@pytest.fixture
async def browser_client(db):
    async with console_client("10.1.2.6") as c:
        yield c


def units_csv(*rows: str) -> bytes:
    return ("code,name,site,time_zone\n" + "\n".join(rows) + "\n").encode()


async def upload(c: httpx.AsyncClient, token: str, kind: str, data: bytes, **extra: str):
    # As htmx sends it: the token in the header, beside the file.
    return await c.post(
        "/console/directory",
        data={"kind": kind, **extra},
        files={"file": ("export.csv", data, "text/csv")},
        headers={"x-csrftoken": token},
    )


async def test_a_units_export_is_checked_then_applied(db: Engine, browser_client):
    token = await sign_in(browser_client, await make_user(Role.coordinator))
    code = f"D{uuid.uuid4().hex[:5].upper()}"
    data = units_csv(f"{code},Directory ward,main,America/New_York")
    checked = await upload(browser_client, token, "units", data, check_only="yes")
    assert checked.status_code == 200 and "would apply 1 rows" in checked.text
    assert q(db, "SELECT count(*) FROM units WHERE code = :c", c=code) == [(0,)]
    applied = await upload(browser_client, token, "units", data)
    assert applied.status_code == 200 and "applied 1 rows: 1 added" in applied.text
    assert q(db, "SELECT name FROM units WHERE code = :c", c=code) == [("Directory ward",)]
    actions = q(
        db,
        "SELECT action FROM audit_log WHERE target_kind = 'directory' AND target_id = 'units' "
        "ORDER BY id DESC LIMIT 2",
    )
    assert actions == [("directory.import",), ("directory.check",)]


async def test_a_bad_row_changes_nothing_and_says_where(db: Engine, browser_client):
    token = await sign_in(browser_client, await make_user(Role.coordinator))
    code = f"D{uuid.uuid4().hex[:5].upper()}"
    data = units_csv(f"{code},Good ward,main,UTC", f"{code}X,Bad ward,main,Mars/Olympus_Mons")
    r = await upload(browser_client, token, "units", data)
    assert r.status_code == 422
    assert re.search(r"<td[^>]*>3</td>", r.text) and "unknown time zone" in r.text
    assert q(db, "SELECT count(*) FROM units WHERE code = :c", c=code) == [(0,)]


async def test_refusals_for_a_missing_file_or_kind(browser_client):
    token = await sign_in(browser_client, await make_user(Role.coordinator))
    no_kind = await upload(browser_client, token, "", units_csv("A,B,main,UTC"))
    assert no_kind.status_code == 422 and "Choose what the file holds" in no_kind.text
    empty = await upload(browser_client, token, "units", b"  \n")
    assert empty.status_code == 422 and "empty" in empty.text


async def test_only_the_coordinator_uploads_and_never_without_csrf(browser_client):
    await sign_in(browser_client, await make_user(Role.risk_manager))
    assert (await browser_client.get("/console/directory")).status_code == 403
    browser_client.cookies.clear()
    await sign_in(browser_client, await make_user(Role.coordinator))
    forged = await browser_client.post(
        "/console/directory",
        data={"kind": "units"},
        files={"file": ("export.csv", units_csv("ZZ9,Forged,main,UTC"), "text/csv")},
    )
    assert forged.status_code == 403
    token = csrf_from((await browser_client.get("/console/directory")).text)
    in_the_form = await browser_client.post(
        "/console/directory",
        data={"csrftoken": token, "kind": "units"},
        files={"file": ("export.csv", units_csv("ZZ8,In form,main,UTC"), "text/csv")},
    )
    assert in_the_form.status_code == 403  # refused before the body is read, never a 500
    wrong = await browser_client.post(
        "/console/directory",
        data={"kind": "units"},
        files={"file": ("export.csv", units_csv("ZZ7,Wrong,main,UTC"), "text/csv")},
        headers={"x-csrftoken": "not-the-token"},
    )
    assert wrong.status_code == 403
