"""The words a person receives: an administrator's text for their language, else the default,
with the crisis line of their own site.

Why a per-process cache: every SMS a person receives passes here, in the same transaction as
the decision to send it; reading the template and site tables each time would add two
queries to every reply and page. Both tables are small and change rarely, so each process
reads them at most every REFRESH_SECONDS (an administrator's save clears this process's copy
at once; other processes see it within that time).

A saved text that no longer fills (a placeholder a later release dropped) never stops a
message: the default goes instead, and the log says which kind (never the text).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.config import get_settings
from services.identity.models import Site, SmsTemplate
from services.logs import log
from services.people.models import Staff, Unit
from services.texts.defaults import KINDS, fill

REFRESH_SECONDS = 5.0
DEFAULT_LANGUAGE = "en"


@dataclass(frozen=True)
class _Tables:
    bodies: Mapping[tuple[str, str], str]
    crisis_lines: Mapping[str, str]
    until: float


_tables: _Tables | None = None


def forget() -> None:
    """An administrator changed a text or a crisis line: this process reads them again."""
    global _tables
    _tables = None


async def _current(session: AsyncSession) -> _Tables:
    global _tables
    if _tables is None or _tables.until <= time.monotonic():
        bodies = {
            (kind, language): body
            for kind, language, body in (
                await session.execute(
                    select(SmsTemplate.kind, SmsTemplate.language, SmsTemplate.body)
                )
            ).all()
        }
        lines = dict((await session.execute(select(Site.code, Site.crisis_line))).all())
        _tables = _Tables(bodies, lines, time.monotonic() + REFRESH_SECONDS)
    return _tables


async def crisis_line(session: AsyncSession, staff: Staff | None) -> str:
    """The crisis line of the site of the person's home unit; the programme's otherwise."""
    fallback = get_settings().crisis_line
    if staff is None:
        return fallback
    unit = await session.get(Unit, staff.home_unit)  # usually in the identity map already
    tables = await _current(session)
    return (tables.crisis_lines.get(unit.site) if unit is not None else None) or fallback


async def text_for(session: AsyncSession, staff: Staff | None, kind: str, **values: object) -> str:
    """The SMS of `kind` for `staff` (None: someone not in the directory, who gets the
    default language and the programme's crisis line)."""
    spec = KINDS[kind]
    if "crisis_line" in spec.placeholders and "crisis_line" not in values:
        values["crisis_line"] = await crisis_line(session, staff)
    language = (staff.language if staff is not None else None) or DEFAULT_LANGUAGE
    body = (await _current(session)).bodies.get((kind, language))
    if body is not None:
        try:
            return fill(body, values)
        except (KeyError, ValueError, IndexError):
            log().warning("sms_template.unusable", kind=kind, language=language)
    return fill(spec.default, values)
