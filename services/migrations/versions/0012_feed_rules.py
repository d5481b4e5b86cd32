"""feed rules: the trigger rule table the coordinator edits, seeded with the defaults

Why a table: which feed records start outreach, which ask the coordinator and which are
ignored is the coordinator's call, edited in the console and kept across restarts; one row
per rule, `position` 1..n in the order the rules are read (the first that matches decides).
services.feeds.store reads and writes it; rules_from_rows checks every row it reads.

Why seeded here: a new installation starts with DEFAULT_RULES as rows, so the console shows
the table in force rather than an empty one. The seed is DEFAULT_RULES as the code has them
when this migration runs (rules_to_rows); a table a coordinator saved later is never touched
by it, because an upgrade runs once.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 16:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

from services.feeds.triggers import DEFAULT_RULES, rules_to_rows

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# Written out rather than read from Action: the constraint is what this revision made.
ACTIONS = "('start', 'ask', 'ignore')"


def upgrade() -> None:
    op.create_table(
        "feed_rules",
        sa.Column("position", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("event_types", ARRAY(sa.Text()), nullable=True),
        sa.Column("harm_levels", ARRAY(sa.Text()), nullable=True),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False, server_default=""),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("updated_by", sa.Text(), nullable=True),
        sa.CheckConstraint(f"action IN {ACTIONS}", name="action"),
        sa.CheckConstraint("position >= 1", name="position"),
    )
    rules = sa.table(
        "feed_rules",
        sa.column("position", sa.Integer()),
        sa.column("source", sa.Text()),
        sa.column("event_types", ARRAY(sa.Text())),
        sa.column("harm_levels", ARRAY(sa.Text())),
        sa.column("action", sa.Text()),
        sa.column("note", sa.Text()),
    )
    op.bulk_insert(rules, rules_to_rows(DEFAULT_RULES))


def downgrade() -> None:
    op.drop_table("feed_rules")
