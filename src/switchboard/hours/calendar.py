"""Business-hours calendars: pure functions over aware datetimes.

A calendar is a weekly schedule in one IANA time zone (wall-clock ranges per
weekday), holidays (closed all day), and exceptional dates with hours of their
own (an empty list: closed that day). ``state_at`` and ``next_change`` take the
instant as an argument: no clock is read here. Daylight-saving changes are
handled by converting each instant to the calendar's wall clock.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from types import MappingProxyType
from zoneinfo import ZoneInfo

DAY_MINUTES = 24 * 60
HORIZON_DAYS = 400  # next_change looks this far ahead


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
    starts and ends of its hours, in the calendar's wall clock."""
    tz = calendar.tz
    first = at.astimezone(tz).date()
    for offset in range(HORIZON_DAYS):
        day = first + timedelta(days=offset)
        minutes = {0} | {m for h in calendar.hours_on(day) for m in (h.start, h.end)}
        for minute in sorted(minutes):
            yield _instant(day, minute, tz)


def _instant(day: date, minute: int, tz: ZoneInfo) -> datetime:
    """The instant a wall-clock minute of ``day`` names. A wall time that never
    happens (inside a spring-forward gap, e.g. 02:30) names the moment the clock
    jumps, the first instant at or after it on the wall clock."""
    if minute == DAY_MINUTES:
        day, minute = day + timedelta(days=1), 0
    wall = datetime.combine(day, time(minute // 60, minute % 60))
    before = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    after = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    if before.astimezone(tz).replace(tzinfo=None) == wall:
        return before  # it exists (in a fall-back overlap: its first occurrence)
    low, high = min(before, after), max(before, after)
    while high - low > timedelta(seconds=1):  # find the jump between the two readings
        middle = low + (high - low) / 2
        if middle.astimezone(tz).replace(tzinfo=None) < wall:
            low = middle
        else:
            high = middle
    return high.replace(microsecond=0)
