"""`svrr keys`: make a key, and rotate the keys of the data at rest (services/sealing.py).

Rotating a data key runs online. Put the new key first in DATA_KEYS, keeping the old ones,
and restart the services, which then seal with it. `svrr keys rotate` then reseals every
value still under an older key, one batch per transaction. A value the services change
meanwhile is left to them: each update names the value it read. Once it reports nothing
left, drop the old key from DATA_KEYS.

The lookup key is rotated with the services stopped: until every lookup value is recomputed,
a number looked up under the new key would not find rows hashed under the old one (an
opt-out missed). The same command recomputes each lookup from the sealed number, and each
pending message's dedupe key.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from sqlalchemy import Connection, text

import services.cases.models  # noqa: F401  (every sealed table is mapped: cases, pages, staff)
from services.db import Base, sync_engine
from services.sealing import LOOKUP_OF, Keyring, default_keyring, new_key
from services.sealing import Sealed as SealedType

BATCH = 500


@dataclass(frozen=True)
class Sealed:
    """One table's sealed columns, the number among them and its lookup column."""

    table: str
    key: str
    columns: tuple[str, ...]
    number: str | None = None
    lookup: str | None = None


def sealed_tables() -> tuple[Sealed, ...]:
    """Every table with a sealed column, read from the models (their Sealed types and the
    number/lookup pairs services.sealing.mirror records): a column sealed tomorrow is
    rotated without a list here to remember it."""
    found = []
    for table in Base.metadata.sorted_tables:
        columns = tuple(c.name for c in table.columns if isinstance(c.type, SealedType))
        if not columns:
            continue
        (key,) = table.primary_key.columns
        number = next((c for c in columns if (table.name, c) in LOOKUP_OF), None)
        lookup = LOOKUP_OF[(table.name, number)] if number is not None else None
        found.append(Sealed(table.name, key.name, columns, number, lookup))
    return tuple(found)


def _changes(keys: Keyring, spec: Sealed, row: dict[str, object]) -> dict[str, object]:
    """What a row needs under the current keys: resealed columns, a recomputed lookup."""
    out: dict[str, object] = {}
    for col in spec.columns:
        value = row[col]
        if isinstance(value, str) and keys.key_id(value) != keys.current:
            out[col] = keys.seal(keys.open(value, f"{spec.table}.{col}"), f"{spec.table}.{col}")
    if spec.number is not None and spec.lookup is not None:
        sealed = row[spec.number]
        if isinstance(sealed, str):
            lookup = keys.lookup(keys.open(sealed, f"{spec.table}.{spec.number}"))
            if lookup != row[spec.lookup]:
                out[spec.lookup] = lookup
    return out


def _rotate_table(conn: Connection, keys: Keyring, spec: Sealed, dry_run: bool) -> int:
    cols = list(dict.fromkeys((spec.key, *spec.columns, spec.lookup or spec.key)))
    changed = 0
    after: object = None
    while True:
        where = "" if after is None else f"WHERE {spec.key} > :after"
        rows = conn.execute(
            text(
                f"SELECT {', '.join(cols)} FROM {spec.table} {where} "
                f"ORDER BY {spec.key} LIMIT {BATCH}"
            ),
            {"after": after},
        ).mappings()
        batch = [dict(r) for r in rows]
        if not batch:
            return changed
        after = batch[-1][spec.key]
        for row in batch:
            change = _changes(keys, spec, row)
            if not change:
                continue
            changed += 1
            if dry_run:
                continue
            sets = ", ".join(f"{c} = :new_{c}" for c in change)
            same = " AND ".join(f"{c} IS NOT DISTINCT FROM :old_{c}" for c in cols)
            params = {f"new_{c}": v for c, v in change.items()} | {f"old_{c}": row[c] for c in cols}
            conn.execute(text(f"UPDATE {spec.table} SET {sets} WHERE {same}"), params)
        if not dry_run:
            conn.commit()


def _rekey_dedupe(conn: Connection, keys: Keyring, dry_run: bool) -> int:
    """A pending message's dedupe key names its number's lookup (kind:case:lookup:dedupe)."""
    rows = conn.execute(
        text(
            "SELECT id, dedupe_key, to_number FROM messages "
            "WHERE state IN ('queued', 'sending') AND to_number IS NOT NULL"
        )
    ).all()
    changed = 0
    for r in rows:
        parts = r.dedupe_key.split(":")
        want = keys.lookup(keys.open(r.to_number, "messages.to_number"))
        if len(parts) < 3 or parts[2] == want:
            continue
        parts[2] = want
        changed += 1
        if not dry_run:
            conn.execute(
                text("UPDATE messages SET dedupe_key = :k WHERE id = :id AND dedupe_key = :old"),
                {"k": ":".join(parts)[:200], "id": r.id, "old": r.dedupe_key},
            )
    if not dry_run:
        conn.commit()
    return changed


def rotate(conn: Connection, keys: Keyring, dry_run: bool = False) -> dict[str, int]:
    """Rows changed per table (would change, with dry_run); 0 everywhere means done."""
    counts = {spec.table: _rotate_table(conn, keys, spec, dry_run) for spec in sealed_tables()}
    counts["messages.dedupe_key"] = _rekey_dedupe(conn, keys, dry_run)
    return counts


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = sub.add_parser("keys", help="data-at-rest keys: make one, rotate")
    what = keys.add_subparsers(dest="keys_cmd", required=True)
    what.add_parser("new", help="print a fresh random key (base64), for DATA_KEYS or LOOKUP_KEY")
    rot = what.add_parser(
        "rotate",
        help="reseal what an older data key sealed; recompute lookups (docs/data-at-rest.md)",
    )
    rot.add_argument("--dry-run", action="store_true", help="count, change nothing")


def run(args: argparse.Namespace) -> int | None:
    if args.cmd != "keys":
        return None
    if args.keys_cmd == "new":
        print(new_key())
        return 0
    keys = default_keyring()
    with sync_engine().connect() as conn:
        counts = rotate(conn, keys, dry_run=args.dry_run)
        left = counts if args.dry_run else rotate(conn, keys, dry_run=True)
    verb = "would change" if args.dry_run else "changed"
    for table, n in counts.items():
        print(f"{table}: {n} rows {verb}")
    waiting = sum(left.values())
    print(
        f"current data key {keys.current!r}: "
        + (f"{waiting} rows not yet under it" if waiting else "every row is under it")
    )
    return 0
