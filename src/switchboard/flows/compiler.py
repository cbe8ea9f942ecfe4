"""Flow files -> compiled, checked flows. The only place that reads flow YAML.

Every problem is reported with ``file:line:col: what is wrong (how to fix)``, and
all problems of all files are reported at once.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from switchboard.hours import Calendar, Hours
from switchboard.numbers import BadNumber, to_e164

from .model import (
    MAX_CHOICES,
    MENU_KEYS,
    AgentRoute,
    Agents,
    Choice,
    Flow,
    FlowSet,
    Goto,
    Handback,
    Hangup,
    HoursBranch,
    Language,
    Menu,
    Node,
    NodeKind,
    Play,
    Pos,
    Queue,
    Route,
    SetVars,
    Strategy,
    Target,
    Voicemail,
    all_exits,
    silent_exits,
)
from .prompts import PromptCatalog

MAX_FLOW_BYTES = 1024 * 1024
MAX_DEPTH = 32  # YAML nesting; a flow needs 5 or 6
MAX_RING_ALL = 20
# libyaml's parser when PyYAML was built with it (marks are the same), else pure Python.
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
T = TypeVar("T")

NODE_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
NUMBER = re.compile(r"\+?[0-9]{2,20}")
LANGUAGE = re.compile(r"[a-z]{2,3}(_[A-Z]{2})?")
PROMPT = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
VAR_NAME = re.compile(r"[a-z_][a-z0-9_]{0,63}")
ENDPOINT = re.compile(r"[A-Za-z]+/[^\s,&]+")
MAILBOX = re.compile(r"[0-9]{1,32}")  # [switchboard-voicemail] matches digits
TRUNK = re.compile(r"(PJSIP/)?[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
SITE = re.compile(r"[A-Za-z0-9_.-]{1,64}")  # as agents' sites are imported (crm.importer)
SKILL = re.compile(r"[a-z][a-z0-9_]{0,39}")  # as agents' skills are imported (crm.importer)
RING_SECONDS_EXTENSIONS = 20  # the seed: "if nobody answers in 20 s"
# An external number rings longer by default: a carrier needs 4-16 s to set up a
# mobile leg before it even starts ringing (docs/flows.md).
RING_SECONDS_EXTERNAL = 30
MEMBER_SECONDS = 15  # linear, round_robin, longest_idle: each extension rings this long
MAX_HOLIDAY_RANGE_DAYS = 31

# What a route with ``agents`` must not have: the router, not the author, picks whom to ring.
RING_FIELDS = (
    "endpoint",
    "endpoints",
    "number",
    "numbers",
    "trunk",
    "strategy",
    "timeout",
    "member_timeout",
    "confirm_prompt",
    "confirm_key",
    "confirm_timeout",
)
KIND_FIELDS: dict[str, frozenset[str]] = {
    "play": frozenset({"prompt", "prompts", "next", "interruptible"}),
    "menu": frozenset(
        {
            "prompt",
            "prompts",
            "choices",
            "on_fail",
            "timeout",
            "retries",
            "invalid_prompt",
            "timeout_prompt",
            "repeat_key",
            "back_key",
        }
    ),
    "language": frozenset({"language", "next"}),
    "set": frozenset({"vars", "next"}),
    "route": frozenset({*RING_FIELDS, "agents", "on_fail", "record"}),
    "queue": frozenset(
        {
            "name",
            "endpoint",
            "endpoints",
            "number",
            "numbers",
            "trunk",
            "strategy",
            "ring_seconds",
            "max_wait",
            "moh",
            "announce_every",
            "position_prompt",
            "callback_key",
            "callback_refused_prompt",
            "callback_prompt",
            "callback_trunk",
            "on_timeout",
            "record",
        }
    ),
    "goto": frozenset({"target"}),
    "hangup": frozenset({"prompt", "prompts"}),
    "voicemail": frozenset({"mailbox", "prompt", "prompts", "max_seconds", "max_silence"}),
    "handback": frozenset(),
    "hours": frozenset({"calendar", "open", "closed", "holiday"}),
}
TOP_FIELDS = frozenset(
    {
        "languages",
        "fallback_language",
        "skills",
        "limits",
        "calendars",
        "record_calls",
        "entry",
        "nodes",
    }
)
AGENTS_FIELDS = frozenset(
    {
        "skills",
        "language",
        "site",
        "owner_seconds",
        "ring_seconds",
        "max_wait",
        "widen_after",
        "any_after",
    }
)
OTHER_NAMES = {  # kinds authors coming from other systems reach for
    "ring_group": "route with endpoints (they ring at once)",
    "hunt_group": "route with endpoints and strategy: linear",
    "forward": "route with number and trunk",
}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class FlowProblem:
    pos: Pos
    message: str
    warning: bool = False

    def __str__(self) -> str:
        return f"{self.pos}: {'warning: ' if self.warning else ''}{self.message}"


class FlowError(Exception):
    """The flow author's mistakes: one or more problems, all with their position."""

    def __init__(self, problems: Sequence[FlowProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in problems))

    @property
    def errors(self) -> tuple[FlowProblem, ...]:
        return tuple(p for p in self.problems if not p.warning)


@dataclass
class _Ref:
    source: str  # node id (or "entry")
    field: str
    target: str
    pos: Pos


