"""Short case references a coordinator can read off an SMS and type into the console.

A reference is the first six hex digits of the case's random id ("C-3F9A2B"): it needs no
column, no sequence and no join, so every coordinator message can carry one wherever a case
id is at hand. Six digits make a clash between two open cases unlikely but not impossible, so
a lookup returns every case whose id starts that way and the console lists them all.
"""

from __future__ import annotations

import re
import uuid

PREFIX = "C-"
DIGITS = 6
_REF = re.compile(r"^\s*(?:c-?)?([0-9a-f]{6})\s*$", re.IGNORECASE)


def case_ref(case_id: uuid.UUID) -> str:
    return PREFIX + case_id.hex[:DIGITS].upper()


def ref_bounds(ref: str) -> tuple[uuid.UUID, uuid.UUID]:
    """The smallest and largest case id a reference can name (an index range scan).

    Accepts "C-3F9A2B", "c3f9a2b" or "3f9a2b"; anything else is a ValueError naming the form.
    """
    m = _REF.match(ref)
    if m is None:
        raise ValueError("a case reference looks like C-3F9A2B (C- and six hex digits)")
    digits = m.group(1).lower()
    rest = 32 - DIGITS
    return uuid.UUID(digits + "0" * rest), uuid.UUID(digits + "f" * rest)
