"""The config's values: text -> value, or ValueError saying what was expected (the
reader adds where)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

T = TypeVar("T")


def positive(kind: Callable[[str], T]) -> Callable[[str], T]:
    def convert(text: str) -> T:
        value = kind(text)
        if not float(value) > 0:  # type: ignore[arg-type]
            raise ValueError(f"must be a positive number, got {text!r}")
        return value

    return convert


def url(text: str) -> str:
    if not text.startswith(("http://", "https://")):
        raise ValueError(f"must start with http:// or https://, got {text!r}")
    return text.rstrip("/")


def log_level(text: str) -> str:
    if text.lower() not in ("debug", "info", "warning", "error"):
        raise ValueError("must be one of debug, info, warning, error")
    return text.lower()


def parse_instant(text: str) -> datetime:
    """An ISO 8601 instant with its UTC offset: 2026-11-25T12:00:00+03:00."""
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is not an ISO 8601 time such as 2026-11-25T12:00:00+03:00"
        ) from None
    if at.tzinfo is None:
        raise ValueError(f"{text!r} needs a UTC offset, e.g. 2026-11-25T12:00:00+03:00")
    return at


def identifier(text: str) -> str:
    if not text.isidentifier() or not text.isascii() or text != text.lower():
        raise ValueError(f"{text!r} is not a lower-case SQL name (letters, digits, _)")
    return text


def boolean(text: str) -> bool:
    if text.lower() in ("true", "yes", "on"):
        return True
    if text.lower() in ("false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def listen(text: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:8090`` for IPv6) -> (host, port)."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected host:port such as 127.0.0.1:8090, got {text!r}")
    return host, int(port)


MAX_KEEP_DAYS = 36_600  # a hundred years: more is a typo


def days(text: str) -> int:
    days = int(text) if text.isdigit() and text.isascii() else 0
    if not 1 <= days <= MAX_KEEP_DAYS:
        raise ValueError(
            f"expected a whole number of days from 1 to {MAX_KEEP_DAYS}, got {text!r} "
            "(omit the key to keep for ever)"
        )
    return days


def trunk(text: str) -> str:
    """``carrier`` or ``PJSIP/carrier`` -> ``PJSIP/carrier``."""
    name = text.removeprefix("PJSIP/")
    if not name or not all(c.isascii() and (c.isalnum() or c in "_.-") for c in name):
        raise ValueError(f"{text!r} is not a PJSIP endpoint name (letters, digits, _ . -)")
    return f"PJSIP/{name}"


def dialable(text: str) -> str:
    digits = text.removeprefix("+")
    if not digits.isdigit() or not 3 <= len(digits) <= 15:
        raise ValueError(f"{text!r} is not a phone number such as +74951234567")
    return text


def region(text: str) -> str:
    import phonenumbers

    if text.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"{text!r} is not an ISO 3166 country code such as RU or DE")
    return text.upper()


def network(text: str) -> str:
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        raise ValueError(f"{text!r} is not an address or network such as 10.0.0.0/8") from None


def frame_source(text: str) -> str:
    if text != "*" and text != "'self'" and not text.startswith(("https://", "http://")):
        raise ValueError(f"{text!r}: expected *, 'self' or an origin such as https://example.com")
    if any(c in text for c in ' ;,"\n'):
        raise ValueError(f"{text!r}: an origin has no spaces, quotes, commas or semicolons")
    return text
