"""Structured logging shared by every process.

Log lines carry case, page and incident ids so one grep follows a page end to end. They
never carry patient details, phone numbers in full, or message bodies: logs leave the
programme (to ops tooling) and peer support is confidential.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from typing import Any

import structlog


def mask_number(number: str | None) -> str:
    """Keep enough of a number to tell two apart in an incident review, no more."""
    if not number:
        return ""
    if len(number) <= 8:
        return "***"
    return f"{number[:5]}***{number[-4:]}"


# A phone number as it may appear in any text: E.164 or a bare run of 10-15 digits (what a
# DETAIL line, a URL or a repr holds). Masked wherever it appears, on error paths too.
PHONE = re.compile(r"(?<![0-9A-Za-z.-])\+?[1-9][0-9]{9,14}(?![0-9A-Za-z-])")
# psycopg's DETAIL for a key conflict or a bad value quotes the row: "Key (col)=(value)".
ROW_VALUES = re.compile(r"\)=\((?:[^()]|\([^()]*\))*\)")
# SQLAlchemy's rendering of bound parameters, should an engine ever lack hide_parameters.
SQL_PARAMS = re.compile(r"\[parameters: .*?\](?=\s*(?:\n|\(Background|$))", re.S)


def scrub(text: str) -> str:
    """Log text with phone numbers masked and quoted row values and SQL parameters dropped.

    Why: exception text is built by libraries, not by us; an insert that failed once put
    from_number, to_number and an SMS body into api.log through SQLAlchemy's error.
    """
    text = SQL_PARAMS.sub("[parameters hidden]", text)
    text = ROW_VALUES.sub(")=(hidden)", text)
    return PHONE.sub(lambda m: mask_number(m.group(0)), text)


def _scrub_value(value: object) -> object:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, BaseException):
        return scrub(repr(value))
    return value


def scrub_event(
    logger: object, method: str, event: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    """structlog processor: every string value, the rendered exception included."""
    return {k: _scrub_value(v) for k, v in event.items()}


_base_factory = logging.getLogRecordFactory()


def _scrubbed_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
    """Every stdlib record (uvicorn's 'Exception in ASGI application', faust, SQLAlchemy) is
    rendered and scrubbed as it is made, traceback included, whichever handler prints it."""
    record = _base_factory(*args, **kwargs)
    # Message and arguments scrubbed apart: formatters such as uvicorn's access log read the
    # arguments themselves.
    if isinstance(record.msg, str):
        record.msg = scrub(record.msg)
    if isinstance(record.args, tuple):
        record.args = tuple(_scrub_value(a) for a in record.args)
    elif isinstance(record.args, Mapping):
        record.args = {k: _scrub_value(v) for k, v in record.args.items()}
    if record.exc_info and record.exc_info[0] is not None:
        record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
        record.exc_info = None
    return record


def configure(fmt: str = "console", level: str = "info") -> None:
    renderer: structlog.typing.Processor
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    lvl = getattr(logging, level.upper(), logging.INFO)
    logging.setLogRecordFactory(_scrubbed_record)
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
            scrub_event,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )


log = structlog.get_logger
