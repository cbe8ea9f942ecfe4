"""Import files -> validated rows. Pure: no database, and no file is opened here.

The caller hands in the file's name (for messages) and its content: the lines of a
CSV file (an open text file streams, so a million-row file is never held twice) or
the bytes of a YAML file. The result is frozen rows, or :class:`RejectedImport`
carrying every problem as ``FILE:LINE: field: why (how to fix)``.

What only the database knows (owner agents, phones already taken, sites, calls in
progress) is checked by :func:`customer_conflicts` and :func:`agent_conflicts` over
facts the store fetched, so those messages are pure and tested here too.
The formats are described in docs/crm.md.
"""

from __future__ import annotations

import csv
import difflib
import re
import sys
import zoneinfo
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import TypeVar

import yaml

from switchboard.numbers import BadNumber, to_e164

T = TypeVar("T")

ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")  # agents and sites
ENDPOINT = re.compile(r"[A-Za-z][A-Za-z0-9]*/[A-Za-z0-9_.@+:-]{1,80}")
SKILL = re.compile(r"[a-z][a-z0-9_]{0,39}")
LANGUAGE = re.compile(r"[a-z]{2,3}")
CALENDAR = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")  # a calendar name, as in the flows
AMOUNT = re.compile(r"[0-9]{1,12}(\.[0-9]{1,2})?")  # customers.lifetime_value numeric(14, 2)
COUNT = re.compile(r"[0-9]{1,9}")
SEGMENTS = ("vip", "regular", "new", "occasional")
LEVELS = ("trainee", "regular", "senior")
MAX_CALLS = 100
MAX_WRAP_UP_S = 3600
MAX_ZONE_CHARS = 64
MAX_YAML_BYTES = 16 * 1024 * 1024
MAX_DEPTH = 16  # YAML nesting; an agents file needs 4
SEPARATOR = ";"  # between the items of a list in a CSV cell

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
# libyaml's parser when PyYAML was built with it (marks are the same), else pure Python.
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_NULL_TAG = "tag:yaml.org,2002:null"


@dataclass(frozen=True, slots=True)
class Problem:
    """One mistake in an import file: where, which field, why and how to fix it."""

    file: str
    line: int  # 1-based
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.message}"


