"""The administrator's pages: people who sign in, integration tokens, SMS texts per language,
each site's crisis line, and the audit log.

Administrators run the console for the programme but stand outside it: nothing here shows a
case, a clinician's number or a reply. Every change is written with its audit row in one
transaction, and a change to who may sign in takes effect at once (sessions end with it).
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import Select, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from notifiers import templates as sms
from services import clock, texts
from services.console.pages import PREFIX, render
from services.db import transaction
from services.identity import audit, tokens
from services.identity.deps import page_role
from services.identity.models import ApiToken, AuditEntry, Role, Site, SmsTemplate, User
from services.identity.principal import Principal
from services.identity.users import UserRefused, create_user, generated_password
from services.identity.users import set_access as apply_access
from services.identity.users import set_password as apply_password
from services.people.fields import normalise_language
from services.people.models import PeerSupporter, Staff

router = APIRouter(prefix=f"{PREFIX}/admin")
Admin = Annotated[Principal, Depends(page_role(Role.admin))]

AUDIENCES = ("clinician", "peer", "unit lead", "anyone")
# Offered first in the language list; any two-letter code the directory uses is offered too.
COMMON_LANGUAGES = ("en", "es", "fr", "pt", "zh", "vi", "ar", "ht", "ru", "ko", "tl")
CRISIS_LINE = re.compile(r"^\+?[0-9][0-9 ()-]{1,30}$")
AUDIT_PAGE = 50


class Refused(Exception):
    """A form that cannot be done as asked: `errors` maps each field to why."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(", ".join(errors))
        self.errors = errors


def _field(form: dict[str, str], name: str, limit: int = 256) -> str:
    return str(form.get(name, "")).strip()[:limit]


async def _form(request: Request) -> dict[str, str]:
    data = await request.form()
    return {k: v for k, v in data.items() if isinstance(v, str)}


# --- users ----------------------------------------------------------------------------------


async def _sites(session: AsyncSession) -> list[Site]:
    return list((await session.scalars(select(Site).order_by(Site.name))).all())


async def _peers_without_account(session: AsyncSession) -> list[tuple[str, str]]:
    """(staff id, name) of peers on the roster who have no account yet: a peer's account is
    linked to their staff record, picked here rather than typed."""
    rows = await session.execute(
        select(Staff.staff_id, Staff.display_name)
        .join(PeerSupporter, PeerSupporter.staff_id == Staff.staff_id)
        .where(Staff.staff_id.not_in(select(User.staff_id).where(User.staff_id.is_not(None))))
        .order_by(Staff.display_name)
    )
    return [(str(s), str(n)) for s, n in rows.all()]


@router.get("/users")
async def users_page(request: Request, who: Admin) -> Response:
    async with transaction() as session:
        users = (await session.scalars(select(User).order_by(User.username))).all()
        sites = {s.code: s.name for s in await _sites(session)}
        await audit.record(session, who, "view_users", "user", "*", {"count": len(users)})
    return render(request, who, "admin/users.html", users=users, sites=sites)


