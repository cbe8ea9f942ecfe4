"""Tier 1: phone numbers as people write them -> E.164."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from switchboard.numbers import BadNumber, to_e164


@pytest.mark.parametrize(
    ("written", "e164"),
    [
        ("8 (987) 123-45-67", "+79871234567"),  # the seed's mobile, as people write it
        ("89871234567", "+79871234567"),
        ("79871234567", "+79871234567"),
        ("+7 987 123 45 67", "+79871234567"),
        ("9871234567", "+79871234567"),  # 10-digit national
        ("(495) 123.45.67", "+74951234567"),
        ("0037322123456", "+37322123456"),  # 00: the international prefix (Moldova)
        ("+1 212 555 0100", "+12125550100"),
        ("+44 20 7946 0958", "+442079460958"),
    ],
)
def test_numbers_are_normalized_to_e164(written: str, e164: str) -> None:
    assert to_e164(written) == e164


FULL_WIDTH = "".join(chr(0xFF10 + int(d)) for d in "89871234567")


@pytest.mark.parametrize(
    ("written", "why"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("8 987 123 45", "has 9 digits"),
        ("898712345678", "has 12 digits"),
        ("+7 987", "not an international number"),
        ("+0 123 456 789", "not an international number"),
        ("+1234567890123456", "not an international number"),
        ("8-800-FLOWERS", "holds 'F'"),
        ("7+9871234567", "holds '+'"),
        ("'; DROP TABLE calls; --", "holds"),
        (FULL_WIDTH, f"holds {FULL_WIDTH[0]!r}"),  # full-width digits are not ASCII digits
    ],
)
def test_malformed_numbers_say_what_is_wrong(written: str, why: str) -> None:
    with pytest.raises(BadNumber, match=re.escape(why)):
        to_e164(written)


@given(st.text(max_size=40))
def test_any_text_is_a_number_or_a_bad_number(text: str) -> None:
    try:
        e164 = to_e164(text)
    except BadNumber:
        return
    assert e164.startswith("+")
    assert e164[1:].isdigit()
    assert 8 <= len(e164) - 1 <= 15
    assert to_e164(e164) == e164  # normalizing twice changes nothing
