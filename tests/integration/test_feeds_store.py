"""The trigger rule table in the store (migration 0012, services.feeds.store): the seed is
the default table, a saved table comes back as it was saved, a table that would ignore a
death never reaches the store, an empty store still decides with the defaults, and every
save leaves one audit row that names no rule.

Each test that writes puts the stored table back as it found it (`kept_table`), so the run's
other tests meet the seeded defaults whatever order they run in."""

from __future__ import annotations

import asyncio
import importlib.util
import uuid
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from schemas.events import HarmLevel, IncidentType
from services.db import Base, sessionmaker, transaction
from services.feeds.record import Source
from services.feeds.store import AUDIT_ACTION, load_rules, save_rules
from services.feeds.triggers import (
    DEATH_EVENTS,
    DEFAULT_RULES,
    ROW_KEYS,
    Action,
    Rule,
    RulesRefused,
    rules_from_rows,
)
from services.identity.models import Role
from services.identity.principal import Principal
from tests.stack import ROOT

MIGRATION = ROOT / "services" / "migrations" / "versions" / "0012_feed_rules.py"
COLUMNS = "position, source, event_types, harm_levels, action, note, updated_at, updated_by"

CUSTOM = (
    Rule(Action.start, "a death always starts outreach", harm_levels={HarmLevel.death}),
    Rule(
        Action.start,
        "code team activations page at once",
        source=Source.code_blue,
        event_types={IncidentType.code_blue, IncidentType.rapid_response},
    ),
    Rule(Action.ask, "a death event graded lower: the coordinator looks", event_types=DEATH_EVENTS),
    Rule(Action.ask, "severe harm: the coordinator looks", harm_levels={HarmLevel.severe}),
    # Shielded by the two rules above from every record it may not ignore.
    Rule(Action.ignore, "no harm, mild harm", harm_levels={HarmLevel.none, HarmLevel.mild}),
    Rule(Action.ask),
)


def coordinator(name: str = "feeds store test") -> Principal:
    return Principal(kind="user", id=uuid.uuid4(), name=name, role=Role.coordinator)


def _stored(db: Engine) -> list[dict[str, Any]]:
    with db.connect() as conn:
        result = conn.execute(text(f"SELECT {COLUMNS} FROM feed_rules ORDER BY position"))
        return [dict(row) for row in result.mappings()]


@pytest.fixture
def kept_table(db: Engine) -> Iterator[list[dict[str, Any]]]:
    """The stored table as the test found it, put back afterwards row for row."""
    before = _stored(db)
    yield before
    with db.begin() as conn:
        conn.execute(text("DELETE FROM feed_rules"))
        if before:
            conn.execute(
                text(
                    f"INSERT INTO feed_rules ({COLUMNS}) VALUES (:position, :source, "
                    ":event_types, :harm_levels, :action, :note, :updated_at, :updated_by)"
                ),
                before,
            )


def _audit_rows(db: Engine, who: Principal) -> list[dict[str, Any]]:
    with db.connect() as conn:
        result = conn.execute(
            text(
                "SELECT action, target_kind, target_id, actor_name, detail FROM audit_log "
                "WHERE actor_id = :a ORDER BY id"
            ),
            {"a": str(who.id)},
        )
        return [dict(row) for row in result.mappings()]


def _migration() -> ModuleType:
    spec = importlib.util.spec_from_file_location("migration_0012", MIGRATION)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_migration_seeds_the_default_table_and_its_downgrade_drops_it(db: Engine) -> None:
    """Run on this run's database inside one transaction that is rolled back: whatever the
    other tests saved, the migration itself is what is tested, and nothing else sees it."""
    migration = _migration()
    with db.connect() as conn, conn.begin() as tx:
        # With the metadata's naming convention, as services/migrations/env.py runs it.
        context = MigrationContext.configure(conn, opts={"target_metadata": Base.metadata})
        with Operations.context(context):
            migration.downgrade()
            gone = conn.execute(text("SELECT to_regclass('feed_rules')")).scalar_one()
            assert gone is None
            migration.upgrade()
        result = conn.execute(text(f"SELECT {COLUMNS} FROM feed_rules ORDER BY position"))
        rows = [dict(row) for row in result.mappings()]
        for position, action, check in ((90, "page", "action"), (0, "ask", "position")):
            with pytest.raises(IntegrityError, match=f"ck_feed_rules_{check}"), conn.begin_nested():
                conn.execute(
                    text("INSERT INTO feed_rules (position, action) VALUES (:p, :a)"),
                    {"p": position, "a": action},
                )
        tx.rollback()
    assert len(rows) == len(DEFAULT_RULES)
    assert all(row["updated_by"] is None and row["updated_at"] is not None for row in rows)
    assert (
        rules_from_rows([{k: v for k, v in row.items() if k in ROW_KEYS} for row in rows])
        == DEFAULT_RULES
    )


