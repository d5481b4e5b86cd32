"""The console: pages for risk management, the coordinator, peers and administrators.

`install(app)` adds the pages, their static files, CSRF protection and the answers for a
missing session or a role that may not see a page. Each area has its own module and router.
"""

from __future__ import annotations

import hmac
from http.cookies import SimpleCookie

from asgi_csrf import asgi_csrf
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from itsdangerous import BadSignature, URLSafeSerializer

from services.config import get_settings
from services.console import (
    admin,
    admin_texts,
    admin_users,
    board,
    directory,
    feeds,
    incidents,
    metrics,
    peer,
    programme,
    programme_people,
    signin,
)
from services.console.pages import HOME, PREFIX, STATIC, env, render
from services.identity.deps import PageForbidden, SignInNeeded

CSRF_COOKIE = "csrftoken"  # asgi-csrf's cookie name, and its signing namespace
ROUTERS = [
    signin.router,
    board.router,
    feeds.router,
    metrics.router,
    directory.router,
    programme.router,
    programme_people.router,
    admin.router,
    admin_users.router,
    admin_texts.router,
    incidents.router,
    peer.router,
]


class CsrfGuard:
    """asgi-csrf's double-submit check on every console form and htmx request.

    Why only the console: API callers authenticate with a bearer header a browser never adds
    on its own, and Twilio signs its forms; neither can be forged cross-site. A request
    outside the console does not enter asgi-csrf at all: asgi-csrf passed every one of them
    through (skip_if_scope, below), but only after signing a fresh token for each, a
    noticeable share of an API request's CPU. The console's paths are exactly the ones under
    PREFIX (and "/", a redirect): tests/unit/test_console_csrf_scope.py holds that.
    """

    def __init__(self, app: object) -> None:
        self.inner = app
        settings = get_settings()
        # The same signer asgi-csrf makes from the same secret, for uploads (below).
        self.signer = URLSafeSerializer(settings.console_secret)
        self.app = asgi_csrf(
            app,
            signing_secret=settings.console_secret,
            cookie_path=PREFIX,
            cookie_secure=settings.secure_cookies,
            cookie_samesite="Strict",
            always_protect={f"{PREFIX}/signin", f"{PREFIX}/signout"},
            skip_if_scope=lambda scope: not scope["path"].startswith(PREFIX),
            send_csrf_failed=_csrf_failed,
        )

    async def __call__(self, scope: dict, receive: object, send: object) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX):
            await self.inner(scope, receive, send)  # type: ignore[operator]
            return
        if _is_console_upload(scope):
            if not self._upload_token_ok(scope):
                await _csrf_failed(scope, send, "upload without a matching header")
                return
        await self.app(scope, receive, send)  # type: ignore[operator]

    def _upload_token_ok(self, scope: dict) -> bool:
        """asgi-csrf's own reading of a multipart body fails with today's python-multipart
        (a 500), so a console upload must carry its token in the x-csrftoken header (htmx
        adds it to every request); it is checked here, as asgi-csrf checks a header, and a
        failed check is refused before any body is read."""
        headers = dict(scope.get("headers") or [])
        sent = headers.get(b"x-csrftoken", b"").decode("latin-1")
        cookie = SimpleCookie(headers.get(b"cookie", b"").decode("latin-1"))
        held = cookie[CSRF_COOKIE].value if CSRF_COOKIE in cookie else ""
        if not sent or not held or not hmac.compare_digest(sent, held):
            return False
        try:
            self.signer.loads(held, CSRF_COOKIE)
        except BadSignature:
            return False
        return True


def _is_console_upload(scope: dict) -> bool:
    if scope["method"] != "POST" or not scope["path"].startswith(PREFIX):
        return False
    headers = dict(scope.get("headers") or [])
    ctype = headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower()
    return ctype == b"multipart/form-data"


async def _csrf_failed(scope: dict, send: object, message_id: object) -> None:
    body = env.get_template("error.html").render(
        who=None,
        nav=[],
        here=scope["path"],
        csrf_token="",
        zone="UTC",
        heading="This form has expired",
        message="Go back, reload the page and try again. Nothing was changed.",
    )
    payload = body.encode()
    await send(  # type: ignore[operator]
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})  # type: ignore[operator]


def install(app: FastAPI) -> None:
    for router in ROUTERS:
        # Pages are not API: the OpenAPI document describes what integrations may call.
        app.include_router(router, include_in_schema=False)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC), name="console-static")

    @app.get("/", include_in_schema=False)
    async def root() -> Response:
        return RedirectResponse(f"{PREFIX}/", status_code=303)

    @app.exception_handler(SignInNeeded)
    async def sign_in_needed(request: Request, exc: SignInNeeded) -> Response:
        target = signin.signin_redirect(exc.back_to)
        if request.headers.get("hx-request"):
            # htmx swaps a redirect's body into the page; make it load the sign-in page.
            return Response(status_code=204, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(PageForbidden)
    async def forbidden(request: Request, exc: PageForbidden) -> HTMLResponse:
        return render(
            request,
            exc.who,
            "error.html",
            status_code=403,
            heading="Not available to your role",
            message="This page belongs to another role in the programme.",
            home=HOME[exc.who.role],
        )

    app.add_middleware(CsrfGuard)
