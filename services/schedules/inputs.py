"""The coordinator's schedule edits as request bodies, checked before anything is stored.

A rotation's length follows its kind (daily, weekly, or custom hours); an override is short,
names someone, and never adds and removes the same person.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from typing import Annotated, Literal
from zoneinfo import available_timezones

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from schemas.events import StaffId

SHIFT_HOURS = {"daily": 24, "weekly": 168}
MAX_CUSTOM_SHIFT_HOURS = 336
MAX_OVERRIDE = timedelta(days=31)


def _valid_zone(name: str) -> str:
    if name not in _zones():
        raise ValueError(f"unknown time zone {name!r}: an IANA name, e.g. America/New_York")
    return name


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    # "localtime" is whatever the server is set to: a schedule must not move with the host.
    return frozenset(available_timezones() - {"localtime"})


Name = Annotated[str, Field(min_length=1, max_length=80)]


class ScheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Name
    time_zone: str = Field(max_length=64)

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, v: str) -> str:
        return _valid_zone(v)


class RotationIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Name
    kind: Literal["daily", "weekly", "custom"]
    shift_hours: int | None = None
    start_local: datetime = Field(description="first hand-off, wall-clock time in the zone")
    participants: list[StaffId] = Field(min_length=1, max_length=200)

    @field_validator("start_local")
    @classmethod
    def _naive(cls, v: datetime) -> datetime:
        if v.tzinfo is not None:
            raise ValueError(
                "a wall-clock time in the schedule's zone: give it without an offset, "
                "e.g. 2026-01-05T07:00"
            )
        return v

    @model_validator(mode="after")
    def _hours(self) -> RotationIn:
        fixed = SHIFT_HOURS.get(self.kind)
        if fixed is not None:
            if self.shift_hours not in (None, fixed):
                raise ValueError(
                    f"a {self.kind} rotation hands off every {fixed} h; use kind custom "
                    "for another length"
                )
            self.shift_hours = fixed
        elif self.shift_hours is None or not 1 <= self.shift_hours <= MAX_CUSTOM_SHIFT_HOURS:
            raise ValueError(
                f"a custom rotation needs shift_hours from 1 to {MAX_CUSTOM_SHIFT_HOURS}"
            )
        return self


class RotationsIn(BaseModel):
    """The whole set of a schedule's rotations: replaced together or not at all."""

    model_config = ConfigDict(extra="forbid")

    rotations: list[RotationIn] = Field(max_length=50)

    @field_validator("rotations")
    @classmethod
    def _unique_names(cls, v: list[RotationIn]) -> list[RotationIn]:
        names = [r.name for r in v]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"rotation names must differ: {', '.join(dupes)} repeated")
        return v


class OverrideIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    starts_at: AwareDatetime
    ends_at: AwareDatetime
    add_staff_id: StaffId | None = None
    remove_staff_id: StaffId | None = None

    @model_validator(mode="after")
    def _span(self) -> OverrideIn:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if self.ends_at - self.starts_at > MAX_OVERRIDE:
            raise ValueError("an override lasts at most 31 days; change the rotation instead")
        if self.add_staff_id is None and self.remove_staff_id is None:
            raise ValueError("name add_staff_id, remove_staff_id or both")
        if self.add_staff_id == self.remove_staff_id:
            raise ValueError("add_staff_id and remove_staff_id name the same person")
        return self
