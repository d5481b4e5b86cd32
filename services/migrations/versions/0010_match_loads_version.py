"""match inputs: open loads get a counter of their own, and units and escalation policies
join the roster's

Why: a page leaving a peer's open load (answered, passed, failed, superseded) is frequent
and bumped the same counter as the roster, so every answer made each worker reload the whole
matching context (2,000 peers, the schedules, the loads). Loads only rank (the store counts
them again under the peer's lock before any page is written), so a worker now recounts just
the loads when `loads_version` moves, and reloads the roster only when `version` does.
Units and escalation policies change rarely and are read for every batch: with their writes
on `version`, a worker keeps them with its context.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 09:40:00
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

OPEN = "('requested', 'sending', 'sent', 'delivered')"
LOADED = "('requested', 'sending', 'sent', 'delivered', 'accepted')"
REFERENCE_TABLES = ("units", "escalation_policies")


def _load_triggers(function: str) -> None:
    op.execute("DROP TRIGGER IF EXISTS pages_bump_match_inputs ON pages")
    op.execute("DROP TRIGGER IF EXISTS support_cases_bump_match_inputs ON support_cases")
    op.execute(
        "CREATE TRIGGER pages_bump_match_inputs AFTER UPDATE OF state ON pages FOR EACH ROW "
        "WHEN (OLD.state IS DISTINCT FROM NEW.state "
        f"AND (OLD.state = 'accepted' OR NEW.state = 'accepted' "
        f"OR (OLD.state IN {OPEN} AND NEW.state NOT IN {LOADED}))) "
        f"EXECUTE FUNCTION {function}()"
    )
    op.execute(
        "CREATE TRIGGER support_cases_bump_match_inputs AFTER UPDATE OF state ON support_cases "
        "FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state "
        "AND (OLD.state IN ('closed', 'declined') OR NEW.state IN ('closed', 'declined'))) "
        f"EXECUTE FUNCTION {function}()"
    )


def upgrade() -> None:
    op.execute("ALTER TABLE match_inputs ADD COLUMN loads_version bigint NOT NULL DEFAULT 0")
    op.execute(
        "CREATE FUNCTION bump_match_loads() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN UPDATE match_inputs SET loads_version = loads_version + 1; RETURN NULL; END $$"
    )
    _load_triggers("bump_match_loads")
    for table in REFERENCE_TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_bump_match_inputs AFTER INSERT OR UPDATE OR DELETE "
            f"OR TRUNCATE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION bump_match_inputs()"
        )


def downgrade() -> None:
    for table in REFERENCE_TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_bump_match_inputs ON {table}")
    _load_triggers("bump_match_inputs")
    op.execute("DROP FUNCTION IF EXISTS bump_match_loads()")
    op.execute("ALTER TABLE match_inputs DROP COLUMN loads_version")