async def _new_user_form(
    request: Request,
    who: Principal,
    form: dict[str, str],
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    async with transaction() as session:
        sites = await _sites(session)
        peers = await _peers_without_account(session)
    return render(
        request,
        who,
        "admin/user_new.html",
        status_code=status_code,
        form=form,
        errors=errors,
        sites=sites,
        peers=peers,
        roles=list(Role),
    )


@router.get("/users/new")
async def new_user_page(request: Request, who: Admin) -> Response:
    return await _new_user_form(request, who, {"password_mode": "generate"}, {})


def _password_from(form: dict[str, str]) -> tuple[str, bool]:
    """(the password, whether it was generated): typed passwords are typed twice."""
    if form.get("password_mode", "generate") == "generate":
        return generated_password(), True
    password = str(form.get("password", ""))
    if password != str(form.get("password_again", "")):
        raise Refused({"password_again": "The two passwords differ."})
    return password, False


@router.post("/users")
async def create_user_action(request: Request, who: Admin) -> Response:
    form = await _form(request)
    try:
        role = Role(_field(form, "role", 16))
    except ValueError:
        return await _new_user_form(request, who, form, {"role": "Choose a role."}, 400)
    try:
        password, generated = _password_from(form)
        async with transaction() as session:
            user = await create_user(
                session,
                username=_field(form, "username", 200),
                display_name=_field(form, "display_name", 200),
                role=role,
                password=password,
                staff_id=(_field(form, "staff_id", 32) or None) if role is Role.peer else None,
                site=_field(form, "site", 32) or None,
            )
            await audit.record(
                session,
                who,
                "user_create",
                "user",
                str(user.id),
                {"role": role.value, "site": user.site, "staff_id": user.staff_id},
            )
    except UserRefused as exc:
        return await _new_user_form(request, who, form, {exc.field: str(exc)}, 400)
    except Refused as exc:
        return await _new_user_form(request, who, form, exc.errors, 400)
    return render(
        request,
        who,
        "admin/user_password.html",
        user=user,
        password=password if generated else None,
        created=True,
    )


async def _user_or_404(session: AsyncSession, user_id: str, lock: bool = True) -> User | None:
    try:
        wanted = uuid.UUID(user_id)
    except ValueError:
        return None
    return await session.get(User, wanted, with_for_update=lock)


def _not_found(request: Request, who: Principal) -> Response:
    return render(
        request,
        who,
        "error.html",
        status_code=404,
        heading="No such user",
        message="The account may have been removed from the list you came from.",
        home=f"{PREFIX}/admin/users",
    )


async def _edit_user_page(
    request: Request,
    who: Principal,
    user_id: str,
    errors: dict[str, str],
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    async with transaction() as session:
        user = await _user_or_404(session, user_id, lock=False)
        if user is None:
            return _not_found(request, who)
        sites = {s.code: s.name for s in await _sites(session)}
        await audit.record(session, who, "view_user", "user", str(user.id))
    return render(
        request,
        who,
        "admin/user_edit.html",
        status_code=status_code,
        user=user,
        sites=sites,
        roles=list(Role),
        errors=errors,
        notice=notice,
        is_me=user.id == who.id,
    )


@router.get("/users/{user_id}")
async def user_page(request: Request, who: Admin, user_id: str, saved: str = "") -> Response:
    notice = "Access updated. Their open sessions have ended." if saved else None
    return await _edit_user_page(request, who, user_id, {}, notice)


async def _check_admin_kept(
    session: AsyncSession, who: Principal, user: User, role: Role, active: bool
) -> None:
    """The console is never left without an administrator: nobody removes their own access,
    and the last active administrator stays one. The active administrators are locked, so two
    administrators demoting each other at once cannot both succeed."""
    losing = (
        user.role == Role.admin.value and user.active and (role is not Role.admin or not active)
    )
    if not losing:
        return
    field = "active" if not active else "role"
    if user.id == who.id:
        raise Refused(
            {field: "You cannot remove your own administrator access; ask another administrator."}
        )
    admins = (
        await session.scalars(
            select(User.id)
            .where(User.role == Role.admin.value, User.active.is_(True))
            .order_by(User.id)
            .with_for_update()
        )
    ).all()
    if [a for a in admins if a != user.id] == []:
        raise Refused({field: "This is the last active administrator; make another one first."})


@router.post("/users/{user_id}/access")
async def user_access_action(request: Request, who: Admin, user_id: str) -> Response:
    form = await _form(request)
    try:
        role = Role(_field(form, "role", 16))
    except ValueError:
        return await _edit_user_page(request, who, user_id, {"role": "Choose a role."}, None, 400)
    active = form.get("active") == "yes"
    try:
        async with transaction() as session:
            user = await _user_or_404(session, user_id)
            if user is None:
                return _not_found(request, who)
            before = {"role": user.role, "active": user.active}
            await _check_admin_kept(session, who, user, role, active)
            await apply_access(session, user, role=role, active=active, now=clock.now())
            await audit.record(
                session,
                who,
                "user_access",
                "user",
                str(user.id),
                {"before": before, "after": {"role": role.value, "active": active}},
            )
    except UserRefused as exc:
        return await _edit_user_page(request, who, user_id, {exc.field: str(exc)}, None, 400)
    except Refused as exc:
        return await _edit_user_page(request, who, user_id, exc.errors, None, 400)
    return RedirectResponse(f"{PREFIX}/admin/users/{user_id}?saved=1", status_code=303)


@router.post("/users/{user_id}/password")
async def user_password_action(request: Request, who: Admin, user_id: str) -> Response:
    form = await _form(request)
    try:
        password, generated = _password_from(form)
        async with transaction() as session:
            user = await _user_or_404(session, user_id)
            if user is None:
                return _not_found(request, who)
            await apply_password(session, user, password, clock.now())
            await audit.record(
                session, who, "user_password_reset", "user", str(user.id), {"generated": generated}
            )
    except UserRefused as exc:
        return await _edit_user_page(request, who, user_id, {exc.field: str(exc)}, None, 400)
    except Refused as exc:
        return await _edit_user_page(request, who, user_id, exc.errors, None, 400)
    return render(
        request,
        who,
        "admin/user_password.html",
        user=user,
        password=password if generated else None,
        created=False,
    )


# --- integration tokens ---------------------------------------------------------------------

TOKEN_ROLES = [r for r in Role if r is not Role.peer]


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
    form = await _form(request)
    name = _field(form, "name", 200)
    errors: dict[str, str] = {}
    if not name or len(name) > 80:
        errors["name"] = "1 to 80 characters, naming the system that will use it."
    try:
        role = Role(_field(form, "role", 16))
        if role is Role.peer:
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


# --- SMS texts ------------------------------------------------------------------------------


async def _languages(session: AsyncSession) -> list[str]:
    used = set((await session.scalars(select(Staff.language).distinct())).all()) | set(
        (await session.scalars(select(SmsTemplate.language).distinct())).all()
    )
    return list(COMMON_LANGUAGES) + sorted(used - set(COMMON_LANGUAGES))


@router.get("/templates")
async def templates_page(request: Request, who: Admin, saved: str = "") -> Response:
    async with transaction() as session:
        rows = (await session.execute(select(SmsTemplate.kind, SmsTemplate.language))).all()
        languages = await _languages(session)
    overridden: dict[str, list[str]] = {}
    for kind, language in sorted(rows):
        overridden.setdefault(kind, []).append(language)
    groups = [(a, [k for k in sms.KINDS.values() if k.audience == a]) for a in AUDIENCES]
    return render(
        request,
        who,
        "admin/sms_templates.html",
        groups=groups,
        overridden=overridden,
        languages=languages,
        notice={"1": "Text saved.", "reset": "Text back to the default."}.get(saved),
    )


def _kind_and_language(kind: str, language: str) -> tuple[sms.Kind, str] | None:
    spec = sms.KINDS.get(kind)
    try:
        lang = normalise_language(language)
    except ValueError:
        return None
    return (spec, lang) if spec is not None else None


def _preview(spec: sms.Kind, body: str) -> str | None:
    try:
        return sms.fill(body, spec.sample) if not sms.check(spec.key, body) else None
    except (KeyError, ValueError, IndexError):
        return None


async def _template_page(
    request: Request,
    who: Principal,
    spec: sms.Kind,
    language: str,
    body: str | None,
    errors: list[str],
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    async with transaction() as session:
        saved = await session.get(SmsTemplate, (spec.key, language))
    text = body if body is not None else (saved.body if saved else spec.default)
    return render(
        request,
        who,
        "admin/sms_template_edit.html",
        status_code=status_code,
        spec=spec,
        language=language,
        body=text,
        saved=saved,
        errors=errors,
        notice=notice,
        preview=_preview(spec, text),
        default_preview=sms.fill(spec.default, spec.sample),
        max_length=sms.MAX_LENGTH,
    )


@router.get("/templates/edit")
async def template_pick(
    request: Request, who: Admin, kind: str = "", language: str = ""
) -> Response:
    """The picker's GET form: straight to the text for that kind and language."""
    found = _kind_and_language(kind, language)
    if found is None:
        return RedirectResponse(f"{PREFIX}/admin/templates", status_code=303)
    return RedirectResponse(f"{PREFIX}/admin/templates/{found[0].key}/{found[1]}", status_code=303)


@router.get("/templates/{kind}/{language}")
async def template_page(request: Request, who: Admin, kind: str, language: str) -> Response:
    found = _kind_and_language(kind, language)
    if found is None:
        return render(
            request,
            who,
            "error.html",
            status_code=404,
            heading="No such text",
            message="Pick a kind of SMS and a two-letter language code from the list.",
            home=f"{PREFIX}/admin/templates",
        )
    return await _template_page(request, who, found[0], found[1], None, [])


@router.post("/templates/{kind}/{language}")
async def template_save(request: Request, who: Admin, kind: str, language: str) -> Response:
    found = _kind_and_language(kind, language)
    if found is None:
        return RedirectResponse(f"{PREFIX}/admin/templates", status_code=303)
    spec, lang = found
    form = await _form(request)
    body = " ".join(str(form.get("body", ""))[:2000].split())  # one SMS is one paragraph
    problems = sms.check(spec.key, body)
    if form.get("intent") == "preview" or problems:
        return await _template_page(
            request, who, spec, lang, body, problems, None, 400 if problems else 200
        )
    async with transaction() as session:
        await session.execute(
            insert(SmsTemplate)
            .values(kind=spec.key, language=lang, body=body, updated_by=who.name[:64])
            .on_conflict_do_update(
                index_elements=["kind", "language"],
                set_={"body": body, "updated_at": func.now(), "updated_by": who.name[:64]},
            )
        )
        # The text itself is the programme's wording, not a person's: kept whole in the log.
        await audit.record(
            session, who, "sms_template_save", "sms_template", f"{spec.key}:{lang}", {"body": body}
        )
    texts.forget()
    return RedirectResponse(f"{PREFIX}/admin/templates?saved=1", status_code=303)


@router.post("/templates/{kind}/{language}/reset")
async def template_reset(request: Request, who: Admin, kind: str, language: str) -> Response:
    found = _kind_and_language(kind, language)
    if found is None:
        return RedirectResponse(f"{PREFIX}/admin/templates", status_code=303)
    spec, lang = found
    async with transaction() as session:
        saved = await session.get(SmsTemplate, (spec.key, lang), with_for_update=True)
        if saved is not None:
            await session.delete(saved)
            await audit.record(
                session, who, "sms_template_reset", "sms_template", f"{spec.key}:{lang}"
            )
    texts.forget()
    return RedirectResponse(f"{PREFIX}/admin/templates?saved=reset", status_code=303)


# --- sites and their crisis lines -----------------------------------------------------------


async def _sites_page(
    request: Request,
    who: Principal,
    errors: dict[str, str],
    values: dict[str, str],
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    async with transaction() as session:
        sites = await _sites(session)
    return render(
        request,
        who,
        "admin/sites.html",
        status_code=status_code,
        sites=sites,
        errors=errors,
        values=values,
        notice=notice,
    )


@router.get("/sites")
async def sites_page(request: Request, who: Admin, saved: str = "") -> Response:
    notice = "Crisis line saved; the next SMS that names it uses it." if saved else None
    return await _sites_page(request, who, {}, {}, notice)


@router.post("/sites/{code}")
async def site_save(request: Request, who: Admin, code: str) -> Response:
    form = await _form(request)
    line = " ".join(_field(form, "crisis_line", 64).split())
    if not CRISIS_LINE.match(line) or len(line) > 32:
        return await _sites_page(
            request,
            who,
            {code: "A number to call or text: digits, spaces, '-', '(', ')', a leading '+'."},
            {code: line},
            None,
            400,
        )
    async with transaction() as session:
        site = await session.get(Site, code, with_for_update=True)
        if site is None:
            return await _sites_page(request, who, {}, {}, "No such site.", 404)
        before, site.crisis_line = site.crisis_line, line
        await audit.record(
            session, who, "site_crisis_line", "site", code, {"before": before, "after": line}
        )
    texts.forget()
    return RedirectResponse(f"{PREFIX}/admin/sites?saved=1", status_code=303)


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
