"""Which callers are blocked: numbers and prefixes, and whether a caller is anonymous.

Pure: no I/O. An entry is a number (any form ``numbers.to_e164`` reads, kept in
E.164) or a prefix written ``+<digits>*`` (international form only: a national
prefix is ambiguous). A caller ID is attacker-controlled text: it is matched only
after the same reading (``to_e164``); one that has no digit at all (empty,
``anonymous``, ``Restricted`` ...) is *anonymous*, which a flow may block too. A
caller ID with digits that is not a number (an internal extension, ``1001``) is
neither blocked by an entry nor anonymous.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from switchboard.numbers import E164_MAX_DIGITS, BadNumber, to_e164

MAX_REASON_CHARS = 200
ANONYMOUS = "anonymous"  # what a match on an anonymous caller names as its entry


def kind_of(matched: str) -> str:
    """What a match was: ``number``, ``prefix`` or ``anonymous`` (the metric's label)."""
    return matched if matched == ANONYMOUS else "prefix" if Entry(matched).is_prefix else "number"


class BadPattern(ValueError):
    """An entry that cannot be a number or a prefix; the message says why."""


@dataclass(frozen=True, slots=True)
class Entry:
    pattern: str  # "+79871234567" or "+7495*"
    reason: str = ""

    @property
    def is_prefix(self) -> bool:
        return self.pattern.endswith("*")


def read_pattern(text: str, country_code: str = "7") -> str:
    """``8 (987) 123-45-67`` -> ``+79871234567``; ``+7 495*`` -> ``+7495*``.
    Raises :class:`BadPattern`."""
    text = text.strip()
    if text.endswith("*"):
        digits = "".join(c for c in text[:-1] if c not in " -.()")
        if (
            not digits.startswith("+")
            or not digits[1:].isascii()
            or not digits[1:].isdigit()
            or not 1 <= len(digits) - 1 < E164_MAX_DIGITS
            or digits[1] == "0"
        ):
            raise BadPattern(
                f"{text[:40]!r} is not a prefix: write + then 1-{E164_MAX_DIGITS - 1} "
                "digits then *, such as +7495*"
            )
        return digits + "*"
    try:
        return to_e164(text, country_code)
    except BadNumber as exc:
        raise BadPattern(f"{exc} (or a prefix such as +7495*)") from None


def read_reason(text: object) -> str:
    if not isinstance(text, str) or len(text) > MAX_REASON_CHARS or not text.isprintable():
        raise BadPattern(f"a reason is at most {MAX_REASON_CHARS} printable characters")
    return text


def is_anonymous(caller_number: str) -> bool:
    """No digit at all: withheld or a word in place of a number."""
    return not any(c.isascii() and c.isdigit() for c in caller_number)


@dataclass(frozen=True, slots=True)
class BlockSet:
    """The entries in force, as sets for a lookup per digit count."""

    numbers: frozenset[str] = frozenset()
    prefixes: frozenset[str] = frozenset()  # without the "*"
    version: int = 0  # the store's version these came from

    @classmethod
    def of(cls, entries: Iterable[Entry], version: int = 0) -> BlockSet:
        numbers, prefixes = set(), set()
        for entry in entries:
            if entry.is_prefix:
                prefixes.add(entry.pattern[:-1])
            else:
                numbers.add(entry.pattern)
        return cls(frozenset(numbers), frozenset(prefixes), version)

    def __len__(self) -> int:
        return len(self.numbers) + len(self.prefixes)

    def match(self, caller_number: str, *, anonymous: bool, country_code: str = "7") -> str:
        """The entry that blocks this caller (its pattern, or ``ANONYMOUS``), or ""."""
        if is_anonymous(caller_number):
            return ANONYMOUS if anonymous else ""
        if not self:
            return ""
        try:
            number = to_e164(caller_number, country_code)
        except BadNumber:
            return ""  # (digits, not a number: an extension; nothing can name it)
        if number in self.numbers:
            return number
        for end in range(len(number), 1, -1):
            if number[:end] in self.prefixes:
                return number[:end] + "*"
        return ""