async def test_the_run_database_starts_with_the_seeded_rows(db: Engine) -> None:
    """The seed is rows in the table (not the empty table's fallback), so the console shows
    the table in force. Order-proof: every test here that writes puts the table back."""
    assert [row["position"] for row in _stored(db)] == list(range(1, len(DEFAULT_RULES) + 1))
    async with transaction() as session:
        assert await load_rules(session) == DEFAULT_RULES


async def test_a_saved_table_loads_as_it_was_saved(db: Engine, kept_table: object) -> None:
    who = coordinator()
    async with transaction() as session:
        await save_rules(session, CUSTOM, who)
    async with transaction() as session:
        assert await load_rules(session) == CUSTOM
    rows = _stored(db)
    assert [row["position"] for row in rows] == list(range(1, len(CUSTOM) + 1))
    assert {row["updated_by"] for row in rows} == {who.name}
    assert rows[1]["source"] == "code_blue"
    assert rows[1]["event_types"] == ["code_blue", "rapid_response"]
    assert rows[4]["harm_levels"] == ["none", "mild"] and rows[4]["action"] == "ignore"
    assert rows[5]["event_types"] is None and rows[5]["harm_levels"] is None

    # A shorter table replaces the longer one whole: no row of the old one is left.
    async with transaction() as session:
        await save_rules(session, DEFAULT_RULES, who)
    async with transaction() as session:
        assert await load_rules(session) == DEFAULT_RULES
    assert len(_stored(db)) == len(DEFAULT_RULES)


async def test_a_table_that_would_ignore_a_death_is_refused_and_the_store_kept(
    db: Engine, kept_table: list[dict[str, Any]]
) -> None:
    who = coordinator()
    ignores_deaths = (
        Rule(Action.start, "code blues", event_types={IncidentType.code_blue}),
        Rule(Action.ignore, "unknown harm is noise", harm_levels={HarmLevel.unknown}),
        Rule(Action.ask),
    )
    with pytest.raises(RulesRefused) as refused:
        async with transaction() as session:
            await save_rules(session, ignores_deaths, who)
    assert [p.position for p in refused.value.problems] == [2]
    assert "would ignore a death" in str(refused.value)
    assert _stored(db) == kept_table
    assert _audit_rows(db, who) == []

    # Refused inside a transaction that goes on: nothing of the save was written in it
    # either (the check runs before any statement), so the caller may still commit.
    async with transaction() as session:
        with pytest.raises(RulesRefused):
            await save_rules(session, (), who)
        assert await load_rules(session) == DEFAULT_RULES
    assert _stored(db) == kept_table


async def test_an_empty_table_loads_as_the_defaults(db: Engine, kept_table: object) -> None:
    async with transaction() as session:
        await session.execute(text("DELETE FROM feed_rules"))
    assert _stored(db) == []
    async with transaction() as session:
        assert await load_rules(session) is DEFAULT_RULES


async def test_a_row_edited_by_hand_into_ignoring_deaths_is_refused_on_load(
    db: Engine, kept_table: object
) -> None:
    async with transaction() as session:
        await session.execute(text("UPDATE feed_rules SET action = 'ignore' WHERE position = 1"))
    async with transaction() as session:
        with pytest.raises(RulesRefused, match="rule 1: would ignore a death"):
            await load_rules(session)


async def test_each_save_writes_one_audit_row_with_the_count_only(
    db: Engine, kept_table: object
) -> None:
    who = coordinator()
    async with transaction() as session:
        await save_rules(session, CUSTOM, who)
    async with transaction() as session:
        await save_rules(session, DEFAULT_RULES, who)
    rows = _audit_rows(db, who)
    assert rows == [
        {
            "action": AUDIT_ACTION,
            "target_kind": "feed_rules",
            "target_id": "table",
            "actor_name": who.name,
            "detail": {"rules": n},
        }
        for n in (len(CUSTOM), len(DEFAULT_RULES))
    ]
    for rule in CUSTOM:
        assert not rule.note or all(rule.note not in str(row) for row in rows)


async def test_two_saves_at_once_leave_one_whole_table(db: Engine, kept_table: object) -> None:
    """The second save waits for the first's lock, then replaces its rows: the table is
    the last save's, never a mix and never a key collision."""
    first, second = coordinator("first"), coordinator("second")
    async with sessionmaker()() as held, held.begin():
        await save_rules(held, CUSTOM, first)
        waiting = asyncio.create_task(_save_alone(DEFAULT_RULES, second))
        await asyncio.sleep(0.3)
        assert not waiting.done()
    await asyncio.wait_for(waiting, 10)
    async with transaction() as session:
        assert await load_rules(session) == DEFAULT_RULES
    assert {row["updated_by"] for row in _stored(db)} == {"second"}
    assert len(_audit_rows(db, first)) == len(_audit_rows(db, second)) == 1


async def _save_alone(rules: tuple[Rule, ...], who: Principal) -> None:
    async with transaction() as session:
        await save_rules(session, rules, who)
