"""console: people who sign in, their sessions, integration tokens, the audit log, sites with
their crisis lines, SMS templates per language, and coded contact outcomes on cases

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 04:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

ROLES = "('risk_manager', 'coordinator', 'peer', 'admin')"


def upgrade() -> None:
    # A site is where a viewer's clock and the programme's crisis line come from.
    op.create_table(
        "sites",
        sa.Column("code", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("time_zone", sa.String(64), nullable=False),
        sa.Column("crisis_line", sa.String(32), nullable=False, server_default="988"),
    )
    op.execute(
        "INSERT INTO sites (code, name, time_zone) "
        "SELECT DISTINCT ON (site) site, site, time_zone FROM units ORDER BY site, code"
    )
    op.create_table(
        "users",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("display_name", sa.String(120), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("staff_id", sa.String(32), sa.ForeignKey("staff.staff_id"), nullable=True),
        sa.Column("site", sa.String(32), sa.ForeignKey("sites.code"), nullable=True),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
        sa.CheckConstraint(f"role IN {ROLES}", name="role"),
        # A peer signs in to see their own cases: without a staff record there are none.
        sa.CheckConstraint("role <> 'peer' OR staff_id IS NOT NULL", name="peer_staff"),
        sa.CheckConstraint("username = lower(username)", name="username_lower"),
    )
    op.create_index("ix_users_staff", "users", ["staff_id"], unique=True)
    op.create_table(
        "user_sessions",
        # sha256 of the cookie value: a copy of the table signs nobody in.
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("user_id", UUID(as_uuid=True), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ip", sa.String(45), nullable=True),
    )
    op.create_index("ix_user_sessions_user", "user_sessions", ["user_id"])
    op.create_table(
        "api_tokens",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        # The first characters, shown in the console so an admin can tell tokens apart.
        sa.Column("prefix", sa.String(12), nullable=False),
        sa.Column("created_by", UUID(as_uuid=True), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(f"role IN {ROLES} AND role <> 'peer'", name="role"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("actor_kind", sa.String(8), nullable=False),
        sa.Column("actor_id", sa.String(64), nullable=False),
        sa.Column("actor_name", sa.String(120), nullable=False),
        sa.Column("actor_role", sa.String(16), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target_kind", sa.String(24), nullable=False),
        sa.Column("target_id", sa.String(64), nullable=False),
        sa.Column("ip", sa.String(45), nullable=True),
        sa.Column("detail", JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_target", "audit_log", ["target_kind", "target_id"])
    op.create_index("ix_audit_log_actor", "audit_log", ["actor_id"])
    # Append-only: what was looked at and done stays as written, whoever holds the database
    # role the application uses.
    op.execute(
        """
        CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit_log is append-only';
        END $$;
        CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE
            ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
        """
    )
    op.create_table(
        "signin_failures",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("ip", sa.String(45), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_signin_failures_username", "signin_failures", ["username", "at"])
    op.create_index("ix_signin_failures_ip", "signin_failures", ["ip", "at"])
    op.create_table(
        "sms_templates",
        sa.Column("kind", sa.String(40), primary_key=True),
        sa.Column("language", sa.String(8), primary_key=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
        sa.Column("updated_by", sa.String(64), nullable=True),
    )
    # The programme records that support happened and how it ended, by code, never what was
    # said.
    op.add_column("support_cases", sa.Column("contact_at", sa.DateTime(timezone=True)))
    op.add_column("support_cases", sa.Column("outcome", sa.String(32)))
    op.add_column("support_cases", sa.Column("close_reason", sa.String(32)))
    # Why the coordinator was told about a case: the board shows it until someone looks.
    op.create_table(
        "case_attention",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column("case_id", UUID(as_uuid=True), sa.ForeignKey("support_cases.id"), nullable=True),
        sa.Column("staff_id", sa.String(32), nullable=True),
        sa.Column("reason", sa.String(24), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cleared_by", sa.String(64), nullable=True),
    )
    op.create_index(
        "ix_case_attention_open",
        "case_attention",
        ["case_id"],
        postgresql_where=sa.text("cleared_at IS NULL"),
    )
    # The board lists open cases; closed ones (nearly all, after a year) stay out of its way.
    op.create_index(
        "ix_support_cases_open",
        "support_cases",
        ["created_at"],
        postgresql_where=sa.text("state NOT IN ('closed', 'declined')"),
    )
    # Who logged an incident ("user:<id>" or "token:<id>"): a risk manager sees their own.
    op.add_column("incidents", sa.Column("reported_by", sa.String(64)))
    op.create_index("ix_incidents_reported_by", "incidents", ["reported_by", "received_at"])


def downgrade() -> None:
    op.drop_index("ix_support_cases_open", table_name="support_cases")
    op.drop_table("case_attention")
    op.drop_index("ix_incidents_reported_by", table_name="incidents")
    op.drop_column("incidents", "reported_by")
    op.drop_column("support_cases", "close_reason")
    op.drop_column("support_cases", "outcome")
    op.drop_column("support_cases", "contact_at")
    op.drop_table("sms_templates")
    op.drop_table("signin_failures")
    op.execute("DROP TRIGGER audit_log_append_only ON audit_log")
    op.execute("DROP FUNCTION audit_log_append_only()")
    op.drop_table("audit_log")
    op.drop_table("api_tokens")
    op.drop_table("user_sessions")
    op.drop_table("users")
    op.drop_table("sites")
