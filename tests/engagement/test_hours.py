"""Business-hours arithmetic: deadlines and elapsed business time, across nights, weekends, holidays and
DST changes, in the schedule's own time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.engagement.logic.hours import (
    ALWAYS_OPEN,
    BusinessHours,
    add_business_seconds,
    business_seconds_between,
)

BERLIN = ZoneInfo("Europe/Berlin")
HOUR = 3600.0


def office(**extra: object) -> BusinessHours:
    """Mon-Fri 09:00-17:00, Europe/Berlin."""
    day = [{"start": "09:00", "end": "17:00"}]
    return BusinessHours.model_validate(
        {
            "timezone": "Europe/Berlin",
            "weekly": {d: day for d in ("mon", "tue", "wed", "thu", "fri")},
            **extra,
        }
    )


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)  # type: ignore[misc]


def test_always_open_is_the_wall_clock() -> None:
    start = datetime(2026, 3, 28, 23, tzinfo=UTC)
    assert add_business_seconds(ALWAYS_OPEN, start, 7200) == start + timedelta(hours=2)
    assert business_seconds_between(ALWAYS_OPEN, start, start + timedelta(days=2)) == 2 * 86400


def test_within_one_day() -> None:
    start = berlin(2026, 1, 6, 10)  # a Tuesday
    assert add_business_seconds(office(), start, 2 * HOUR) == berlin(2026, 1, 6, 12)
    assert business_seconds_between(office(), start, berlin(2026, 1, 6, 12)) == 2 * HOUR


def test_the_deadline_carries_over_the_night() -> None:
    start = berlin(2026, 1, 6, 16)
    assert add_business_seconds(office(), start, 2 * HOUR) == berlin(2026, 1, 7, 10)
    assert business_seconds_between(office(), start, berlin(2026, 1, 7, 10)) == 2 * HOUR


def test_a_start_outside_hours_waits_for_the_opening() -> None:
    assert add_business_seconds(office(), berlin(2026, 1, 6, 7), HOUR) == berlin(2026, 1, 6, 10)
    assert add_business_seconds(office(), berlin(2026, 1, 6, 20), HOUR) == berlin(2026, 1, 7, 10)
    assert business_seconds_between(office(), berlin(2026, 1, 6, 18), berlin(2026, 1, 7, 8)) == 0


def test_the_weekend_does_not_count() -> None:
    friday = berlin(2026, 1, 9, 16)
    assert add_business_seconds(office(), friday, 2 * HOUR) == berlin(2026, 1, 12, 10)
    assert business_seconds_between(office(), friday, berlin(2026, 1, 12, 10)) == 2 * HOUR


def test_a_holiday_does_not_count() -> None:
    hours = office(holidays=["2026-01-07"])
    start = berlin(2026, 1, 6, 16)
    assert add_business_seconds(hours, start, 2 * HOUR) == berlin(2026, 1, 8, 10)
    assert business_seconds_between(hours, start, berlin(2026, 1, 8, 10)) == 2 * HOUR
    assert business_seconds_between(hours, berlin(2026, 1, 7, 0), berlin(2026, 1, 8, 0)) == 0
    assert hours.holidays == [date(2026, 1, 7)]


def test_spring_forward_in_berlin_keeps_local_opening_times() -> None:
    # 2026-03-29 (Sunday) 02:00 CET -> 03:00 CEST: Friday 16:00 + 2 h lands Monday 10:00 local, which is
    # 08:00 UTC (it was 15:00 UTC on Friday): UTC offsets differ, business time does not.
    friday = berlin(2026, 3, 27, 16)
    due = add_business_seconds(office(), friday, 2 * HOUR)
    assert due == berlin(2026, 3, 30, 10)
    assert due.utcoffset() is not None
    assert due == datetime(2026, 3, 30, 8, tzinfo=UTC)
    assert business_seconds_between(office(), friday, due) == 2 * HOUR


def test_an_interval_across_the_change_counts_real_seconds() -> None:
    # Open around the clock on Sunday 29 March 2026: that local day has 23 hours.
    hours = BusinessHours.model_validate(
        {"timezone": "Europe/Berlin", "weekly": {"sun": [{"start": "00:00", "end": "23:59:59"}]}}
    )
    day_start, day_end = berlin(2026, 3, 29, 0), berlin(2026, 3, 29, 23, 59, 59)
    assert business_seconds_between(hours, day_start, day_end) == 23 * HOUR - 1
    # 01:00 CET + 2 h of business time is 04:00 CEST (02:00-03:00 does not exist).
    assert add_business_seconds(hours, berlin(2026, 3, 29, 1), 2 * HOUR) == berlin(2026, 3, 29, 4)
    # In October the local day has 25 hours.
    autumn = BusinessHours.model_validate(
        {"timezone": "Europe/Berlin", "weekly": {"sun": [{"start": "00:00", "end": "23:59:59"}]}}
    )
    assert business_seconds_between(autumn, berlin(2026, 10, 25, 0), berlin(2026, 10, 25, 23, 59, 59)) == (
        25 * HOUR - 1
    )


def test_fall_back_in_berlin() -> None:
    # 2026-10-25 (Sunday) 03:00 CEST -> 02:00 CET: Friday 16:00 CEST + 2 h is Monday 10:00 CET (09:00 UTC).
    due = add_business_seconds(office(), berlin(2026, 10, 23, 16), 2 * HOUR)
    assert due == datetime(2026, 10, 26, 9, tzinfo=UTC)


def test_elapsed_is_the_inverse_of_the_deadline() -> None:
    hours = office(holidays=["2026-03-30"])
    start = datetime(2026, 3, 25, 14, 17, 3, tzinfo=UTC)
    for seconds in (0.0, 1.0, 3599.5, 8 * HOUR, 8 * HOUR + 1, 40 * HOUR, 123_456.0):
        due = add_business_seconds(hours, start, seconds)
        assert business_seconds_between(hours, start, due) == pytest.approx(seconds)


def test_elapsed_backwards_is_negative() -> None:
    start, end = berlin(2026, 1, 6, 10), berlin(2026, 1, 6, 12)
    assert business_seconds_between(office(), end, start) == -2 * HOUR


def test_several_intervals_a_day() -> None:
    split = BusinessHours.model_validate(
        {
            "timezone": "Asia/Riyadh",
            "weekly": {"sun": [{"start": "13:00", "end": "17:00"}, {"start": "08:00", "end": "12:00"}]},
        }
    )
    sunday = datetime(2026, 1, 4, 11, tzinfo=ZoneInfo("Asia/Riyadh"))
    assert add_business_seconds(split, sunday, 2 * HOUR) == datetime(
        2026, 1, 4, 14, tzinfo=ZoneInfo("Asia/Riyadh")
    )


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        add_business_seconds(office(), datetime(2026, 1, 6, 10), 1.0)
