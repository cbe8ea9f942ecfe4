"""Pure rules of retention and erasure: cutoffs, how a number is stored (masking, as in
every log line that names a caller: ``dialpolicy.masked``).

No I/O and no clock: the instant arrives as an argument.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import phonenumbers

from switchboard.dialpolicy import masked
from switchboard.numbers import BadNumber, to_e164

DEFAULT_COUNTRY_CODE = "7"  # to_e164's: national numbers are Russian (the seed customer)


def cutoff(now: datetime, keep_days: int) -> datetime:
    """What started (or was stored) before this instant is older than ``keep_days``:
    days of 24 hours (in UTC: a DST change in ``now``'s zone changes nothing)."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime (UTC or with an offset)")
    if keep_days < 1:
        raise ValueError(f"keep_days must be at least 1, got {keep_days}")
    return now.astimezone(UTC) - timedelta(days=keep_days)


def valid_e164(number: str) -> str:
    """The number to erase, in E.164; ``BadNumber`` unless it is a real number (a
    national number is read as Switchboard reads caller IDs, Russian: a foreign one
    written without its country code would otherwise be erased as some other number,
    silently, and the answer say "complete")."""
    e164 = to_e164(number)
    if not phonenumbers.is_valid_number(phonenumbers.parse(e164)):
        raise BadNumber(
            f"{masked(e164)} is not a valid phone number; write it with its country code (+...)"
        )
    return e164


def caller_forms(e164: str) -> tuple[str, ...]:
    """Every caller ID without punctuation that ``to_e164`` reads as ``e164``.

    The call log and voicemails keep the caller ID as received (``+79161234567``,
    ``79161234567``, ``89161234567``, ``9161234567``, ``0079161234567``); callback
    requests keep E.164. Matching these forms exactly lets PostgreSQL use an index."""
    if not e164.startswith("+") or to_e164(e164) != e164:
        raise ValueError(f"{masked(e164)} is not in E.164 form")
    digits = e164[1:]
    forms = [e164, f"00{digits}"]
    national = digits.removeprefix(DEFAULT_COUNTRY_CODE)
    if national != digits and len(national) == 10:  # written as at home, too
        forms += [f"7{national}", f"8{national}"]
        if not national.startswith("00"):  # (that would be the international prefix)
            forms.append(national)
    return tuple(forms)
