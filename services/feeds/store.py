"""The trigger rule table in the store: read it for every feed record, replace it on save.

Why here and not in triggers.py: the rules themselves are pure (checked, decided, turned into
rows without a database); this module is the one place that reads and writes `feed_rules`
(migration 0012), so what is stored is always what `check_rules` accepted and what is read
is always what `rules_from_rows` accepts.

Both functions take the caller's session and run in its transaction: a save commits with
its audit row or not at all, and a reader sees one whole table, never half of a save.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.feeds.triggers import (
    DEFAULT_RULES,
    Rule,
    check_rules,
    rules_from_rows,
    rules_to_rows,
)
from services.identity import audit
from services.identity.principal import Principal

SELECT = text(
    "SELECT position, source, event_types, harm_levels, action, note "
    "FROM feed_rules ORDER BY position"
)
# SHARE ROW EXCLUSIVE conflicts with itself and with every write, not with plain reads: two
# saves run one after the other (the second replaces the first's rows whole, where without
# the lock its DELETE would miss the first's new rows and its INSERT would collide with
# them), and a reader is never kept waiting by a save.
LOCK = text("LOCK TABLE feed_rules IN SHARE ROW EXCLUSIVE MODE")
DELETE = text("DELETE FROM feed_rules")
INSERT = text(
    "INSERT INTO feed_rules "
    "(position, source, event_types, harm_levels, action, note, updated_at, updated_by) "
    "VALUES (:position, :source, CAST(:event_types AS text[]), CAST(:harm_levels AS text[]), "
    ":action, :note, now(), :updated_by)"
)
AUDIT_ACTION = "feed_rules.saved"


async def load_rules(session: AsyncSession) -> tuple[Rule, ...]:
    """The stored table in position order, checked by `rules_from_rows` (a row edited
    outside the console that would lose a record or ignore a death raises RulesRefused
    rather than being trusted).

    An empty table gives DEFAULT_RULES: a fresh store, or one whose rows were removed by
    hand, must never drop a feed's death because nobody saved rules yet. (A save cannot
    empty the table: `check_rules` refuses an empty one.)"""
    result = await session.execute(SELECT)
    rows = [dict(row) for row in result.mappings()]
    if not rows:
        return DEFAULT_RULES
    return rules_from_rows(rows)


async def save_rules(session: AsyncSession, rules: Sequence[Rule], who: Principal) -> None:
    """Replace the stored table with `rules`, in the caller's transaction, and write one
    audit row for the save.

    `check_rules` runs before anything is written, so a table that could lose a record or
    ignore a death raises RulesRefused with the stored table exactly as it was. Every row is
    replaced, not merged: positions are the rules' order, and a table is only meaningful
    whole. The audit row names who saved and how many rules, never the rules' text: the
    audit log is read by administrators, and notes are the coordinator's words."""
    table = check_rules(rules)
    await session.execute(LOCK)
    await session.execute(DELETE)
    rows = [row | {"updated_by": who.name} for row in rules_to_rows(table)]
    await session.execute(INSERT, rows)
    await audit.record(session, who, AUDIT_ACTION, "feed_rules", "table", {"rules": len(table)})
