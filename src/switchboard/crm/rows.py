"""What an import file holds: its rows (frozen), the agents as written before they are
validated, and the problems found on the way (:class:`Check`)."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TypeVar

from switchboard.safeyaml import Problem

from .values import Invalid

T = TypeVar("T")

CUSTOMER_COLUMNS = (
    "name",
    "phones",
    "segment",
    "language",
    "products",
    "owner_agent",
    "lifetime_value",
    "churn_score",
    "first_contact",
    "last_contact",
    "notes",
)
AGENT_COLUMNS = (
    "id",
    "name",
    "site",
    "endpoints",
    "languages",
    "level",
    "max_calls",
    "wrap_up_s",
    "skills",
)
AGENT_FIELDS = frozenset(AGENT_COLUMNS)
SITE_FIELDS = frozenset({"name", "zone", "calendar"})


class RejectedImport(Exception):
    """The file author's mistakes, all of them in file order: nothing is imported."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(sorted(problems, key=lambda p: p.line))  # stable
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass(frozen=True, slots=True)
class Customer:
    line: int
    phones: tuple[str, ...]  # E.164, at least one
    name: str = ""
    segment: str = "regular"
    language: str = ""
    products: tuple[str, ...] = ()
    owner_agent: str | None = None
    lifetime_value: Decimal = Decimal(0)
    churn_score: float = 0.0
    first_contact: datetime | None = None  # aware
    last_contact: datetime | None = None
    notes: str = ""


@dataclass(frozen=True, slots=True)
class Site:
    id: str
    name: str
    zone: str  # IANA
    calendar: str
    line: int


@dataclass(frozen=True, slots=True)
class Agent:
    id: str
    name: str
    site: str | None
    endpoints: tuple[str, ...]
    languages: tuple[str, ...]
    level: str
    max_calls: int
    wrap_up_s: int
    skills: tuple[tuple[str, int], ...]  # (skill, proficiency 1..5)
    line: int


@dataclass(frozen=True, slots=True)
class AgentFile:
    sites: tuple[Site, ...]
    agents: tuple[Agent, ...]


@dataclass(frozen=True, slots=True)
class Cell:
    """A value as written, and the line it was written on."""

    text: str
    line: int


@dataclass
class Check:
    file: str
    problems: list[Problem] = field(default_factory=list)

    def add(self, line: int, field_name: str, message: str) -> None:
        self.problems.append(Problem(self.file, line, message, field=field_name))

    def value(
        self, line: int, field_name: str, text: str, parse: Callable[[str], T], default: T
    ) -> T:
        """``default`` for an empty value; else the parsed value, or a problem and ``default``."""
        if not text:
            return default
        try:
            return parse(text)
        except Invalid as exc:
            self.add(line, field_name, str(exc))
            return default

    def cell(self, cell: Cell | None, field_name: str, parse: Callable[[str], T], default: T) -> T:
        if cell is None:
            return default
        return self.value(cell.line, field_name, cell.text, parse, default)

    def unknown(
        self, line: int, field_name: str, noun: str, name: str, known: Collection[str]
    ) -> None:
        close = difflib.get_close_matches(name, list(known), n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"use {', '.join(known)}"
        self.add(line, field_name, f"unknown {noun} {name!r} ({hint})")


@dataclass
class RawAgent:
    """An agent as written, before validation: from a YAML item or a CSV row."""

    line: int
    fields: dict[str, Cell] = field(default_factory=dict)  # id, name, site, level ...
    endpoints: list[Cell] = field(default_factory=list)
    languages: list[Cell] = field(default_factory=list)
    skills: list[tuple[Cell, Cell]] = field(default_factory=list)  # (name, proficiency)