@dataclass
class _Reader:
    """Walks composed YAML nodes, collecting problems instead of stopping at the first."""

    file: str
    problems: list[FlowProblem] = field(default_factory=list)
    refs: list[_Ref] = field(default_factory=list)
    prompts: list[tuple[str, Pos]] = field(default_factory=list)
    broken: set[str] = field(default_factory=set)  # nodes already reported as unbuildable
    calendar_refs: list[tuple[str, Pos]] = field(default_factory=list)
    endpoint_refs: list[tuple[str, Pos]] = field(default_factory=list)  # for check --live
    shared_calendars: dict[str, tuple[Calendar, Pos]] = field(default_factory=dict)
    calendar_pos: dict[str, Pos] = field(default_factory=dict)
    skills: tuple[str, ...] | None = None  # the flow's declared skills; None: no skills: key
    record_calls: bool = False  # the flow's default for a route's or queue's ``record``

    def error_at(self, pos: Pos, message: str) -> None:
        self.problems.append(FlowProblem(pos, message))

    def pos(self, node: yaml.Node) -> Pos:
        return Pos(self.file, node.start_mark.line + 1, node.start_mark.column + 1)

    def error(self, node: yaml.Node, message: str) -> None:
        self.problems.append(FlowProblem(self.pos(node), message))

    def mapping(self, node: yaml.Node, what: str) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        """Key -> (key node, value node); duplicate keys are problems."""
        if not isinstance(node, yaml.MappingNode):
            self.error(node, f"{what} must be a mapping (key: value lines)")
            return {}
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode):
                self.error(key, f"{what}: a key must be a plain value")
                continue
            if key.value in out:
                first = self.pos(out[key.value][0])
                self.error(key, f"{what}: duplicate key {key.value!r} (first at line {first.line})")
                continue
            out[key.value] = (key, value)
        return out

    def check_fields(
        self, items: dict[str, tuple[yaml.Node, yaml.Node]], allowed: frozenset[str], what: str
    ) -> None:
        for name, (key, _) in items.items():
            if name not in allowed:
                hint = _suggest(name, allowed) or f"allowed: {', '.join(sorted(allowed)) or '-'}"
                self.error(key, f"{what}: unknown field {name!r} ({hint})")

    def text(self, node: yaml.Node, what: str, pattern: re.Pattern[str] | None = None) -> str:
        if not isinstance(node, yaml.ScalarNode) or node.value == "":
            self.error(node, f"{what} must be a single value")
            return ""
        if pattern is not None and not pattern.fullmatch(node.value):
            self.error(node, f"{what}: {node.value!r} is not valid (expected {_describe(pattern)})")
            return ""
        return str(node.value)

    def number(
        self, node: yaml.Node, what: str, low: float, high: float, kind: Callable[[str], T]
    ) -> T | None:
        raw = self.text(node, what)
        try:
            value = kind(raw)
        except ValueError:
            if raw:
                self.error(node, f"{what}: {raw!r} is not a number (use {low:g} to {high:g})")
            return None
        if not low <= float(value) <= high:  # type: ignore[arg-type]
            self.error(node, f"{what} is {raw}, out of range (use {low:g} to {high:g})")
            return None
        return value

    def boolean(self, node: yaml.Node, what: str) -> bool:
        raw = self.text(node, what).lower()
        if raw in ("true", "yes", "on"):
            return True
        if raw not in ("false", "no", "off", ""):
            self.error(node, f"{what} must be true or false")
        return False

    def ref(self, node: yaml.Node, source: str, field_name: str) -> str:
        target = self.text(node, f"node {source!r}: {field_name}", NODE_ID)
        if target:
            self.refs.append(_Ref(source, field_name, target, self.pos(node)))
        return target

    def prompt_list(
        self, items: dict[str, tuple[yaml.Node, yaml.Node]], source: str
    ) -> tuple[str, ...]:
        if "prompt" in items and "prompts" in items:
            self.error(items["prompts"][0], f"node {source!r}: use prompt or prompts, not both")
        if "prompt" in items:
            nodes = [items["prompt"][1]]
        elif "prompts" in items:
            seq = items["prompts"][1]
            if not isinstance(seq, yaml.SequenceNode) or not seq.value:
                self.error(seq, f"node {source!r}: prompts must be a list of prompt names")
                return ()
            nodes = list(seq.value)
        else:
            return ()
        return tuple(self.prompt(n, source) for n in nodes)

    def prompt(self, node: yaml.Node, source: str) -> str:
        name = self.text(node, f"node {source!r}: prompt", PROMPT)
        if name:
            self.prompts.append((name, self.pos(node)))
        return name


def _describe(pattern: re.Pattern[str]) -> str:
    return {
        NODE_ID.pattern: "a letter, then letters, digits, _ or -",
        TRUNK.pattern: "the trunk's PJSIP endpoint name: letters, digits, _, . or -",
        NUMBER.pattern: "digits with an optional leading +",
        LANGUAGE.pattern: "a language code such as en, ru or pt_BR",
        PROMPT.pattern: "a prompt name: lower-case letters, digits, _ or -",
        VAR_NAME.pattern: "a lower-case name: letters, digits and _",
        ENDPOINT.pattern: "TECH/resource, such as PJSIP/agent100",
        MAILBOX.pattern: "a mailbox number such as 100 (digits)",
        SKILL.pattern: "a skill name: a lower-case letter, then up to 39 lower-case letters, "
        "digits or _, such as sales",
    }.get(pattern.pattern, pattern.pattern)


def _suggest(word: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(known), n=1)
    return f"did you mean {close[0]!r}?" if close else ""


# -- the YAML edge -------------------------------------------------------------------------
def _compose(name: str, raw: bytes) -> tuple[yaml.Node | None, list[FlowProblem]]:
    start = Pos(name, 1, 1)
    if len(raw) > MAX_FLOW_BYTES:
        message = f"file is {len(raw)} bytes; flows are limited to {MAX_FLOW_BYTES} (split it)"
        return None, [FlowProblem(start, message)]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, [FlowProblem(start, f"not UTF-8 text ({exc.reason} at byte {exc.start})")]
    problems: list[FlowProblem] = []
    try:
        # Anchors and aliases are refused before anything is built from them, so an
        # exponential "billion laughs" expansion never happens; so is deep nesting,
        # which would exhaust the composer's recursion.
        depth = 0
        for event in yaml.parse(text, Loader=_LOADER):
            depth += isinstance(event, yaml.CollectionStartEvent)
            depth -= isinstance(event, yaml.CollectionEndEvent)
            mark = event.start_mark
            if depth > MAX_DEPTH and mark is not None:
                where = Pos(name, mark.line + 1, mark.column + 1)
                message = f"nested deeper than {MAX_DEPTH} levels (flows need far fewer)"
                return None, [FlowProblem(where, message)]
            anchored = isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None)
            if anchored and mark is not None:
                problems.append(
                    FlowProblem(
                        Pos(name, mark.line + 1, mark.column + 1),
                        "YAML anchors and aliases (&name, *name) are not allowed in flows "
                        "(write the node out, or use a goto node)",
                    )
                )
        if problems:
            return None, problems
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = Pos(name, mark.line + 1, mark.column + 1) if mark else start
        return None, [FlowProblem(pos, f"not valid YAML: {exc.problem or exc.context}")]
    except yaml.YAMLError as exc:
        return None, [FlowProblem(start, f"not valid YAML: {exc}")]
    if node is None:
        return None, [FlowProblem(start, "the file is empty (see docs/flows.md for an example)")]
    return node, []


