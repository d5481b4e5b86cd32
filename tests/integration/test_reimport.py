"""Re-importing the directory while outreach is under way."""

from __future__ import annotations

import csv
import io
import uuid

from sqlalchemy import text
from sqlalchemy.engine import Engine

from services.db import transaction
from services.paging import service as paging
from services.paging.models import PageEvent
from services.people.importer import import_staff
from tests.integration.sealed import lookup, opened, seal
from tests.integration.test_agents import stored_incident

COLUMNS = [
    "staff_id",
    "display_name",
    "discipline",
    "role",
    "home_unit",
    "mobile",
    "language",
    "tier1_lead",
]


def current_export(
    db: Engine, changes: dict[str, str] | None = None, keep: int | None = None
) -> str:
    """Today's directory as the HR system would export it, with some numbers changed."""
    with db.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT s.staff_id, display_name, discipline, role, home_unit, mobile_e164, "
                "language, u.code IS NOT NULL AS lead FROM staff s "
                "LEFT JOIN units u ON u.tier1_lead_staff_id = s.staff_id "
                "WHERE s.active ORDER BY s.staff_id"
            )
        ).all()
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(COLUMNS)
    # A truncated export loses its tail (here the temporary staff, never the seeded people).
    for r in rows[:keep]:
        mobile = (changes or {}).get(r.staff_id) or opened(r.mobile_e164, "staff.mobile_e164")
        lead = "Y" if r.lead else ""
        w.writerow(
            [
                r.staff_id,
                r.display_name,
                r.discipline,
                r.role,
                r.home_unit,
                mobile,
                r.language,
                lead,
            ]
        )
    return out.getvalue()


def unsent_page(db: Engine, peer: str, code: str = "9") -> uuid.UUID:
    """A page requested for `peer` and not yet sent, written without events so no running
    worker races this test for it."""
    incident = stored_incident(db, ["N1001"], unit="5W")
    case_id, page_id = uuid.uuid4(), uuid.uuid4()
    with db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO support_cases (id, incident_id, staff_id, tier, state) "
                "VALUES (:c, :i, 'N1001', 2, 'peer_paged')"
            ),
            {"c": case_id, "i": incident.incident_id},
        )
        sealed = conn.execute(
            text("SELECT mobile_e164 FROM staff WHERE staff_id = :s"), {"s": peer}
        ).scalar_one()
        number = str(opened(sealed, "staff.mobile_e164"))  # each column seals its own
        conn.execute(
            text(
                "INSERT INTO pages (id, case_id, attempt, peer_staff_id, to_number, "
                "to_number_key, reply_code, reason, state) "
                "VALUES (:p, :c, 1, :s, :n, :k, :code, 'test', 'requested')"
            ),
            {
                "p": page_id,
                "c": case_id,
                "s": peer,
                "n": seal(number, "pages.to_number"),
                "k": lookup(number),
                "code": code,
            },
        )
    return page_id


async def test_phone_changed_while_a_page_is_open(db: Engine) -> None:
    page_id = unsent_page(db, "N1102")
    new_number = "+15550199999"
    try:
        async with transaction() as session:  # the nightly export changes the peer's number
            report = await import_staff(session, current_export(db, {"N1102": new_number}))
        assert report.ok and report.updated == 1, report.as_dict()
        async with transaction() as session:
            claim = await paging.claim(session, page_id, stale_after=3)
        assert claim is not None
        assert claim.to_number == new_number  # never to the number the peer gave up
        with db.connect() as conn:
            states = (
                conn.execute(
                    text("SELECT state FROM page_transitions WHERE page_id = :p ORDER BY id"),
                    {"p": page_id},
                )
                .scalars()
                .all()
            )
        assert PageEvent.renumbered in states
    finally:
        with db.begin() as conn:  # no SMS for this page, and the seed's number back
            conn.execute(text("UPDATE pages SET state = 'failed' WHERE id = :p"), {"p": page_id})
        async with transaction() as session:
            await import_staff(session, current_export(db, {"N1102": "+15550101102"}))


async def test_truncated_export_is_refused(db: Engine) -> None:
    extra = "".join(
        f"Y{i:04d},Temp {i},RN,agency nurse,5W,+1555077{i:04d},en,\n" for i in range(40)
    )
    full = current_export(db) + extra
    async with transaction() as session:
        grown = await import_staff(session, full)
    assert grown.ok and grown.added == 40
    with db.connect() as conn:
        active = conn.execute(text("SELECT count(*) FROM staff WHERE active")).scalar_one()
    # An export cut off before its end would deactivate a large part of the hospital.
    cut = max(26, int(active * 0.2) + 1)
    truncated = current_export(db, keep=active - cut)
    try:
        async with transaction() as session:
            refused = await import_staff(session, truncated)
        assert not refused.ok and not refused.applied
        assert refused.rejected[0].reason.startswith(
            f"would deactivate {cut} of {active} active staff"
        )
        with db.connect() as conn:
            still = conn.execute(text("SELECT count(*) FROM staff WHERE active")).scalar_one()
        assert still == active
        # When it really is complete, the coordinator says so and it applies.
        async with transaction() as session:
            allowed = await import_staff(session, truncated, allow_mass_deactivation=True)
        assert allowed.ok and allowed.deactivated == cut
    finally:  # everyone back for the tests after this one
        async with transaction() as session:
            await import_staff(session, full, allow_mass_deactivation=True)
