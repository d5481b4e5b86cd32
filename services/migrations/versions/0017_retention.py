"""retention: a closed case's identifying data purged after the retention period

Why a column: the purge (services/retention.py) walks closed cases not yet purged; with
`details_purged_at` it takes each once, and the partial index holds only cases closed and not
purged (the last period's), so a run reads no history. The other partial indexes hold only
the rows that still carry a number or a text where a rule looks for them: a purge run reads
what it may change, not the whole table.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30 20:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

INBOUND_HELD = "from_number IS NOT NULL OR from_number_key IS NOT NULL OR body IS NOT NULL"
MESSAGE_HELD = "to_number IS NOT NULL OR to_number_key IS NOT NULL OR body IS NOT NULL"


def upgrade() -> None:
    op.add_column("support_cases", sa.Column("details_purged_at", sa.DateTime(timezone=True)))
    op.create_index(
        "ix_support_cases_purge_due",
        "support_cases",
        ["id"],
        postgresql_where=sa.text("closed_at IS NOT NULL AND details_purged_at IS NULL"),
    )
    op.create_index(
        "ix_inbound_sms_body_kept",
        "inbound_sms",
        ["id"],
        postgresql_where=sa.text("body IS NOT NULL"),
    )
    op.create_index(
        "ix_inbound_sms_unlinked_held",
        "inbound_sms",
        ["id"],
        postgresql_where=sa.text(f"page_id IS NULL AND ({INBOUND_HELD})"),
    )
    op.create_index(
        "ix_messages_unlinked_held",
        "messages",
        ["id"],
        postgresql_where=sa.text(f"case_id IS NULL AND ({MESSAGE_HELD})"),
    )


def downgrade() -> None:
    op.drop_index("ix_messages_unlinked_held", "messages")
    op.drop_index("ix_inbound_sms_unlinked_held", "inbound_sms")
    op.drop_index("ix_inbound_sms_body_kept", "inbound_sms")
    op.drop_index("ix_support_cases_purge_due", "support_cases")
    op.drop_column("support_cases", "details_purged_at")
