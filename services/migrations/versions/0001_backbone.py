"""backbone: incidents, staff, cases, pages, outbox

Revision ID: 0001
Revises:
Create Date: 2026-11-22 17:44:06.781990
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("topic", sa.String(length=80), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letters")),
    )
    op.create_table(
        "incidents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("incident_key", sa.String(length=64), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("event_type", sa.String(length=40), nullable=False),
        sa.Column("harm_level", sa.String(length=16), nullable=False),
        sa.Column("staff_ids", sa.ARRAY(sa.String(length=32)), nullable=False),
        sa.Column("reporter_ref", sa.String(length=64), nullable=True),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
        sa.UniqueConstraint("incident_key", name=op.f("uq_incidents_incident_key")),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("topic", sa.String(length=80), nullable=False),
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    op.create_index(
        "ix_outbox_unpublished",
        "outbox",
        ["id"],
        unique=False,
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.create_table(
        "staff",
        sa.Column("staff_id", sa.String(length=32), nullable=False),
        sa.Column("display_name", sa.String(length=120), nullable=False),
        sa.Column("discipline", sa.String(length=40), nullable=False),
        sa.Column("home_unit", sa.String(length=32), nullable=False),
        sa.Column("mobile_e164", sa.String(length=16), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("staff_id", name=op.f("pk_staff")),
    )
    op.create_table(
        "peer_supporters",
        sa.Column("staff_id", sa.String(length=32), nullable=False),
        sa.Column("trained_until", sa.Date(), nullable=False),
        sa.Column("on_call", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("max_open_cases", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff.staff_id"], name=op.f("fk_peer_supporters_staff_id_staff")
        ),
        sa.PrimaryKeyConstraint("staff_id", name=op.f("pk_peer_supporters")),
    )
    op.create_table(
        "support_cases",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("staff_id", sa.String(length=32), nullable=False),
        sa.Column("tier", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_support_cases_incident_id_incidents")
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff.staff_id"], name=op.f("fk_support_cases_staff_id_staff")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_cases")),
        sa.UniqueConstraint("incident_id", "staff_id", name=op.f("uq_support_cases_incident_id")),
    )
    op.create_index(
        op.f("ix_support_cases_incident_id"), "support_cases", ["incident_id"], unique=False
    )
    op.create_table(
        "pages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("peer_staff_id", sa.String(length=32), nullable=True),
        sa.Column("to_number", sa.String(length=16), nullable=False),
        sa.Column("reply_code", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("provider_sid", sa.String(length=64), nullable=True),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column(
            "requested_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["support_cases.id"], name=op.f("fk_pages_case_id_support_cases")
        ),
        sa.ForeignKeyConstraint(
            ["peer_staff_id"], ["staff.staff_id"], name=op.f("fk_pages_peer_staff_id_staff")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pages")),
        sa.UniqueConstraint("case_id", "attempt", name=op.f("uq_pages_case_id")),
        sa.UniqueConstraint("provider_sid", name=op.f("uq_pages_provider_sid")),
    )
    op.create_index(op.f("ix_pages_case_id"), "pages", ["case_id"], unique=False)
    op.create_index(op.f("ix_pages_to_number"), "pages", ["to_number"], unique=False)
    # The sweep looks only at pages in flight; keep that scan small however many pages exist.
    op.create_index(
        "ix_pages_in_flight",
        "pages",
        ["state"],
        unique=False,
        postgresql_where=sa.text("state IN ('requested', 'sending')"),
    )
    op.create_table(
        "inbound_sms",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("provider_sid", sa.String(length=64), nullable=False),
        sa.Column("from_number", sa.String(length=16), nullable=False),
        sa.Column("to_number", sa.String(length=16), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("page_id", sa.Uuid(), nullable=True),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["page_id"], ["pages.id"], name=op.f("fk_inbound_sms_page_id_pages")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_sms")),
        sa.UniqueConstraint("provider_sid", name=op.f("uq_inbound_sms_provider_sid")),
    )
    op.create_index(
        op.f("ix_inbound_sms_from_number"), "inbound_sms", ["from_number"], unique=False
    )
    op.create_table(
        "page_transitions",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("page_id", sa.Uuid(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(
            ["page_id"], ["pages.id"], name=op.f("fk_page_transitions_page_id_pages")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_page_transitions")),
    )
    op.create_index(
        op.f("ix_page_transitions_page_id"), "page_transitions", ["page_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_page_transitions_page_id"), table_name="page_transitions")
    op.drop_table("page_transitions")
    op.drop_index(op.f("ix_inbound_sms_from_number"), table_name="inbound_sms")
    op.drop_table("inbound_sms")
    op.drop_index("ix_pages_in_flight", table_name="pages")
    op.drop_index(op.f("ix_pages_to_number"), table_name="pages")
    op.drop_index(op.f("ix_pages_case_id"), table_name="pages")
    op.drop_table("pages")
    op.drop_index(op.f("ix_support_cases_incident_id"), table_name="support_cases")
    op.drop_table("support_cases")
    op.drop_table("peer_supporters")
    op.drop_table("staff")
    op.drop_index(
        "ix_outbox_unpublished",
        table_name="outbox",
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.drop_table("outbox")
    op.drop_table("incidents")
    op.drop_table("dead_letters")
