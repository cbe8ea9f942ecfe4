"""Business-hours calendars: pure functions over aware datetimes.

A calendar is a weekly schedule in one IANA time zone (wall-clock ranges per
weekday), holidays (closed all day), and exceptional dates with hours of their
own (an empty list: closed that day). ``state_at`` and ``next_change`` take the
instant as an argument: no clock is read here. Daylight-saving changes are
handled by converting each instant to the calendar's wall clock: hours inside a
spring-forward gap are skipped, and hours inside a fall-back overlap are open
twice, as the wall clock shows them twice.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from types import MappingProxyType
from zoneinfo import ZoneInfo

DAY_MINUTES = 24 * 60
HORIZON_DAYS = 400  # next_change looks this far ahead
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class DayState(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    HOLIDAY = "holiday"


@dataclass(frozen=True, slots=True)
class Hours:
    """Open from ``start`` to ``end`` (minutes after local midnight, end exclusive)."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end <= DAY_MINUTES:
            raise ValueError(f"hours {self.start}-{self.end}: need 0 <= start < end <= 1440")

    @classmethod
    def parse(cls, text: str) -> Hours:
        """``"09:00-18:00"`` (``24:00`` allowed as an end)."""
        start, _, end = text.partition("-")
        first, last = _minutes(start), _minutes(end)
        if last <= first:
            raise ValueError(f"{text!r}: the end must be after the start")
        return cls(first, last)

    def __contains__(self, minute: int) -> bool:
        return self.start <= minute < self.end

    def __str__(self) -> str:
        return f"{_clock(self.start)}-{_clock(self.end)}"


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _minutes(text: str) -> int:
    hours, _, minutes = text.strip().partition(":")
    if not (hours.isdigit() and minutes.isdigit() and len(minutes) == 2):
        raise ValueError(f"{text!r} is not a time such as 09:00")
    value = int(hours) * 60 + int(minutes)
    if int(minutes) >= 60 or value > DAY_MINUTES:
        raise ValueError(f"{text!r} is not a time of day")
    return value


@dataclass(frozen=True, slots=True)
class Calendar:
    name: str
    zone: str  # IANA name, e.g. "Europe/Moscow"
    weekly: tuple[tuple[Hours, ...], ...]  # Monday .. Sunday
    holidays: frozenset[date] = frozenset()
    exceptions: Mapping[date, tuple[Hours, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )

    def __post_init__(self) -> None:
        if len(self.weekly) != 7:
            raise ValueError("weekly needs one entry per weekday, Monday first")
        ZoneInfo(self.zone)  # unknown zone: ZoneInfoNotFoundError now, not at a call
        for weekday, hours in zip(WEEKDAYS, self.weekly, strict=True):
            _check_no_overlap(self.name, weekday, hours)
        for day, hours in self.exceptions.items():
            _check_no_overlap(self.name, f"exception {day.isoformat()}", hours)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)

    def hours_on(self, day: date) -> tuple[Hours, ...]:
        if day in self.exceptions:
            return self.exceptions[day]
        if day in self.holidays:
            return ()
        return self.weekly[day.weekday()]

    def day_state(self, day: date) -> DayState:
        """What a closed moment on ``day`` is called: a holiday or plain closed."""
        return (
            DayState.HOLIDAY
            if day in self.holidays and day not in self.exceptions
            else (DayState.CLOSED)
        )


def _check_no_overlap(name: str, where: str, hours: tuple[Hours, ...]) -> None:
    """Ranges of one day may touch (09:00-13:00, 13:00-18:00) but not overlap."""
    ordered = sorted(hours, key=lambda h: (h.start, h.end))
    for first, second in itertools.pairwise(ordered):
        if second.start < first.end:
            raise ValueError(f"calendar {name!r}, {where}: hours {first} and {second} overlap")


