"""Health and metrics, for every app that serves HTTP (the API, the feeds' own service).

Counts only: every integration token may read them, a feed's too, so a hospital's
monitoring can watch any of our processes with the token it already has.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from services.auth import require_any_token
from services.db import async_engine

router = APIRouter(dependencies=[Depends(require_any_token)])


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