class RejectedImport(Exception):
    """The file author's mistakes, all of them in file order: nothing is imported."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(sorted(problems, key=lambda p: p.line))  # stable
        super().__init__("\n".join(str(p) for p in self.problems))


class Invalid(ValueError):
    """One bad value; the message says why and how to fix it (the caller adds where)."""


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


# -- one value at a time: str -> value, or Invalid ------------------------------------------
def _free_text(text: str) -> str:
    if "\x00" in text:
        raise Invalid("holds a NUL character, which the database cannot store (remove it)")
    return text


# Values that repeat on many of a million rows (segments, languages, owners, products)
# are kept once, interned, rather than once per row.
def _product(text: str) -> str:
    return sys.intern(_free_text(text))


def _either(options: Sequence[str]) -> str:
    return ", ".join(options[:-1]) + " or " + options[-1]


def _segment(text: str) -> str:
    if text not in SEGMENTS:
        raise Invalid(f"{text!r} is not a segment (use {_either(SEGMENTS)})")
    return SEGMENTS[SEGMENTS.index(text)]


def _level(text: str) -> str:
    if text not in LEVELS:
        raise Invalid(f"{text!r} is not a level (use {_either(LEVELS)})")
    return text


def _language(text: str) -> str:
    if not LANGUAGE.fullmatch(text):
        raise Invalid(f"{text!r} is not a language code (2-3 lower-case letters: en, ru, ro)")
    return sys.intern(text)


def _identifier(text: str) -> str:
    if not ID.fullmatch(text):
        raise Invalid(f"{text!r} is not a valid id (1-64 letters, digits, _, . or -, such as a101)")
    return sys.intern(text)


def _endpoint(text: str) -> str:
    if not ENDPOINT.fullmatch(text):
        raise Invalid(f"{text!r} is not an endpoint (TECH/resource, such as PJSIP/101)")
    return text


def _calendar(text: str) -> str:
    if not CALENDAR.fullmatch(text):
        raise Invalid(f"{text!r} is not a calendar name (a letter, then letters, digits, _ or -)")
    return text


def _zone(text: str) -> str:
    try:
        if len(text) <= MAX_ZONE_CHARS and not text.startswith(("/", ".")):
            zoneinfo.ZoneInfo(text)
            return text
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        pass
    close = difflib.get_close_matches(text, sorted(zoneinfo.available_timezones()), n=1)
    hint = f"did you mean {close[0]!r}?" if close else "such as Europe/Moscow"
    raise Invalid(f"{text!r} is not an IANA time zone ({hint})")


def _amount(text: str) -> Decimal:
    if not AMOUNT.fullmatch(text):
        raise Invalid(
            f"{text!r} is not an amount (a number >= 0 with a dot and at most 2 decimals, "
            "such as 1250.50)"
        )
    return Decimal(text)


def _score(text: str) -> float:
    try:
        score = float(text)
    except ValueError:
        raise Invalid(f"{text!r} is not a number (a score from 0 to 1, such as 0.25)") from None
    if not 0 <= score <= 1:
        raise Invalid(f"{text!r} is out of range (a score from 0 to 1, such as 0.25)")
    return score


def _instant(text: str) -> datetime:
    """ISO 8601; a date alone is midnight, and no UTC offset means UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid(
            f"{text!r} is not an ISO date (write 2026-01-31, 2026-01-31 14:30 "
            "or 2026-01-31T14:30:00+03:00)"
        ) from None
    # In UTC: the instant is the same, and a million rows do not each hold a time zone.
    return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _count(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        if not COUNT.fullmatch(text):
            raise Invalid(f"{text!r} is not a whole number (use {low} to {high})")
        if not low <= int(text) <= high:
            raise Invalid(f"{text} is out of range (use {low} to {high})")
        return int(text)

    return parse


def _split(text: str) -> list[str]:
    """``a; b;;c`` -> ``[a, b, c]``: empty items are nothing, not mistakes."""
    return [item for item in (part.strip() for part in text.split(SEPARATOR)) if item]


# -- collecting problems --------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Cell:
    """A value as written, and the line it was written on."""

    text: str
    line: int


@dataclass
class _Check:
    file: str
    problems: list[Problem] = field(default_factory=list)

    def add(self, line: int, field_name: str, message: str) -> None:
        self.problems.append(Problem(self.file, line, field_name, message))

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

    def cell(self, cell: _Cell | None, field_name: str, parse: Callable[[str], T], default: T) -> T:
        if cell is None:
            return default
        return self.value(cell.line, field_name, cell.text, parse, default)

    def unknown(
        self, line: int, field_name: str, noun: str, name: str, known: Collection[str]
    ) -> None:
        close = difflib.get_close_matches(name, list(known), n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"use {', '.join(known)}"
        self.add(line, field_name, f"unknown {noun} {name!r} ({hint})")


# -- CSV ------------------------------------------------------------------------------------
class _NotUtf8(Exception):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason


def _decode(lines: Iterable[bytes]) -> Iterator[str]:
    """Line by line, so a byte that is not UTF-8 is reported on its own line."""
    for number, raw in enumerate(lines, start=1):
        try:
            yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            raise _NotUtf8(number, exc.reason) from None


def _csv_records(
    check: _Check, lines: Iterable[bytes], columns: Sequence[str], required: Sequence[str]
) -> Iterator[tuple[int, dict[str, str]]]:
    """(line, column -> value) for every non-blank row after the header. Problems with
    the header or the CSV itself are added to ``check`` and end the reading."""
    reader = csv.reader(_decode(lines), strict=True)
    header: list[str] | None = None
    last = 0  # the last physical line read so far
    try:
        for record in reader:
            line, last = last + 1, reader.line_num
            if not any(value.strip() for value in record):
                continue
            if header is None:
                header = _header(check, line, record, columns, required)
                if header is None:
                    return
            elif len(record) != len(header):
                check.add(
                    line,
                    "row",
                    f"{len(record)} values for {len(header)} columns "
                    '(a value holding a comma must be in double quotes: "Smith, John")',
                )
            else:
                yield line, dict(zip(header, record, strict=True))
    except _NotUtf8 as exc:
        check.add(exc.line, "file", f"not UTF-8 text ({exc.reason}; save the file as UTF-8)")
    except csv.Error as exc:
        check.add(
            last + 1,
            "file",
            f"not valid CSV from this line: {exc} (a value holding a comma, quote or line "
            'break is written in double quotes, with quotes inside doubled: "say ""hi""")',
        )
    if header is None and not check.problems:
        example = ",".join(columns)
        check.add(1, "header", f"the file is empty (the first line names the columns: {example})")


def _header(
    check: _Check, line: int, record: list[str], columns: Sequence[str], required: Sequence[str]
) -> list[str] | None:
    names = [name.strip() for name in record]
    before = len(check.problems)
    for number, name in enumerate(names, start=1):
        if not name:
            check.add(line, "header", f"column {number} has no name (name it, or delete it)")
        elif name not in columns:
            check.unknown(line, "header", "column", name, columns)
        elif names.index(name) < number - 1:
            check.add(line, "header", f"column {name!r} is there twice (keep one)")
    for name in required:
        if name not in names:
            check.add(line, "header", f"no {name!r} column (it is required; see docs/crm.md)")
    return names if len(check.problems) == before else None


# -- customers ------------------------------------------------------------------------------
def read_customers(file: str, lines: Iterable[bytes], country_code: str = "7") -> list[Customer]:
    """The customers of a CSV file (its lines, as an open binary file gives them),
    or :class:`RejectedImport` with every problem."""
    check = _Check(file)
    customers: list[Customer] = []
    first_line: dict[str, int] = {}  # phone -> the line that has it
    for line, cells in _csv_records(check, lines, CUSTOMER_COLUMNS, ("phones",)):
        phones = _phones(check, line, cells["phones"], country_code)
        for phone in phones:
            first = first_line.setdefault(phone, line)
            if first != line:
                check.add(
                    line,
                    "phones",
                    f"{phone} is on line {first} too (a phone belongs to one customer; "
                    "remove one of them)",
                )
        customer = _customer(check, line, cells, phones)
        if not check.problems:  # once the file is rejected, keep only the problems
            customers.append(customer)
    if check.problems:
        raise RejectedImport(check.problems)
    return customers


def _phones(check: _Check, line: int, text: str, country_code: str) -> tuple[str, ...]:
    written = _split(text)
    if not written:
        check.add(line, "phones", "no phone number (one or more, separated by ;)")
    phones: list[str] = []
    for number in written:
        try:
            phone = to_e164(number, country_code)
        except BadNumber as exc:
            check.add(line, "phones", str(exc))
            continue
        if phone in phones:
            check.add(line, "phones", f"{phone} is written twice on this line (keep one)")
            continue
        phones.append(phone)
    return tuple(phones)


def _customer(
    check: _Check, line: int, cells: Mapping[str, str], phones: tuple[str, ...]
) -> Customer:
    def value(column: str, parse: Callable[[str], T], default: T) -> T:
        return check.value(line, column, cells.get(column, "").strip(), parse, default)

    products = _split(cells.get("products", ""))
    return Customer(
        line=line,
        phones=phones,
        name=value("name", _free_text, ""),
        segment=value("segment", _segment, "regular"),
        language=value("language", _language, ""),
        products=tuple(check.value(line, "products", p, _product, "") for p in products),
        owner_agent=value("owner_agent", _identifier, None),
        lifetime_value=value("lifetime_value", _amount, Decimal(0)),
        churn_score=value("churn_score", _score, 0.0),
        first_contact=value("first_contact", _instant, None),
        last_contact=value("last_contact", _instant, None),
        notes=check.value(line, "notes", cells.get("notes", ""), _free_text, ""),
    )


def customer_conflicts(
    file: str,
    customers: Iterable[Customer],
    known_agents: Collection[str],
    taken: Mapping[str, int],
) -> list[Problem]:
    """What the database says is wrong: owners that are not agents, phones that are
    another customer's already (``taken``: phone -> customer id)."""
    check = _Check(file)
    for customer in customers:
        owner = customer.owner_agent
        if owner is not None and owner not in known_agents:
            check.add(
                customer.line,
                "owner_agent",
                f"{owner!r} is not an agent in the database (import the agents first, "
                "or leave it empty)",
            )
        for phone in customer.phones if taken else ():
            if phone in taken:
                check.add(
                    customer.line,
                    "phones",
                    f"{phone} already belongs to customer {taken[phone]} in the database "
                    f"(remove it here, or from customer {taken[phone]} first)",
                )
    return check.problems


# -- agents ---------------------------------------------------------------------------------
@dataclass
class _RawAgent:
    """An agent as written, before validation: from a YAML item or a CSV row."""

    line: int
    fields: dict[str, _Cell] = field(default_factory=dict)  # id, name, site, level ...
    endpoints: list[_Cell] = field(default_factory=list)
    languages: list[_Cell] = field(default_factory=list)
    skills: list[tuple[_Cell, _Cell]] = field(default_factory=list)  # (name, proficiency)


def read_agents_csv(file: str, lines: Iterable[bytes]) -> AgentFile:
    """The agents of a CSV file (no sites: those come from YAML or the database)."""
    check = _Check(file)
    raws = []
    for line, cells in _csv_records(check, lines, AGENT_COLUMNS, ("id", "name", "endpoints")):
        raw = _RawAgent(line)
        for name in ("id", "name", "site", "level", "max_calls", "wrap_up_s"):
            if text := cells.get(name, "").strip():
                raw.fields[name] = _Cell(text, line)
        raw.endpoints = [_Cell(e, line) for e in _split(cells["endpoints"])]
        raw.languages = [_Cell(lang, line) for lang in _split(cells.get("languages", ""))]
        for item in _split(cells.get("skills", "")):
            name, colon, proficiency = item.partition(":")
            if not colon:
                check.add(line, "skills", f"{item!r} is not skill:proficiency (sales:4;support:2)")
                continue
            raw.skills.append((_Cell(name.strip(), line), _Cell(proficiency.strip(), line)))
        raws.append(raw)
    return _agent_file(check, [], raws)


def read_agents_yaml(file: str, raw: bytes) -> AgentFile:
    """The sites and agents of a YAML file, or :class:`RejectedImport`."""
    check = _Check(file)
    root = _compose(check, raw)
    if root is None:
        raise RejectedImport(check.problems)
    if not isinstance(root, yaml.MappingNode):
        check.add(
            _line(root), "file", "must be a mapping with sites: and agents: (see docs/crm.md)"
        )
        raise RejectedImport(check.problems)
    top = _mapping(check, root, "file")
    for key, (key_node, _) in top.items():
        if key not in ("sites", "agents"):
            check.unknown(_line(key_node), key, "key", key, ("sites", "agents"))
    sites = _yaml_sites(check, top["sites"][1]) if "sites" in top else []
    if "agents" not in top:
        check.add(_line(root), "agents", "missing (the list of agents; see docs/crm.md)")
        raise RejectedImport(check.problems)
    return _agent_file(check, sites, _yaml_agents(check, top["agents"][1]))


def _agent_file(check: _Check, sites: list[Site], raws: list[_RawAgent]) -> AgentFile:
    agents = []
    first_line: dict[str, int] = {}
    for raw in raws:
        agent = _agent(check, raw)
        if agent is None:
            continue
        first = first_line.setdefault(agent.id, agent.line)
        if first != agent.line:
            check.add(agent.line, "id", f"{agent.id!r} is on line {first} too (keep one)")
        agents.append(agent)
    if check.problems:
        raise RejectedImport(check.problems)
    return AgentFile(tuple(sites), tuple(agents))


def _agent(check: _Check, raw: _RawAgent) -> Agent | None:
    before = len(check.problems)
    fields = raw.fields
    agent_id = _required(check, raw, "id", _identifier, "every agent has one, such as a101")
    name = _required(check, raw, "name", _free_text, "the agent's name as supervisors see it")
    site = check.cell(fields.get("site"), "site", _identifier, None)
    if not raw.endpoints:
        check.add(raw.line, "endpoints", "missing (the phones to ring, such as PJSIP/101)")
    endpoints = tuple(check.cell(e, "endpoints", _endpoint, "") for e in raw.endpoints)
    languages = tuple(check.cell(c, "languages", _language, "") for c in raw.languages)
    level = check.cell(fields.get("level"), "level", _level, "regular")
    max_calls = check.cell(fields.get("max_calls"), "max_calls", _count(1, MAX_CALLS), 1)
    wrap_up_s = check.cell(fields.get("wrap_up_s"), "wrap_up_s", _count(0, MAX_WRAP_UP_S), 10)
    skills: dict[str, int] = {}
    for skill_cell, proficiency in raw.skills:
        skill = check.cell(skill_cell, "skills", _skill_name, "")
        skill_level = check.cell(proficiency, "skills", _proficiency(skill_cell.text), 0)
        if skill and skill in skills:
            check.add(skill_cell.line, "skills", f"{skill!r} is there twice (keep one)")
        skills[skill] = skill_level
    if len(check.problems) > before:
        return None
    return Agent(
        id=agent_id,
        name=name,
        site=site,
        endpoints=endpoints,
        languages=languages,
        level=level,
        max_calls=max_calls,
        wrap_up_s=wrap_up_s,
        skills=tuple(skills.items()),
        line=raw.line,
    )


def _required(
    check: _Check, raw: _RawAgent, name: str, parse: Callable[[str], str], how: str
) -> str:
    cell = raw.fields.get(name)
    if cell is None:
        check.add(raw.line, name, f"missing ({how})")
        return ""
    return check.cell(cell, name, parse, "")


def _skill_name(text: str) -> str:
    if not SKILL.fullmatch(text):
        raise Invalid(
            f"{text!r} is not a skill name (a lower-case letter, then up to 39 lower-case "
            "letters, digits or _, such as sales)"
        )
    return text


def _proficiency(skill: str) -> Callable[[str], int]:
    count = _count(1, 5)

    def parse(text: str) -> int:
        try:
            return count(text)
        except Invalid as exc:
            raise Invalid(f"{skill}: proficiency {exc}") from None

    return parse


def agent_conflicts(
    file: str, agents: AgentFile, known_sites: Collection[str], active: Mapping[str, int]
) -> list[Problem]:
    """What the database says is wrong: sites neither in the file nor in the database,
    and a max_calls below the calls an agent has now (``active``: agent id -> calls)."""
    check = _Check(file)
    defined = {site.id for site in agents.sites}
    for agent in agents.agents:
        if agent.site is not None and agent.site not in defined and agent.site not in known_sites:
            check.add(
                agent.line,
                "site",
                f"{agent.site!r} is neither in this file's sites nor in the database "
                "(define it under sites: in a YAML agents file)",
            )
        calls = active.get(agent.id, 0)
        if calls > agent.max_calls:
            check.add(
                agent.line,
                "max_calls",
                f"{agent.id} has {calls} calls now, more than {agent.max_calls} "
                "(import again when they end)",
            )
    return check.problems


# -- YAML -----------------------------------------------------------------------------------
def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _compose(check: _Check, raw: bytes) -> yaml.Node | None:
    if len(raw) > MAX_YAML_BYTES:
        check.add(1, "file", f"{len(raw)} bytes; the limit is {MAX_YAML_BYTES} (split it)")
        return None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        check.add(line, "file", f"not UTF-8 text ({exc.reason}; save the file as UTF-8)")
        return None
    try:
        # Anchors and aliases are refused before anything is built from them (no
        # "billion laughs"); so is deep nesting, which would exhaust the recursion.
        depth = 0
        for event in yaml.parse(text, Loader=_LOADER):
            depth += isinstance(event, yaml.CollectionStartEvent)
            depth -= isinstance(event, yaml.CollectionEndEvent)
            line = event.start_mark.line + 1 if event.start_mark is not None else 1
            if depth > MAX_DEPTH:
                check.add(line, "file", f"nested deeper than {MAX_DEPTH} levels (flatten it)")
                return None
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                check.add(
                    line,
                    "file",
                    "YAML anchors and aliases (&name, *name) are not allowed "
                    "(write the values out)",
                )
        if check.problems:
            return None
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        check.add(mark.line + 1 if mark else 1, "file", f"not valid YAML: {exc.problem}")
        return None
    except yaml.YAMLError as exc:
        check.add(1, "file", f"not valid YAML: {exc}")
        return None
    if node is None:
        check.add(1, "file", "the file is empty (see docs/crm.md for an example)")
    return node


def _mapping(check: _Check, node: yaml.Node, what: str) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    """Key -> (key node, value node); a duplicate key is a problem."""
    if not isinstance(node, yaml.MappingNode):
        check.add(_line(node), what, "must be a mapping (key: value lines)")
        return {}
    items: dict[str, tuple[yaml.Node, yaml.Node]] = {}
    for key, value in node.value:
        if not isinstance(key, yaml.ScalarNode):
            check.add(_line(key), what, "a key must be a plain value")
        elif key.value in items:
            first = _line(items[key.value][0])
            check.add(_line(key), what, f"{key.value!r} is there twice (first on line {first})")
        else:
            items[key.value] = (key, value)
    return items


def _scalar(check: _Check, node: yaml.Node, what: str) -> _Cell | None:
    """A single value; None when it is empty or null (as if it were not written)."""
    if not isinstance(node, yaml.ScalarNode):
        check.add(_line(node), what, "must be a single value")
        return None
    if node.tag == _NULL_TAG or not node.value:
        return None
    return _Cell(str(node.value), _line(node))


def _sequence(check: _Check, node: yaml.Node, what: str) -> list[_Cell]:
    """A list of single values; one value alone is a list of one."""
    if isinstance(node, yaml.SequenceNode):
        cells = (_scalar(check, item, what) for item in node.value)
        return [cell for cell in cells if cell is not None]
    cell = _scalar(check, node, what)
    return [] if cell is None else [cell]


def _yaml_sites(check: _Check, node: yaml.Node) -> list[Site]:
    sites = []
    for site_id, (key, value) in _mapping(check, node, "sites").items():
        line = _line(key)
        before = len(check.problems)
        items = _mapping(check, value, "sites")
        for name, (name_node, _) in items.items():
            if name not in SITE_FIELDS:
                check.unknown(_line(name_node), name, "field", name, sorted(SITE_FIELDS))
        cells = {name: _scalar(check, v, name) for name, (_, v) in items.items()}
        for name, how in (("name", "such as Moscow"), ("zone", "an IANA zone: Europe/Moscow")):
            if cells.get(name) is None:
                check.add(line, name, f"missing for site {site_id} ({how})")
        site = Site(
            id=check.value(line, "sites", site_id, _identifier, ""),
            name=check.cell(cells.get("name"), "name", _free_text, ""),
            zone=check.cell(cells.get("zone"), "zone", _zone, ""),
            calendar=check.cell(cells.get("calendar"), "calendar", _calendar, ""),
            line=line,
        )
        if len(check.problems) == before:
            sites.append(site)
    return sites


def _yaml_agents(check: _Check, node: yaml.Node) -> list[_RawAgent]:
    if not isinstance(node, yaml.SequenceNode):
        check.add(_line(node), "agents", "must be a list (one '- id: ...' item per agent)")
        return []
    raws = []
    for item in node.value:
        raw = _RawAgent(_line(item))
        for name, (key, value) in _mapping(check, item, "agent").items():
            if name not in AGENT_FIELDS:
                check.unknown(_line(key), name, "field", name, AGENT_COLUMNS)
            elif name == "endpoints":
                raw.endpoints = _sequence(check, value, name)
            elif name == "languages":
                raw.languages = _sequence(check, value, name)
            elif name == "skills":
                raw.skills = _yaml_skills(check, value)
            elif (cell := _scalar(check, value, name)) is not None:
                raw.fields[name] = cell
        raws.append(raw)
    return raws


def _yaml_skills(check: _Check, node: yaml.Node) -> list[tuple[_Cell, _Cell]]:
    if isinstance(node, yaml.ScalarNode) and node.tag == _NULL_TAG:
        return []
    skills = []
    for name, (key, value) in _mapping(check, node, "skills").items():
        proficiency = _scalar(check, value, "skills")
        if proficiency is None:
            check.add(_line(key), "skills", f"{name}: no proficiency (1 to 5, such as sales: 4)")
            continue
        skills.append((_Cell(name, _line(key)), proficiency))
    return skills
