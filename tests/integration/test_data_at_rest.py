"""Data at rest on the real PostgreSQL (docs/data-at-rest.md): a store migrated from plaintext
is sealed, a whole conversation leaves no number and no reply text in the clear, and a key
rotation moves every row to the new keys while the product still finds numbers.

Migration and rotation run in a database of their own: rotating the run's shared database
would reseal every other test's rows under keys its stack does not hold.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import psycopg
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from services.cases import outbound
from services.cases.models import Message
from services.cases.outbound import Unreachable, unreachable
from services.cli import MIGRATIONS
from services.keys import rotate
from services.paging.models import OPEN_STATES as OPEN_PAGE_STATES
from services.paging.models import InboundSms, PageState
from services.people.models import Staff
from services.sealing import Keyring, attach, default_keyring
from tests.integration.phi_scan import scan_store, scan_topics
from tests.integration.wards import make_ward
from tests.stack import Stack, wait_for

OUR_NUMBER = "+15005550006"  # the product's own Twilio number: not a person's
NUMBER = re.compile(r"\+\d{8,15}")


def alembic_to(url: str, revision: str, down: bool = False) -> None:
    cfg = Config(str(MIGRATIONS / "alembic.ini"))
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.cmd_opts = argparse.Namespace(x=[f"url={url}"])
    (command.downgrade if down else command.upgrade)(cfg, revision)


@pytest.fixture
def own_db() -> Iterator[str]:
    """A fresh database beside the run's, dropped afterwards."""
    base, name = os.environ["DATABASE_URL"].rsplit("/", 1)
    mine = f"{name}_seal_{uuid.uuid4().hex[:6]}"
    admin = f"{base}/{name}".replace("+psycopg", "")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{mine}"')
    try:
        yield f"{base}/{mine}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{mine}" WITH (FORCE)')


CLINICIAN, PEER, STOPPED = "+15550142001", "+15550142002", "+15550142003"
REPLY = "the night was hard, call me tomorrow please"


def _plaintext_store(url: str) -> None:
    """What a store held before 0016: a unit, two staff, a STOP, an inbound SMS, a message."""
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO units (code, name, site, time_zone, active) "
                "VALUES ('SEAL', 'Sealing', 'main', 'America/New_York', true)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO staff (staff_id, display_name, discipline, role, home_unit, "
                "mobile_e164, language, opted_out, active) VALUES "
                "('S1', 'Sam One', 'RN', '', 'SEAL', :a, 'en', false, true), "
                "('S2', 'Sam Two', 'RN', '', 'SEAL', :b, 'en', false, true)"
            ),
            {"a": CLINICIAN, "b": PEER},
        )
        conn.execute(text("INSERT INTO sms_opt_outs (number) VALUES (:n)"), {"n": STOPPED})
        conn.execute(
            text(
                "INSERT INTO inbound_sms (id, provider_sid, from_number, to_number, body) "
                "VALUES (:i, 'SM1', :f, :t, :b)"
            ),
            {"i": uuid.uuid4(), "f": CLINICIAN, "t": OUR_NUMBER, "b": REPLY},
        )
        conn.execute(
            text(
                "INSERT INTO messages (id, kind, to_number, body, dedupe_key, state) "
                "VALUES (:i, 'peer_details', :n, :b, :k, 'queued')"
            ),
            {
                "i": uuid.uuid4(),
                "n": PEER,
                "b": f"Sam can be reached at {CLINICIAN}",
                "k": f"peer_details:None:{PEER}:x",
            },
        )
    engine.dispose()


def _clear_hits(url: str) -> list[str]:
    engine = create_engine(url)
    hits = scan_store(engine, [CLINICIAN, PEER, STOPPED, REPLY])
    engine.dispose()
    return sorted(f"{t}: {h}" for t, found in hits.items() for h in found)


def _sealed_under(url: str) -> set[str]:
    """The key ids of every sealed value in the store."""
    engine = create_engine(url)
    with engine.connect() as conn:
        values = conn.execute(
            text(
                "SELECT mobile_e164 FROM staff UNION ALL SELECT number FROM sms_opt_outs "
                "UNION ALL SELECT from_number FROM inbound_sms UNION ALL SELECT body FROM "
                "inbound_sms UNION ALL SELECT to_number FROM messages UNION ALL SELECT body "
                "FROM messages"
            )
        ).scalars()
        kids = {v.split(".")[1] for v in values}
    engine.dispose()
    return kids


