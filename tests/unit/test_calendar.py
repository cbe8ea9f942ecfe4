"""Tier 1: business-hours calendars across time zones, holidays and DST changes."""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from switchboard.flows.reading import FlowReader
from switchboard.hours import Calendar, DayState, Hours, is_open, next_change, state_at
from switchboard.hours.parse import parse_calendars

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


def test_inverted_or_empty_hours_are_refused_by_the_constructor() -> None:
    with pytest.raises(ValueError, match="need 0 <= start < end <= 1440"):
        Hours(18 * 60, 9 * 60)  # 18:00-09:00
    with pytest.raises(ValueError, match="need 0 <= start < end <= 1440"):
        Hours(9 * 60, 9 * 60)  # empty
    with pytest.raises(ValueError, match="need 0 <= start < end <= 1440"):
        Hours(0, 1441)


def week_with(monday: tuple[Hours, ...]) -> tuple[tuple[Hours, ...], ...]:
    return (monday,) + ((),) * 6


@pytest.mark.parametrize(
    ("monday", "message"),
    [
        (("09:00-13:00", "12:00-18:00"), "Monday: hours 09:00-13:00 and 12:00-18:00 overlap"),
        (("12:00-18:00", "09:00-13:00"), "Monday: hours 09:00-13:00 and 12:00-18:00 overlap"),
        (("09:00-18:00", "09:00-18:00"), "Monday: hours 09:00-18:00 and 09:00-18:00 overlap"),
        (("09:00-18:00", "10:00-11:00"), "Monday: hours 09:00-18:00 and 10:00-11:00 overlap"),
        (("23:00-24:00", "20:00-24:00"), "Monday: hours 20:00-24:00 and 23:00-24:00 overlap"),
    ],
)
def test_overlapping_hours_on_one_day_are_refused(monday: tuple[str, ...], message: str) -> None:
    with pytest.raises(ValueError, match=f"^calendar 'x', {message}$"):
        Calendar(name="x", zone="UTC", weekly=week_with(tuple(map(Hours.parse, monday))))


def test_overlapping_hours_in_an_exception_are_refused() -> None:
    hours = (Hours.parse("09:00-12:00"), Hours.parse("11:30-14:00"))
    with pytest.raises(
        ValueError,
        match=r"^calendar 'x', exception 2026-12-31: hours 09:00-12:00 and 11:30-14:00 overlap$",
    ):
        Calendar(
            name="x",
            zone="UTC",
            weekly=((),) * 7,
            exceptions=MappingProxyType({date(2026, 12, 31): hours}),
        )


def test_hours_that_touch_are_one_open_stretch() -> None:
    split = (Hours.parse("09:00-13:00"), Hours.parse("13:00-18:00"))
    calendar = Calendar(name="x", zone="UTC", weekly=week_with(split))
    monday = datetime(2026, 11, 23, 10, 0, tzinfo=UTC_)
    assert state_at(calendar, monday.replace(hour=13)) is DayState.OPEN
    assert next_change(calendar, monday) == monday.replace(hour=18)  # not 13:00


# -- Europe/Chisinau ------------------------------------------------------------------------
# EET (UTC+2) / EEST (UTC+3). Per tzdata (rule Moldova, since 1997) the clocks change on
# the last Sunday of March at 02:00 EET -> 03:00 EEST and the last Sunday of October at
# 03:00 EEST -> 02:00 EET, both at 00:00 UTC (an hour before the EU's 01:00 UTC):
#   2026-03-29 00:00 UTC: 01:59:59 EET -> 03:00 EEST, wall 02:00-02:59 never happens;
#   2026-10-25 00:00 UTC: 02:59:59 EEST -> 02:00 EET, wall 02:00-02:59 happens twice.
CHISINAU = Calendar(
    name="md",
    zone="Europe/Chisinau",
    weekly=(WORKDAY,) * 5 + ((), (Hours.parse("02:00-04:00"),)),  # a Sunday night shift
    holidays=frozenset({date(2026, 8, 27), date(2026, 8, 31)}),  # a Thursday and a Monday
    exceptions=MappingProxyType(
        {
            date(2026, 10, 24): (Hours.parse("10:00-14:00"),),  # opens a closed Saturday
            date(2026, 12, 31): (Hours.parse("09:00-13:00"),),  # a shorter Thursday
        }
    ),
)
# Both change Sundays: hours that sit inside the skipped / repeated hour.
CHISINAU_GAP = Calendar(
    name="md-gap", zone="Europe/Chisinau", weekly=((),) * 6 + ((Hours.parse("02:15-02:45"),),)
)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC_)


