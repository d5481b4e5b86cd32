"""feed records, refusals and heartbeats: what every feed sent, kept without a patient

Why `feed_records`: one row per source record (a FHIR resource, an HL7 message, a report, a
code-blue activation), unique on (source, feed, record_id). It is three things at once:
- the source link: a row with an incident is one of the records that incident was made
  from, so a replayed or updated record finds its incident (matching rule 1), and the board
  can list every source of an incident;
- the coordinator's question: a row `asked` waits on the board until it is started,
  joined to an incident or dismissed (`decided_at`, `decided_by`);
- the record kept for replay: the columns are the PHI-free FeedRecord (services/feeds/
  record.py), so a mapping fixed later can be re-run over them.
`staff` holds the source's references to clinicians (identifiers of staff, never of
patients) and `staff_ids` what the directory resolved them to.

Why `feed_refusals`: a malformed record is refused to its sender and kept for replay; `kept`
is only the whitelisted fields the adapter reads (services/feeds/redact*.py), NULL when
nothing could be read, and `problems` says where and why, never the value.

Why `feed_heartbeats`: a feed that goes silent is a broken interface nobody notices until a
death goes unanswered; the console warns when `last_seen_at` is older than the feed's
`silent_after`. One row per feed, updated in the transaction that takes its records.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 17:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

STATUSES = "'started', 'joined', 'linked', 'asked', 'ignored', 'dismissed'"


def upgrade() -> None:
    op.create_table(
        "feed_records",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("feed", sa.String(64), nullable=False),
        sa.Column("record_id", sa.String(128), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("unit", sa.String(32)),  # as the source wrote it
        sa.Column("unit_code", sa.String(32)),  # our unit, NULL when the directory has none
        sa.Column("event_type", sa.String(40), nullable=False),
        sa.Column("harm_level", sa.String(16), nullable=False),
        sa.Column("raw_event", sa.String(200)),
        sa.Column("raw_harm", sa.String(200)),
        sa.Column("staff", JSONB(), nullable=False, server_default="[]"),
        sa.Column("staff_ids", ARRAY(sa.String(32)), nullable=False, server_default="{}"),
        sa.Column("unresolved", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("action", sa.String(8), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column(
            "incident_id",
            UUID(as_uuid=True),
            sa.ForeignKey("incidents.id", name="fk_feed_records_incident_id_incidents"),
        ),
        sa.Column("why", sa.String(1000), nullable=False),
        sa.Column("candidates", ARRAY(UUID(as_uuid=True)), nullable=False, server_default="{}"),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("times_received", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("decided_at", sa.DateTime(timezone=True)),
        sa.Column("decided_by", sa.String(200)),
        sa.UniqueConstraint("source", "feed", "record_id", name="uq_feed_records_source_record"),
        sa.CheckConstraint(f"status IN ({STATUSES})", name="ck_feed_records_status"),
        sa.CheckConstraint("action IN ('start', 'ask', 'ignore')", name="ck_feed_records_action"),
        # A record on an incident is started, joined or linked; one off it is not.
        sa.CheckConstraint(
            "(incident_id IS NOT NULL) = (status IN ('started', 'joined', 'linked'))",
            name="ck_feed_records_linked",
        ),
    )
    op.create_index("ix_feed_records_incident_id", "feed_records", ["incident_id"])
    op.create_index(
        "ix_feed_records_asked",
        "feed_records",
        ["received_at"],
        postgresql_where=sa.text("status = 'asked'"),
    )
    # Matching reads the incidents of one unit around a time (services/feeds/intake.py).
    op.create_index(
        "ix_incidents_unit_key_occurred",
        "incidents",
        [sa.text("lower(btrim(unit))"), "occurred_at"],
    )
    op.create_table(
        "feed_refusals",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("feed", sa.String(64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("problems", JSONB(), nullable=False),
        sa.Column("kept", JSONB()),
        sa.Column("replayed_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_feed_refusals_feed", "feed_refusals", ["source", "feed", "received_at"])
    op.create_table(
        "feed_heartbeats",
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("feed", sa.String(64), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_record_at", sa.DateTime(timezone=True)),
        sa.Column("received", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("refused", sa.BigInteger(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("source", "feed", name="pk_feed_heartbeats"),
    )


def downgrade() -> None:
    op.drop_table("feed_heartbeats")
    op.drop_table("feed_refusals")
    op.drop_index("ix_incidents_unit_key_occurred", table_name="incidents")
    op.drop_table("feed_records")
