"""Twilio's webhooks under generated, properly signed forms: never a 5xx, never a trace or SQL
in the answer, and never a partial write.

tests/integration/test_webhooks.py fuzzes the same forms for "no 5xx, a real reply is
recorded"; this module adds what a request leaves in the store, whatever its answer:
- an inbound SMS is its inbound_sms row and its SmsReceived event in the outbox, both or
  neither (the worker acts on the event; a row without one is a reply nobody reads, an event
  without a row is a reply the worker cannot find), and neither when it was not answered 200;
  the same sid delivered again adds nothing; the event is a claim check on the row, keyed by
  the sender's lookup hash: neither the number nor the text is in the outbox (any version);
- a status callback is one status_callbacks row when answered 204, none otherwise (the pages
  it names are changed later by the applier, never by the request).
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.engine import Engine

from schemas.events import DeliveryStatus, SmsReceived
from schemas.topics import topic_name
from services.paging.views import storable_text
from tests.integration.fuzzing import fuzz_report, fuzz_settings, leaks, tally
from tests.integration.test_webhooks import ERROR_CODE, FORM, VALUE, post, sid, sms_forms

__all__ = ["fuzz_report"]
pytestmark = [pytest.mark.fuzz, pytest.mark.usefixtures("fuzz_report")]

# About 20 ms a request (two, for a redelivery) on the 2-core VM.
SMS_EXAMPLES = 200
STATUS_EXAMPLES = 200


def footprint(db: Engine, provider_sid: str) -> tuple[int, list[tuple[str, dict[str, Any]]]]:
    """(inbound_sms rows, SmsReceived outbox events as (key, payload)) for one Twilio sid."""
    with db.connect() as conn:
        rows = conn.execute(
            text("SELECT count(*) FROM inbound_sms WHERE provider_sid = :s"), {"s": provider_sid}
        ).scalar()
        events = conn.execute(
            text(
                "SELECT key, payload FROM outbox "
                "WHERE topic LIKE :t AND payload->>'provider_sid' = :s"
            ),
            {"t": topic_name(SmsReceived).rsplit(".", 1)[0] + ".%", "s": provider_sid},
        ).all()
    return int(rows or 0), [(k, p) for k, p in events]


def callbacks(db: Engine, provider_sid: str) -> int:
    with db.connect() as conn:
        return int(
            conn.execute(
                text("SELECT count(*) FROM status_callbacks WHERE provider_sid = :s"),
                {"s": provider_sid},
            ).scalar()
            or 0
        )


def answered(r: httpx.Response, sent: dict[str, str]) -> None:
    """What every answer must be: no 5xx, nothing of a trace or SQL in it."""
    tally["requests"] += 1
    tally[f"answers {r.status_code // 100}xx"] += 1
    assert r.status_code < 500, (r.status_code, r.text[:300])
    found = leaks(r.text, " ".join(sent.values()))
    assert not found, (r.status_code, found, r.text[:300])


@fuzz_settings(SMS_EXAMPLES)
@given(case=sms_forms(), again=st.booleans())
async def test_fuzz_inbound_sms_writes_its_row_and_event_together_or_nothing(
    client: httpx.AsyncClient, db: Engine, case: tuple[dict[str, str], bool], again: bool
) -> None:
    form, _real = case
    r = await post(client, "/twilio/sms", form)
    answered(r, form)
    if again:  # Twilio redelivers a message it got no answer for
        answered(await post(client, "/twilio/sms", form), form)
    key = form.get("MessageSid") or form.get("SmsSid") or ""
    if not key or len(key) > 64 or storable_text(key) != key:
        return  # no sid a row could carry: nothing to look up (and nothing was stored)
    rows, events = footprint(db, key)
    assert rows == len(events), (r.status_code, rows, events)
    assert rows <= 1
    if r.status_code != 200:
        assert rows == 0, (r.status_code, r.text[:300])
    for record_key, payload in events:
        # A claim check: the row's ids and the sender's lookup hash, never the number or text.
        assert payload["schema_version"] == 2 and set(payload) == set(SmsReceived.model_fields)
        assert re.fullmatch("[0-9a-f]{64}", record_key) and record_key == payload["sender"]
        assert form["From"] not in json.dumps(payload), payload


@fuzz_settings(STATUS_EXAMPLES)
@given(
    form=FORM,
    status=st.one_of(st.sampled_from([s.value for s in DeliveryStatus]), VALUE),
    error=st.one_of(st.none(), ERROR_CODE),
    query=st.sampled_from(
        ["page={page}", "pages={page},{other}", "message={other}", "pages=x", "", "page=1"]
    ),
)
async def test_fuzz_status_callback_is_one_row_when_accepted_and_none_otherwise(
    client: httpx.AsyncClient,
    db: Engine,
    form: dict[str, str],
    status: str,
    error: str | None,
    query: str,
) -> None:
    provider_sid = sid()
    form = form | {"MessageSid": provider_sid, "MessageStatus": status}
    if error is not None:
        form["ErrorCode"] = error
    # Pages nobody has: a callback is stored as it came, whichever pages it names.
    path = "/twilio/status?" + query.format(page=uuid.uuid4(), other=uuid.uuid4())
    r = await post(client, path.rstrip("?"), form)
    answered(r, form)
    stored = callbacks(db, provider_sid)
    assert stored == (1 if r.status_code == 204 else 0), (r.status_code, stored, r.text[:300])