@pytest.mark.parametrize(
    ("at", "state"),
    [
        # Spring, Sunday 2026-03-29, hours 02:00-04:00 local.
        (utc(2026, 3, 28, 23, 59, 59), DayState.CLOSED),  # 01:59:59 EET
        (utc(2026, 3, 29, 0, 0), DayState.OPEN),  # 03:00 EEST: 02:00 was skipped
        (utc(2026, 3, 29, 0, 59, 59), DayState.OPEN),  # 03:59:59 EEST
        (utc(2026, 3, 29, 1, 0), DayState.CLOSED),  # 04:00 EEST
        # Autumn, Sunday 2026-10-25: open 02:00 EEST .. 04:00 EET, three real hours.
        (utc(2026, 10, 24, 22, 59, 59), DayState.CLOSED),  # 01:59:59 EEST
        (utc(2026, 10, 24, 23, 0), DayState.OPEN),  # 02:00 EEST
        (utc(2026, 10, 24, 23, 59, 59), DayState.OPEN),  # 02:59:59 EEST
        (utc(2026, 10, 25, 0, 0), DayState.OPEN),  # 02:00 EET, the second time
        (utc(2026, 10, 25, 1, 59, 59), DayState.OPEN),  # 03:59:59 EET
        (utc(2026, 10, 25, 2, 0), DayState.CLOSED),  # 04:00 EET
        # The Saturday before, opened by an exception 10:00-14:00 EEST (07:00-11:00 UTC).
        (utc(2026, 10, 24, 6, 59), DayState.CLOSED),
        (utc(2026, 10, 24, 7, 0), DayState.OPEN),
        (utc(2026, 10, 24, 11, 0), DayState.CLOSED),  # closed, not a holiday
        (utc(2026, 10, 31, 8, 0), DayState.CLOSED),  # the next Saturday: no exception
        # Holidays on weekdays, all day long in local time (EEST: UTC+3).
        (utc(2026, 8, 26, 20, 59), DayState.CLOSED),  # Wednesday 23:59 EEST
        (utc(2026, 8, 26, 21, 0), DayState.HOLIDAY),  # Thursday 00:00 EEST
        (utc(2026, 8, 27, 9, 0), DayState.HOLIDAY),  # Thursday 12:00: would be open
        (utc(2026, 8, 31, 9, 0), DayState.HOLIDAY),  # Monday 12:00
        (utc(2026, 9, 1, 6, 0), DayState.OPEN),  # Tuesday 09:00 EEST
        # The short exception day, 09:00-13:00 EET (07:00-11:00 UTC).
        (utc(2026, 12, 31, 10, 59), DayState.OPEN),
        (utc(2026, 12, 31, 11, 0), DayState.CLOSED),
    ],
)
def test_state_at_in_chisinau(at: datetime, state: DayState) -> None:
    assert state_at(CHISINAU, at) is state
    assert is_open(CHISINAU, at) is (state is DayState.OPEN)


