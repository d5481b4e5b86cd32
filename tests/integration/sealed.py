"""The store's sealed columns (services/sealing.py) as tests read and write them in raw SQL.

Raw SQL sees what the store holds: sealed numbers and texts, and the numbers' lookup values.
A test asks by `lookup(number)`, writes `seal(value, "table.column")` and reads back with
`opened(value, "table.column")`; ORM and Core statements on the models do this themselves.
"""

from __future__ import annotations

from services.sealing import default_keyring


def seal(value: str, column: str) -> str:
    return default_keyring().seal(value, column)


def opened(value: str | None, column: str) -> str | None:
    return None if value is None else default_keyring().open(value, column)


def lookup(number: str) -> str:
    return default_keyring().lookup(number)
