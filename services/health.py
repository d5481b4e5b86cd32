"""What every app that serves HTTP shares (the API, the feeds' own service): its start and
stop, health and metrics.

Counts only: every integration token may read them, a feed's too, so a hospital's
monitoring can watch any of our processes with the token it already has.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from services import logs
from services.auth import require_any_token
from services.config import get_settings
from services.db import async_engine, close_raw_pools, transaction
from services.identity.users import bootstrap
from services.outbox import Relay

router = APIRouter(dependencies=[Depends(require_any_token)])


def serving(relay: str) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """An app's lifespan: logging configured, the environment's bootstrap (the first
    administrator, integration tokens), and an outbox relay named `relay`, so what the app
    stores reaches Kafka whichever of our processes is up (one relay publishes at a time)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings = get_settings()
        logs.configure(settings.log_format, settings.log_level)
        async with transaction() as session:
            await bootstrap(session, settings)
        publisher = Relay(settings.database_url, settings.kafka_bootstrap_servers, name=relay)
        task = asyncio.create_task(publisher.run())
        try:
            yield
        finally:
            publisher.stop()
            await task
            await close_raw_pools()
            await async_engine().dispose()

    return lifespan


@router.get("/healthz")
async def healthz() -> dict[str, object]:
    async with async_engine().connect() as conn:
        pending = await conn.scalar(text("SELECT count(*) FROM outbox WHERE published_at IS NULL"))
    return {"ok": True, "outbox_pending": int(pending or 0)}


# response_class: the document says text/plain, as Prometheus's exposition format is (it said
# application/json, FastAPI's default, found by tests/integration/test_fuzz_api.py).
@router.get("/metrics", response_class=PlainTextResponse)
async def metrics() -> PlainTextResponse:
    return PlainTextResponse(generate_latest().decode(), media_type=CONTENT_TYPE_LATEST)
