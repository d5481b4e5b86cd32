"""The administrator's pages for people who sign in: accounts, roles, access, passwords.

A change to who may sign in takes effect at once (their sessions end with it), and the console
is never left without an active administrator.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services import clock
from services.console.admin import Admin, Refused, form_field, list_sites, read_form
from services.console.pages import PREFIX, render
from services.db import transaction
from services.identity import audit
from services.identity.models import USER_ROLES, Role, User
from services.identity.principal import Principal
from services.identity.users import UserRefused, create_user, generated_password
from services.identity.users import set_access as apply_access
from services.identity.users import set_password as apply_password
from services.people.models import PeerSupporter, Staff

router = APIRouter(prefix=f"{PREFIX}/admin")


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
        sites = {s.code: s.name for s in await list_sites(session)}
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
        sites = await list_sites(session)
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
        roles=list(USER_ROLES),
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
    form = await read_form(request)
    try:
        role = Role(form_field(form, "role", 16))
    except ValueError:
        return await _new_user_form(request, who, form, {"role": "Choose a role."}, 400)
    try:
        password, generated = _password_from(form)
        async with transaction() as session:
            user = await create_user(
                session,
                username=form_field(form, "username", 200),
                display_name=form_field(form, "display_name", 200),
                role=role,
                password=password,
                staff_id=(form_field(form, "staff_id", 32) or None) if role is Role.peer else None,
                site=form_field(form, "site", 32) or None,
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
        sites = {s.code: s.name for s in await list_sites(session)}
        await audit.record(session, who, "view_user", "user", str(user.id))
    return render(
        request,
        who,
        "admin/user_edit.html",
        status_code=status_code,
        user=user,
        sites=sites,
        roles=list(USER_ROLES),
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
    form = await read_form(request)
    try:
        role = Role(form_field(form, "role", 16))
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
    form = await read_form(request)
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
