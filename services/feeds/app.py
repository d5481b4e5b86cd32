"""The feeds' HTTP routes as a service of their own: `svrr feed http`.

Why a second app: a hospital may put the endpoint its EHR, incident-reporting and code-team
systems post to on another host or network than the console (often an interface DMZ), or
scale and restart it apart from the API the risk managers and coordinators use. This app
serves only the feed routes (services/feeds/views.py), health and metrics, behind the same
gate (a token before any body is read, size caps), and runs its own outbox relay so the
incidents it stores reach Kafka even when the API is down (one relay publishes at a time:
services.outbox). The main API serves the same routes; a hospital uses either or both.
"""

from __future__ import annotations

from fastapi import FastAPI

from services.auth import Gatekeeper
from services.feeds.views import router as feeds_router
from services.health import router as health_router
from services.health import serving

app = FastAPI(
    title="Second-victim rapid response: incident feeds",
    version="0.1.0",
    lifespan=serving("feeds"),
    openapi_url=None,
    docs_url=None,
    redoc_url=None,
)
app.include_router(feeds_router)
app.include_router(health_router)
app.add_middleware(Gatekeeper)
