"""match inputs version: a counter every change to what matching reads bumps, in the same
transaction, so a worker may keep its matching context until the counter moves

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 20:15:00
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# The roster and schedules: any write at all (imports and admin edits are rare).
ROSTER_TABLES = (
    "staff",
    "peer_supporters",
    "schedules",
    "rotations",
    "rotation_participants",
    "schedule_overrides",
)


def upgrade() -> None:
    op.execute(
        "CREATE TABLE match_inputs (one boolean PRIMARY KEY DEFAULT true CHECK (one), "
        "version bigint NOT NULL DEFAULT 0)"
    )
    op.execute("INSERT INTO match_inputs DEFAULT VALUES")
    op.execute(
        "CREATE FUNCTION bump_match_inputs() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN UPDATE match_inputs SET version = version + 1; RETURN NULL; END $$"
    )
    for table in ROSTER_TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_bump_match_inputs AFTER INSERT OR UPDATE OR DELETE "
            f"OR TRUNCATE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION bump_match_inputs()"
        )
    # Open-case counts (the case limit, a hard rule): only a page entering or leaving
    # 'accepted', or a case closing or reopening, changes them. Pages are written far more
    # often than that; the WHEN clauses keep those writes off the counter row.
    op.execute(
        "CREATE TRIGGER pages_bump_match_inputs AFTER UPDATE OF state ON pages FOR EACH ROW "
        "WHEN (OLD.state IS DISTINCT FROM NEW.state "
        "AND (OLD.state = 'accepted' OR NEW.state = 'accepted')) "
        "EXECUTE FUNCTION bump_match_inputs()"
    )
    op.execute(
        "CREATE TRIGGER support_cases_bump_match_inputs AFTER UPDATE OF state ON support_cases "
        "FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state "
        "AND (OLD.state IN ('closed', 'declined') OR NEW.state IN ('closed', 'declined'))) "
        "EXECUTE FUNCTION bump_match_inputs()"
    )


def downgrade() -> None:
    for table in (*ROSTER_TABLES, "pages", "support_cases"):
        op.execute(f"DROP TRIGGER IF EXISTS {table}_bump_match_inputs ON {table}")
    op.execute("DROP FUNCTION IF EXISTS bump_match_inputs()")
    op.execute("DROP TABLE IF EXISTS match_inputs")
