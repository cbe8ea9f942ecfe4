"""Phone numbers as people write them -> E.164 (``+79871234567``).

Rules (the seed customer is Russian; other countries are written with ``+``):
- ``+`` then 8-15 digits: kept as written (punctuation dropped);
- ``00`` then digits: the international prefix, becomes ``+``;
- 11 digits starting with 8 or 7 (Russian trunk prefix / country code): ``+7`` and
  the last 10 digits;
- 10 digits: a national Russian number, ``+7`` in front.

Spaces, dots, dashes and parentheses are punctuation. Anything else (letters, a
``+`` in the middle, too few or too many digits) is a :class:`BadNumber` whose
message says what is wrong.
"""

from __future__ import annotations

import re

PUNCTUATION = re.compile(r"[\s.\-()/]")
E164_MAX_DIGITS = 15


class BadNumber(ValueError):
    """A number that cannot be dialed; the message says why."""


def to_e164(text: str, country_code: str = "7") -> str:
    """``8 (987) 123-45-67`` -> ``+79871234567``; raises :class:`BadNumber`."""
    compact = PUNCTUATION.sub("", text)
    if not compact:
        raise BadNumber("the number is empty")
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    plus = compact.startswith("+")
    digits = compact[1:] if plus else compact
    if not digits:
        raise BadNumber(f"{text!r} has no digits")
    if not digits.isdigit() or not digits.isascii():
        bad = next(c for c in digits if not (c.isascii() and c.isdigit()))
        raise BadNumber(
            f"{text!r} holds {bad!r}; a number is digits, with an optional leading + "
            "(spaces, dashes, dots and parentheses are allowed)"
        )
    if plus:
        if not 8 <= len(digits) <= E164_MAX_DIGITS or digits[0] == "0":
            raise BadNumber(
                f"{text!r} is not an international number "
                f"(+ then a country code and 8-{E164_MAX_DIGITS} digits in all)"
            )
        return "+" + digits
    if len(digits) == 11 and digits[0] in "78":
        return f"+{country_code}{digits[1:]}"
    if len(digits) == 10:
        return f"+{country_code}{digits}"
    raise BadNumber(
        f"{text!r} has {len(digits)} digits; write 8XXXXXXXXXX, a 10-digit national "
        "number, or +<country code><number>"
    )
