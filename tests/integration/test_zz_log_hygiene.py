"""Logs carry ids, never phone numbers or message bodies, on error paths too.

A tester found from_number, to_number and an SMS body in api.log: an insert failed and
SQLAlchemy's error text, bound parameters included, went through uvicorn's error log. The
file name starts with zz_ so that, with the `disruptive` mark (conftest sorts those last), the
scan of the run's logs comes after every other test, the broker outage included.
"""

from __future__ import annotations

import csv
import os
import time
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from services.db import async_engine, sync_engine
from tests.integration.conftest import LOGS
from tests.integration.sealed import opened
from tests.stack import ROOT, Stack, wait_for

SEED_STAFF = ROOT / "services" / "seed" / "staff.csv"
NUMBER = "+15550101001"  # N1001's mobile in the seed


def test_every_engine_hides_bound_parameters(db: Engine) -> None:
    assert async_engine().sync_engine.hide_parameters and sync_engine().hide_parameters
    # Fails on our own number's column (16 characters at most): the sealed ones are text.
    with pytest.raises(DBAPIError) as failed, sync_engine().begin() as conn:
        conn.execute(
            text(
                "INSERT INTO inbound_sms (id, provider_sid, from_number, to_number, body) "
                "VALUES (:i, :s, :f, :t, :b)"
            ),
            {"i": uuid.uuid4(), "s": "SMx", "f": NUMBER, "t": NUMBER + "99999", "b": "secret"},
        )
    assert NUMBER not in str(failed.value) and "secret" not in str(failed.value)


def _seed_numbers() -> set[str]:
    with SEED_STAFF.open() as fh:
        return {row["mobile"] for row in csv.DictReader(fh) if row["mobile"]}


def _bodies(db: Engine) -> set[str]:
    """What was sent or received in this run, long enough not to occur in a log by chance."""
    found: set[str] = set()
    with db.connect() as conn:  # each column sealed under its own name: opened one by one
        for table, column in (
            ("inbound_sms", "body"),
            ("messages", "body"),
            ("pages", "sent_body"),
        ):
            rows = conn.execute(
                text(f"SELECT DISTINCT {column} FROM {table} WHERE {column} IS NOT NULL")
            ).scalars()
            found |= {opened(b, f"{table}.{column}") or "" for b in rows}
    return {b for b in found if len(b.strip()) >= 16}


@pytest.mark.disruptive
def test_no_phone_number_or_message_body_in_any_log(stack: Stack, db: Engine) -> None:
    # Traffic of its own, so the scan means something when run alone: the inbound forms that
    # failed inside an insert (a From over 16 characters) and a real reply.
    body = f"log hygiene check {uuid.uuid4().hex[:8]}: I am not ok"
    for sender in (NUMBER + "12345678", "whatsapp:" + NUMBER, NUMBER):
        httpx.post(
            f"{stack.standin_url}/_standin/inbound",
            json={"from": sender, "to": "+15005550006", "body": body},
            timeout=30,
        )
    wait_for(lambda: body in _bodies(db), 20, "the reply stored")
    time.sleep(2)  # the worker handles the reply and logs what it logs
    started = os.stat(f"/proc/{os.getpid()}").st_ctime
    files = [p for p in Path(LOGS).glob("*.log") if p.stat().st_mtime >= started]
    assert files, f"no log written by this run under {LOGS}"
    numbers = _seed_numbers()
    needles = {n: f"phone number ending {n[-4:]}" for n in numbers}
    needles |= {n[2:]: f"phone number ending {n[-4:]} (national digits)" for n in numbers}
    needles |= {b: f"message body starting {b[:12]!r}" for b in _bodies(db)}
    found = [
        f"{path.name}: {what}"
        for path in files
        for needle, what in needles.items()
        if needle in path.read_text(errors="replace")
    ]
    assert not found, "in the logs of this run:\n" + "\n".join(sorted(set(found)))
