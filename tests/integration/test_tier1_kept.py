"""The worker keeps the units' Tier 1 leads beside its matching context (flows, tier1):
kept only while the store's counter says nothing they were read from changed, so a unit
given a new lead has the new lead prompted by the very next batch."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Engine

from services import clock
from services.cases import outreach
from services.config import get_settings
from services.db import transaction
from services.incidents import involvement
from services.people.matching import ContextCache
from tests.integration.sealed import opened
from tests.integration.test_agents import stored_incident
from tests.integration.test_flows import CLINICIAN, LEAD_NUMBER, close_open_cases, messages


async def open_with(cache: ContextCache, db: Engine) -> None:
    """One incident naming CLINICIAN, through the worker's batch code with its cache."""
    close_open_cases(db)
    incident = stored_incident(db, [CLINICIAN], unit="5W")
    async with transaction() as session:
        opened: list[involvement.Opened] = []
        needs = await involvement.identify_many(session, [incident], 5, events=[], opened=opened)
        await outreach.start_outreach_many(
            session, needs, get_settings(), cache, claim=False, at=clock.now(), opened=opened
        )


async def test_a_new_lead_is_prompted_by_the_next_batch(db: Engine) -> None:
    with db.connect() as conn:
        unit, lead = conn.execute(
            text(
                "SELECT u.code, u.tier1_lead_staff_id FROM units u JOIN staff s "
                "ON s.home_unit = u.code WHERE s.staff_id = :c"
            ),
            {"c": CLINICIAN},
        ).one()
        other, sealed_number = conn.execute(
            text(
                "SELECT staff_id, mobile_e164 FROM staff WHERE active AND NOT opted_out "
                "AND undeliverable_code IS NULL AND staff_id NOT IN (:c, :l) "
                "AND mobile_key NOT IN (SELECT number_key FROM sms_opt_outs) "
                "AND staff_id NOT IN (SELECT staff_id FROM peer_supporters) "
                "ORDER BY staff_id LIMIT 1"
            ),
            {"c": CLINICIAN, "l": lead},
        ).one()
    other_number = str(opened(sealed_number, "staff.mobile_e164"))
    cache = ContextCache(get_settings().match_other_unit, ttl=600)
    before = len(messages(db, to=LEAD_NUMBER))
    await open_with(cache, db)
    assert len(messages(db, to=LEAD_NUMBER)) == before + 1  # the unit's lead, kept from here
    try:
        with db.begin() as conn:
            conn.execute(
                text("UPDATE units SET tier1_lead_staff_id = :o WHERE code = :u"),
                {"o": other, "u": unit},
            )
        prompted = len(messages(db, to=other_number))
        await open_with(cache, db)
        assert len(messages(db, to=other_number)) == prompted + 1
        assert len(messages(db, to=LEAD_NUMBER)) == before + 1
    finally:
        with db.begin() as conn:
            conn.execute(
                text("UPDATE units SET tier1_lead_staff_id = :l WHERE code = :u"),
                {"l": lead, "u": unit},
            )
