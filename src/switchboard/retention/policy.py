"""Pure rules of retention and erasure: cutoffs, how a number is stored, masking.

No I/O and no clock: the instant arrives as an argument.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from switchboard.numbers import to_e164

DEFAULT_COUNTRY_CODE = "7"  # to_e164's: national numbers are Russian (the seed customer)
SHOWN_DIGITS = 2  # the number's last digits left visible in logs and answers


def cutoff(now: datetime, keep_days: int) -> datetime:
    """What started (or was stored) before this instant is older than ``keep_days``:
    days of 24 hours (in UTC: a DST change in ``now``'s zone changes nothing)."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime (UTC or with an offset)")
    if keep_days < 1:
        raise ValueError(f"keep_days must be at least 1, got {keep_days}")
    return now.astimezone(UTC) - timedelta(days=keep_days)


def caller_forms(e164: str) -> tuple[str, ...]:
    """Every caller ID without punctuation that ``to_e164`` reads as ``e164``.

    The call log and voicemails keep the caller ID as received (``+79161234567``,
    ``79161234567``, ``89161234567``, ``9161234567``, ``0079161234567``); callback
    requests keep E.164. Matching these forms exactly lets PostgreSQL use an index."""
    if not e164.startswith("+") or to_e164(e164) != e164:
        raise ValueError(f"{mask_number(e164)} is not in E.164 form")
    digits = e164[1:]
    forms = [e164, f"00{digits}"]
    national = digits.removeprefix(DEFAULT_COUNTRY_CODE)
    if national != digits and len(national) == 10:  # written as at home, too
        forms += [f"7{national}", f"8{national}"]
        if not national.startswith("00"):  # (that would be the international prefix)
            forms.append(national)
    return tuple(forms)


def mask_number(number: str) -> str:
    """``+79161234567`` -> ``+7*********67``: enough to tell requests apart in a log,
    not enough to call anyone."""
    head = 2 if number.startswith("+") else 1
    if len(number) <= head + SHOWN_DIGITS:
        return "*" * len(number)
    hidden = len(number) - head - SHOWN_DIGITS
    return number[:head] + "*" * hidden + number[-SHOWN_DIGITS:]
