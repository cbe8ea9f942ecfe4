"""Tier 1: the one dial policy every callback passes (queue and web), its per-number
limit shared by both kinds, and how a number shows in a log line."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from switchboard.config import DialPolicy
from switchboard.dialpolicy import REASONS, CallbackGate, NumberRefused, callable_number, masked

POLICY = DialPolicy(countries=("RU", "KZ"), default_country="RU", per_number=2)


@pytest.mark.parametrize(
    ("written", "e164"),
    [
        ("+79161234567", "+79161234567"),  # a Russian mobile
        ("+7 (916) 123-45-67", "+79161234567"),
        ("8 916 123 45 67", "+79161234567"),  # national format (default country RU)
        ("8 (916) 123-45-67", "+79161234567"),
        ("89161234567", "+79161234567"),
        ("79161234567", "+79161234567"),  # a caller ID without the +
        ("0079161234567", "+79161234567"),  # the international prefix 00
        ("+74951234567", "+74951234567"),  # a Moscow fixed line
        ("+7 727 258 3434", "+77272583434"),  # Almaty, Kazakhstan (listed too)
    ],
)
def test_fixed_and_mobile_numbers_of_listed_countries_are_callable(written: str, e164: str) -> None:
    assert callable_number(written, POLICY) == e164


@pytest.mark.parametrize(
    ("written", "reason"),
    [
        # The review's reproductions: each was dialled through the trunk before.
        ("+1 900 555 1234", "country_not_allowed"),  # US premium rate
        ("+882 345 678 901", "invalid_number"),  # international networks
        ("+88216 1234 5678", "country_not_allowed"),  # Thuraya satellite: no country
        ("00881 6 1234 5678", "country_not_allowed"),  # Iridium satellite, 00 prefix
        ("+677 7412345", "country_not_allowed"),  # Solomon Islands (a fraud favourite)
        ("+78001234567", "number_type_not_allowed"),  # toll-free 8-800: we would pay
        ("+78091234567", "number_type_not_allowed"),  # premium rate 8-809: toll fraud
        ("+447911123456", "country_not_allowed"),  # a UK mobile: not a listed country
        ("+7916123456", "invalid_number"),  # a digit short
        ("+79161234567x", "invalid_number"),  # letters
        ("+7916123456789012", "invalid_number"),  # too long for E.164
        ("*100#", "invalid_number"),  # a USSD code
        ("", "invalid_number"),  # anonymous: no caller ID at all
        ("anonymous", "invalid_number"),
        ("   ", "invalid_number"),
        ("101", "invalid_number"),  # an emergency or service short number
        ("+79161234567\r\nX: y", "invalid_number"),  # control characters in a caller ID
    ],
)
def test_numbers_we_must_not_call_are_refused_with_a_stable_reason(
    written: str, reason: str
) -> None:
    with pytest.raises(NumberRefused) as refused:
        callable_number(written, POLICY)
    assert refused.value.reason == reason
    assert refused.value.reason in REASONS


def test_without_a_default_country_a_national_number_is_refused() -> None:
    with pytest.raises(NumberRefused, match="country code"):
        callable_number("8 916 123 45 67", replace(POLICY, default_country=""))


def test_without_a_policy_nobody_is_called_back() -> None:
    with pytest.raises(NumberRefused) as refused:
        callable_number("+79161234567", None)
    assert refused.value.reason == "no_policy"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_per_number_limit_counts_every_callback_of_the_number_whatever_its_writing() -> None:
    clock = Clock()
    gate = CallbackGate(POLICY, clock)
    assert gate.admit("8 (916) 123-45-67") == "+79161234567"  # a queue callback's caller ID
    gate.count(gate.check("+7 916 123 45 67"))  # a web callback, the same number
    with pytest.raises(NumberRefused) as refused:
        gate.admit("89161234567")
    assert refused.value.reason == "rate_limited"
    assert refused.value.retry_after > 0
    assert gate.admit("+79161234568") == "+79161234568"  # another number is not held back
    clock.now += 3600 / POLICY.per_number  # one request's worth of the window later
    assert gate.admit("+79161234567") == "+79161234567"


def test_a_refused_number_takes_nothing_from_the_limit() -> None:
    gate = CallbackGate(replace(POLICY, per_number=1), Clock())
    for _ in range(3):
        with pytest.raises(NumberRefused):
            gate.admit("+78091234567")  # premium rate: refused before it is counted
    assert len(gate.per_number) == 0


@pytest.mark.parametrize(
    ("number", "shown"),
    [
        ("+79161234567", "+7********67"),
        ("89161234567", "8********67"),
        ("", ""),
        ("101", "***"),
        ("+7916\r\n1234567", "+7**********67"),
        ("+7 (916) 123-45-67", "+7********67"),
    ],
)
def test_a_logged_number_is_masked(number: str, shown: str) -> None:
    assert masked(number) == shown


@given(st.text(max_size=60))
def test_a_masked_number_never_shows_more_than_four_of_its_characters(number: str) -> None:
    shown = masked(number)
    assert len(shown) <= 20
    assert sum(c != "*" for c in shown) <= 4
    assert all(c.isascii() and c.isprintable() for c in shown)


def test_a_request_that_could_not_be_kept_is_given_back_to_its_number() -> None:
    gate = CallbackGate(replace(POLICY, per_number=1), Clock())
    gate.admit("+79161234567")
    gate.refund("+79161234567")  # (its spool write failed: nothing was taken)
    assert gate.admit("+79161234567") == "+79161234567"
    with pytest.raises(NumberRefused):
        gate.admit("+79161234567")