@pytest.mark.parametrize(
    ("at", "change"),
    [
        # 00:00 EET Sunday: the 02:00 opening never happens; it opens when the clock
        # jumps, 01:59:59 EET -> 03:00 EEST = 2026-03-29 00:00 UTC.
        (utc(2026, 3, 28, 22, 0), utc(2026, 3, 29, 0, 0)),
        # Open from 03:00 EEST: closes 04:00 EEST = 01:00 UTC, open one real hour.
        (utc(2026, 3, 29, 0, 0), utc(2026, 3, 29, 1, 0)),
        # Sunday night -> Monday 09:00 EEST = 06:00 UTC (week boundary).
        (utc(2026, 3, 29, 1, 0), utc(2026, 3, 30, 6, 0)),
        # Friday 18:00 EET -> Sunday 03:00 EEST: a whole closed Saturday, then the jump.
        (utc(2026, 3, 27, 16, 0), utc(2026, 3, 29, 0, 0)),
        # Friday 2026-10-23 18:00 EEST -> the exception Saturday 10:00 EEST = 07:00 UTC.
        (utc(2026, 10, 23, 15, 0), utc(2026, 10, 24, 7, 0)),
        (utc(2026, 10, 24, 8, 0), utc(2026, 10, 24, 11, 0)),  # 14:00 EEST
        # Saturday 14:00 -> Sunday 02:00 EEST = 2026-10-24 23:00 UTC.
        (utc(2026, 10, 24, 11, 0), utc(2026, 10, 24, 23, 0)),
        # 02:30 EEST, open: stays open through the repeated hour until 04:00 EET = 02:00 UTC.
        (utc(2026, 10, 24, 23, 30), utc(2026, 10, 25, 2, 0)),
        (utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 2, 0)),  # 02:30 EET, the second time
        # Sunday 04:00 EET -> Monday 09:00 EET = 07:00 UTC (week boundary, now in winter).
        (utc(2026, 10, 25, 2, 0), utc(2026, 10, 26, 7, 0)),
        # Wednesday evening -> the Thursday holiday begins at 00:00 EEST = 21:00 UTC.
        (utc(2026, 8, 26, 17, 0), utc(2026, 8, 26, 21, 0)),
        # Holiday -> plain closed at Friday 00:00 EEST = Thursday 21:00 UTC.
        (utc(2026, 8, 27, 9, 0), utc(2026, 8, 27, 21, 0)),
        (utc(2026, 12, 31, 8, 0), utc(2026, 12, 31, 11, 0)),  # 13:00 EET on the short day
        (utc(2026, 12, 31, 11, 0), utc(2027, 1, 1, 7, 0)),  # Friday 09:00 EET
    ],
)
def test_next_change_in_chisinau(at: datetime, change: datetime) -> None:
    assert next_change(CHISINAU, at) == change


def test_hours_inside_the_skipped_hour_never_open() -> None:
    # 02:15-02:45 on 2026-03-29 does not happen; the next opening is a week later, on
    # 2026-04-05 at 02:15 EEST = 2026-04-04 23:15 UTC.
    assert state_at(CHISINAU_GAP, utc(2026, 3, 29, 0, 0)) is DayState.CLOSED
    assert next_change(CHISINAU_GAP, utc(2026, 3, 28, 22, 0)) == utc(2026, 4, 4, 23, 15)


@pytest.mark.parametrize(
    ("at", "change"),
    [
        (utc(2026, 10, 24, 23, 0), utc(2026, 10, 24, 23, 15)),  # 02:15 EEST opens
        (utc(2026, 10, 24, 23, 15), utc(2026, 10, 24, 23, 45)),  # 02:45 EEST closes
        (utc(2026, 10, 24, 23, 45), utc(2026, 10, 25, 0, 15)),  # 02:15 EET: opens again
        (utc(2026, 10, 25, 0, 0), utc(2026, 10, 25, 0, 15)),  # just after the change
        (utc(2026, 10, 25, 0, 15), utc(2026, 10, 25, 0, 45)),  # 02:45 EET closes again
    ],
)
def test_hours_inside_the_repeated_hour_open_twice(at: datetime, change: datetime) -> None:
    assert next_change(CHISINAU_GAP, at) == change


