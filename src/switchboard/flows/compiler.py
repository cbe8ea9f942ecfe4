"""Flow files -> compiled, checked flows: the entry points and a flow's top level.

Every problem is reported with ``file:line:col: what is wrong (how to fix)``, and
all problems of all files are reported at once. The YAML is read by
:mod:`switchboard.safeyaml` (:mod:`.reading`), the nodes by :mod:`.nodes` and
:mod:`.ringing`, calendars by :mod:`switchboard.hours.parse`, and the whole flow is
checked by :mod:`.checks`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType

import yaml

from switchboard import safeyaml
from switchboard.hours import Calendar
from switchboard.hours.parse import parse_calendars
from switchboard.safeyaml import Problem

from .checks import check_graph
from .model import BlocklistRule, Flow, FlowSet, Pos
from .nodes import read_nodes
from .prompts import PromptCatalog
from .reading import (
    FLOW_FILES,
    LANGUAGE,
    NUMBER,
    SKILL,
    FlowError,
    FlowReader,
    describe,
    problem_at,
)

TOP_FIELDS = frozenset(
    {
        "languages",
        "fallback_language",
        "skills",
        "limits",
        "calendars",
        "record_calls",
        "blocklist",
        "entry",
        "nodes",
    }
)


SharedCalendars = Mapping[str, tuple[Calendar, Pos]]


def _calendars(reader: FlowReader, node: yaml.Node) -> dict[str, Calendar]:
    """``calendars:``: each valid one, its position noted for the messages that need it."""
    calendars = {}
    for name, key, calendar in parse_calendars(reader, node):
        calendars[name] = calendar
        reader.calendar_pos[name] = reader.pos(key)
    return calendars


def compile_flow(
    name: str, raw: bytes, catalog: PromptCatalog, shared: SharedCalendars | None = None
) -> tuple[Flow, list[Problem]]:
    """Compile one flow file. Returns the flow and its warnings; raises FlowError.
    ``shared``: calendars from calendar files, usable by name as if written here."""
    node, problems = safeyaml.compose(name, raw, FLOW_FILES)
    if node is None:
        raise FlowError(problems)
    reader = FlowReader(name)
    reader.shared_calendars = dict(shared or {})
    flow = _flow(reader, node, hashlib.sha256(raw).hexdigest()[:12])
    check_graph(reader, flow, catalog)
    problems = sorted(reader.problems, key=lambda p: (p.line, p.col))
    if flow is None or any(not p.warning for p in problems):
        raise FlowError(problems)  # the warnings too: the author sees everything at once
    return flow, problems


def compile_files(
    paths: Sequence[str | Path], catalog: PromptCatalog
) -> tuple[FlowSet, list[Problem]]:
    """Compile every file; all files' problems are reported together.

    A file whose only key is ``calendars`` is a calendar file: its calendars can be
    named by every flow of the set (an office's hours, written once)."""
    flows: list[Flow] = []
    problems: list[Problem] = []
    warnings: list[Problem] = []
    sources: list[tuple[str, bytes]] = []
    for path in paths:
        try:
            sources.append((str(path), Path(path).read_bytes()))
        except OSError as exc:
            problems.append(problem_at(Pos(str(path), 1, 1), f"cannot read: {exc.strerror}"))
    shared: dict[str, tuple[Calendar, Pos]] = {}
    flow_sources = []
    calendar_hashes = []
    for name, raw in sources:
        calendars = _calendar_file(name, raw, shared, problems)
        if calendars is None:
            flow_sources.append((name, raw))
        else:
            calendar_hashes.append(name + hashlib.sha256(raw).hexdigest())
    for name, raw in flow_sources:
        try:
            flow, found = compile_flow(name, raw, catalog, shared)
        except FlowError as exc:
            problems += exc.problems
            continue
        flows.append(flow)
        warnings += found
    problems += _shared_numbers(flows)
    if problems:
        raise FlowError(problems)
    parts = [f.name + f.version for f in flows] + calendar_hashes
    version = hashlib.sha256("".join(parts).encode()).hexdigest()
    return FlowSet(tuple(flows), version[:12]), warnings


def _calendar_file(
    name: str,
    raw: bytes,
    shared: dict[str, tuple[Calendar, Pos]],
    problems: list[Problem],
) -> dict[str, Calendar] | None:
    """The calendars of a calendar file (added to ``shared``); None for a flow file."""
    if b"calendars" not in raw:
        return None  # (most flow files: no second parse)
    node, _ = safeyaml.compose(name, raw, FLOW_FILES)
    if node is None or not isinstance(node, yaml.MappingNode):
        return None  # compile_flow reports it
    keys = {k.value for k, _ in node.value if isinstance(k, yaml.ScalarNode)}
    if keys != {"calendars"}:
        return None
    reader = FlowReader(name)
    calendars = _calendars(reader, node.value[0][1])
    problems += reader.problems
    for calendar_name, calendar in calendars.items():
        pos = reader.calendar_pos.get(calendar_name, Pos(name, 1, 1))
        if calendar_name in shared:
            problems.append(
                problem_at(
                    pos,
                    f"calendar {calendar_name!r} is also defined at {shared[calendar_name][1]} "
                    "(give each calendar one name)",
                )
            )
            continue
        shared[calendar_name] = (calendar, pos)
    return calendars


def _shared_numbers(flows: list[Flow]) -> list[Problem]:
    owner: dict[str, Flow] = {}
    problems = []
    for flow in flows:
        for number in flow.entry:
            if number in owner:
                problems.append(
                    problem_at(
                        flow.entry_pos.get(number, Pos(flow.name, 1, 1)),
                        f"number {number} is also an entry of {owner[number].name} "
                        "(a number may belong to one flow only)",
                    )
                )
            owner.setdefault(number, flow)
    return problems


# -- top level -----------------------------------------------------------------------------
def _flow(reader: FlowReader, root: yaml.Node, version: str) -> Flow | None:
    top = reader.mapping(root, "a flow file")
    if not top:
        return None
    reader.check_fields(top, TOP_FIELDS, "flow")
    for required in ("languages", "entry", "nodes"):
        if required not in top:
            reader.error(root, f"missing {required!r} (see docs/flows.md)")
    languages = _languages(reader, top)
    reader.skills = _skills(reader, top)
    if "record_calls" in top:
        reader.record_calls = reader.boolean(top["record_calls"][1], "record_calls")
    fallback = languages[0] if languages else ""
    if "fallback_language" in top:
        node = top["fallback_language"][1]
        fallback = reader.text(node, "fallback_language", LANGUAGE)
        if fallback and languages and fallback not in languages:
            reader.error(
                node,
                f"fallback_language {fallback!r} is not one of the languages "
                f"(use one of {', '.join(languages)})",
            )
    max_visits = 20
    if "limits" in top:
        limits = reader.mapping(top["limits"][1], "limits")
        reader.check_fields(limits, frozenset({"max_menu_visits"}), "limits")
        if "max_menu_visits" in limits:
            value = reader.number(limits["max_menu_visits"][1], "max_menu_visits", 1, 100, int)
            max_visits = value if value is not None else max_visits
    calendars = _calendars(reader, top["calendars"][1]) if "calendars" in top else {}
    for name, (calendar, pos) in reader.shared_calendars.items():
        if name in calendars:
            reader.error_at(
                reader.calendar_pos[name],
                f"calendar {name!r} is also defined at {pos} (rename one of them)",
            )
        else:
            calendars[name] = calendar
    nodes = read_nodes(reader, top["nodes"][1], languages) if "nodes" in top else {}
    entry, entry_pos = _entry(reader, top["entry"][1]) if "entry" in top else ({}, {})
    blocklist = _blocklist(reader, top["blocklist"][1]) if "blocklist" in top else None
    return Flow(
        name=reader.file,
        version=version,
        languages=languages,
        fallback_language=fallback,
        entry=MappingProxyType(entry),
        entry_pos=MappingProxyType(entry_pos),
        calendars=MappingProxyType(calendars),
        nodes=MappingProxyType(nodes),
        max_menu_visits=max_visits,
        endpoint_refs=tuple(reader.endpoint_refs),
        skills=reader.skills or (),
        blocklist=blocklist,
    )


def _languages(reader: FlowReader, top: dict[str, tuple[yaml.Node, yaml.Node]]) -> tuple[str, ...]:
    if "languages" not in top:
        return ()
    node = top["languages"][1]
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        reader.error(node, "languages must be a list such as [en, ru]")
        return ()
    codes = [reader.text(item, "languages", LANGUAGE) for item in node.value]
    return tuple(dict.fromkeys(c for c in codes if c))


def _skills(
    reader: FlowReader, top: dict[str, tuple[yaml.Node, yaml.Node]]
) -> tuple[str, ...] | None:
    """The top-level ``skills: [sales, support]``: the skills the flow's routes may name."""
    if "skills" not in top:
        return None
    node = top["skills"][1]
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        reader.error(node, "skills must be a list of skill names such as [sales, support]")
        return ()
    lines: dict[str, int] = {}
    for item in node.value:
        name = reader.text(item, "skills", SKILL)
        if name in lines:
            reader.error(
                item,
                f"skills: {name!r} is listed twice (first at line {lines[name]}; list it once)",
            )
        elif name:
            lines[name] = reader.pos(item).line
    return tuple(lines)


def _blocklist(reader: FlowReader, node: yaml.Node) -> BlocklistRule | None:
    """``blocklist: {node: blocked, anonymous: true}``."""
    items = reader.mapping(node, "blocklist")
    reader.check_fields(items, frozenset({"node", "anonymous"}), "blocklist")
    if "node" not in items:
        reader.error(node, "blocklist: missing 'node' (the node a blocked caller goes to)")
        return None
    target = reader.ref(items["node"][1], "blocklist", "node")
    anonymous = False
    if "anonymous" in items:
        anonymous = reader.boolean(items["anonymous"][1], "blocklist: anonymous")
    return BlocklistRule(target, anonymous) if target else None


def _entry(reader: FlowReader, node: yaml.Node) -> tuple[dict[str, str], dict[str, Pos]]:
    entry, positions = {}, {}
    for number, (key, value) in reader.mapping(node, "entry").items():
        if not NUMBER.fullmatch(number):
            reader.error(key, f"entry: {number!r} is not a phone number ({describe(NUMBER)})")
            continue
        target = reader.ref(value, "entry", number)
        if target:
            entry[number], positions[number] = target, reader.pos(key)
    if isinstance(node, yaml.MappingNode) and not node.value:
        reader.error(node, "entry is empty: map at least one dialed number to a node")
    return entry, positions
