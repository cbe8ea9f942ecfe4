"""A web visitor's callback request, parsed and checked at the edge (pure, no I/O).

Every refusal is a ``Refused`` with a stable error id and a message that names the
field. The number is the part that matters most: a form on a public web site
that makes us dial whatever it is given is a toll-fraud tool, so the number must
pass the one dial policy every callback passes (``switchboard.dialpolicy``: valid,
of an allowed country, fixed line or mobile).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from switchboard.config import CallbacksConfig, DialPolicy
from switchboard.dialpolicy import NumberRefused, callable_number

FIELDS = frozenset({"number", "name", "skill", "preferred_time"})
MAX_NUMBER_CHARS = 32
MAX_NAME_CHARS = 100
MAX_TIME_CHARS = 40
PAST_GRACE = timedelta(minutes=5)  # a preferred time a little in the past: now


class Refused(Exception):
    """The visitor's request is wrong: 400 with ``error_id`` and ``message``."""

    def __init__(self, error_id: str, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.error_id = error_id
        self.field = field
        self.message = f"{field}: {message}"


@dataclass(frozen=True, slots=True)
class CallbackRequest:
    number: str  # E.164, e.g. +79161234567
    name: str
    skill: str
    preferred_time: datetime | None  # aware; None: as soon as possible


def parse_request(
    body: Mapping[str, object], config: CallbacksConfig, policy: DialPolicy | None, now: datetime
) -> CallbackRequest:
    """The request, or ``Refused`` for the first thing wrong with it."""
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise Refused(
            "unknown_field", unknown[0], f"unknown field (known: {', '.join(sorted(FIELDS))})"
        )
    if "number" not in body:
        raise Refused("missing_field", "number", "the phone number to call is required")
    return CallbackRequest(
        number=_number(_text(body, "number", MAX_NUMBER_CHARS), policy),
        name=_name(body),
        skill=_skill(body, config),
        preferred_time=_preferred_time(body, config, now),
    )


def _text(body: Mapping[str, object], field: str, longest: int) -> str:
    value = body[field]
    if not isinstance(value, str):
        raise Refused("invalid_type", field, f"expected a string, got {_json_type(value)}")
    if len(value) > longest:
        raise Refused("too_long", field, f"at most {longest} characters")
    return value


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "a list" if isinstance(value, list) else "an object"


def _number(text: str, policy: DialPolicy | None) -> str:
    """The number as E.164 if the dial policy lets us call it; ``Refused`` otherwise."""
    try:
        return callable_number(text, policy)
    except NumberRefused as refused:
        raise Refused(refused.reason, "number", refused.message) from None


def _name(body: Mapping[str, object]) -> str:
    if body.get("name") is None:
        return ""
    name = " ".join(_text(body, "name", MAX_NAME_CHARS).split())
    if any(not c.isprintable() for c in name):
        raise Refused("invalid_name", "name", "control characters are not allowed")
    return name


def _skill(body: Mapping[str, object], config: CallbacksConfig) -> str:
    if body.get("skill") is None:
        return config.default_skill
    skill = _text(body, "skill", 64)
    if skill not in config.skills:
        raise Refused("skill_not_allowed", "skill", f"one of {', '.join(config.skills)}")
    return skill


def _preferred_time(
    body: Mapping[str, object], config: CallbacksConfig, now: datetime
) -> datetime | None:
    if body.get("preferred_time") is None:
        return None
    text = _text(body, "preferred_time", MAX_TIME_CHARS)
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise Refused(
            "invalid_time", "preferred_time", "an ISO 8601 time such as 2026-12-01T10:00:00+03:00"
        ) from None
    if at.tzinfo is None:
        raise Refused(
            "invalid_time", "preferred_time", "give the UTC offset, e.g. 2026-12-01T10:00:00+03:00"
        )
    if at < now - PAST_GRACE:
        raise Refused("time_out_of_range", "preferred_time", "that time has passed")
    if at > now + timedelta(days=config.max_days_ahead):
        raise Refused(
            "time_out_of_range", "preferred_time", f"at most {config.max_days_ahead} days ahead"
        )
    return at if at > now else None
