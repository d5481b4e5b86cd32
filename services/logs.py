"""Structured logging shared by every process.

Log lines carry case, page and incident ids so one grep follows a page end to end. They
never carry patient details, phone numbers in full, or message bodies: logs leave the
programme (to ops tooling) and peer support is confidential.
"""

from __future__ import annotations

import logging
import sys

import structlog


def mask_number(number: str | None) -> str:
    """Keep enough of a number to tell two apart in an incident review, no more."""
    if not number:
        return ""
    if len(number) <= 8:
        return "***"
    return f"{number[:5]}***{number[-4:]}"


def configure(fmt: str = "console", level: str = "info") -> None:
    renderer: structlog.typing.Processor
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    lvl = getattr(logging, level.upper(), logging.INFO)
    logging.basicConfig(level=max(lvl, logging.WARNING), stream=sys.stderr, format="%(message)s")
    # The twilio client logs every request line at INFO, query strings (phone numbers) included.
    logging.getLogger("twilio").setLevel(logging.WARNING)
    logging.getLogger("twilio.http_client").setLevel(logging.WARNING)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )


log = structlog.get_logger