async def _finds(url: str, keys: Keyring) -> tuple[str | None, Unreachable | None, int, str]:
    """What the product finds by number under `keys`: the clinician's staff id, why the
    stopped number may not be texted, the clinician's inbound SMS, the peer's message."""
    engine = create_async_engine(url)
    attach(engine, keys)
    try:
        async with async_sessionmaker(engine)() as session:
            staff = await session.scalar(
                select(Staff.staff_id).where(Staff.mobile_key == CLINICIAN)
            )
            why = (await unreachable(session, [STOPPED])).get(STOPPED)
            inbound = len(
                (
                    await session.scalars(
                        select(InboundSms.body).where(InboundSms.from_number_key == CLINICIAN)
                    )
                ).all()
            )
            body = await session.scalar(select(Message.body).where(Message.to_number_key == PEER))
            return staff, why, inbound, str(body)
    finally:
        await engine.dispose()


def test_a_plaintext_store_is_sealed_by_its_migration_and_rotates(own_db: str) -> None:
    alembic_to(own_db, "0015")
    _plaintext_store(own_db)
    assert len(_clear_hits(own_db)) >= 4  # the scan sees them before

    alembic_to(own_db, "head")
    assert _clear_hits(own_db) == []
    current = default_keyring()
    assert _sealed_under(own_db) == {current.current}
    assert asyncio.run(_finds(own_db, current)) == (
        "S1",
        Unreachable.stop,
        1,
        f"Sam can be reached at {CLINICIAN}",
    )

    # A new data key in front, and a new lookup key: rotate, then drop the old data keys.
    new = Keyring((("r9", os.urandom(32)), *current.data), os.urandom(32))
    engine = create_engine(own_db)
    with engine.connect() as conn:
        assert sum(rotate(conn, new, dry_run=True).values()) > 0
        changed = rotate(conn, new)
        assert changed["staff"] == 2 and changed["sms_opt_outs"] == 1
        assert changed["inbound_sms"] == 1 and changed["messages"] == 1
        assert changed["messages.dedupe_key"] == 1
        assert sum(rotate(conn, new, dry_run=True).values()) == 0  # nothing left
        key = conn.execute(text("SELECT dedupe_key FROM messages")).scalar_one()
    engine.dispose()
    assert key == f"peer_details:None:{new.lookup(PEER)}:x"
    assert _sealed_under(own_db) == {"r9"}
    only_new = Keyring((new.data[0],), new.lookup_key)
    assert asyncio.run(_finds(own_db, only_new)) == (
        "S1",
        Unreachable.stop,
        1,
        f"Sam can be reached at {CLINICIAN}",
    )
    # Under the old lookup key the product would find nothing: the rotation did recompute.
    assert asyncio.run(_finds(own_db, Keyring(new.data, current.lookup_key)))[0] is None


def test_the_migration_down_gives_the_plaintext_back(own_db: str) -> None:
    alembic_to(own_db, "0015")
    _plaintext_store(own_db)
    alembic_to(own_db, "head")
    alembic_to(own_db, "0015", down=True)
    engine = create_engine(own_db)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT number FROM sms_opt_outs")).scalar_one() == STOPPED
        assert set(conn.execute(text("SELECT mobile_e164 FROM staff")).scalars()) == {
            CLINICIAN,
            PEER,
        }
        assert conn.execute(text("SELECT body FROM inbound_sms")).scalar_one() == REPLY
        assert (
            conn.execute(text("SELECT dedupe_key FROM messages")).scalar_one()
            == f"peer_details:None:{PEER}:x"
        )
    engine.dispose()


def _standin(stack: Stack, to: str) -> list[dict[str, object]]:
    msgs = httpx.get(f"{stack.standin_url}/_standin/messages").json()
    return [m for m in msgs if m.get("to") == to]


def _inbound(stack: Stack, sender: str, body: str) -> None:
    r = httpx.post(
        f"{stack.standin_url}/_standin/inbound",
        json={"from": sender, "to": OUR_NUMBER, "body": body},
    )
    assert r.json()["status"] == 200, r.text


