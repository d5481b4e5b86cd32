"""The administrator's pages: people who sign in, integration tokens, SMS texts per language,
each site's crisis line, and the audit log.

Administrators run the console for the programme but stand outside it: nothing here shows a
case, a clinician's number or a reply. Every change is written with its audit row in one
transaction, and a change to who may sign in takes effect at once (sessions end with it).

This module holds what every administrator page shares, the integration tokens and the audit
log; people who sign in are in admin_users.py, SMS texts and crisis lines in admin_texts.py.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services import clock
from services.console.pages import PREFIX, render
from services.db import transaction
from services.identity import audit, tokens
from services.identity.deps import page_role
from services.identity.models import TOKEN_ROLES as TOKEN_ROLES_ALLOWED
from services.identity.models import ApiToken, AuditEntry, Role, Site
from services.identity.principal import Principal

router = APIRouter(prefix=f"{PREFIX}/admin")
Admin = Annotated[Principal, Depends(page_role(Role.admin))]

AUDIT_PAGE = 50


class Refused(Exception):
    """A form that cannot be done as asked: `errors` maps each field to why."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(", ".join(errors))
        self.errors = errors


def form_field(form: dict[str, str], name: str, limit: int = 256) -> str:
    """One posted field, trimmed and cut to `limit`: a form is never trusted for its size."""
    return str(form.get(name, "")).strip()[:limit]


async def read_form(request: Request) -> dict[str, str]:
    """The posted text fields; these forms take no files."""
    data = await request.form()
    return {k: v for k, v in data.items() if isinstance(v, str)}


async def list_sites(session: AsyncSession) -> list[Site]:
    """Every site by name: for the users' site choice and the crisis lines page."""
    return list((await session.scalars(select(Site).order_by(Site.name))).all())


# --- integration tokens ---------------------------------------------------------------------

TOKEN_ROLES = list(TOKEN_ROLES_ALLOWED)


async def _tokens_page(
    request: Request,
    who: Principal,
    form: dict[str, str],
    errors: dict[str, str],
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    async with transaction() as session:
        rows = (
            await session.scalars(
                select(ApiToken).order_by(
                    ApiToken.revoked_at.is_not(None), ApiToken.created_at.desc()
                )
            )
        ).all()
    return render(
        request,
        who,
        "admin/tokens.html",
        status_code=status_code,
        tokens=rows,
        roles=TOKEN_ROLES,
        form=form,
        errors=errors,
        notice=notice,
    )


@router.get("/tokens")
async def tokens_page(request: Request, who: Admin, revoked: str = "") -> Response:
    notice = "Token revoked. It stops working within a few seconds everywhere." if revoked else None
    return await _tokens_page(request, who, {}, {}, notice)


@router.post("/tokens")
async def create_token_action(request: Request, who: Admin) -> Response:
    form = await read_form(request)
    name = form_field(form, "name", 200)
    errors: dict[str, str] = {}
    if not name or len(name) > 80:
        errors["name"] = "1 to 80 characters, naming the system that will use it."
    try:
        role = Role(form_field(form, "role", 16))
        if role not in TOKEN_ROLES_ALLOWED:
            raise ValueError
    except ValueError:
        errors["role"] = "Choose a role; peers sign in and have no tokens."
    if errors:
        return await _tokens_page(request, who, form, errors, None, 400)
    async with transaction() as session:
        token_id, token = await tokens.issue(
            session, name, role, who.id if who.kind == "user" else None
        )
        await audit.record(
            session, who, "token_create", "api_token", str(token_id), {"role": role.value}
        )
    return render(request, who, "admin/token_created.html", name=name, role=role, token=token)


@router.post("/tokens/{token_id}/revoke")
async def revoke_token_action(request: Request, who: Admin, token_id: str) -> Response:
    try:
        wanted = uuid.UUID(token_id)
    except ValueError:
        return await _tokens_page(request, who, {}, {}, "No such token.", 404)
    async with transaction() as session:
        done = await tokens.revoke(session, wanted, clock.now())
        if done:
            await audit.record(session, who, "token_revoke", "api_token", str(wanted))
    if not done:
        return await _tokens_page(request, who, {}, {}, "That token was already revoked.", 409)
    return RedirectResponse(f"{PREFIX}/admin/tokens?revoked=1", status_code=303)


# --- the audit log --------------------------------------------------------------------------


def _day(value: str, zone: ZoneInfo) -> datetime | None:
    try:
        return datetime.combine(date.fromisoformat(value), time(0), zone)
    except ValueError:
        return None


@router.get("/audit")
async def audit_page(
    request: Request,
    who: Admin,
    actor: str = "",
    action: str = "",
    target_kind: str = "",
    target_id: str = "",
    since: str = "",
    until: str = "",
    before: int | None = None,
) -> Response:
    """Newest first, AUDIT_PAGE rows at a time, keyed on id so a page never shifts as rows
    are added. Dates are days in the viewer's time zone, both ends included."""
    zone = ZoneInfo(who.time_zone)
    filters = {
        "actor": actor.strip()[:120],
        "action": action.strip()[:64],
        "target_kind": target_kind.strip()[:24],
        "target_id": target_id.strip()[:64],
        "since": since.strip()[:10],
        "until": until.strip()[:10],
    }
    errors: dict[str, str] = {}
    query: Select[tuple[AuditEntry]] = select(AuditEntry)
    if filters["actor"]:
        query = query.where(
            (AuditEntry.actor_id == filters["actor"])
            | (func.lower(AuditEntry.actor_name) == filters["actor"].lower())
        )
    if filters["action"]:
        query = query.where(AuditEntry.action == filters["action"])
    if filters["target_kind"]:
        query = query.where(AuditEntry.target_kind == filters["target_kind"])
    if filters["target_id"]:
        query = query.where(AuditEntry.target_id == filters["target_id"])
    if filters["since"]:
        start = _day(filters["since"], zone)
        if start is None:
            errors["since"] = "A date such as 2026-11-30."
        else:
            query = query.where(AuditEntry.at >= start)
    if filters["until"]:
        end = _day(filters["until"], zone)
        if end is None:
            errors["until"] = "A date such as 2026-11-30."
        else:
            query = query.where(AuditEntry.at < end + timedelta(days=1))
    if before is not None:
        query = query.where(AuditEntry.id < before)
    async with transaction() as session:
        rows = (
            await session.scalars(query.order_by(AuditEntry.id.desc()).limit(AUDIT_PAGE + 1))
        ).all()
    more = len(rows) > AUDIT_PAGE
    rows = rows[:AUDIT_PAGE]
    next_query = None
    if more:
        kept = {k: v for k, v in filters.items() if v}
        kept["before"] = str(rows[-1].id)
        next_query = kept
    return render(
        request,
        who,
        "admin/audit.html",
        status_code=400 if errors else 200,
        rows=rows,
        filters=filters,
        errors=errors,
        next_query=next_query,
        first_page=before is None,
    )