def state_at(calendar: Calendar, at: datetime) -> DayState:
    """Open, closed, or holiday at the instant ``at`` (which must be time-zone aware)."""
    if at.tzinfo is None:
        raise ValueError("state_at needs an aware datetime")
    local = at.astimezone(calendar.tz)
    minute = local.hour * 60 + local.minute
    if any(minute in hours for hours in calendar.hours_on(local.date())):
        return DayState.OPEN
    return calendar.day_state(local.date())


def is_open(calendar: Calendar, at: datetime) -> bool:
    return state_at(calendar, at) is DayState.OPEN


def next_change(calendar: Calendar, at: datetime) -> datetime | None:
    """The first instant after ``at`` at which the state differs; None if none within
    about a year (a calendar that is always open or always closed)."""
    now = state_at(calendar, at)
    for boundary in _boundaries(calendar, at):
        if boundary > at and state_at(calendar, boundary) != now:
            return boundary
    return None


def _boundaries(calendar: Calendar, at: datetime) -> Iterator[datetime]:
    """Instants where the state may change, in order: each day's midnight and the
    starts and ends of its hours in the calendar's wall clock (both occurrences of a
    wall time the clock shows twice when it falls back), and the moment the clock
    changes (falling back, the wall clock jumps back to an earlier minute whose state
    may differ, e.g. from 01:59 to 01:00 with hours 00:00-01:30).

    Assumes, as holds for every zone in use, at most one clock change a day and no
    change that moves the wall clock across midnight."""
    tz = calendar.tz
    day = at.astimezone(tz).date()
    start = min(_instants(day, 0, tz))  # when the day begins
    for _ in range(HORIZON_DAYS):
        end = min(_instants(day, DAY_MINUTES, tz))
        minutes = {0} | {m for h in calendar.hours_on(day) for m in (h.start, h.end)}
        moments = {moment for minute in minutes for moment in _instants(day, minute, tz)}
        moments.update(_clock_change(start, end, tz))
        yield from sorted(moments)
        day, start = day + timedelta(days=1), end


def _wall(moment: datetime, tz: ZoneInfo) -> datetime:
    return moment.astimezone(tz).replace(tzinfo=None)


def _instants(day: date, minute: int, tz: ZoneInfo) -> list[datetime]:
    """The instants (UTC) a wall-clock minute of ``day`` names: one; two in a
    fall-back overlap (01:30 in New York on 2026-11-01 is 05:30 and 06:30 UTC); and
    for a wall time that never happens (inside a spring-forward gap, e.g. 02:30) the
    moment the clock jumps, the first instant at or after it on the wall clock."""
    if minute == DAY_MINUTES:
        day, minute = day + timedelta(days=1), 0
    wall = datetime.combine(day, time(minute // 60, minute % 60))
    readings = sorted({wall.replace(tzinfo=tz, fold=fold).astimezone(UTC) for fold in (0, 1)})
    real = [moment for moment in readings if _wall(moment, tz) == wall]
    if real:
        return real
    return [_first_second(readings[0], readings[-1], lambda m: _wall(m, tz) >= wall)]


def _clock_change(start: datetime, end: datetime, tz: ZoneInfo) -> list[datetime]:
    """The instant in (start, end] at which the UTC offset changes, if it does."""
    offset = start.astimezone(tz).utcoffset()
    if end.astimezone(tz).utcoffset() == offset:
        return []
    return [_first_second(start, end, lambda m: m.astimezone(tz).utcoffset() != offset)]


def _first_second(low: datetime, high: datetime, reached: Callable[[datetime], bool]) -> datetime:
    """The first whole second in (low, high] at which ``reached`` holds, given that it
    does not at ``low``, does at ``high``, and holds from some instant on."""
    below, above = math.floor(low.timestamp()), math.ceil(high.timestamp())
    while above - below > 1:
        middle = (below + above) // 2
        if reached(datetime.fromtimestamp(middle, UTC)):
            above = middle
        else:
            below = middle
    return datetime.fromtimestamp(above, UTC)