SharedCalendars = Mapping[str, tuple[Calendar, Pos]]


def compile_flow(
    name: str, raw: bytes, catalog: PromptCatalog, shared: SharedCalendars | None = None
) -> tuple[Flow, list[FlowProblem]]:
    """Compile one flow file. Returns the flow and its warnings; raises FlowError.
    ``shared``: calendars from calendar files, usable by name as if written here."""
    node, problems = _compose(name, raw)
    if node is None:
        raise FlowError(problems)
    reader = _Reader(name)
    reader.shared_calendars = dict(shared or {})
    flow = _flow(reader, node, hashlib.sha256(raw).hexdigest()[:12])
    _check_graph(reader, flow, catalog)
    problems = sorted(reader.problems, key=lambda p: (p.pos.line, p.pos.col))
    if flow is None or any(not p.warning for p in problems):
        raise FlowError(problems)  # the warnings too: the author sees everything at once
    return flow, problems


def compile_files(
    paths: Sequence[str | Path], catalog: PromptCatalog
) -> tuple[FlowSet, list[FlowProblem]]:
    """Compile every file; all files' problems are reported together.

    A file whose only key is ``calendars`` is a calendar file: its calendars can be
    named by every flow of the set (an office's hours, written once)."""
    flows: list[Flow] = []
    problems: list[FlowProblem] = []
    warnings: list[FlowProblem] = []
    sources: list[tuple[str, bytes]] = []
    for path in paths:
        try:
            sources.append((str(path), Path(path).read_bytes()))
        except OSError as exc:
            problems.append(FlowProblem(Pos(str(path), 1, 1), f"cannot read: {exc.strerror}"))
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
    problems: list[FlowProblem],
) -> dict[str, Calendar] | None:
    """The calendars of a calendar file (added to ``shared``); None for a flow file."""
    if b"calendars" not in raw:
        return None  # (most flow files: no second parse)
    node, _ = _compose(name, raw)
    if node is None or not isinstance(node, yaml.MappingNode):
        return None  # compile_flow reports it
    keys = {k.value for k, _ in node.value if isinstance(k, yaml.ScalarNode)}
    if keys != {"calendars"}:
        return None
    reader = _Reader(name)
    calendars = _calendars(reader, node.value[0][1])
    problems += reader.problems
    for calendar_name, calendar in calendars.items():
        pos = reader.calendar_pos.get(calendar_name, Pos(name, 1, 1))
        if calendar_name in shared:
            problems.append(
                FlowProblem(
                    pos,
                    f"calendar {calendar_name!r} is also defined at {shared[calendar_name][1]} "
                    "(give each calendar one name)",
                )
            )
            continue
        shared[calendar_name] = (calendar, pos)
    return calendars


def _shared_numbers(flows: list[Flow]) -> list[FlowProblem]:
    owner: dict[str, Flow] = {}
    problems = []
    for flow in flows:
        for number in flow.entry:
            if number in owner:
                problems.append(
                    FlowProblem(
                        flow.entry_pos.get(number, Pos(flow.name, 1, 1)),
                        f"number {number} is also an entry of {owner[number].name} "
                        "(a number may belong to one flow only)",
                    )
                )
            owner.setdefault(number, flow)
    return problems


# -- top level -----------------------------------------------------------------------------
def _flow(reader: _Reader, root: yaml.Node, version: str) -> Flow | None:
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
    nodes = _nodes(reader, top["nodes"][1], languages) if "nodes" in top else {}
    entry, entry_pos = _entry(reader, top["entry"][1]) if "entry" in top else ({}, {})
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
    )


def _languages(reader: _Reader, top: dict[str, tuple[yaml.Node, yaml.Node]]) -> tuple[str, ...]:
    if "languages" not in top:
        return ()
    node = top["languages"][1]
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        reader.error(node, "languages must be a list such as [en, ru]")
        return ()
    codes = [reader.text(item, "languages", LANGUAGE) for item in node.value]
    return tuple(dict.fromkeys(c for c in codes if c))


def _skills(reader: _Reader, top: dict[str, tuple[yaml.Node, yaml.Node]]) -> tuple[str, ...] | None:
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


def _entry(reader: _Reader, node: yaml.Node) -> tuple[dict[str, str], dict[str, Pos]]:
    entry, positions = {}, {}
    for number, (key, value) in reader.mapping(node, "entry").items():
        if not NUMBER.fullmatch(number):
            reader.error(key, f"entry: {number!r} is not a phone number ({_describe(NUMBER)})")
            continue
        target = reader.ref(value, "entry", number)
        if target:
            entry[number], positions[number] = target, reader.pos(key)
    if isinstance(node, yaml.MappingNode) and not node.value:
        reader.error(node, "entry is empty: map at least one dialed number to a node")
    return entry, positions


def _nodes(reader: _Reader, node: yaml.Node, languages: tuple[str, ...]) -> dict[str, Node]:
    nodes: dict[str, Node] = {}
    for node_id, (key, value) in reader.mapping(node, "nodes").items():
        if not NODE_ID.fullmatch(node_id):
            reader.error(key, f"node id {node_id!r} is not valid ({_describe(NODE_ID)})")
            continue
        kind = _node_kind(reader, node_id, value, languages)
        if kind is not None:
            nodes[node_id] = Node(node_id, kind, reader.pos(key))
        else:
            reader.broken.add(node_id)
    return nodes


