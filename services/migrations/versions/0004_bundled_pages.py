"""bundled pages: several pages may share one SMS; the exact text sent is kept

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 18:43:48.732108
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("pages", sa.Column("sent_body", sa.Text(), nullable=True))
    op.drop_constraint(op.f("uq_pages_provider_sid"), "pages", type_="unique")
    op.create_index(op.f("ix_pages_provider_sid"), "pages", ["provider_sid"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_pages_provider_sid"), table_name="pages")
    op.create_unique_constraint(op.f("uq_pages_provider_sid"), "pages", ["provider_sid"])
    op.drop_column("pages", "sent_body")
