"""Signing in and out of the console, and the way to each role's home page."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from services import clock
from services.config import get_settings
from services.console.pages import HOME, PREFIX, render
from services.db import transaction
from services.identity import audit, sessions
from services.identity.deps import client_ip, current_user
from services.identity.principal import Principal

router = APIRouter(prefix=PREFIX)


def safe_next(value: str | None) -> str | None:
    """Only a path inside the console: a crafted link must not send someone elsewhere."""
    if value and value.startswith(PREFIX + "/") and "//" not in value and "\\" not in value:
        return value
    return None


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
        minutes = max(1, round(exc.retry_after_s / 60))
        return render(
            request,
            None,
            "signin.html",
            status_code=429,
            headers={"Retry-After": str(exc.retry_after_s)},
            next=safe_next(next) or "",
            error=f"Too many attempts. Try again in {minutes} minute{'s' * (minutes != 1)}.",
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
    response = RedirectResponse(safe_next(next) or HOME[who.role], status_code=303)
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
