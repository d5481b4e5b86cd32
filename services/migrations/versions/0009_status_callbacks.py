"""status callbacks: stored as they arrive, applied to pages and messages in sets

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, UUID

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # No foreign keys: a signed callback may name a page or message we do not have (a
    # replay after a clean-up, a forged id in a valid form), and must still be answered
    # without a 500; the applier finds nothing to change for it.
    op.create_table(
        "status_callbacks",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column("provider_sid", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column("page_ids", ARRAY(UUID(as_uuid=True)), nullable=False, server_default="{}"),
        sa.Column("message_id", UUID(as_uuid=True), nullable=True),
        sa.Column(
            "received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recorded", sa.Boolean(), nullable=True),
    )
    # What the applier reads each round: the few rows not applied yet, in arrival order.
    op.create_index(
        "ix_status_callbacks_pending",
        "status_callbacks",
        ["id"],
        postgresql_where=sa.text("applied_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_status_callbacks_pending", table_name="status_callbacks")
    op.drop_table("status_callbacks")
