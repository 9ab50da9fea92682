"""Business hours: when a team works, in its own time zone.

A schedule is either around the clock (`always_open`) or weekly opening intervals in local time, per day
of the week, minus holidays (local dates the team does not work). SLA clocks that run "in business
hours" count only the seconds inside the schedule.
"""

from __future__ import annotations

from datetime import date, time
from itertools import pairwise
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Interval(BaseModel):
    """An opening interval within one local day: `start` before `end` ("24:00" is written "23:59:59")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: time
    end: time

    @model_validator(mode="after")
    def _ordered(self) -> Interval:
        if self.start >= self.end:
            raise ValueError("`start` must be before `end`")
        return self


class BusinessHours(BaseModel):
    """A team's working time: `always_open`, or `weekly` intervals in `timezone` minus `holidays`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: str = Field(default="UTC", max_length=64, description="An IANA time zone, e.g. Asia/Riyadh.")
    always_open: bool = False
    weekly: dict[Weekday, Annotated[list[Interval], Field(max_length=8)]] = Field(default_factory=dict)
    holidays: Annotated[list[date], Field(max_length=366)] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("weekly")
    @classmethod
    def _disjoint(cls, value: dict[Weekday, list[Interval]]) -> dict[Weekday, list[Interval]]:
        for day, intervals in value.items():
            ordered = sorted(intervals, key=lambda interval: interval.start)
            for before, after in pairwise(ordered):
                if after.start < before.end:
                    raise ValueError(f"intervals of {day} overlap")
            value[day] = ordered
        return value

    @model_validator(mode="after")
    def _some_time(self) -> BusinessHours:
        if not self.always_open and not any(self.weekly.values()):
            raise ValueError("give `weekly` opening intervals, or set `always_open`")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


ALWAYS_OPEN = BusinessHours(always_open=True)
