"""A test's own unit and clinicians, written straight to the directory's tables.

Why each feed test makes its own: matching joins a record to any incident on its unit
within twelve hours, so a test on a shared unit would join another test's incident. Why not
through a staff import: an import is a full export, and would deactivate every other test's
people. Codes are letters (tests.stack.letter_tag) and numbers nobody has (unused_numbers).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from tests.integration.sealed import lookup, seal
from tests.stack import letter_tag

W = TypeVar("W", bound="Ward")


@dataclass(frozen=True)
class Ward:
    unit: str
    staff: tuple[str, ...]
    tag: str

    def rid(self, name: str) -> str:
        """A record id of this test's own."""
        return f"{name}-{self.tag}"


def unused_numbers(conn: Connection, n: int) -> list[str]:
    """Numbers no staff record has: the directory refuses two people with one number, and
    test_reimport exports every staff row and imports it back (numbers counted from 0 in
    each test's ward collided there, and the re-import was refused)."""
    numbers: list[str] = []
    while len(numbers) < n:
        candidate = f"+1555{secrets.randbelow(10**7):07d}"
        taken = conn.execute(
            text("SELECT 1 FROM staff WHERE mobile_key = :m"), {"m": lookup(candidate)}
        ).first()
        if taken is None and candidate not in numbers:
            numbers.append(candidate)
    return numbers


def make_ward(db: Engine, prefix: str, staff: int = 3, kind: type[W] = Ward) -> W:  # type: ignore[assignment]
    """A unit `<Prefix><tag>` and `staff` active clinicians `<PREFIX><tag>A`, `...B`, on it."""
    tag = letter_tag()
    unit = f"{prefix.capitalize()}{tag}"
    people = tuple(f"{prefix.upper()}{tag}{chr(ord('A') + i)}" for i in range(staff))
    with db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO units (code, name, site, time_zone, active) "
                "VALUES (:code, :name, 'main', 'America/New_York', true)"
            ),
            {"code": unit, "name": f"{prefix} test"},
        )
        conn.execute(
            text(
                "INSERT INTO staff (staff_id, display_name, discipline, role, home_unit, "
                "mobile_e164, mobile_key, language, opted_out, active) VALUES (:sid, 'Feed Test', "
                "'RN', '', :unit, :mobile, :key, 'en', false, true)"
            ),
            [
                {
                    "sid": sid,
                    "unit": unit,
                    "mobile": seal(mobile, "staff.mobile_e164"),
                    "key": lookup(mobile),
                }
                for sid, mobile in zip(people, unused_numbers(conn, staff), strict=True)
            ],
        )
    return kind(unit, people, tag)
