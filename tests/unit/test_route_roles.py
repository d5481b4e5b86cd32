"""Every route is guarded by a role or on the short public list, read from the app's own route
table (no store): a new route that is neither fails here, so a forgotten guard cannot ship.
The refusals themselves, role by role over HTTP, are in tests/integration/test_route_roles.py.
"""

from __future__ import annotations

from fastapi.routing import APIRoute, iter_route_contexts

from services.identity.models import Role

# Routes that need no role: Twilio proves itself by signature, the rest only sign people in
# or send them to the page for their role.
PUBLIC = {
    ("POST", "/twilio/status"),
    ("POST", "/twilio/sms"),
    ("GET", "/console/signin"),
    ("POST", "/console/signin"),
    ("POST", "/console/signout"),
    ("GET", "/console"),
    ("GET", "/console/"),
    ("GET", "/"),
}


def _roles(route: object) -> frozenset[Role] | None:
    found: list[frozenset[Role]] = []

    def walk(dependant: object) -> None:
        for dep in getattr(dependant, "dependencies", []):
            roles = getattr(dep.call, "roles", None)
            if roles is not None:
                found.append(roles)
            walk(dep)

    walk(route.dependant)  # type: ignore[attr-defined]
    if not found:
        return None
    allowed = found[0]
    for more in found[1:]:
        allowed &= more
    return allowed


def _routes() -> list[tuple[str, str, frozenset[Role] | None]]:
    from services.api import app

    out = []
    # The effective routes, with the dependencies their routers add (FastAPI >= 0.16x keeps
    # included routers as branches, so app.routes alone would miss them).
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute):
            continue
        for method in sorted((route.methods or set()) - {"HEAD"}):
            out.append((method, route.path, _roles(route)))
    return out


def test_every_route_is_guarded_or_public():
    unguarded = [(m, p) for m, p, roles in _routes() if roles is None and (m, p) not in PUBLIC]
    assert unguarded == [], f"routes with no role check: {unguarded}"
    stale = PUBLIC - {(m, p) for m, p, _ in _routes()}
    assert stale == set(), f"public list names routes that no longer exist: {stale}"


# Besides incidents: their own account (their name and a password form, nothing of anyone
# else's), health and counts.
RISK_MANAGER_PATHS = (
    "/incidents",
    "/console/incidents",
    "/console/account",
    "/healthz",
    "/metrics",
)


def test_a_risk_manager_can_reach_only_incident_routes():
    for method, path, roles in _routes():
        if roles and Role.risk_manager in roles:
            assert path.startswith(RISK_MANAGER_PATHS), (
                method,
                path,
            )
