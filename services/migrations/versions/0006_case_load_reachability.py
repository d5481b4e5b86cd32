"""case load and reachability: numbers that cannot receive SMS, one Tier 1 prompt per lead
per incident, message priority, and match_inputs bumps for open pages and STOP/START

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 02:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

OPEN = "('requested', 'sending', 'sent', 'delivered')"
LOADED = "('requested', 'sending', 'sent', 'delivered', 'accepted')"


def upgrade() -> None:
    # A number the carrier says cannot take SMS (landline, invalid): kept on the person, with
    # the code and when, until the directory gives them another number.
    op.add_column("staff", sa.Column("undeliverable_code", sa.Integer(), nullable=True))
    op.add_column("staff", sa.Column("undeliverable_at", sa.DateTime(timezone=True), nullable=True))
    # 0 urgent (peer details, crisis, coordinator), 1 conversation, 2 bulk (Tier 1, reminders).
    op.add_column(
        "messages",
        sa.Column("priority", sa.SmallInteger(), server_default=sa.text("1"), nullable=False),
    )
    op.drop_index("ix_messages_due", table_name="messages")
    op.create_index(
        "ix_messages_due",
        "messages",
        ["priority", "not_before"],
        postgresql_where=sa.text("state = 'queued'"),
    )
    # The key that makes a unit lead's Tier 1 prompt once per incident, whichever worker (or
    # redelivery) opens the incident's cases.
    op.create_table(
        "tier1_prompts",
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("lead_staff_id", sa.String(length=32), nullable=False),
        sa.Column("staff_count", sa.Integer(), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_tier1_prompts_incident_id_incidents")
        ),
        sa.ForeignKeyConstraint(
            ["lead_staff_id"], ["staff.staff_id"], name=op.f("fk_tier1_prompts_lead_staff_id_staff")
        ),
        sa.PrimaryKeyConstraint("incident_id", "lead_staff_id", name=op.f("pk_tier1_prompts")),
    )
    # Counting open load per peer: a partial index keeps it to the pages that count.
    op.create_index(
        "ix_pages_peer_load",
        "pages",
        ["peer_staff_id"],
        postgresql_where=sa.text(f"state IN {LOADED}"),
    )
    # A peer's open load is now offered pages too: a page leaving the load (answered, failed,
    # superseded) changes it. Entering it (a new page) is counted by whoever assigns it,
    # under the peer's row lock, so inserts stay off the counter row.
    op.execute("DROP TRIGGER IF EXISTS pages_bump_match_inputs ON pages")
    op.execute(
        "CREATE TRIGGER pages_bump_match_inputs AFTER UPDATE OF state ON pages FOR EACH ROW "
        "WHEN (OLD.state IS DISTINCT FROM NEW.state "
        f"AND (OLD.state = 'accepted' OR NEW.state = 'accepted' "
        f"OR (OLD.state IN {OPEN} AND NEW.state NOT IN {LOADED}))) "
        "EXECUTE FUNCTION bump_match_inputs()"
    )
    # STOP and START decide whether a peer can be paged.
    op.execute(
        "CREATE TRIGGER sms_opt_outs_bump_match_inputs AFTER INSERT OR UPDATE OR DELETE "
        "OR TRUNCATE ON sms_opt_outs FOR EACH STATEMENT EXECUTE FUNCTION bump_match_inputs()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS sms_opt_outs_bump_match_inputs ON sms_opt_outs")
    op.execute("DROP TRIGGER IF EXISTS pages_bump_match_inputs ON pages")
    op.execute(
        "CREATE TRIGGER pages_bump_match_inputs AFTER UPDATE OF state ON pages FOR EACH ROW "
        "WHEN (OLD.state IS DISTINCT FROM NEW.state "
        "AND (OLD.state = 'accepted' OR NEW.state = 'accepted')) "
        "EXECUTE FUNCTION bump_match_inputs()"
    )
    op.drop_index("ix_pages_peer_load", table_name="pages")
    op.drop_table("tier1_prompts")
    op.drop_index("ix_messages_due", table_name="messages")
    op.create_index(
        "ix_messages_due",
        "messages",
        ["not_before"],
        postgresql_where=sa.text("state = 'queued'"),
    )
    op.drop_column("messages", "priority")
    op.drop_column("staff", "undeliverable_at")
    op.drop_column("staff", "undeliverable_code")
