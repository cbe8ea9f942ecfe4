"""Which numbers Switchboard dials on someone's behalf: one policy for every such number.

A queue callback dials the caller ID the call arrived with; a web callback dials what
a visitor typed into a form. Both are chosen by a stranger, and a number that
costs the company money to call (premium rate, shared cost, satellite, a foreign
country the company does not serve) turns the callback into a toll-fraud tool. So
every number is checked here first (``config.DialPolicy``, the ``dial_policy:``
section):

- ``phonenumbers`` must know it as a valid number;
- of one of ``countries`` (a non-geographic number, such as satellite +881 or
  international networks +882/+883, belongs to no country and is refused);
- a fixed line or a mobile: no premium-rate, shared-cost, toll-free, personal,
  pager, UAN, VoIP or voicemail-access number.

Then ``CallbackGate`` counts requests per number, queue and web callbacks
together, so the same number cannot be made to ring over and over by mixing the
two. Refusals carry a stable reason (the metric's label, the API's error id); logs
name the number only ``masked``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import phonenumbers
from phonenumbers import PhoneNumberType

from switchboard.config import DialPolicy
from switchboard.ratelimit import RateLimiter

NUMBER_CHARS = frozenset("+0123456789 -().")
PUNCTUATION = frozenset(" -().")
SHOWN_DIGITS = 2  # a masked number's last digits left visible
MASKED_MAX_CHARS = 20
CALLABLE_TYPES = frozenset(
    {PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}
)
TYPE_NAMES = {
    value: name.lower().replace("_", "-")
    for name, value in vars(PhoneNumberType).items()
    if isinstance(value, int) and not name.startswith("_")
}
# Why a number is not called back (stable: metric labels and API error ids).
REASONS = (
    "invalid_number",  # not a phone number, or anonymous/withheld caller ID
    "country_not_allowed",
    "number_type_not_allowed",
    "rate_limited",  # too many callback requests for this number in the window
    "no_policy",  # the config has no dial_policy: section: nobody is called back
    "unavailable",  # the request could not be stored
)


class NumberRefused(Exception):
    """We will not call this number: ``reason`` (one of ``REASONS``) and why."""

    def __init__(self, reason: str, message: str, retry_after: float = 0.0) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.retry_after = retry_after  # rate_limited: seconds until it may be asked again


def callable_number(text: str, policy: DialPolicy | None) -> str:
    """``text`` as E.164 if the policy lets us call it; ``NumberRefused`` says why not."""
    if policy is None:
        raise NumberRefused("no_policy", "no numbers are called back (no dial_policy: section)")
    cleaned = text.strip()
    if not cleaned or set(cleaned) - NUMBER_CHARS:
        raise NumberRefused("invalid_number", "use digits, spaces, + - ( ) only")
    if cleaned.startswith("00"):  # the international prefix most of the world dials
        cleaned = "+" + cleaned[2:]
    region = policy.default_country or None
    if not cleaned.startswith("+") and region is None:
        raise NumberRefused("invalid_number", "write the number with its country code (+...)")
    try:
        parsed = phonenumbers.parse(cleaned, region)
    except phonenumbers.NumberParseException:
        raise NumberRefused("invalid_number", "not a phone number") from None
    if not phonenumbers.is_valid_number(parsed):
        raise NumberRefused("invalid_number", "not a valid phone number")
    if phonenumbers.region_code_for_number(parsed) not in policy.countries:
        allowed = ", ".join(policy.countries)
        raise NumberRefused("country_not_allowed", f"we call numbers in {allowed} only")
    kind = phonenumbers.number_type(parsed)
    if kind not in CALLABLE_TYPES:
        what = TYPE_NAMES.get(kind, "special")
        raise NumberRefused(
            "number_type_not_allowed", f"a {what} number; we call fixed and mobile only"
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def masked(number: str) -> str:
    """A number fit for a log line or an answer: ``+79161234567`` -> ``+7********67``,
    enough to tell requests apart, not enough to call anyone. Punctuation is dropped;
    whatever else the caller sent (letters, control characters) shows as ``?``; the
    length is bounded."""
    kept = (c for c in number if c not in PUNCTUATION)
    shown = "".join(c if c.isascii() and (c.isdigit() or c == "+") else "?" for c in kept)
    shown = shown[:MASKED_MAX_CHARS]
    head = 2 if shown.startswith("+") else 1
    if len(shown) <= head + SHOWN_DIGITS:
        return "*" * len(shown)
    return shown[:head] + "*" * (len(shown) - head - SHOWN_DIGITS) + shown[-SHOWN_DIGITS:]


class CallbackGate:
    """The policy, then the per-number limit, for every callback request (queue or web).

    The limit is a token bucket per E.164 number (``per_number`` requests per
    ``window_seconds``), remembering at most ``tracked`` numbers. A refused number
    takes no token."""

    def __init__(
        self, policy: DialPolicy | None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.policy = policy
        per_number = policy.per_number if policy else 1
        window = policy.window_seconds if policy else 3600.0
        tracked = policy.tracked if policy else 1
        self.per_number = RateLimiter(per_number, window, tracked, clock)

    def check(self, text: str) -> str:
        """The number as E.164, or ``NumberRefused`` (the policy only; nothing counted)."""
        return callable_number(text, self.policy)

    def count(self, number: str) -> None:
        """One request for ``number`` (E.164); ``NumberRefused("rate_limited")`` if the
        number had too many in the window (then nothing is counted)."""
        wait = self.per_number.take(number)
        if wait:
            raise NumberRefused(
                "rate_limited", "too many callback requests for this number", retry_after=wait
            )

    def refund(self, number: str) -> None:
        """The request counted for ``number`` could not be kept (it was not stored): it
        does not count against the number."""
        self.per_number.refund(number)

    def admit(self, text: str) -> str:
        """``check`` then ``count``: the E.164 number to call, or ``NumberRefused``."""
        number = self.check(text)
        self.count(number)
        return number
