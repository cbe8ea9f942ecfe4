"""One value of an import file at a time: text -> value, or :class:`Invalid` saying why
and how to fix it (the caller adds where)."""

from __future__ import annotations

import difflib
import re
import sys
import zoneinfo
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal

from switchboard.hours.parse import CALENDAR_NAME

ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")  # agents and sites
ENDPOINT = re.compile(r"[A-Za-z][A-Za-z0-9]*/[A-Za-z0-9_.@+:-]{1,80}")
SKILL = re.compile(r"[a-z][a-z0-9_]{0,39}")
LANGUAGE = re.compile(r"[a-z]{2,3}")
CALENDAR = CALENDAR_NAME  # a calendar name, as in the flows
AMOUNT = re.compile(r"[0-9]{1,12}(\.[0-9]{1,2})?")  # customers.lifetime_value numeric(14, 2)
COUNT = re.compile(r"[0-9]{1,9}")
SEGMENTS = ("vip", "regular", "new", "occasional")
LEVELS = ("trainee", "regular", "senior")
MAX_ZONE_CHARS = 64
SEPARATOR = ";"  # between the items of a list in a CSV cell


class Invalid(ValueError):
    """One bad value; the message says why and how to fix it (the caller adds where)."""


def free_text(text: str) -> str:
    if "\x00" in text:
        raise Invalid("holds a NUL character, which the database cannot store (remove it)")
    return text


# Values that repeat on many of a million rows (segments, languages, owners, products)
# are kept once, interned, rather than once per row.
def product(text: str) -> str:
    return sys.intern(free_text(text))


def _either(options: Sequence[str]) -> str:
    return ", ".join(options[:-1]) + " or " + options[-1]


def segment(text: str) -> str:
    if text not in SEGMENTS:
        raise Invalid(f"{text!r} is not a segment (use {_either(SEGMENTS)})")
    return SEGMENTS[SEGMENTS.index(text)]


def level(text: str) -> str:
    if text not in LEVELS:
        raise Invalid(f"{text!r} is not a level (use {_either(LEVELS)})")
    return text


def language(text: str) -> str:
    if not LANGUAGE.fullmatch(text):
        raise Invalid(f"{text!r} is not a language code (2-3 lower-case letters: en, ru, ro)")
    return sys.intern(text)


def identifier(text: str) -> str:
    if not ID.fullmatch(text):
        raise Invalid(f"{text!r} is not a valid id (1-64 letters, digits, _, . or -, such as a101)")
    return sys.intern(text)


def endpoint(text: str) -> str:
    if not ENDPOINT.fullmatch(text):
        raise Invalid(f"{text!r} is not an endpoint (TECH/resource, such as PJSIP/101)")
    return text


def calendar(text: str) -> str:
    if not CALENDAR.fullmatch(text):
        raise Invalid(f"{text!r} is not a calendar name (a letter, then letters, digits, _ or -)")
    return text


def zone(text: str) -> str:
    try:
        if len(text) <= MAX_ZONE_CHARS and not text.startswith(("/", ".")):
            zoneinfo.ZoneInfo(text)
            return text
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        pass
    close = difflib.get_close_matches(text, sorted(zoneinfo.available_timezones()), n=1)
    hint = f"did you mean {close[0]!r}?" if close else "such as Europe/Moscow"
    raise Invalid(f"{text!r} is not an IANA time zone ({hint})")


def amount(text: str) -> Decimal:
    if not AMOUNT.fullmatch(text):
        raise Invalid(
            f"{text!r} is not an amount (a number >= 0 with a dot and at most 2 decimals, "
            "such as 1250.50)"
        )
    return Decimal(text)


def score(text: str) -> float:
    try:
        score = float(text)
    except ValueError:
        raise Invalid(f"{text!r} is not a number (a score from 0 to 1, such as 0.25)") from None
    if not 0 <= score <= 1:
        raise Invalid(f"{text!r} is out of range (a score from 0 to 1, such as 0.25)")
    return score


def instant(text: str) -> datetime:
    """ISO 8601; a date alone is midnight, and no UTC offset means UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid(
            f"{text!r} is not an ISO date (write 2026-01-31, 2026-01-31 14:30 "
            "or 2026-01-31T14:30:00+03:00)"
        ) from None
    # In UTC: the instant is the same, and a million rows do not each hold a time zone.
    return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)


def count(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        if not COUNT.fullmatch(text):
            raise Invalid(f"{text!r} is not a whole number (use {low} to {high})")
        if not low <= int(text) <= high:
            raise Invalid(f"{text} is out of range (use {low} to {high})")
        return int(text)

    return parse


def split(text: str) -> list[str]:
    """``a; b;;c`` -> ``[a, b, c]``: empty items are nothing, not mistakes."""
    return [item for item in (part.strip() for part in text.split(SEPARATOR)) if item]


def skill_name(text: str) -> str:
    if not SKILL.fullmatch(text):
        raise Invalid(
            f"{text!r} is not a skill name (a lower-case letter, then up to 39 lower-case "
            "letters, digits or _, such as sales)"
        )
    return text


def proficiency(skill: str) -> Callable[[str], int]:
    whole = count(1, 5)

    def parse(text: str) -> int:
        try:
            return whole(text)
        except Invalid as exc:
            raise Invalid(f"{skill}: proficiency {exc}") from None

    return parse
