"""HTTP routes for the programme coordinator: schedules, rotations, overrides, who is on call.

Admin tokens only: who supports whom is kept apart from risk management and the
investigation, so a risk-management token gets 403 here.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Annotated, NoReturn

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from pydantic import BeforeValidator
from sqlalchemy.ext.asyncio import AsyncSession

from services import clock
from services.auth import require_coordinator
from services.db import transaction
from services.schedules import admin
from services.schedules.admin import Conflict, Invalid, NotFound, ScheduleError
from services.schedules.inputs import OverrideIn, RotationsIn, ScheduleIn

router = APIRouter(prefix="/admin/schedules", dependencies=[Depends(require_coordinator)])

_STATUS: dict[type[ScheduleError], int] = {NotFound: 404, Conflict: 409, Invalid: 422}


def _refuse(exc: ScheduleError) -> NoReturn:
    status = next(code for kind, code in _STATUS.items() if isinstance(exc, kind))
    raise HTTPException(status, {"fields": exc.fields}) from exc


@asynccontextmanager
async def _unit_of_work() -> AsyncIterator[AsyncSession]:
    """One transaction per request; a refusal rolls back whatever it had begun."""
    try:
        async with transaction() as session:
            yield session
    except ScheduleError as exc:
        _refuse(exc)


def _with_offset(name: str, value: datetime | None) -> datetime | None:
    """A naive time is ambiguous across zones; refuse it rather than guess the server's."""
    if value is not None and value.utcoffset() is None:
        raise HTTPException(
            422, {"fields": {name: "give a time zone offset, e.g. 2026-11-22T03:12:00Z"}}
        )
    return value


_ISO_DATE = re.compile(r"^\s*[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _written_as_a_time(value: object) -> object:
    """A time in a query is ISO 8601. pydantic also reads a bare number as seconds since
    1970: `on-call?at=0` (or a year typed alone, `at=2026`) was answered for January 1970
    instead of refused (found by tests/integration/test_fuzz_api.py)."""
    if isinstance(value, str) and not _ISO_DATE.match(value):
        # No digits in the message: the refusal handler blanks the value given wherever it
        # appears in a message (services/api.py _unechoed), "0" inside an example too.
        raise ValueError("give a date and time with its zone (year-month-dayThh:mm:ssZ)")
    return value


QueryTime = Annotated[datetime, BeforeValidator(_written_as_a_time)]


@router.get("")
async def list_schedules() -> list[dict[str, object]]:
    async with _unit_of_work() as session:
        return await admin.list_schedules(session)


@router.post("", status_code=201)
async def create_schedule(data: ScheduleIn) -> dict[str, object]:
    async with _unit_of_work() as session:
        return await admin.create_schedule(session, data)


# Declared before /{schedule_id} so "on-call" is never read as a schedule id.
@router.get("/on-call")
async def on_call(at: QueryTime | None = Query(default=None)) -> dict[str, object]:
    """Who is on call at `at` (default now), via which schedules, and when each turn ends."""
    at = _with_offset("at", at)
    async with _unit_of_work() as session:
        return await admin.who_is_on_call(session, at)


@router.get("/{schedule_id}")
async def get_schedule(schedule_id: uuid.UUID) -> dict[str, object]:
    async with _unit_of_work() as session:
        return await admin.get_schedule(session, schedule_id)


@router.put("/{schedule_id}/rotations")
async def replace_rotations(schedule_id: uuid.UUID, data: RotationsIn) -> dict[str, object]:
    async with _unit_of_work() as session:
        return await admin.replace_rotations(session, schedule_id, data)


@router.post("/{schedule_id}/overrides", status_code=201)
async def add_override(schedule_id: uuid.UUID, data: OverrideIn) -> dict[str, object]:
    async with _unit_of_work() as session:
        return await admin.add_override(session, schedule_id, data)


@router.delete("/{schedule_id}/overrides/{override_id}", status_code=204)
async def delete_override(schedule_id: uuid.UUID, override_id: uuid.UUID) -> Response:
    async with _unit_of_work() as session:
        await admin.delete_override(session, schedule_id, override_id)
    return Response(status_code=204)


@router.get("/{schedule_id}/shifts")
async def shifts(
    schedule_id: uuid.UUID,
    start: QueryTime | None = Query(default=None),
    end: QueryTime | None = Query(default=None),
) -> dict[str, object]:
    """Continuous on-call spans in [start, end): default the next 7 days, at most 31."""
    start = _with_offset("start", start) or clock.now()
    end = _with_offset("end", end) or start + timedelta(days=7)
    async with _unit_of_work() as session:
        return await admin.shifts_view(session, schedule_id, start, end)
