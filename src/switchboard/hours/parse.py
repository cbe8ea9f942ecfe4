"""Calendars as a flow file writes them (``calendars:``) -> :class:`Calendar`.

Business hours per weekday, holidays (dates and ranges), exceptional dates with hours
of their own, and the IANA time zone. The reader that walks the YAML nodes and words
the problems is the flows' (anything with the methods of :class:`NodeReader`), so a
calendar's mistakes read like the rest of its file's.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from types import MappingProxyType
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from .calendar import Calendar, Hours

CALENDAR_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
MAX_HOLIDAY_RANGE_DAYS = 31
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CALENDAR_FIELDS = frozenset({"zone", "weekly", "holidays", "exceptions"})


class NodeReader(Protocol):
    """Reads composed YAML nodes, collecting problems (flows.reading.FlowReader)."""

    def error(self, node: yaml.Node, message: str) -> None: ...

    def mapping(self, node: yaml.Node, what: str) -> dict[str, tuple[yaml.Node, yaml.Node]]: ...

    def check_fields(
        self, items: dict[str, tuple[yaml.Node, yaml.Node]], allowed: frozenset[str], what: str
    ) -> None: ...

    def text(self, node: yaml.Node, what: str, pattern: re.Pattern[str] | None = None) -> str: ...


def parse_calendars(reader: NodeReader, node: yaml.Node) -> list[tuple[str, yaml.Node, Calendar]]:
    """``calendars:`` -> (name, the name's key node, calendar) of each valid calendar."""
    calendars = []
    for name, (key, value) in reader.mapping(node, "calendars").items():
        if not CALENDAR_NAME.fullmatch(name):
            reader.error(
                key,
                f"calendar name {name!r} is not valid (a letter, then letters, digits, _ or -)",
            )
            continue
        calendar = parse_calendar(reader, name, value)
        if calendar is not None:
            calendars.append((name, key, calendar))
    return calendars


def parse_calendar(reader: NodeReader, name: str, node: yaml.Node) -> Calendar | None:
    what = f"calendar {name!r}"
    items = reader.mapping(node, what)
    reader.check_fields(items, CALENDAR_FIELDS, what)
    if "zone" not in items or "weekly" not in items:
        reader.error(node, f"{what} needs zone and weekly (see docs/flows.md)")
        return None
    zone_node = items["zone"][1]
    zone = reader.text(zone_node, f"{what}: zone")
    try:
        ZoneInfo(zone)
    except (ValueError, ZoneInfoNotFoundError):
        reader.error(
            zone_node,
            f"{what}: unknown time zone {zone!r} (use an IANA name such as Europe/Moscow)",
        )
        return None
    weekly = _weekly(reader, what, items["weekly"][1])
    holidays = _dates(reader, what, items["holidays"][1]) if "holidays" in items else []
    exceptions: dict[date, tuple[Hours, ...]] = {}
    if "exceptions" in items:
        for day_text, (day_key, hours_node) in reader.mapping(
            items["exceptions"][1], f"{what}: exceptions"
        ).items():
            day = _date(reader, what, day_key, day_text)
            if day is not None:
                exceptions[day] = _hours_spec(reader, what, hours_node)
    try:
        return Calendar(name, zone, weekly, frozenset(holidays), MappingProxyType(exceptions))
    except ValueError as exc:  # overlapping hours on one day
        reader.error(node, f"{exc} (make the ranges of a day follow each other)")
        return None


def _weekly(reader: NodeReader, what: str, node: yaml.Node) -> tuple[tuple[Hours, ...], ...]:
    week: list[tuple[Hours, ...]] = [()] * 7
    written: dict[int, str] = {}  # day -> the key that set it
    for days, (key, value) in reader.mapping(node, f"{what}: weekly").items():
        first, _, last = days.partition("-")
        if first not in WEEKDAYS or (last and last not in WEEKDAYS):
            reader.error(
                key, f"{what}: {days!r} is not a day or range of days (use mon..sun, e.g. mon-fri)"
            )
            continue
        start, end = WEEKDAYS.index(first), WEEKDAYS.index(last or first)
        if end < start:
            reader.error(
                key,
                f"{what}: {days!r} runs backwards (write the week from mon to sun, "
                f"e.g. {last}-{first} or two keys)",
            )
            continue
        hours = _hours_spec(reader, what, value)
        for day in range(start, end + 1):
            if day in written:
                reader.error(
                    key,
                    f"{what}: {WEEKDAYS[day]} is in both {written[day]!r} and {days!r} "
                    "(give each day once)",
                )
                break
            written[day] = days
            week[day] = hours
    return tuple(week)


def _hours_spec(reader: NodeReader, what: str, node: yaml.Node) -> tuple[Hours, ...]:
    """``"09:00-18:00"``, a list of such, or ``closed``."""
    items = node.value if isinstance(node, yaml.SequenceNode) else [node]
    hours = []
    for item in items:
        text = reader.text(item, f"{what}: hours")
        if text == "closed":
            if len(items) > 1:
                reader.error(
                    item, f"{what}: closed cannot be mixed with hours (use one or the other)"
                )
            continue
        try:
            hours.append(Hours.parse(text))
        except ValueError as exc:
            reader.error(item, f"{what}: {exc} (write hours as 09:00-18:00, or closed)")
    return tuple(sorted(hours, key=lambda h: h.start))


def _dates(reader: NodeReader, what: str, node: yaml.Node) -> list[date]:
    """Holidays: dates (2027-01-01) or inclusive ranges (2027-01-01..2027-01-08)."""
    if not isinstance(node, yaml.SequenceNode):
        reader.error(
            node,
            f"{what}: holidays must be a list of dates such as 2026-01-01 "
            "or ranges such as 2027-01-01..2027-01-08",
        )
        return []
    days: list[date] = []
    for item in node.value:
        text = reader.text(item, f"{what}: holiday")
        first_text, dots, last_text = text.partition("..")
        first = _date(reader, what, item, first_text)
        last = _date(reader, what, item, last_text) if dots else first
        if first is None or last is None:
            continue
        if not first <= last <= first + timedelta(days=MAX_HOLIDAY_RANGE_DAYS):
            reader.error(
                item,
                f"{what}: holiday range {text!r} must run forward and span at most "
                f"{MAX_HOLIDAY_RANGE_DAYS} days",
            )
            continue
        days += [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return days


def _date(reader: NodeReader, what: str, node: yaml.Node, text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        reader.error(node, f"{what}: {text!r} is not a date (write it as 2026-01-01)")
        return None
