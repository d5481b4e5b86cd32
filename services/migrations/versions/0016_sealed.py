"""phone numbers and what people write, sealed; numbers looked up by a keyed hash

Why (issue 13, data at rest): a dump, a backup or a read-only role saw every clinician's and
peer's number, every reply and every peer-details message. Each such column now holds an
AES-GCM sealed value (services/sealing.py), and each number has a lookup column beside it
(an HMAC under LOOKUP_KEY), which is what queries compare. A message's dedupe key held its
number too: it now holds the number's lookup value.

The columns of cases' SMS become nullable: retention empties them once a closed case's
period is over, and the rows stay for the programme's counts.

Rows already stored are sealed here, with the deployment's keys (DATA_KEYS, LOOKUP_KEY);
an empty store needs none. Downgrade opens them again.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 20:30:00
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

from services.sealing import Keyring, default_keyring

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

BATCH = 1000

# (table, key column, sealed columns, number column with a lookup beside it, old index)
TABLES: list[tuple[str, str, tuple[str, ...], str | None, str | None]] = [
    ("staff", "staff_id", ("mobile_e164",), "mobile_e164", None),
    ("pages", "id", ("to_number", "sent_body"), "to_number", "ix_pages_to_number"),
    ("messages", "id", ("to_number", "body"), "to_number", "ix_messages_to_number"),
    ("inbound_sms", "id", ("from_number", "body"), "from_number", "ix_inbound_sms_from_number"),
]
NULLABLE = {
    "pages": ("to_number",),
    "messages": ("to_number", "body"),
    "inbound_sms": (
        "from_number",
        "body",
    ),
}


def _rows(table: str, key: str, columns: tuple[str, ...]) -> list[sa.Row[tuple[object, ...]]]:
    cols = ", ".join(columns)
    return list(op.get_bind().execute(sa.text(f"SELECT {key}, {cols} FROM {table}")))


def _rewrite(
    table: str,
    key: str,
    columns: tuple[str, ...],
    change: Callable[[dict[str, object]], dict[str, object]],
) -> None:
    """Every row of `table` through `change`, written back in batches."""
    rows = _rows(table, key, columns)
    if not rows:
        return
    updates = [change(dict(zip((key, *columns), row, strict=True))) for row in rows]
    names = list(updates[0])
    sets = ", ".join(f"{n} = :{n}" for n in names if n != key)
    stmt = sa.text(f"UPDATE {table} SET {sets} WHERE {key} = :{key}")
    for start in range(0, len(updates), BATCH):
        op.get_bind().execute(stmt, updates[start : start + BATCH])


def _sealer(keys: Keyring, table: str, number: str | None) -> Callable[[dict[str, object]], dict]:
    def seal(row: dict[str, object]) -> dict[str, object]:
        out = dict(row)
        for col, value in row.items():
            if col in {"id", "staff_id"} or value is None:
                continue
            out[col] = keys.seal(str(value), f"{table}.{col}")
        if number is not None:
            value = row[number]
            out[f"{number}_key" if table != "staff" else "mobile_key"] = (
                None if value is None else keys.lookup(str(value))
            )
        return out

    return seal


def _opener(keys: Keyring, table: str) -> Callable[[dict[str, object]], dict]:
    def open_(row: dict[str, object]) -> dict[str, object]:
        out = dict(row)
        for col, value in row.items():
            if col in {"id", "staff_id"} or value is None:
                continue
            out[col] = keys.open(str(value), f"{table}.{col}")
        return out

    return open_


def _needs_keys() -> bool:
    bind = op.get_bind()
    return any(
        bind.scalar(sa.text(f"SELECT EXISTS (SELECT 1 FROM {t})"))
        for t in ("staff", "pages", "messages", "inbound_sms", "sms_opt_outs")
    )


def upgrade() -> None:
    keys = default_keyring() if _needs_keys() else None
    for table, key, sealed, number, old_index in TABLES:
        lookup = "mobile_key" if table == "staff" else f"{number}_key"
        op.add_column(table, sa.Column(lookup, sa.Text(), nullable=True))
        for col in sealed:
            op.alter_column(table, col, type_=sa.Text(), existing_nullable=True)
        for col in NULLABLE.get(table, ()):
            op.alter_column(table, col, nullable=True)
        if old_index is not None:
            op.drop_index(old_index, table_name=table)
        if keys is not None:
            _rewrite(table, key, sealed, _sealer(keys, table, number))
        op.create_index(f"ix_{table}_{lookup}", table, [lookup])
    op.alter_column("staff", "mobile_key", nullable=False)

    # A pending message's dedupe key named its number: kind:case:number:dedupe.
    if keys is not None:
        bind = op.get_bind()
        rows = list(bind.execute(sa.text("SELECT id, dedupe_key FROM messages")))
        for start in range(0, len(rows), BATCH):
            batch = [
                {"id": r.id, "k": _rekey(keys, r.dedupe_key)} for r in rows[start : start + BATCH]
            ]
            bind.execute(sa.text("UPDATE messages SET dedupe_key = :k WHERE id = :id"), batch)

    op.add_column("sms_opt_outs", sa.Column("number_key", sa.Text(), nullable=True))
    op.alter_column("sms_opt_outs", "number", type_=sa.Text())
    if keys is not None:
        bind = op.get_bind()
        for (number,) in list(bind.execute(sa.text("SELECT number FROM sms_opt_outs"))):
            bind.execute(
                sa.text("UPDATE sms_opt_outs SET number = :s, number_key = :k WHERE number = :n"),
                {
                    "s": keys.seal(number, "sms_opt_outs.number"),
                    "k": keys.lookup(number),
                    "n": number,
                },
            )
    op.drop_constraint("pk_sms_opt_outs", "sms_opt_outs", type_="primary")
    op.alter_column("sms_opt_outs", "number_key", nullable=False)
    op.create_primary_key("pk_sms_opt_outs", "sms_opt_outs", ["number_key"])


def _rekey(keys: Keyring, dedupe_key: str) -> str:
    parts = dedupe_key.split(":")
    if len(parts) >= 3 and parts[2].startswith("+"):
        parts[2] = keys.lookup(parts[2])
    return ":".join(parts)[:200]


def downgrade() -> None:
    bind = op.get_bind()
    keys = default_keyring() if _needs_keys() else None
    if keys is not None:
        for sealed_number, key in list(
            bind.execute(sa.text("SELECT number, number_key FROM sms_opt_outs"))
        ):
            bind.execute(
                sa.text("UPDATE sms_opt_outs SET number = :n WHERE number_key = :k"),
                {"n": keys.open(sealed_number, "sms_opt_outs.number"), "k": key},
            )
    op.drop_constraint("pk_sms_opt_outs", "sms_opt_outs", type_="primary")
    op.drop_column("sms_opt_outs", "number_key")
    op.alter_column("sms_opt_outs", "number", type_=sa.String(16))
    op.create_primary_key("pk_sms_opt_outs", "sms_opt_outs", ["number"])
    if keys is not None:
        rows = list(bind.execute(sa.text("SELECT id, dedupe_key, to_number FROM messages")))
        for r in rows:
            parts = r.dedupe_key.split(":")
            if len(parts) >= 3 and r.to_number is not None:
                parts[2] = keys.open(r.to_number, "messages.to_number")
                bind.execute(
                    sa.text("UPDATE messages SET dedupe_key = :k WHERE id = :id"),
                    {"k": ":".join(parts)[:200], "id": r.id},
                )
    for table, key, sealed, number, old_index in reversed(TABLES):
        lookup = "mobile_key" if table == "staff" else f"{number}_key"
        op.drop_index(f"ix_{table}_{lookup}", table_name=table)
        if keys is not None:
            _rewrite(table, key, sealed, _opener(keys, table))
        op.drop_column(table, lookup)
        for col in sealed:
            length = 16 if col.endswith("number") or col == "mobile_e164" else None
            if length is not None:
                op.alter_column(table, col, type_=sa.String(length), existing_nullable=True)
        for col in NULLABLE.get(table, ()):
            op.alter_column(table, col, nullable=False)
        if old_index is not None:
            op.create_index(old_index, table, [number])
