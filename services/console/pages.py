"""What every console page shares: templates, the viewer's clock, the nav for their role.

Server-rendered HTML with htmx for the parts that change in place: no build step, works on
the hospital's locked-down desktops and on a peer's phone, and every route decides on the
server what its viewer may see.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from services import clock
from services.identity.models import ROLE_LABELS, Role
from services.identity.principal import Principal

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
PREFIX = "/console"

# Where each role starts, and what its nav offers: a role never sees a link it may not follow.
HOME = {
    Role.risk_manager: f"{PREFIX}/incidents",
    Role.coordinator: f"{PREFIX}/board",
    Role.peer: f"{PREFIX}/peer",
    Role.admin: f"{PREFIX}/admin/users",
}
NAV: dict[Role, list[tuple[str, str]]] = {
    Role.risk_manager: [
        ("Incidents", f"{PREFIX}/incidents"),
        ("Log an incident", f"{PREFIX}/incidents/new"),
    ],
    Role.coordinator: [
        ("Board", f"{PREFIX}/board"),
        ("On call", f"{PREFIX}/on-call"),
        ("Schedules", f"{PREFIX}/schedules"),
        ("Peers", f"{PREFIX}/peers"),
        ("Policies", f"{PREFIX}/policies"),
        ("Debriefs", f"{PREFIX}/debriefs"),
        ("Feed rules", f"{PREFIX}/feeds/rules"),
        ("Directory", f"{PREFIX}/directory"),
        ("Metrics", f"{PREFIX}/metrics"),
    ],
    Role.peer: [("My cases", f"{PREFIX}/peer")],
    Role.admin: [
        ("Users", f"{PREFIX}/admin/users"),
        ("Tokens", f"{PREFIX}/admin/tokens"),
        ("SMS texts", f"{PREFIX}/admin/templates"),
        ("Sites", f"{PREFIX}/admin/sites"),
        ("Audit log", f"{PREFIX}/admin/audit"),
        ("Metrics", f"{PREFIX}/metrics"),
    ],
}


# Pages carry names and states: no shared cache or back-button history may keep them, no
# other site may frame them, and only our own scripts run.
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
}


def local(value: datetime | None, zone: str, fmt: str = "%a %d %b %H:%M") -> str:
    """A time in the viewer's site time zone, with the zone's abbreviation so a coordinator
    covering two sites never guesses."""
    if value is None:
        return "—"
    here = value.astimezone(ZoneInfo(zone))
    return f"{here.strftime(fmt)} {here.tzname()}"


def clock_for(zone: str) -> Callable[..., str]:
    """The `local` a template calls: times in this viewer's zone, pages and live rows alike."""

    def in_zone(value: datetime | None, fmt: str = "%a %d %b %H:%M") -> str:
        return local(value, zone, fmt)

    return in_zone


def minutes_between(start: datetime | None, end: datetime | None = None) -> str:
    if start is None:
        return "—"
    seconds = max(0, int(((end or clock.now()) - start).total_seconds()))
    hours, rest = divmod(seconds // 60, 60)
    return f"{hours} h {rest:02d} min" if hours else f"{rest} min"


env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html", "svg"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
env.globals.update(PREFIX=PREFIX, ROLE_LABELS=ROLE_LABELS, Role=Role)
env.filters["waited"] = minutes_between


def csrf_token(request: Request) -> str:
    """asgi-csrf puts a callable in the scope; calling it also sets the cookie it checks."""
    make = request.scope.get("csrftoken")
    return make() if callable(make) else ""


def render(
    request: Request,
    who: Principal | None,
    template: str,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **context: object,
) -> HTMLResponse:
    zone = who.time_zone if who else "UTC"
    html = env.get_template(template).render(
        request=request,
        who=who,
        nav=NAV.get(who.role, []) if who else [],
        here=request.url.path,
        csrf_token=csrf_token(request),
        zone=zone,
        local=clock_for(zone),
        now=clock.now(),
        **context,
    )
    response = HTMLResponse(html, status_code=status_code, headers=headers)
    # Pages carry names and states; no shared cache or back-button history may keep them.
    response.headers.update(SECURITY_HEADERS)
    return response
