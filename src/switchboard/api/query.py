"""Query strings, parsed at the edge: paging (``limit`` and an opaque ``cursor``)
and filters. Anything wrong is a 400 ``invalid_query`` that names the parameter:

    {"error": {"id": "invalid_query", "param": "limit",
               "message": "limit: expected a whole number from 1 to 500, got 'ten'"}}

A cursor is the sort key of the last item of a page (base64url of a JSON list
of strings): clients pass ``next_cursor`` back as it is and never build one.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from multidict import MultiMapping

from .errors import ApiError

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_CURSOR_CHARS = 1024
MAX_FILTER_CHARS = 200
T = TypeVar("T")


def invalid(param: str, message: str) -> ApiError:
    return ApiError(400, "invalid_query", f"{param}: {message}", detail={"param": param})


@dataclass(frozen=True, slots=True)
class Page:
    limit: int
    after: tuple[str, ...] | None  # the previous page's last sort key (None: first page)


def params(query: MultiMapping[str], allowed: Iterable[str]) -> dict[str, str]:
    """The query as a dict; unknown or repeated parameters are refused."""
    known = set(allowed)
    found: dict[str, str] = {}
    for name, value in query.items():
        if name not in known:
            expected = ", ".join(sorted(known)) or "none"
            raise invalid(name, f"unknown parameter (expected: {expected})")
        if name in found:
            raise invalid(name, "given more than once")
        found[name] = value
    return found


def page(query: Mapping[str, str], key_size: int) -> Page:
    return Page(limit(query), cursor(query, key_size))


def limit(query: Mapping[str, str]) -> int:
    text = query.get("limit")
    if text is None:
        return DEFAULT_LIMIT
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_LIMIT:
        raise invalid("limit", f"expected a whole number from 1 to {MAX_LIMIT}, got {text!r}")
    return int(text)


def cursor(query: Mapping[str, str], key_size: int) -> tuple[str, ...] | None:
    text = query.get("cursor")
    if text is None:
        return None
    key = decode_cursor(text)
    if key is None or len(key) != key_size or not all(identifier(part) for part in key):
        raise invalid("cursor", "not a cursor this list gave (pass next_cursor back unchanged)")
    return key


def encode_cursor(key: Sequence[str]) -> str:
    raw = json.dumps(list(key), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> tuple[str, ...] | None:
    if len(text) > MAX_CURSOR_CHARS:
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        key = json.loads(raw)
    except (binascii.Error, ValueError):
        return None
    if not isinstance(key, list) or not all(isinstance(part, str) for part in key):
        return None
    return tuple(key)


def next_cursor(items: Sequence[T], page: Page, key: Sequence[str]) -> str | None:
    """``items`` were fetched with ``page.limit + 1``: a cursor if there is more."""
    return encode_cursor(key) if len(items) > page.limit else None


def boolean(query: Mapping[str, str], name: str) -> bool | None:
    text = query.get(name)
    if text is None:
        return None
    if text in ("true", "false"):
        return text == "true"
    raise invalid(name, f"expected true or false, got {text!r}")


def text(query: Mapping[str, str], name: str) -> str | None:
    value = query.get(name)
    if value is not None and not (0 < len(value) <= MAX_FILTER_CHARS and value.isprintable()):
        raise invalid(name, f"expected 1 to {MAX_FILTER_CHARS} printable characters")
    return value


def identifier(text: str, max_chars: int = MAX_FILTER_CHARS) -> bool:
    """Could ``text`` name a row? (PostgreSQL refuses NUL and lone surrogates: such
    a name is the client's mistake, not a database outage.)"""
    return 0 < len(text) <= max_chars and text.isprintable()


def timestamp(part: str, param: str = "cursor") -> datetime:
    """A datetime from a cursor's part (a client cannot build one that passes)."""
    try:
        return datetime.fromisoformat(part)
    except ValueError:
        raise invalid(param, "not a cursor this list gave") from None