# -- America/New_York -----------------------------------------------------------------------
# EST (UTC-5) / EDT (UTC-4): the second Sunday of March at 02:00 EST -> 03:00 EDT and the
# first Sunday of November at 02:00 EDT -> 01:00 EST:
#   2026-03-08 07:00 UTC: 01:59:59 EST -> 03:00 EDT, wall 02:00-02:59 never happens;
#   2026-11-01 06:00 UTC: 01:59:59 EDT -> 01:00 EST, wall 01:00-01:59 happens twice.
LUNCH = (Hours.parse("08:00-12:00"), Hours.parse("13:00-17:00"))
NEW_YORK = Calendar(
    name="us",
    zone="America/New_York",
    # Saturday 20:00-24:00 runs into Sunday 00:00-03:30: open across midnight.
    weekly=(LUNCH,) * 5 + ((Hours.parse("20:00-24:00"),), (Hours.parse("00:00-03:30"),)),
    holidays=frozenset({date(2026, 11, 26), date(2026, 11, 27), date(2026, 12, 25)}),
    exceptions=MappingProxyType(
        {
            date(2026, 11, 27): (Hours.parse("09:00-13:00"),),  # a half day despite the holiday
            date(2026, 11, 28): (),  # a Saturday closed
            date(2026, 12, 27): (),  # a Sunday closed: Saturday's hours end at 24:00
        }
    ),
)
# Sunday hours that end inside the repeated hour.
NEW_YORK_EARLY = Calendar(
    name="us-early", zone="America/New_York", weekly=((),) * 6 + ((Hours.parse("00:00-01:30"),),)
)


@pytest.mark.parametrize(
    ("at", "state"),
    [
        # Saturday 2026-03-07 20:00 EST = 2026-03-08 01:00 UTC, open over midnight.
        (utc(2026, 3, 8, 0, 59), DayState.CLOSED),  # 19:59 EST
        (utc(2026, 3, 8, 1, 0), DayState.OPEN),  # 20:00 EST
        (utc(2026, 3, 8, 4, 59, 59), DayState.OPEN),  # Saturday 23:59:59 EST
        (utc(2026, 3, 8, 5, 0), DayState.OPEN),  # Sunday 00:00 EST
        (utc(2026, 3, 8, 6, 59, 59), DayState.OPEN),  # 01:59:59 EST
        (utc(2026, 3, 8, 7, 0), DayState.OPEN),  # 03:00 EDT
        (utc(2026, 3, 8, 7, 29, 59), DayState.OPEN),  # 03:29:59 EDT
        (utc(2026, 3, 8, 7, 30), DayState.CLOSED),  # 03:30 EDT
        # November: 01:59:59 EDT, then 01:00 EST, then 03:30 EST = 08:30 UTC.
        (utc(2026, 11, 1, 5, 59, 59), DayState.OPEN),
        (utc(2026, 11, 1, 6, 0), DayState.OPEN),
        (utc(2026, 11, 1, 8, 29, 59), DayState.OPEN),
        (utc(2026, 11, 1, 8, 30), DayState.CLOSED),
        # Monday with a lunch break: 12:00-13:00 EST = 17:00-18:00 UTC.
        (utc(2026, 11, 2, 16, 59), DayState.OPEN),
        (utc(2026, 11, 2, 17, 0), DayState.CLOSED),
        (utc(2026, 11, 2, 18, 0), DayState.OPEN),
        # Thanksgiving (a Thursday holiday), then a holiday with half-day exception hours:
        # outside those hours it is plain closed, not a holiday.
        (utc(2026, 11, 26, 15, 0), DayState.HOLIDAY),
        (utc(2026, 11, 27, 13, 59), DayState.CLOSED),  # Friday 08:59 EST
        (utc(2026, 11, 27, 14, 0), DayState.OPEN),  # 09:00 EST
        (utc(2026, 11, 27, 18, 0), DayState.CLOSED),  # 13:00 EST
        (utc(2026, 11, 29, 1, 0), DayState.CLOSED),  # Saturday 20:00 EST, closed by exception
        (utc(2026, 11, 29, 5, 0), DayState.OPEN),  # Sunday 00:00 EST as usual
        # Saturday 2026-12-26 20:00-24:00 EST; Sunday closed by an exception.
        (utc(2026, 12, 27, 4, 59, 59), DayState.OPEN),  # 23:59:59 EST
        (utc(2026, 12, 27, 5, 0), DayState.CLOSED),  # 00:00 EST
        # The same instant written in New York time.
        (datetime(2026, 12, 26, 23, 59, 59, tzinfo=ZoneInfo("America/New_York")), DayState.OPEN),
    ],
)
def test_state_at_in_new_york(at: datetime, state: DayState) -> None:
    assert state_at(NEW_YORK, at) is state
    assert is_open(NEW_YORK, at) is (state is DayState.OPEN)