def _node_kind(
    reader: _Reader, node_id: str, node: yaml.Node, languages: tuple[str, ...]
) -> NodeKind | None:
    items = reader.mapping(node, f"node {node_id!r}")
    if not items:
        return None
    if "kind" not in items:
        known = ", ".join(KIND_FIELDS)
        reader.error(node, f"node {node_id!r} has no kind (add kind: one of {known})")
        return None
    kind_node = items["kind"][1]
    kind = reader.text(kind_node, f"node {node_id!r}: kind")
    if kind in OTHER_NAMES:
        reader.error(
            kind_node, f"node {node_id!r}: there is no kind {kind!r}; use {OTHER_NAMES[kind]}"
        )
        return None
    if kind not in KIND_FIELDS:
        hint = _suggest(kind, KIND_FIELDS) or f"one of {', '.join(KIND_FIELDS)}"
        reader.error(kind_node, f"node {node_id!r}: unknown kind {kind!r} ({hint})")
        return None
    del items["kind"]
    reader.check_fields(items, KIND_FIELDS[kind], f"node {node_id!r} ({kind})")
    builder = _BUILDERS[kind]
    return builder(_NodeReader(reader, node_id, node, items, languages))


@dataclass
class _NodeReader:
    reader: _Reader
    node_id: str
    node: yaml.Node
    items: dict[str, tuple[yaml.Node, yaml.Node]]
    languages: tuple[str, ...]
    prefix: str = ""  # "agents.": the fields of a mapping inside the node

    def what(self, field_name: str) -> str:
        return f"node {self.node_id!r}: {self.prefix}{field_name}"

    def required(self, field_name: str) -> yaml.Node | None:
        if field_name not in self.items:
            self.reader.error(
                self.node,
                f"node {self.node_id!r} needs {field_name!r} "
                "(see docs/flows.md for the fields of each kind)",
            )
            return None
        return self.items[field_name][1]

    def ref(self, field_name: str) -> str:
        node = self.required(field_name)
        return self.reader.ref(node, self.node_id, field_name) if node is not None else ""

    def number(
        self, field_name: str, low: float, high: float, kind: Callable[[str], T], default: T
    ) -> T:
        if field_name not in self.items:
            return default
        value = self.reader.number(
            self.items[field_name][1], self.what(field_name), low, high, kind
        )
        return default if value is None else value

    def optional_prompt(self, field_name: str) -> str:
        if field_name not in self.items:
            return ""
        return self.reader.prompt(self.items[field_name][1], self.node_id)

    def key(self, field_name: str) -> str:
        if field_name not in self.items:
            return ""
        node = self.items[field_name][1]
        key = self.reader.text(node, self.what(field_name))
        if key and key not in MENU_KEYS:
            self.reader.error(
                node,
                f"{self.what(field_name)}: {key!r} is not a phone key "
                "(use one of 1-9, 0, * or #, quoted)",
            )
            return ""
        return key


def _play(n: _NodeReader) -> NodeKind:
    prompts = n.reader.prompt_list(n.items, n.node_id)
    if not prompts:
        n.reader.error(n.node, f"node {n.node_id!r} (play) needs prompt or prompts")
    interruptible = "interruptible" in n.items and n.reader.boolean(
        n.items["interruptible"][1], n.what("interruptible")
    )
    return Play(prompts=prompts, next=n.ref("next"), interruptible=interruptible)


def _menu(n: _NodeReader) -> NodeKind:
    prompts = n.reader.prompt_list(n.items, n.node_id)
    if not prompts:
        n.reader.error(n.node, f"node {n.node_id!r} (menu) needs prompt or prompts")
    choices = _choices(n)
    repeat_key, back_key = n.key("repeat_key"), n.key("back_key")
    for name, key in (("repeat_key", repeat_key), ("back_key", back_key)):
        if key and key in choices:
            n.reader.error(
                n.items[name][1],
                f"{n.what(name)} {key!r} is also a choice (pick a key the menu does not use)",
            )
    if repeat_key and repeat_key == back_key:
        n.reader.error(
            n.items["back_key"][1],
            f"{n.what('back_key')} is the same as repeat_key (give them different keys)",
        )
    return Menu(
        prompts=prompts,
        choices=MappingProxyType(choices),
        on_fail=n.ref("on_fail"),
        timeout=n.number("timeout", 1, 30, float, 5.0),
        retries=n.number("retries", 0, 5, int, 2),
        invalid_prompt=n.optional_prompt("invalid_prompt"),
        timeout_prompt=n.optional_prompt("timeout_prompt"),
        repeat_key=repeat_key,
        back_key=back_key,
    )


def _choices(n: _NodeReader) -> dict[str, Choice]:
    node = n.required("choices")
    if node is None:
        return {}
    choices: dict[str, Choice] = {}
    for key, (key_node, value) in n.reader.mapping(node, n.what("choices")).items():
        if key not in MENU_KEYS:
            n.reader.error(
                key_node,
                f"{n.what('choices')}: {key!r} is not a phone key "
                "(use 1-9, 0, * or #; quote * and # in YAML)",
            )
            continue
        choices[key] = _choice(n, key, value)
    counted = [k for k, c in choices.items() if c.action == "goto"]
    if len(counted) > MAX_CHOICES:
        n.reader.error(
            node,
            f"menu {n.node_id!r} has {len(counted)} choices; the limit is "
            f"{MAX_CHOICES} because callers lose track past five "
            "(move some into a sub-menu)",
        )
    if not choices:
        n.reader.error(node, f"menu {n.node_id!r} has no choices (add at least one key)")
    return choices


def _choice(n: _NodeReader, key: str, value: yaml.Node) -> Choice:
    if isinstance(value, yaml.ScalarNode):
        return Choice(target=n.reader.ref(value, n.node_id, f"choice {key}"))
    items = n.reader.mapping(value, f"{n.what('choice')} {key}")
    n.reader.check_fields(items, frozenset({"back", "repeat"}), f"{n.what('choice')} {key}")
    if "back" in items and "repeat" in items:
        n.reader.error(value, f"{n.what('choice')} {key}: back or repeat, not both")
    if "back" in items and n.reader.boolean(items["back"][1], f"choice {key}: back"):
        return Choice(action="back")
    if "repeat" in items and n.reader.boolean(items["repeat"][1], f"choice {key}: repeat"):
        return Choice(action="repeat")
    n.reader.error(
        value, f"{n.what('choice')} {key}: give a node id, {{back: true}} or {{repeat: true}}"
    )
    return Choice(action="repeat")


