"""Tier 1: business-hours calendars across time zones, holidays and DST changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switchboard.hours import Calendar, DayState, Hours, is_open, next_change, state_at

WORKDAY = (Hours.parse("09:00-18:00"),)
MOSCOW = Calendar(
    name="main",
    zone="Europe/Moscow",
    weekly=(WORKDAY,) * 5 + ((), ()),
    holidays=frozenset({date(2026, 1, 1), date(2026, 1, 2), date(2026, 5, 1)}),
    exceptions=MappingProxyType({date(2026, 12, 31): (Hours.parse("09:00-14:00"),)}),
)
BERLIN = Calendar(name="eu", zone="Europe/Berlin", weekly=(WORKDAY,) * 7)
MSK, UTC_ = ZoneInfo("Europe/Moscow"), UTC


def msk(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=MSK)


@pytest.mark.parametrize(
    ("at", "state"),
    [
        (msk(2026, 11, 25, 8, 59), DayState.CLOSED),  # Wednesday, before opening
        (msk(2026, 11, 25, 9, 0), DayState.OPEN),
        (msk(2026, 11, 25, 17, 59), DayState.OPEN),
        (msk(2026, 11, 25, 18, 0), DayState.CLOSED),  # the end is exclusive
        (msk(2026, 11, 28, 12, 0), DayState.CLOSED),  # Saturday
        (msk(2026, 5, 1, 12, 0), DayState.HOLIDAY),  # a Friday, but a holiday
        (msk(2026, 12, 31, 13, 59), DayState.OPEN),  # short day
        (msk(2026, 12, 31, 14, 0), DayState.CLOSED),
        # The same instant written in another zone: 06:30 UTC is 09:30 in Moscow.
        (datetime(2026, 11, 25, 6, 30, tzinfo=UTC_), DayState.OPEN),
        (datetime(2026, 11, 25, 5, 59, tzinfo=UTC_), DayState.CLOSED),
    ],
)
def test_state_at_in_moscow(at: datetime, state: DayState) -> None:
    assert state_at(MOSCOW, at) is state
    assert is_open(MOSCOW, at) is (state is DayState.OPEN)


@pytest.mark.parametrize(
    ("at", "change"),
    [
        (msk(2026, 11, 25, 8, 0), msk(2026, 11, 25, 9, 0)),
        (msk(2026, 11, 25, 12, 0), msk(2026, 11, 25, 18, 0)),
        (msk(2026, 11, 27, 18, 30), msk(2026, 11, 30, 9, 0)),  # Friday night -> Monday
        (msk(2026, 4, 30, 20, 0), msk(2026, 5, 1, 0, 0)),  # closed -> holiday at midnight
        (msk(2026, 12, 31, 10, 0), msk(2026, 12, 31, 14, 0)),
        (msk(2026, 12, 31, 15, 0), msk(2027, 1, 1, 9, 0)),  # 2027's holidays are not listed
    ],
)
def test_next_change_in_moscow(at: datetime, change: datetime) -> None:
    assert next_change(MOSCOW, at) == change


def test_opening_hours_follow_the_wall_clock_across_dst() -> None:
    # Berlin springs forward on 2026-03-29 and falls back on 2026-10-25.
    assert next_change(BERLIN, datetime(2026, 3, 28, 20, 0, tzinfo=UTC_)) == datetime(
        2026, 3, 29, 7, 0, tzinfo=UTC_
    )  # 09:00 CEST
    assert next_change(BERLIN, datetime(2026, 10, 24, 20, 0, tzinfo=UTC_)) == datetime(
        2026, 10, 25, 8, 0, tzinfo=UTC_
    )  # 09:00 CET


def test_hours_inside_a_dst_gap_open_when_the_clock_jumps() -> None:
    night = Calendar(
        name="night", zone="Europe/Berlin", weekly=((Hours.parse("02:30-05:00"),),) * 7
    )
    # 02:30 never happens on 2026-03-29: the clock goes from 02:00 CET to 03:00 CEST.
    assert next_change(night, datetime(2026, 3, 29, 0, 0, tzinfo=UTC_)) == datetime(
        2026, 3, 29, 1, 0, tzinfo=UTC_
    )


def test_an_always_closed_calendar_never_changes() -> None:
    closed = Calendar(name="closed", zone="UTC", weekly=((),) * 7)
    assert next_change(closed, datetime(2026, 1, 1, tzinfo=UTC_)) is None


@pytest.mark.parametrize(
    ("text", "error"),
    [("9-18", "is not a time such as 09:00"), ("18:00-09:00", "the end must be after the start"),
     ("09:60-10:00", "is not a time of day"), ("09:00-24:01", "is not a time of day")],
)  # fmt: skip
def test_bad_hours_are_refused(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        Hours.parse(text)


def test_naive_datetimes_and_unknown_zones_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        state_at(MOSCOW, datetime(2026, 1, 1))  # a naive datetime
    with pytest.raises(Exception, match="Mars/Olympus"):
        Calendar(name="x", zone="Mars/Olympus", weekly=((),) * 7)


ZONES = st.sampled_from(["Europe/Moscow", "Europe/Berlin", "America/New_York", "Asia/Kolkata",
                         "Australia/Lord_Howe", "UTC"])  # fmt: skip
RANGES = st.lists(
    st.tuples(st.integers(0, 1439), st.integers(1, 600)).map(
        lambda r: Hours(r[0], min(1440, r[0] + r[1]))
    ),
    max_size=2,
)


@settings(max_examples=200, deadline=None)
@given(
    ZONES,
    st.lists(RANGES, min_size=7, max_size=7),
    st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31)),
)
def test_the_state_holds_until_next_change_and_differs_there(
    zone: str, week: list[list[Hours]], naive: datetime
) -> None:
    calendar = Calendar(name="c", zone=zone, weekly=tuple(tuple(day) for day in week))
    at = naive.replace(tzinfo=UTC_)
    change = next_change(calendar, at)
    now = state_at(calendar, at)
    if change is None:
        return
    assert change > at
    assert state_at(calendar, change) != now
    probe = at + (change - at) / 2  # anywhere before the change
    assert state_at(calendar, probe) == now
    assert state_at(calendar, change - timedelta(seconds=1)) == now
