"""the feed role: integration tokens for the hospital's feeds, and for nothing else

Why a role of its own: a feed (the EHR's FHIR interface, the incident-reporting system, the
code-team system) sends records and needs no answer but its own. With the coordinator's
token it could read every case on the board. A feed is never a person, so `users` keeps its
constraint and only `api_tokens` takes the new role.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 17:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

BEFORE = "('risk_manager', 'coordinator', 'peer', 'admin')"
AFTER = "('risk_manager', 'coordinator', 'peer', 'admin', 'feed')"


def upgrade() -> None:
    op.drop_constraint("role", "api_tokens", type_="check")
    op.create_check_constraint("role", "api_tokens", f"role IN {AFTER} AND role <> 'peer'")


def downgrade() -> None:
    op.execute("DELETE FROM api_tokens WHERE role = 'feed'")
    op.drop_constraint("role", "api_tokens", type_="check")
    op.create_check_constraint("role", "api_tokens", f"role IN {BEFORE} AND role <> 'peer'")
