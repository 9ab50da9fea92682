"""Business hours: when a team works, in its own time zone.

A schedule is either around the clock (`always_open`) or weekly opening intervals in local time, per day
of the week, minus holidays (local dates the team does not work). SLA clocks that run "in business
hours" count only the seconds inside the schedule.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
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


# The arithmetic. Local opening intervals are turned into UTC instants day by day (a local time that a
# DST change skips or repeats is resolved by `zoneinfo`'s fold=0 rule, then normalised through UTC), so an
# interval across a change counts its real elapsed seconds: 08:00-18:00 on the day clocks go forward is 9 h.
_MAX_DAYS = 3 * 366  # a schedule open a few seconds a year still ends a search within a few years
_UTC = ZoneInfo("UTC")


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("business-hours arithmetic needs aware datetimes")
    return moment.astimezone(_UTC)


def _local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, at, tzinfo=zone).astimezone(_UTC)


def _day_intervals(hours: BusinessHours, day: date) -> list[tuple[datetime, datetime]]:
    """The UTC instants the schedule is open on one local date (none on a holiday)."""
    if day in hours.holidays:
        return []
    zone = hours.zone
    spans = []
    for interval in hours.weekly.get(WEEKDAYS[day.weekday()], ()):
        start, end = _local_instant(day, interval.start, zone), _local_instant(day, interval.end, zone)
        if end > start:
            spans.append((start, end))
    return spans


def _open_spans(hours: BusinessHours, since: datetime) -> Iterator[tuple[datetime, datetime]]:
    """The schedule's open spans (UTC) that end after `since`, in order, clipped to start at `since`."""
    day = since.astimezone(hours.zone).date() - timedelta(days=1)  # an interval of yesterday may run on
    for _ in range(_MAX_DAYS):
        for start, end in _day_intervals(hours, day):
            if end > since:
                yield max(start, since), end
        day += timedelta(days=1)


def add_business_seconds(hours: BusinessHours, start: datetime, seconds: float) -> datetime:
    """The instant `seconds` of business time after `start` (wall clock when `always_open`), in UTC."""
    start = _as_utc(start)
    if seconds < 0:
        raise ValueError("seconds must not be negative")
    if hours.always_open:
        return start + timedelta(seconds=seconds)
    left = timedelta(seconds=seconds)
    for span_start, span_end in _open_spans(hours, start):
        length = span_end - span_start
        if left <= length:
            return span_start + left
        left -= length
    raise ValueError("the schedule is not open enough to reach the deadline")


def business_seconds_between(hours: BusinessHours, start: datetime, end: datetime) -> float:
    """Business seconds from `start` to `end` (negative if `end` is earlier); wall clock if `always_open`."""
    start, end = _as_utc(start), _as_utc(end)
    if end < start:
        return -business_seconds_between(hours, end, start)
    if hours.always_open:
        return (end - start).total_seconds()
    total = 0.0
    for span_start, span_end in _open_spans(hours, start):
        if span_start >= end:
            break
        total += (min(span_end, end) - span_start).total_seconds()
    return total
