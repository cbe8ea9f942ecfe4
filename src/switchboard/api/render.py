"""Frozen dataclasses to JSON: datetimes as ISO 8601, tuples as lists."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from enum import Enum
from functools import cache

# As they are (a StrEnum is a str: JSON writes its value).
_PLAIN = (str, int, float, bool, type(None))


@cache
def _field_names(kind: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(kind))


def jsonable(value: object) -> object:
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {name: jsonable(getattr(value, name)) for name in _field_names(type(value))}
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