def _language(n: _NodeReader) -> NodeKind:
    node = n.required("language")
    language = _flow_language(n, node) if node is not None else ""
    return Language(language=language, next=n.ref("next"))


def _flow_language(n: _NodeReader, node: yaml.Node) -> str:
    """A language code that must be one of the flow's ``languages``."""
    language = n.reader.text(node, n.what("language"), LANGUAGE)
    if language and n.languages and language not in n.languages:
        n.reader.error(
            node,
            f"{n.what('language')} {language!r} is not one of the flow's "
            f"languages ({', '.join(n.languages)}); add it there with its prompts",
        )
    return language


def _set(n: _NodeReader) -> NodeKind:
    node = n.required("vars")
    values: dict[str, str] = {}
    if node is not None:
        for name, (key, value) in n.reader.mapping(node, n.what("vars")).items():
            if not VAR_NAME.fullmatch(name):
                n.reader.error(
                    key,
                    f"{n.what('vars')}: {name!r} is not a variable name ({_describe(VAR_NAME)})",
                )
                continue
            values[name] = n.reader.text(value, f"{n.what('vars')}.{name}")
    return SetVars(vars=MappingProxyType(values), next=n.ref("next"))


def _route(n: _NodeReader) -> NodeKind:
    if "agents" in n.items:
        return _agents_route(n)
    targets = _endpoints(n) + _numbers(n)
    if not targets and not any(
        f in n.items for f in ("endpoint", "endpoints", "number", "numbers")
    ):
        n.reader.error(
            n.node,
            f"node {n.node_id!r} needs what to ring: endpoint or endpoints (extensions, "
            "e.g. PJSIP/100) and/or number or numbers (external, with trunk), "
            "or agents (the best free agent by skills and language)",
        )
    if len(targets) > MAX_RING_ALL:
        where = next((f for f in ("endpoints", "numbers") if f in n.items), "")
        n.reader.error(
            n.items[where][1] if where else n.node,
            f"{n.what(where or 'route')}: {len(targets)} phones; ringing more than "
            f"{MAX_RING_ALL} at once overloads Asterisk (use a queue)",
        )
    strategy = _strategy(n)
    if strategy.sequential and "timeout" in n.items:
        n.reader.error(
            n.items["timeout"][0],
            f"node {n.node_id!r}: strategy {strategy.value} rings one phone at a time; "
            "use member_timeout (seconds each phone rings) instead of timeout",
        )
    if not strategy.sequential and "member_timeout" in n.items:
        n.reader.error(
            n.items["member_timeout"][0],
            f"node {n.node_id!r}: member_timeout is for linear, round_robin and "
            "longest_idle; ring_all rings every phone for timeout seconds",
        )
    external = any(t.external for t in targets)
    default_ring = RING_SECONDS_EXTERNAL if external else RING_SECONDS_EXTENSIONS
    confirm_prompt = n.optional_prompt("confirm_prompt")
    if confirm_prompt and not external:
        n.reader.error(
            n.items["confirm_prompt"][0],
            f"node {n.node_id!r}: confirm_prompt is for external numbers (a mobile's "
            "voicemail must not take the call); this route rings none",
        )
    return Route(
        targets=targets,
        on_fail=n.ref("on_fail"),
        timeout=n.number("timeout", 5, 600, int, default_ring),
        strategy=strategy,
        member_timeout=n.number(
            "member_timeout", 5, 600, int, RING_SECONDS_EXTERNAL if external else MEMBER_SECONDS
        ),
        confirm_prompt=confirm_prompt,
        confirm_key=n.key("confirm_key") or "1",
        confirm_timeout=n.number("confirm_timeout", 2, 60, float, 8.0),
        record=_record(n),
    )


def _agents_route(n: _NodeReader) -> NodeKind:
    """A route whose phones the router picks: ``agents: {skills: {sales: 3}, ...}``."""
    for name in RING_FIELDS:
        if name in n.items:
            n.reader.error(
                n.items[name][0],
                f"node {n.node_id!r}: {name} cannot be used with agents (agents picks whom "
                "to ring; put the ring group or number in the node on_fail leads to)",
            )
    node = n.items["agents"][1]
    items = n.reader.mapping(node, n.what("agents"))
    n.reader.check_fields(items, AGENTS_FIELDS, n.what("agents"))
    inner = _NodeReader(n.reader, n.node_id, node, items, n.languages, prefix="agents.")
    language = inner.items.get("language")
    agents = Agents(
        skills=_agent_skills(inner),
        language=_flow_language(inner, language[1]) if language else "",
        site=inner.reader.text(items["site"][1], n.what("agents.site"), SITE)
        if "site" in items
        else "",
        owner_seconds=inner.number("owner_seconds", 0, 120, int, 15),
        ring_seconds=inner.number("ring_seconds", 5, 600, int, 20),
        max_wait=inner.number("max_wait", 0, 3600, int, 60),
        widen_after=inner.number("widen_after", 0, 3600, int, 30),
        any_after=inner.number("any_after", 0, 3600, int, 60),
    )
    if agents.any_after < agents.widen_after:
        written = "any_after" in items
        n.reader.error(
            items["any_after" if written else "widen_after"][1],
            f"{n.what('agents')}: any_after {agents.any_after}{'' if written else ' (the default)'}"
            f" is less than widen_after {agents.widen_after} (the wait widens to any "
            "proficiency first, then to any agent with the language: make any_after at least "
            "widen_after)",
        )
    return AgentRoute(agents=agents, on_fail=n.ref("on_fail"), record=_record(n))


def _record(n: _NodeReader) -> bool:
    """``record: true|false``: record the calls this node connects; default the flow's
    ``record_calls``."""
    if "record" not in n.items:
        return n.reader.record_calls
    return n.reader.boolean(n.items["record"][1], n.what("record"))


