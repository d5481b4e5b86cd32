"""match inputs: the counters move once per transaction, not once per row

Why: the counters are compared, never summed, so one bump tells a worker all it needs to
know about a transaction. Bumped per row, an engine round that moves 500 pages out of their
peers' loads updated the one counter row 500 times in one transaction, each update walking
the row's chain of versions made by the ones before it (PostgreSQL CPU that grows with the
square of the batch), while the callbacks' applier waited for the row's lock. A row this
transaction already updated (its xmin is ours) is left as it is.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 11:25:00
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# pg_current_xact_id() assigns this transaction its id if it has none yet; a trigger runs
# in a transaction that has written already, so it has one. Inside a savepoint the row's
# xmin is the subtransaction's id: the counter is bumped again, which is harmless.
ONCE = "xmin <> pg_current_xact_id()::xid"


def _functions(where: str) -> None:
    op.execute(
        "CREATE OR REPLACE FUNCTION bump_match_inputs() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN UPDATE match_inputs SET version = version + 1{where}; RETURN NULL; END $$"
    )
    op.execute(
        "CREATE OR REPLACE FUNCTION bump_match_loads() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN UPDATE match_inputs SET loads_version = loads_version + 1"
        f"{where}; RETURN NULL; END $$"
    )


def upgrade() -> None:
    _functions(f" WHERE {ONCE}")


def downgrade() -> None:
    _functions("")
