"""staff identifiers: each source system's identifier for a member of staff

Why a table: a feed names clinicians in its own terms (a FHIR Practitioner identifier, an
HL7 assigning authority's id, an HR employee number), and outreach needs our staff id. The
hospital exports the mapping (`svrr import staff-ids FILE`); services.feeds.resolve reads it.

Why (system, value) is the key: within one system an identifier names one person, so a
second staff id for it would make a feed's clinician ambiguous; one person may have many
identifiers, in one system or several. Why the staff_id index: the importer and the
directory look a person's identifiers up by staff id. Rows point at staff, which are never
deleted, so the foreign key never blocks a directory import.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 16:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_identifiers",
        sa.Column("system", sa.Text(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column(
            "staff_id",
            sa.String(32),
            sa.ForeignKey("staff.staff_id", name="fk_staff_identifiers_staff_id_staff"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("system", "value", name="pk_staff_identifiers"),
    )
    op.create_index("ix_staff_identifiers_staff_id", "staff_identifiers", ["staff_id"])


def downgrade() -> None:
    op.drop_table("staff_identifiers")
