"""The stand-in as one ASGI app: Twilio's Messages API, the control API, the phones page.

Why an app factory: tests run the stand-in in-process with short delays and their own
webhook URLs, the command line (cli.py) runs it under uvicorn with the configured ones.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import structlog
from fastapi import FastAPI

from .common import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, DEFAULT_SERVICE_SENDER, url_for_log
from .control import add_control_routes, control_guard
from .messages_api import add_message_routes
from .phones import add_phone_routes
from .records import StandinConfig
from .state import Standin

log = structlog.get_logger("twilio_standin")


def create_app(
    account_sid: str = DEFAULT_ACCOUNT_SID,
    auth_token: str = DEFAULT_AUTH_TOKEN,
    *,
    sms_url: str | None = None,
    status_delay: float = 0.05,
    callback_attempts: int = 5,
    callback_backoff: float = 0.25,
    callback_timeout: float = 5.0,
    service_sender: str = DEFAULT_SERVICE_SENDER,
    control_loopback_only: bool = True,
) -> FastAPI:
    config = StandinConfig(
        account_sid=account_sid,
        auth_token=auth_token,
        sms_url=sms_url,
        status_delay=status_delay,
        callback_attempts=callback_attempts,
        callback_backoff=callback_backoff,
        callback_timeout=callback_timeout,
        service_sender=service_sender,
        control_loopback_only=control_loopback_only,
    )
    state = Standin(config)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        """Webhook posting needs the running loop: it starts and stops with the server."""
        await state.start()
        log.info(
            "standin.started",
            account_sid=account_sid,
            sms_url=url_for_log(sms_url) if sms_url else None,
        )
        try:
            yield
        finally:
            await state.stop()

    app = FastAPI(
        title="Twilio stand-in",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.standin = state
    add_message_routes(app)
    add_control_routes(app)
    add_phone_routes(app, control_guard)
    return app
