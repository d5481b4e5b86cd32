"""The ASGI app: intake routes, Twilio webhooks, health and metrics, and an outbox relay.

The relay runs here as well as in the worker so incidents keep flowing to Kafka whichever of
the two is up; an advisory lock lets only one publish at a time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse

from services.api_lanes import FastLanes
from services.auth import Gatekeeper, require_coordinator
from services.cases.views import router as cases_router
from services.console import install as install_console
from services.feeds.views import router as feeds_router
from services.health import router as health_router
from services.health import serving
from services.incidents.views import incident_lane
from services.incidents.views import router as incidents_router
from services.paging.views import router as twilio_router
from services.paging.views import status_lane
from services.people.views import router as people_router
from services.schedules.views import router as schedules_router

# No public /docs, /redoc or /openapi.json: every route needs a token, and the schema says
# which admin routes exist. The coordinator's token gets the schema (below).
app = FastAPI(
    title="Second-victim rapid response",
    version="0.1.0",
    lifespan=serving("api"),
    openapi_url=None,
    docs_url=None,
    redoc_url=None,
)
# The API's routers before the console's: the router tries routes in order, and the
# console's pages (none shares a path with the API) are many.
app.include_router(incidents_router)
app.include_router(twilio_router)
app.include_router(cases_router)
app.include_router(people_router)
app.include_router(schedules_router)
app.include_router(feeds_router)
app.include_router(health_router)
install_console(app)
# A token or a signature, and a body size, are checked before any body is read.
app.add_middleware(Gatekeeper)
# Outermost of ours: a page's hot requests answered in their plain case without the layers
# above (services/api_lanes.py says what they need of them and what not).
app.add_middleware(
    FastLanes,
    lanes={("POST", "/incidents"): incident_lane, ("POST", "/twilio/status"): status_lane},
)


def _unechoed(msg: str, err: Mapping[str, object]) -> str:
    """A validator's message may quote the value it refused ("'Jane Smith' is not a whole
    number"); the value is cut out here, so no route's refusal can carry it back."""
    given = err.get("input")
    if isinstance(given, str | int | float) and not isinstance(given, bool):
        text = str(given)
        if text and text in msg:
            msg = msg.replace(repr(text), "the value given")
            # Only where it stands on its own: an input of 0 turned "2026-..." in the
            # message's own example into "2the value given26-...".
            alone = rf"(?<![0-9A-Za-z]){re.escape(text)}(?![0-9A-Za-z])"
            msg = re.sub(alone, "the value given", msg)
    return msg


@app.exception_handler(RequestValidationError)
async def field_errors(request: Request, exc: RequestValidationError) -> JSONResponse:
    """A message per field, and never an echo of the input (it may hold what it must not)."""
    fields: dict[str, str] = {}
    for err in exc.errors():
        loc = [str(p) for p in err["loc"] if p not in ("body",)]
        msg = str(err["msg"])
        if err["type"] == "extra_forbidden":
            msg = (
                "not accepted: this system takes no patient details or narrative"
                if request.url.path.startswith("/incidents")
                else "not an accepted field"
            )
        fields[".".join(loc) or "body"] = _unechoed(msg.removeprefix("Value error, "), err)
    return JSONResponse(status_code=422, content={"error": "invalid request", "fields": fields})


# What a 422 from this app holds. FastAPI documents every 422 as its own HTTPValidationError
# ({"detail": [{"loc", "msg", "type"}]}), which this app never sends: field_errors (above)
# answers {"error", "fields"} with no value echoed, and a route's own refusal is
# {"detail": "why"} or {"detail": {"fields": {...}}}. A client generated from the document
# failed to read every refusal (schemathesis's response check, tests/integration/
# test_fuzz_api.py, on the first 422 it drew).
REFUSAL_SCHEMA: dict[str, object] = {
    "title": "HTTPValidationError",
    "description": "Why the request was refused: a message per field, never the value sent.",
    "type": "object",
    "properties": {
        "error": {"type": "string"},
        "fields": {"type": "object", "additionalProperties": {"type": "string"}},
        "detail": {
            "anyOf": [
                {"type": "string"},
                {
                    "type": "object",
                    "properties": {
                        "fields": {"type": "object", "additionalProperties": {"type": "string"}}
                    },
                },
            ]
        },
    },
}


def openapi_document() -> dict[str, object]:
    """The document /openapi.json serves: FastAPI's, with the 422 bodies this app sends."""
    document = get_openapi(title=app.title, version=app.version, routes=app.routes)
    schemas = document.get("components", {}).get("schemas", {})
    if "HTTPValidationError" in schemas:
        schemas["HTTPValidationError"] = REFUSAL_SCHEMA
        schemas.pop("ValidationError", None)
    return document


@app.get("/openapi.json", dependencies=[Depends(require_coordinator)], include_in_schema=False)
async def openapi_schema() -> JSONResponse:
    """The schema for the coordinator's tooling, behind the admin token."""
    return JSONResponse(openapi_document())