def _agent_skills(n: _NodeReader) -> tuple[tuple[str, int], ...]:
    """``{sales: 3, billing: 1}`` (minimum proficiency 1-5) or ``[sales, billing]`` (1)."""
    if "skills" not in n.items:
        return ()
    node = n.items["skills"][1]
    if isinstance(node, yaml.MappingNode):
        written: list[tuple[yaml.Node, yaml.Node | None]] = list(node.value)
    elif isinstance(node, yaml.SequenceNode):
        written = [(item, None) for item in node.value]
    else:
        n.reader.error(
            node,
            f"{n.what('skills')} must map each skill to its minimum proficiency, such as "
            "{sales: 3, billing: 1}, or list skills, such as [sales, billing]",
        )
        return ()
    skills: dict[str, int] = {}
    lines: dict[str, int] = {}
    for key, value in written:
        name = _skill(n, key)
        level = _proficiency(n, name, value)
        if name in lines:
            n.reader.error(
                key,
                f"{n.what('skills')}: {name!r} is given twice (first at line {lines[name]}; "
                "give each skill once)",
            )
        elif name:
            lines[name] = n.reader.pos(key).line
            if level is not None:
                skills[name] = level
    return tuple(skills.items())


def _proficiency(n: _NodeReader, skill: str, node: yaml.Node | None) -> int | None:
    """The minimum proficiency written for a skill: 1-5; a listed skill (no value) is 1."""
    if node is None:
        return 1
    what = f"{n.what('skills')}: minimum proficiency of {skill or 'a skill'!r}"
    return n.reader.number(node, what, 1, 5, int)


def _skill(n: _NodeReader, node: yaml.Node) -> str:
    """A skill a route asks for: one the flow declares in its top-level ``skills``."""
    name = n.reader.text(node, n.what("skills"), SKILL)
    declared = n.reader.skills
    if not name:
        return ""
    if declared is None:
        n.reader.error(
            node,
            f"{n.what('skills')}: skill {name!r} is not declared (declare the flow's skills "
            "at the top of the file, e.g. skills: [sales, support])",
        )
    elif name not in declared:
        hint = _suggest(name, declared) or (
            f"add it to skills: at the top of the file; declared: {', '.join(declared) or '-'}"
        )
        n.reader.error(node, f"{n.what('skills')}: skill {name!r} is not declared ({hint})")
    return name


def _queue(n: _NodeReader) -> NodeKind:
    targets = _endpoints(n) + _numbers(n)
    if not targets and not any(
        f in n.items for f in ("endpoint", "endpoints", "number", "numbers")
    ):
        n.reader.error(
            n.node, f"node {n.node_id!r} needs the phones that serve the queue: endpoints"
        )
    strategy = _strategy(n)
    name = n.node_id
    if "name" in n.items:
        name = n.reader.text(n.items["name"][1], n.what("name"), NODE_ID) or name
    announce = n.number("announce_every", 0, 600, int, 0)
    position_prompt = n.optional_prompt("position_prompt")
    if announce and not position_prompt:
        n.reader.error(
            n.items["announce_every"][0],
            f"node {n.node_id!r}: announce_every needs position_prompt (said before the "
            "number, e.g. 'you are caller number')",
        )
    callback_key = n.key("callback_key")
    callback_prompt = n.optional_prompt("callback_prompt")
    callback_refused_prompt = n.optional_prompt("callback_refused_prompt")
    callback_trunk = _trunk(n, "callback_trunk")
    needed = (
        ("callback_prompt", callback_prompt,
         "what the caller hears before hanging up: that they will be called back"),
        ("callback_refused_prompt", callback_refused_prompt,
         "what the caller hears when their number cannot be called back: they keep their place"),
        ("callback_trunk", callback_trunk,
         "the PJSIP endpoint the caller is called back through, e.g. carrier"),
    )  # fmt: skip
    for field_name, value, what in needed if callback_key else ():
        if not value:
            n.reader.error(
                n.items["callback_key"][0],
                f"node {n.node_id!r}: callback_key needs {field_name} ({what})",
            )
    moh = "default"
    if "moh" in n.items:
        moh = n.reader.text(n.items["moh"][1], n.what("moh"), NODE_ID) or moh
    return Queue(
        name=name,
        targets=targets,
        on_timeout=n.ref("on_timeout"),
        strategy=strategy,
        ring_seconds=n.number("ring_seconds", 5, 600, int, MEMBER_SECONDS),
        max_wait=n.number("max_wait", 10, 3600, int, 120),
        moh=moh,
        announce_every=announce,
        position_prompt=position_prompt,
        callback_key=callback_key,
        callback_prompt=callback_prompt,
        callback_refused_prompt=callback_refused_prompt,
        callback_trunk=callback_trunk,
        record=_record(n),
    )


def _strategy(n: _NodeReader) -> Strategy:
    if "strategy" not in n.items:
        return Strategy.RING_ALL
    node = n.items["strategy"][1]
    text = n.reader.text(node, n.what("strategy"))
    try:
        return Strategy(text)
    except ValueError:
        known = ", ".join(s.value for s in Strategy)
        n.reader.error(node, f"{n.what('strategy')}: {text!r} is not a strategy ({known})")
        return Strategy.RING_ALL


def _listed(n: _NodeReader, one: str, many: str, example: str) -> list[yaml.Node]:
    """``one: X`` or ``many: [X, Y]`` -> the value nodes (none if neither is written)."""
    if one in n.items and many in n.items:
        n.reader.error(n.node, f"node {n.node_id!r}: use {one} or {many}, not both")
        return []
    if one in n.items:
        return [n.items[one][1]]
    if many not in n.items:
        return []
    seq = n.items[many][1]
    if not isinstance(seq, yaml.SequenceNode) or not seq.value:
        n.reader.error(seq, f"{n.what(many)} must be a list such as {example}")
        return []
    return list(seq.value)


def _endpoints(n: _NodeReader) -> tuple[Target, ...]:
    """``endpoint: PJSIP/100`` or ``endpoints: [...]``: extensions."""
    nodes = _listed(n, "endpoint", "endpoints", "[PJSIP/100, PJSIP/101]")
    endpoints = [n.reader.text(node, n.what("endpoint"), ENDPOINT) for node in nodes]
    for node, endpoint in zip(nodes, endpoints, strict=True):
        if endpoint:
            n.reader.endpoint_refs.append((endpoint, n.reader.pos(node)))
    return tuple(Target(e) for e in dict.fromkeys(e for e in endpoints if e))


