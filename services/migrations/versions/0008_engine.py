"""engine: a small partial index for the outreach sweep

Cases opened and not yet paged (a confirmation in the console) are found by the worker's
sweep every half second; the index holds only those rows, so an idle sweep costs nothing.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_support_cases_identified",
        "support_cases",
        ["created_at"],
        postgresql_where=sa.text("state = 'identified'"),
    )


def downgrade() -> None:
    op.drop_index("ix_support_cases_identified", table_name="support_cases")