def test_a_whole_conversation_leaves_no_number_or_reply_in_the_clear(
    stack: Stack, db: Engine, topics: list[str]
) -> None:
    """An incident, its page, the peer's accept, the peer-details message and the clinician's
    own words: then every table (outbox and dead letters included) and every topic of the
    run is read for any phone number and for the words, in the clear."""
    ward = make_ward(db, "seal", staff=1)
    (clinician_id,) = ward.staff
    with db.connect() as conn:
        sealed = conn.execute(
            text("SELECT mobile_e164 FROM staff WHERE staff_id = :s"), {"s": clinician_id}
        ).scalar_one()
    clinician = default_keyring().open(sealed, "staff.mobile_e164")
    body = {
        "occurred_at": datetime.now(UTC).isoformat(),
        "unit": ward.unit,
        "event_type": "unexpected_death",
        "harm_level": "death",
        "staff_ids": [clinician_id],
    }
    with stack.client() as c:
        r = c.post("/incidents", json=body)
    assert r.status_code == 202, r.text
    incident = r.json()["incident_id"]

    def first_page() -> tuple[str, str, str | None, str] | None:
        with db.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT p.id, p.to_number, p.peer_staff_id, p.reply_code FROM pages p "
                    "JOIN support_cases c "
                    "ON c.id = p.case_id WHERE c.incident_id = :i AND p.sent_at IS NOT NULL"
                ),
                {"i": incident},
            ).first()
        return None if row is None else (str(row[0]), str(row[1]), row[2], str(row[3]))

    page_id, sealed_to, peer_id, code = wait_for(first_page, 30, "the first page sent")
    peer = default_keyring().open(sealed_to, "pages.to_number")
    sms = wait_for(
        lambda: [m for m in _standin(stack, peer) if f"page={page_id}" in str(m)], 20, "page"
    )
    # This page's own code from the store: late in a full run a peer's SMS bundles pages of
    # other tests' cases, and the first code in its text may be another case's.
    assert sms
    _inbound(stack, peer, f"{code}A")  # the peer (or the coordinator) accepts
    words = f"honestly I keep seeing it {uuid.uuid4().hex[:6]}"
    _inbound(stack, clinician, words)  # the clinician writes in their own words
    if peer_id is not None:
        # Late in a full run every peer may be at their case limit, and the coordinator is
        # paged instead: the peer-details message is then not this test's to see.
        def answered() -> str | None:
            with db.connect() as conn:
                state = conn.execute(
                    text("SELECT state FROM pages WHERE id = :p"), {"p": page_id}
                ).scalar_one()
            return None if state in OPEN_PAGE_STATES else str(state)

        assert wait_for(answered, 30, "the peer's answer applied") == PageState.accepted
        # The seeded peers take every earlier test's pages and details: this peer may have
        # had their minute's urgent SMS already, and the per-number limit rightly holds the
        # details until that minute is over (services.cases.outbound), at most a minute and
        # a look later.
        limit_s = (outbound.WINDOW + outbound.HELD_FOR).total_seconds()
        try:
            wait_for(
                lambda: any(clinician in str(m["body"]) for m in _standin(stack, peer)),
                limit_s + 20,
                "the peer-details message",
            )
        except AssertionError as timed_out:
            with db.connect() as conn:
                held = conn.execute(
                    text(
                        "SELECT m.state, m.created_at, m.not_before, m.sent_at FROM messages m "
                        "JOIN support_cases c ON c.id = m.case_id "
                        "WHERE c.incident_id = :i AND m.kind = 'peer_details'"
                    ),
                    {"i": incident},
                ).all()
            raise AssertionError(f"{timed_out}; the store holds {held}") from None

    def handled() -> bool:
        with db.connect() as conn:
            return not conn.execute(
                text(
                    "SELECT 1 FROM inbound_sms WHERE handled_at IS NULL AND "
                    "from_number_key IN (:a, :b)"
                ),
                {"a": default_keyring().lookup(peer), "b": default_keyring().lookup(clinician)},
            ).first()

    wait_for(handled, 30, "both replies handled")

    in_store = scan_store(db, [clinician, peer, words])
    assert in_store == {}, f"in the clear in the store: {in_store}"
    numbers: dict[str, list[str]] = {}
    with db.connect() as conn:
        tables = conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
        ).scalars()
        for table in list(tables):
            rows = "\n".join(conn.execute(text(f'SELECT t::text FROM "{table}" t')).scalars())
            if found := set(NUMBER.findall(rows)) - {OUR_NUMBER}:
                numbers[table] = sorted(found)
    assert numbers == {}, f"phone numbers in the clear: {numbers}"
    prefix = os.environ.get("SVRR_TOPIC_PREFIX", "")
    read, on_topics = scan_topics(prefix, [clinician, peer, words])
    assert read > 0
    assert on_topics == {}, f"on the topics: {on_topics}"