@pytest.mark.parametrize(
    ("at", "change"),
    [
        # Saturday 20:00 EST -> Sunday 03:30 EDT = 07:30 UTC: midnight is no change, and
        # the skipped hour makes 7.5 wall hours 6.5 real ones.
        (utc(2026, 3, 8, 1, 0), utc(2026, 3, 8, 7, 30)),
        (utc(2026, 3, 8, 6, 59, 59), utc(2026, 3, 8, 7, 30)),  # a second before the jump
        (utc(2026, 3, 8, 7, 0), utc(2026, 3, 8, 7, 30)),  # at the jump
        # Sunday 03:30 EDT -> Monday 08:00 EDT = 12:00 UTC (week boundary).
        (utc(2026, 3, 8, 7, 30), utc(2026, 3, 9, 12, 0)),
        (utc(2026, 3, 9, 12, 0), utc(2026, 3, 9, 16, 0)),  # lunch at 12:00 EDT
        (utc(2026, 3, 9, 16, 0), utc(2026, 3, 9, 17, 0)),  # back at 13:00 EDT
        # Friday 17:00 EDT -> Saturday 20:00 EDT = Sunday 00:00 UTC, then Sunday 03:30 EST
        # = 08:30 UTC: 8.5 real hours, the repeated hour included.
        (utc(2026, 10, 30, 21, 0), utc(2026, 11, 1, 0, 0)),
        (utc(2026, 11, 1, 0, 0), utc(2026, 11, 1, 8, 30)),
        (utc(2026, 11, 1, 5, 59, 59), utc(2026, 11, 1, 8, 30)),  # just before the change
        (utc(2026, 11, 1, 6, 0), utc(2026, 11, 1, 8, 30)),  # just after
        # Sunday 03:30 EST -> Monday 08:00 EST = 13:00 UTC (week boundary, now EST).
        (utc(2026, 11, 1, 8, 30), utc(2026, 11, 2, 13, 0)),
        # Wednesday 17:00 EST -> Thanksgiving starts at 00:00 EST = 05:00 UTC.
        (utc(2026, 11, 25, 22, 0), utc(2026, 11, 26, 5, 0)),
        # Thanksgiving -> Friday 00:00 EST: the holiday gives way to exception hours, so
        # the state becomes plain closed at midnight, then opens at 09:00 EST.
        (utc(2026, 11, 26, 15, 0), utc(2026, 11, 27, 5, 0)),
        (utc(2026, 11, 27, 5, 0), utc(2026, 11, 27, 14, 0)),
        (utc(2026, 11, 27, 14, 0), utc(2026, 11, 27, 18, 0)),  # 13:00 EST
        # Closed Saturday by exception: Friday 13:00 -> Sunday 00:00 EST = 05:00 UTC.
        (utc(2026, 11, 27, 18, 0), utc(2026, 11, 29, 5, 0)),
        # Christmas (Friday) holiday -> Saturday 00:00 closed -> Saturday 20:00 EST (01:00
        # UTC) -> 24:00, where the closed Sunday begins: 00:00 EST = 05:00 UTC.
        (utc(2026, 12, 25, 15, 0), utc(2026, 12, 26, 5, 0)),
        (utc(2026, 12, 26, 5, 0), utc(2026, 12, 27, 1, 0)),
        (utc(2026, 12, 27, 1, 0), utc(2026, 12, 27, 5, 0)),
        # ... and the Sunday exception carries on to Monday 08:00 EST = 13:00 UTC.
        (utc(2026, 12, 27, 5, 0), utc(2026, 12, 28, 13, 0)),
    ],
)
def test_next_change_in_new_york(at: datetime, change: datetime) -> None:
    assert next_change(NEW_YORK, at) == change


