"""Run the Twilio stand-in from the command line (deploy/twilio_standin.py calls main).

Settings come from flags or the same environment variables the product reads, so the demo,
docker-compose and the tests' stack start it alike.
"""

from __future__ import annotations

import argparse
import os

import uvicorn

from .app import create_app
from .common import ACCOUNT_SID_RE, DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, DEFAULT_SERVICE_SENDER


def configure_logging(fmt: str, level: str) -> None:
    """The product's own set-up, so stand-in lines sit next to product lines."""
    from services.logs import configure

    configure(fmt, level)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    env = os.environ
    parser = argparse.ArgumentParser(
        description="A local stand-in for the slice of Twilio's Messages API the product uses."
    )
    parser.add_argument("--host", default=env.get("STANDIN_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(env.get("STANDIN_PORT", "8765")))
    parser.add_argument("--account-sid", default=env.get("TWILIO_ACCOUNT_SID", DEFAULT_ACCOUNT_SID))
    parser.add_argument("--auth-token", default=env.get("TWILIO_AUTH_TOKEN", DEFAULT_AUTH_TOKEN))
    parser.add_argument(
        "--sms-url",
        default=env.get("STANDIN_SMS_URL") or None,
        help="product's inbound SMS webhook, e.g. http://127.0.0.1:8000/twilio/sms",
    )
    parser.add_argument(
        "--status-delay",
        type=float,
        default=float(env.get("STANDIN_STATUS_DELAY", "0.05")),
        help="seconds before each status step (queued->sent->delivered)",
    )
    parser.add_argument(
        "--callback-attempts", type=int, default=int(env.get("STANDIN_CALLBACK_ATTEMPTS", "5"))
    )
    parser.add_argument(
        "--callback-backoff",
        type=float,
        default=float(env.get("STANDIN_CALLBACK_BACKOFF", "0.25")),
        help="first retry delay in seconds; doubles each attempt",
    )
    parser.add_argument(
        "--service-sender",
        default=env.get("STANDIN_SERVICE_SENDER", DEFAULT_SERVICE_SENDER),
        help="From number used for messages sent with a MessagingServiceSid",
    )
    parser.add_argument("--log-format", default=env.get("LOG_FORMAT", "console"))
    parser.add_argument("--log-level", default=env.get("LOG_LEVEL", "info"))
    args = parser.parse_args(argv)
    if not ACCOUNT_SID_RE.match(args.account_sid):
        parser.error("--account-sid must be 'AC' followed by 32 lowercase hex characters")
    if not args.auth_token:
        parser.error("--auth-token must not be empty")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    configure_logging(args.log_format, args.log_level)
    app = create_app(
        args.account_sid,
        args.auth_token,
        sms_url=args.sms_url,
        status_delay=args.status_delay,
        callback_attempts=args.callback_attempts,
        callback_backoff=args.callback_backoff,
        service_sender=args.service_sender,
    )
    # Access logs would print query strings holding full phone numbers, so they stay off.
    # uvicorn takes uvloop and httptools when they are installed (its "auto"): they halve
    # the stand-in's CPU per SMS (benchmarks/standin.py).
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        access_log=False,
        # Never behind a proxy; reading forwarded headers is work on every request.
        proxy_headers=False,
        log_level=args.log_level.lower(),
        timeout_graceful_shutdown=2,
        # Longer than aiohttp's 15 s pool idle time, as real APIs keep connections: with
        # uvicorn's 5 s default a client reusing an idle connection races the close.
        timeout_keep_alive=75,
    )