def _trunk(n: _NodeReader, field_name: str) -> str:
    """``carrier`` or ``PJSIP/carrier`` -> ``PJSIP/carrier`` (noted for check --live)."""
    if field_name not in n.items:
        return ""
    node = n.items[field_name][1]
    trunk = n.reader.text(node, n.what(field_name), TRUNK)
    if not trunk:
        return ""
    trunk = trunk if trunk.startswith("PJSIP/") else f"PJSIP/{trunk}"
    n.reader.endpoint_refs.append((trunk, n.reader.pos(node)))
    return trunk


def _numbers(n: _NodeReader) -> tuple[Target, ...]:
    """``number: 8 (987) 123-45-67`` or ``numbers: [...]``, dialed through ``trunk``."""
    nodes = _listed(n, "number", "numbers", '["8 (987) 123-45-67"]')
    trunk = _trunk(n, "trunk")
    if "trunk" in n.items and not nodes:
        n.reader.error(n.items["trunk"][1], f"node {n.node_id!r}: trunk without number or numbers")
    elif "trunk" not in n.items and nodes:
        n.reader.error(
            n.node,
            f"node {n.node_id!r}: external numbers need trunk "
            "(the PJSIP endpoint of the carrier, e.g. trunk: carrier)",
        )
    numbers: list[str] = []
    for node in nodes:
        if not isinstance(node, yaml.ScalarNode) or node.tag != "tag:yaml.org,2002:str":
            n.reader.error(
                node, f'{n.what("number")}: write the number as a quoted string, e.g. "8 987 ..."'
            )
            continue
        try:
            numbers.append(to_e164(node.value))
        except BadNumber as exc:
            n.reader.error(node, f"{n.what('number')}: {exc}")
    if not trunk:
        return ()
    technology, _, trunk_name = trunk.partition("/")
    return tuple(
        Target(f"{technology}/{number}@{trunk_name}", number=number, trunk=trunk)
        for number in dict.fromkeys(numbers)
    )


def _goto(n: _NodeReader) -> NodeKind:
    return Goto(target=n.ref("target"))


def _hangup(n: _NodeReader) -> NodeKind:
    return Hangup(prompts=n.reader.prompt_list(n.items, n.node_id))


def _voicemail(n: _NodeReader) -> NodeKind:
    node = n.required("mailbox")
    mailbox = n.reader.text(node, n.what("mailbox"), MAILBOX) if node is not None else ""
    return Voicemail(
        mailbox=mailbox,
        prompts=n.reader.prompt_list(n.items, n.node_id),
        max_seconds=n.number("max_seconds", 5, 3600, int, 180),
        max_silence=n.number("max_silence", 0, 60, int, 10),
    )


def _handback(n: _NodeReader) -> NodeKind:
    return Handback()


def _hours(n: _NodeReader) -> NodeKind:
    node = n.required("calendar")
    calendar = n.reader.text(node, n.what("calendar"), NODE_ID) if node is not None else ""
    if node is not None and calendar:
        n.reader.calendar_refs.append((calendar, n.reader.pos(node)))
    closed = n.ref("closed")
    holiday = n.ref("holiday") if "holiday" in n.items else closed
    return HoursBranch(calendar=calendar, open=n.ref("open"), closed=closed, holiday=holiday)


# -- calendars -----------------------------------------------------------------------------
def _calendars(reader: _Reader, node: yaml.Node) -> dict[str, Calendar]:
    calendars = {}
    for name, (key, value) in reader.mapping(node, "calendars").items():
        if not NODE_ID.fullmatch(name):
            reader.error(key, f"calendar name {name!r} is not valid ({_describe(NODE_ID)})")
            continue
        calendar = _calendar(reader, name, value)
        if calendar is not None:
            calendars[name] = calendar
            reader.calendar_pos[name] = reader.pos(key)
    return calendars


def _calendar(reader: _Reader, name: str, node: yaml.Node) -> Calendar | None:
    what = f"calendar {name!r}"
    items = reader.mapping(node, what)
    reader.check_fields(items, frozenset({"zone", "weekly", "holidays", "exceptions"}), what)
    if "zone" not in items or "weekly" not in items:
        reader.error(node, f"{what} needs zone and weekly (see docs/flows.md)")
        return None
    zone_node = items["zone"][1]
    zone = reader.text(zone_node, f"{what}: zone")
    try:
        ZoneInfo(zone)
    except (ValueError, ZoneInfoNotFoundError):
        reader.error(
            zone_node,
            f"{what}: unknown time zone {zone!r} (use an IANA name such as Europe/Moscow)",
        )
        return None
    weekly = _weekly(reader, what, items["weekly"][1])
    holidays = _dates(reader, what, items["holidays"][1]) if "holidays" in items else []
    exceptions: dict[date, tuple[Hours, ...]] = {}
    if "exceptions" in items:
        for day_text, (day_key, hours_node) in reader.mapping(
            items["exceptions"][1], f"{what}: exceptions"
        ).items():
            day = _date(reader, what, day_key, day_text)
            if day is not None:
                exceptions[day] = _hours_spec(reader, what, hours_node)
    try:
        return Calendar(name, zone, weekly, frozenset(holidays), MappingProxyType(exceptions))
    except ValueError as exc:  # overlapping hours on one day
        reader.error(node, f"{exc} (make the ranges of a day follow each other)")
        return None


def _weekly(reader: _Reader, what: str, node: yaml.Node) -> tuple[tuple[Hours, ...], ...]:
    week: list[tuple[Hours, ...]] = [()] * 7
    written: dict[int, str] = {}  # day -> the key that set it
    for days, (key, value) in reader.mapping(node, f"{what}: weekly").items():
        first, _, last = days.partition("-")
        if first not in WEEKDAYS or (last and last not in WEEKDAYS):
            reader.error(
                key, f"{what}: {days!r} is not a day or range of days (use mon..sun, e.g. mon-fri)"
            )
            continue
        start, end = WEEKDAYS.index(first), WEEKDAYS.index(last or first)
        if end < start:
            reader.error(
                key,
                f"{what}: {days!r} runs backwards (write the week from mon to sun, "
                f"e.g. {last}-{first} or two keys)",
            )
            continue
        hours = _hours_spec(reader, what, value)
        for day in range(start, end + 1):
            if day in written:
                reader.error(
                    key,
                    f"{what}: {WEEKDAYS[day]} is in both {written[day]!r} and {days!r} "
                    "(give each day once)",
                )
                break
            written[day] = days
            week[day] = hours
    return tuple(week)