@pytest.mark.parametrize(
    ("at", "state", "change"),
    [
        # 00:00-01:30 on 2026-11-01: 04:00-05:30 UTC (EDT), then the clock falls back to
        # 01:00 EST at 06:00 UTC, which is inside the hours again, until 01:30 EST = 06:30.
        (utc(2026, 11, 1, 3, 59), DayState.CLOSED, utc(2026, 11, 1, 4, 0)),
        (utc(2026, 11, 1, 4, 0), DayState.OPEN, utc(2026, 11, 1, 5, 30)),
        (utc(2026, 11, 1, 5, 30), DayState.CLOSED, utc(2026, 11, 1, 6, 0)),  # the fall back
        (utc(2026, 11, 1, 5, 59, 59), DayState.CLOSED, utc(2026, 11, 1, 6, 0)),
        (utc(2026, 11, 1, 6, 0), DayState.OPEN, utc(2026, 11, 1, 6, 30)),
        (utc(2026, 11, 1, 6, 30), DayState.CLOSED, utc(2026, 11, 8, 5, 0)),  # next Sunday
    ],
)
def test_hours_ending_inside_the_repeated_hour_open_again_at_the_change(
    at: datetime, state: DayState, change: datetime
) -> None:
    assert state_at(NEW_YORK_EARLY, at) is state
    assert next_change(NEW_YORK_EARLY, at) == change


# -- properties ----------------------------------------------------------------------------
ZONES = ["Europe/Chisinau", "America/New_York", "Europe/Moscow", "UTC",
         "Europe/Berlin", "Australia/Lord_Howe", "Asia/Kolkata"]  # fmt: skip
FIRST, LAST = datetime(2025, 1, 1, tzinfo=UTC_), datetime(2027, 12, 31, tzinfo=UTC_)
# Quarter hours mostly, and any minute.
MINUTES = st.one_of(st.sampled_from(range(0, 1441, 15)), st.integers(0, 1440))


@functools.cache
def clock_changes(zone: str) -> tuple[datetime, ...]:
    """The instants ``zone``'s UTC offset changes in [FIRST, LAST], found by brute force
    (a daily scan, then quarter hours; all these zones change on a quarter hour)."""
    tz, changes = ZoneInfo(zone), []
    day = FIRST
    while day < LAST:
        if day.astimezone(tz).utcoffset() != (day + timedelta(days=1)).astimezone(tz).utcoffset():
            moment = day
            while moment.astimezone(tz).utcoffset() == day.astimezone(tz).utcoffset():
                moment += timedelta(minutes=15)
            changes.append(moment)
        day += timedelta(days=1)
    return tuple(changes)


@st.composite
def day_hours(
    draw: st.DrawFn, minutes: st.SearchStrategy[int], at_least_one: bool = False
) -> tuple[Hours, ...]:
    """Ranges that may touch but never overlap: some of the spans between sorted cuts."""
    cuts = sorted(draw(st.sets(minutes, min_size=2 if at_least_one else 0, max_size=5)))
    keep = [at_least_one, *draw(st.lists(st.booleans(), min_size=len(cuts), max_size=len(cuts)))]
    return tuple(Hours(a, b) for a, b, kept in zip(cuts, cuts[1:], keep, strict=False) if kept)


