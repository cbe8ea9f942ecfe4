"""Import files -> validated rows. Pure: no database, and no file is opened here.

The caller hands in the file's name (for messages) and its content: the lines of a
CSV file (an open text file streams, so a million-row file is never held twice) or
the bytes of a YAML file. The result is frozen rows, or :class:`RejectedImport`
carrying every problem as ``FILE:LINE: field: why (how to fix)``.

What only the database knows (owner agents, phones already taken, sites, calls in
progress) is checked by :func:`customer_conflicts` and :func:`agent_conflicts` over
facts the store fetched, so those messages are pure and tested here too.
The formats are described in docs/crm.md. The rows and problem collecting are in
:mod:`.rows`, single values in :mod:`.values`, CSV records in :mod:`.csvfile` and YAML
agents files in :mod:`.agentsyaml`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from decimal import Decimal
from typing import TypeVar

from switchboard.numbers import BadNumber, to_e164
from switchboard.safeyaml import Problem

from . import agentsyaml, csvfile, values
from .rows import (
    AGENT_COLUMNS,
    CUSTOMER_COLUMNS,
    Agent,
    AgentFile,
    Cell,
    Check,
    Customer,
    RawAgent,
    RejectedImport,
    Site,
)

T = TypeVar("T")

MAX_CALLS = 100
MAX_WRAP_UP_S = 3600


# -- customers ------------------------------------------------------------------------------
def read_customers(file: str, lines: Iterable[bytes], country_code: str = "7") -> list[Customer]:
    """The customers of a CSV file (its lines, as an open binary file gives them),
    or :class:`RejectedImport` with every problem."""
    check = Check(file)
    customers: list[Customer] = []
    first_line: dict[str, int] = {}  # phone -> the line that has it
    for line, cells in csvfile.records(check, lines, CUSTOMER_COLUMNS, ("phones",)):
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


def _phones(check: Check, line: int, text: str, country_code: str) -> tuple[str, ...]:
    written = values.split(text)
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
    check: Check, line: int, cells: Mapping[str, str], phones: tuple[str, ...]
) -> Customer:
    def value(column: str, parse: Callable[[str], T], default: T) -> T:
        return check.value(line, column, cells.get(column, "").strip(), parse, default)

    products = values.split(cells.get("products", ""))
    return Customer(
        line=line,
        phones=phones,
        name=value("name", values.free_text, ""),
        segment=value("segment", values.segment, "regular"),
        language=value("language", values.language, ""),
        products=tuple(check.value(line, "products", p, values.product, "") for p in products),
        owner_agent=value("owner_agent", values.identifier, None),
        lifetime_value=value("lifetime_value", values.amount, Decimal(0)),
        churn_score=value("churn_score", values.score, 0.0),
        first_contact=value("first_contact", values.instant, None),
        last_contact=value("last_contact", values.instant, None),
        notes=check.value(line, "notes", cells.get("notes", ""), values.free_text, ""),
    )


def customer_conflicts(
    file: str,
    customers: Iterable[Customer],
    known_agents: Collection[str],
    taken: Mapping[str, int],
) -> list[Problem]:
    """What the database says is wrong: owners that are not agents, phones that are
    another customer's already (``taken``: phone -> customer id)."""
    check = Check(file)
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


def read_agents_csv(file: str, lines: Iterable[bytes]) -> AgentFile:
    """The agents of a CSV file (no sites: those come from YAML or the database)."""
    check = Check(file)
    raws = []
    for line, cells in csvfile.records(check, lines, AGENT_COLUMNS, ("id", "name", "endpoints")):
        raw = RawAgent(line)
        for name in ("id", "name", "site", "level", "max_calls", "wrap_up_s"):
            if text := cells.get(name, "").strip():
                raw.fields[name] = Cell(text, line)
        raw.endpoints = [Cell(e, line) for e in values.split(cells["endpoints"])]
        raw.languages = [Cell(lang, line) for lang in values.split(cells.get("languages", ""))]
        for item in values.split(cells.get("skills", "")):
            name, colon, proficiency = item.partition(":")
            if not colon:
                check.add(line, "skills", f"{item!r} is not skill:proficiency (sales:4;support:2)")
                continue
            raw.skills.append((Cell(name.strip(), line), Cell(proficiency.strip(), line)))
        raws.append(raw)
    return _agent_file(check, [], raws)


def read_agents_yaml(file: str, raw: bytes) -> AgentFile:
    """The sites and agents of a YAML file, or :class:`RejectedImport`."""
    check = Check(file)
    sites, raws = agentsyaml.read(check, raw)
    return _agent_file(check, sites, raws)


def _agent_file(check: Check, sites: list[Site], raws: list[RawAgent]) -> AgentFile:
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


def _agent(check: Check, raw: RawAgent) -> Agent | None:
    before = len(check.problems)
    fields = raw.fields
    agent_id = _required(check, raw, "id", values.identifier, "every agent has one, such as a101")
    name = _required(check, raw, "name", values.free_text, "the agent's name as supervisors see it")
    site = check.cell(fields.get("site"), "site", values.identifier, None)
    if not raw.endpoints:
        check.add(raw.line, "endpoints", "missing (the phones to ring, such as PJSIP/101)")
    endpoints = tuple(check.cell(e, "endpoints", values.endpoint, "") for e in raw.endpoints)
    languages = tuple(check.cell(c, "languages", values.language, "") for c in raw.languages)
    level = check.cell(fields.get("level"), "level", values.level, "regular")
    max_calls = check.cell(fields.get("max_calls"), "max_calls", values.count(1, MAX_CALLS), 1)
    wrap_up_s = check.cell(fields.get("wrap_up_s"), "wrap_up_s", values.count(0, MAX_WRAP_UP_S), 10)
    skills: dict[str, int] = {}
    for skill_cell, proficiency in raw.skills:
        skill = check.cell(skill_cell, "skills", values.skill_name, "")
        skill_level = check.cell(proficiency, "skills", values.proficiency(skill_cell.text), 0)
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


def _required(check: Check, raw: RawAgent, name: str, parse: Callable[[str], str], how: str) -> str:
    cell = raw.fields.get(name)
    if cell is None:
        check.add(raw.line, name, f"missing ({how})")
        return ""
    return check.cell(cell, name, parse, "")


def agent_conflicts(
    file: str, agents: AgentFile, known_sites: Collection[str], active: Mapping[str, int]
) -> list[Problem]:
    """What the database says is wrong: sites neither in the file nor in the database,
    and a max_calls below the calls an agent has now (``active``: agent id -> calls)."""
    check = Check(file)
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


# What the readers return and raise (defined in .rows), importable with them from here.
__all__ = [
    "Agent",
    "AgentFile",
    "Customer",
    "RejectedImport",
    "Site",
    "agent_conflicts",
    "customer_conflicts",
    "read_agents_csv",
    "read_agents_yaml",
    "read_customers",
]
