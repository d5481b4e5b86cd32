"""Signing in and out of the console, one's own password, and the way to each role's home
page."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from services import clock
from services.config import get_settings
from services.console.pages import HOME, PREFIX, render
from services.db import transaction
from services.identity import audit, sessions, users
from services.identity.deps import client_ip, current_user, page_role
from services.identity.models import Role
from services.identity.principal import Principal

router = APIRouter(prefix=PREFIX)


def safe_next(value: str | None) -> str | None:
    """Only a path inside the console: a crafted link must not send someone elsewhere."""
    if value and value.startswith(PREFIX + "/") and "//" not in value and "\\" not in value:
        return value
    return None


def try_again(throttled: sessions.Throttled) -> str:
    minutes = max(1, round(throttled.retry_after_s / 60))
    return f"Try again in {minutes} minute{'s' * (minutes != 1)}."


@router.get("/signin")
async def signin_form(request: Request, next: str | None = None) -> Response:
    who = await current_user(request)
    if who is not None:
        return RedirectResponse(safe_next(next) or HOME[who.role], status_code=303)
    return render(request, None, "signin.html", next=safe_next(next) or "", error=None)


@router.post("/signin")
async def signin(
    request: Request,
    username: str = Form(max_length=64),
    password: str = Form(max_length=256),
    next: str = Form(default="", max_length=512),
) -> Response:
    settings = get_settings()
    ip = client_ip(request)
    now = clock.now()
    try:
        async with transaction() as session:
            user = await sessions.sign_in(session, username, password, ip, now, settings)
            if user is not None:
                cookie = await sessions.open_session(session, user, ip, now, settings)
                who = await sessions.principal_of(session, user, ip)
                await audit.record(session, who, "sign_in", "user", str(user.id))
    except sessions.Throttled as exc:
        return render(
            request,
            None,
            "signin.html",
            status_code=429,
            headers={"Retry-After": str(exc.retry_after_s)},
            next=safe_next(next) or "",
            error=f"Too many attempts. {try_again(exc)}",
        )
    if user is None:
        return render(
            request,
            None,
            "signin.html",
            status_code=401,
            next=safe_next(next) or "",
            error="That username and password do not match an active account.",
        )
    return with_session(
        RedirectResponse(safe_next(next) or HOME[who.role], status_code=303), cookie
    )


def with_session(response: Response, cookie: str) -> Response:
    """The browser's session cookie: HttpOnly, SameSite=Lax, Secure behind TLS, console only."""
    settings = get_settings()
    response.set_cookie(
        sessions.COOKIE,
        cookie,
        max_age=settings.session_max_hours * 3600,
        path=PREFIX,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
    )
    return response


AnyoneSignedIn = Annotated[Principal, Depends(page_role(*Role))]


@router.get("/account")
async def account(request: Request, who: AnyoneSignedIn, changed: bool = False) -> Response:
    return render(request, who, "account.html", errors={}, changed=changed)


@router.post("/account/password")
async def change_password(
    request: Request,
    who: AnyoneSignedIn,
    current: str = Form(default="", max_length=256),
    new: str = Form(default="", max_length=256),
    again: str = Form(default="", max_length=256),
) -> Response:
    """Every other session of the person ends (a stolen cookie stops working); this
    browser gets a new one, so changing a password does not sign its owner out."""
    if new != again:
        return _account_refused(request, who, "again", "The two new passwords differ.")
    settings = get_settings()
    ip, now = client_ip(request), clock.now()
    try:
        async with transaction() as session:
            user = await users.change_own_password(session, who.id, current, new, ip, now, settings)
            if user is not None:
                cookie = await sessions.open_session(session, user, ip, now, settings)
                await audit.record(session, who, "password_changed", "user", str(who.id))
    except sessions.Throttled as exc:
        return _account_refused(
            request,
            who,
            "current",
            f"Too many wrong passwords. {try_again(exc)}",
            status_code=429,
            headers={"Retry-After": str(exc.retry_after_s)},
        )
    except users.UserRefused as exc:
        return _account_refused(request, who, exc.field, f"{str(exc)[:1].upper()}{str(exc)[1:]}.")
    if user is None:
        return _account_refused(request, who, "current", "That is not your current password.")
    return with_session(RedirectResponse(f"{PREFIX}/account?changed=1", status_code=303), cookie)


def _account_refused(
    request: Request,
    who: Principal,
    field: str,
    why: str,
    status_code: int = 400,
    headers: dict[str, str] | None = None,
) -> Response:
    """The form again with the reason beside its field; no password is ever sent back."""
    return render(
        request,
        who,
        "account.html",
        status_code=status_code,
        headers=headers,
        errors={field: why},
        changed=False,
    )


@router.post("/signout")
async def signout(request: Request) -> Response:
    cookie = request.cookies.get(sessions.COOKIE)
    who: Principal | None = await current_user(request)
    if cookie:
        async with transaction() as session:
            await sessions.close_session(session, cookie)
            if who is not None:
                await audit.record(session, who, "sign_out", "user", str(who.id))
    response = RedirectResponse(f"{PREFIX}/signin", status_code=303)
    response.delete_cookie(sessions.COOKIE, path=PREFIX)
    return response


@router.get("")
@router.get("/")
async def home(request: Request) -> Response:
    who = await current_user(request)
    if who is None:
        return RedirectResponse(f"{PREFIX}/signin", status_code=303)
    return RedirectResponse(HOME[who.role], status_code=303)


def signin_redirect(back_to: str) -> str:
    return f"{PREFIX}/signin?next={quote(back_to, safe='/')}"