@st.composite
def calendars_and_instants(draw: st.DrawFn) -> tuple[Calendar, datetime]:
    """A calendar in one of ZONES with holidays and exceptions near ``at``. Mostly ``at``
    is near a clock change, with hours biased to the wall times around it (the
    skipped or repeated hour)."""
    zone = draw(st.sampled_from(ZONES))
    tz, changes = ZoneInfo(zone), clock_changes(zone)
    minutes, week = MINUTES, [draw(day_hours(MINUTES)) for _ in range(7)]
    if changes and draw(st.sampled_from([True, True, True, False])):
        change = draw(st.sampled_from(changes))
        near = draw(st.one_of(
            st.integers(-90, 60).map(lambda m: timedelta(minutes=m)),
            st.integers(-90 * 60, 60 * 60).map(lambda s: timedelta(seconds=s)),
            st.integers(-36 * 3600, 36 * 3600).map(lambda s: timedelta(seconds=s)),
        ))  # fmt: skip
        at = change + near
        wall = change.astimezone(tz)
        around = st.integers(-60, 120).map(lambda m: min(1440, max(0, wall.hour * 60 + m)))
        minutes = st.one_of(MINUTES, around.map(lambda m: m // 15 * 15), around)
        week[wall.weekday()] = draw(day_hours(minutes, at_least_one=True))  # the change day
    else:
        at = draw(st.datetimes(FIRST.replace(tzinfo=None), LAST.replace(tzinfo=None)))
        at = at.replace(tzinfo=UTC_)
    local = at.astimezone(tz).date()
    days_around = st.integers(-1, 9).map(lambda k: local + timedelta(days=k))
    calendar = Calendar(
        name="c",
        zone=zone,
        weekly=tuple(week),
        holidays=draw(st.frozensets(days_around, max_size=3)),
        exceptions=MappingProxyType(
            draw(st.dictionaries(days_around, day_hours(minutes), max_size=3))
        ),
    )
    return calendar, at


def quarter_hours(start: datetime, end: datetime) -> list[datetime]:
    """Every whole quarter hour (UTC) in [start, end): with quarter-hour hours in zones whose
    offsets are whole quarter hours, the state can only change on these."""
    first = start.replace(minute=start.minute // 15 * 15, second=0, microsecond=0)
    moments = [first + timedelta(minutes=15 * k) for k in range(1, 4 * 24 * 3 + 1)]
    return [moment for moment in moments if moment < end]


@settings(max_examples=300, deadline=None)
@given(calendars_and_instants(), st.lists(st.floats(0, 1, exclude_max=True), max_size=3))
def test_the_state_holds_until_next_change_and_differs_there(
    case: tuple[Calendar, datetime], fractions: list[float]
) -> None:
    calendar, at = case
    now = state_at(calendar, at)
    change = next_change(calendar, at)
    if change is not None:
        assert change > at
        assert state_at(calendar, change) != now
        if {now, state_at(calendar, change)} != {DayState.CLOSED, DayState.HOLIDAY}:
            assert is_open(calendar, change) is not is_open(calendar, at)  # it flips there
    end = change or at + timedelta(days=3)
    probes = [at, end - timedelta(microseconds=1)]
    probes += [min(at + (end - at) * fraction, probes[1]) for fraction in fractions]
    probes += quarter_hours(at, min(end, at + timedelta(days=3)))
    for probe in probes:
        assert state_at(calendar, probe) == now, probe
        assert is_open(calendar, probe) is (now is DayState.OPEN)


def test_calendars_are_parsed_from_their_yaml_nodes() -> None:
    text = """\
office:
  zone: Europe/Moscow
  weekly: {mon-fri: "09:00-18:00", sat: ["10:00-12:00", "13:00-15:00"]}
  holidays: [2026-01-01..2026-01-03, 2026-05-01]
  exceptions: {"2026-12-31": "09:00-14:00", "2026-06-12": closed}
9bad: {zone: UTC, weekly: {}}
"""
    reader = FlowReader("f.yaml")
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    assert node is not None
    [(name, key, calendar)] = parse_calendars(reader, node)
    assert (name, key.start_mark.line) == ("office", 0)
    assert calendar == Calendar(
        name="office",
        zone="Europe/Moscow",
        weekly=(WORKDAY,) * 5 + ((Hours.parse("10:00-12:00"), Hours.parse("13:00-15:00")), ()),
        holidays=frozenset(
            {date(2026, 1, 1), date(2026, 1, 2), date(2026, 1, 3), date(2026, 5, 1)}
        ),
        exceptions=MappingProxyType(
            {date(2026, 12, 31): (Hours.parse("09:00-14:00"),), date(2026, 6, 12): ()}
        ),
    )
    assert [str(p) for p in reader.problems] == [
        "f.yaml:6:1: calendar name '9bad' is not valid (a letter, then letters, digits, _ or -)"
    ]