def _hours_spec(reader: _Reader, what: str, node: yaml.Node) -> tuple[Hours, ...]:
    """``"09:00-18:00"``, a list of such, or ``closed``."""
    items = node.value if isinstance(node, yaml.SequenceNode) else [node]
    hours = []
    for item in items:
        text = reader.text(item, f"{what}: hours")
        if text == "closed":
            if len(items) > 1:
                reader.error(
                    item, f"{what}: closed cannot be mixed with hours (use one or the other)"
                )
            continue
        try:
            hours.append(Hours.parse(text))
        except ValueError as exc:
            reader.error(item, f"{what}: {exc} (write hours as 09:00-18:00, or closed)")
    return tuple(sorted(hours, key=lambda h: h.start))


def _dates(reader: _Reader, what: str, node: yaml.Node) -> list[date]:
    """Holidays: dates (2027-01-01) or inclusive ranges (2027-01-01..2027-01-08)."""
    if not isinstance(node, yaml.SequenceNode):
        reader.error(
            node,
            f"{what}: holidays must be a list of dates such as 2026-01-01 "
            "or ranges such as 2027-01-01..2027-01-08",
        )
        return []
    days: list[date] = []
    for item in node.value:
        text = reader.text(item, f"{what}: holiday")
        first_text, dots, last_text = text.partition("..")
        first = _date(reader, what, item, first_text)
        last = _date(reader, what, item, last_text) if dots else first
        if first is None or last is None:
            continue
        if not first <= last <= first + timedelta(days=MAX_HOLIDAY_RANGE_DAYS):
            reader.error(
                item,
                f"{what}: holiday range {text!r} must run forward and span at most "
                f"{MAX_HOLIDAY_RANGE_DAYS} days",
            )
            continue
        days += [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return days


def _date(reader: _Reader, what: str, node: yaml.Node, text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        reader.error(node, f"{what}: {text!r} is not a date (write it as 2026-01-01)")
        return None


_BUILDERS: dict[str, Callable[[_NodeReader], NodeKind]] = {
    "play": _play,
    "menu": _menu,
    "language": _language,
    "set": _set,
    "route": _route,
    "queue": _queue,
    "goto": _goto,
    "hangup": _hangup,
    "voicemail": _voicemail,
    "handback": _handback,
    "hours": _hours,
}


# -- whole-graph checks --------------------------------------------------------------------
def _check_graph(reader: _Reader, flow: Flow | None, catalog: PromptCatalog) -> None:
    if flow is None:
        return
    known = flow.nodes
    for ref in reader.refs:
        if ref.target not in known and ref.target not in reader.broken:
            hint = _suggest(ref.target, known) or "add the node or fix the name"
            where = "entry" if ref.source == "entry" else f"node {ref.source!r}"
            reader.problems.append(
                FlowProblem(
                    ref.pos,
                    f"{where}: {ref.field} goes to {ref.target!r}, which does not exist ({hint})",
                )
            )
    for calendar, pos in reader.calendar_refs:
        if calendar not in flow.calendars:
            defined = ", ".join(flow.calendars) or "none defined"
            reader.problems.append(
                FlowProblem(
                    pos,
                    f"calendar {calendar!r} is not defined (define it under calendars:; "
                    f"known: {defined})",
                )
            )
    _check_prompts(reader, flow, catalog)
    _check_silent_loops(reader, flow)
    _check_reachable(reader, flow)


def _check_prompts(reader: _Reader, flow: Flow, catalog: PromptCatalog) -> None:
    for name, pos in reader.prompts:
        missing = [lang for lang in flow.languages if not catalog.has(lang, name)]
        if missing:
            files = ", ".join(str(catalog.source(lang, name)) for lang in missing)
            reader.problems.append(
                FlowProblem(
                    pos, f"prompt {name!r} is missing in {', '.join(missing)} (add {files})"
                )
            )


def _check_silent_loops(reader: _Reader, flow: Flow) -> None:
    """A caller who presses nothing must always reach a hangup, voicemail or handback:
    the silent edges (next, target, on_fail) must not loop. Iterative depth-first
    search, so a very long flow cannot exhaust the stack."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = known to get out
    reported: set[frozenset[str]] = set()
    for start in flow.nodes:
        if start in state:
            continue
        path: list[str] = [start]
        todo: list[list[str]] = [_silent_next(flow, start)]
        state[start] = 1
        while todo:
            if not todo[-1]:
                state[path.pop()] = 2
                todo.pop()
                continue
            nxt = todo[-1].pop()
            if state.get(nxt) == 1:
                loop = path[path.index(nxt) :]
                if frozenset(loop) not in reported:
                    reported.add(frozenset(loop))
                    _report_loop(reader, flow, loop)
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                todo.append(_silent_next(flow, nxt))


def _silent_next(flow: Flow, node_id: str) -> list[str]:
    return [n for n in silent_exits(flow.nodes[node_id].kind) if n in flow.nodes]


def _report_loop(reader: _Reader, flow: Flow, loop: list[str]) -> None:
    shown = " -> ".join([*loop, loop[0]])
    reader.problems.append(
        FlowProblem(
            flow.nodes[loop[0]].pos,
            f"a caller who presses nothing loops forever: {shown} (via next/target/on_fail); "
            "make one of these lead to a route, voicemail, hangup or handback",
        )
    )


def _check_reachable(reader: _Reader, flow: Flow) -> None:
    seen: set[str] = set()
    todo = [n for n in flow.entry.values() if n in flow.nodes]
    while todo:
        node_id = todo.pop()
        if node_id in seen:
            continue
        seen.add(node_id)
        todo += [n for n in all_exits(flow.nodes[node_id].kind) if n in flow.nodes]
    for node_id, node in flow.nodes.items():
        if node_id not in seen:
            reader.problems.append(
                FlowProblem(
                    node.pos,
                    f"node {node_id!r} is not reachable from any entry "
                    "(link it from a menu or remove it)",
                    warning=True,
                )
            )
