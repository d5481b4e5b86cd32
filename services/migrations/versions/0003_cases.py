"""cases: transitions, deadlines, messages, escalation policies, STOP list

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 18:30:25.422134
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "escalation_policies",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("site", sa.String(length=32), nullable=True),
        sa.Column("steps", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("repeat", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_escalation_policies")),
        sa.UniqueConstraint("name", name=op.f("uq_escalation_policies_name")),
        sa.UniqueConstraint("site", name=op.f("uq_escalation_policies_site")),
    )
    op.create_table(
        "sms_opt_outs",
        sa.Column("number", sa.String(length=16), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_sms_opt_outs")),
    )
    op.create_table(
        "case_transitions",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("from_state", sa.String(length=24), nullable=False),
        sa.Column("to_state", sa.String(length=24), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["support_cases.id"],
            name=op.f("fk_case_transitions_case_id_support_cases"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_transitions")),
    )
    op.create_index(
        op.f("ix_case_transitions_case_id"), "case_transitions", ["case_id"], unique=False
    )
    op.create_table(
        "deadlines",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["support_cases.id"], name=op.f("fk_deadlines_case_id_support_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deadlines")),
    )
    op.create_index(op.f("ix_deadlines_case_id"), "deadlines", ["case_id"], unique=False)
    op.create_index(
        "ix_deadlines_due",
        "deadlines",
        ["due_at"],
        unique=False,
        postgresql_where=sa.text("fired_at IS NULL"),
    )
    op.create_table(
        "messages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("to_number", sa.String(length=16), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column(
            "not_before",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("provider_sid", sa.String(length=64), nullable=True),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["support_cases.id"], name=op.f("fk_messages_case_id_support_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
        sa.UniqueConstraint("provider_sid", name=op.f("uq_messages_provider_sid")),
    )
    op.create_index(op.f("ix_messages_case_id"), "messages", ["case_id"], unique=False)
    op.create_index(
        "ix_messages_due",
        "messages",
        ["not_before"],
        unique=False,
        postgresql_where=sa.text("state = 'queued'"),
    )
    op.create_index(op.f("ix_messages_to_number"), "messages", ["to_number"], unique=False)
    op.create_index(
        "uq_messages_pending_dedupe",
        "messages",
        ["dedupe_key"],
        unique=True,
        postgresql_where=sa.text("state IN ('queued', 'sending')"),
    )
    op.alter_column(
        "pages",
        "reason",
        existing_type=sa.VARCHAR(length=200),
        type_=sa.Text(),
        existing_nullable=False,
    )
    op.add_column(
        "support_cases",
        sa.Column("escalation_step", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column(
        "support_cases",
        sa.Column("escalation_round", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column(
        "support_cases", sa.Column("deferred_until", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "support_cases", sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("support_cases", "closed_at")
    op.drop_column("support_cases", "deferred_until")
    op.drop_column("support_cases", "escalation_round")
    op.drop_column("support_cases", "escalation_step")
    op.alter_column(
        "pages",
        "reason",
        existing_type=sa.Text(),
        type_=sa.VARCHAR(length=200),
        existing_nullable=False,
    )
    op.drop_index(
        "uq_messages_pending_dedupe",
        table_name="messages",
        postgresql_where=sa.text("state IN ('queued', 'sending')"),
    )
    op.drop_index(op.f("ix_messages_to_number"), table_name="messages")
    op.drop_index(
        "ix_messages_due", table_name="messages", postgresql_where=sa.text("state = 'queued'")
    )
    op.drop_index(op.f("ix_messages_case_id"), table_name="messages")
    op.drop_table("messages")
    op.drop_index(
        "ix_deadlines_due", table_name="deadlines", postgresql_where=sa.text("fired_at IS NULL")
    )
    op.drop_index(op.f("ix_deadlines_case_id"), table_name="deadlines")
    op.drop_table("deadlines")
    op.drop_index(op.f("ix_case_transitions_case_id"), table_name="case_transitions")
    op.drop_table("case_transitions")
    op.drop_table("sms_opt_outs")
    op.drop_table("escalation_policies")
