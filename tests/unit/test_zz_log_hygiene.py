"""Log records are scrubbed of phone numbers and message bodies whoever formats them, stdlib
or structlog, tracebacks included (services/logs.py), without a store; the engines and the
run's own logs are checked in tests/integration/test_zz_log_hygiene.py.
"""

from __future__ import annotations

import io
import logging
import sys

import pytest
import structlog

from services import logs

NUMBER = "+15550101001"  # a mobile number as the seed writes them


def test_library_log_records_are_scrubbed() -> None:
    """uvicorn's 'Exception in ASGI application' and any other stdlib record, traceback
    included, whoever formats it."""
    logs.configure("console", "warning")
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    logger = logging.getLogger("uvicorn.error")
    logger.addHandler(handler)
    try:
        try:
            raise ValueError(
                f"Key (from_number)=({NUMBER}) already exists.\n[SQL: INSERT ...]\n"
                f"[parameters: {{'from_number': '{NUMBER}', 'body': 'I can not go on'}}]"
            )
        except ValueError:
            logger.exception("Exception in ASGI application %s", NUMBER)
    finally:
        logger.removeHandler(handler)
    written = out.getvalue()
    assert "Exception in ASGI application" in written and "ValueError" in written
    assert NUMBER not in written and "can not go on" not in written
    assert NUMBER[-4:] in written  # masked, still telling two numbers apart


def test_structlog_events_are_scrubbed(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("json", "info")
    try:
        try:
            raise RuntimeError(f"insert failed for {NUMBER}")
        except RuntimeError:
            structlog.get_logger().exception("sms.failed", detail=f"to {NUMBER}")
        written = capsys.readouterr().err
    finally:  # later tests must not write into this test's captured stream
        structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=sys.__stderr__))
    assert "sms.failed" in written and NUMBER not in written
