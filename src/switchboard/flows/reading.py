"""Reading a flow file's YAML nodes: the patterns values must match, the readers that
collect problems instead of stopping at the first, and the flows' :class:`FlowError`.

Every problem is a :class:`switchboard.safeyaml.Problem` at ``file:line:col``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import yaml

from switchboard import safeyaml
from switchboard.hours import Calendar
from switchboard.safeyaml import Problem

from .model import MENU_KEYS, Pos

MAX_FLOW_BYTES = 1024 * 1024
MAX_DEPTH = 32  # YAML nesting; a flow needs 5 or 6
T = TypeVar("T")

NODE_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
NUMBER = re.compile(r"\+?[0-9]{2,20}")
LANGUAGE = re.compile(r"[a-z]{2,3}(_[A-Z]{2})?")
PROMPT = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
VAR_NAME = re.compile(r"[a-z_][a-z0-9_]{0,63}")
ENDPOINT = re.compile(r"[A-Za-z]+/[^\s,&]+")
MAILBOX = re.compile(r"[0-9]{1,32}")  # [switchboard-voicemail] matches digits
TRUNK = re.compile(r"(PJSIP/)?[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
SITE = re.compile(r"[A-Za-z0-9_.-]{1,64}")  # as agents' sites are imported (crm.values.ID)
SKILL = re.compile(r"[a-z][a-z0-9_]{0,39}")  # as agents' skills are imported (crm.values)

FLOW_FILES = safeyaml.Rules(
    max_bytes=MAX_FLOW_BYTES,
    too_big="file is {size} bytes; flows are limited to {limit} (split it)",
    empty="the file is empty (see docs/flows.md for an example)",
    not_utf8="not UTF-8 text ({reason} at byte {start})",
    max_depth=MAX_DEPTH,
    too_deep="nested deeper than {limit} levels (flows need far fewer)",
    no_aliases="YAML anchors and aliases (&name, *name) are not allowed in flows "
    "(write the node out, or use a goto node)",
)


def problem_at(pos: Pos, message: str, *, warning: bool = False) -> Problem:
    return Problem(pos.file, pos.line, message, col=pos.col, warning=warning)


class FlowError(Exception):
    """The flow author's mistakes: one or more problems, all with their position."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in problems))

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if not p.warning)


@dataclass
class Ref:
    source: str  # node id (or "entry")
    field: str
    target: str
    pos: Pos


@dataclass
class FlowReader:
    """Walks composed YAML nodes, collecting problems instead of stopping at the first."""

    file: str
    problems: list[Problem] = field(default_factory=list)
    refs: list[Ref] = field(default_factory=list)
    prompts: list[tuple[str, Pos]] = field(default_factory=list)
    broken: set[str] = field(default_factory=set)  # nodes already reported as unbuildable
    calendar_refs: list[tuple[str, Pos]] = field(default_factory=list)
    endpoint_refs: list[tuple[str, Pos]] = field(default_factory=list)  # for check --live
    shared_calendars: dict[str, tuple[Calendar, Pos]] = field(default_factory=dict)
    calendar_pos: dict[str, Pos] = field(default_factory=dict)
    skills: tuple[str, ...] | None = None  # the flow's declared skills; None: no skills: key
    record_calls: bool = False  # the flow's default for a route's or queue's ``record``

    def error_at(self, pos: Pos, message: str) -> None:
        self.problems.append(problem_at(pos, message))

    def pos(self, node: yaml.Node) -> Pos:
        return Pos(self.file, node.start_mark.line + 1, node.start_mark.column + 1)

    def error(self, node: yaml.Node, message: str) -> None:
        self.problems.append(problem_at(self.pos(node), message))

    def mapping(self, node: yaml.Node, what: str) -> safeyaml.Entries:
        """Key -> (key node, value node); duplicate keys are problems."""
        if not isinstance(node, yaml.MappingNode):
            self.error(node, f"{what} must be a mapping (key: value lines)")
            return {}
        items, issues = safeyaml.entries(node)
        for issue in issues:
            if issue.first is None:
                self.error(issue.key, f"{what}: a key must be a plain value")
            else:
                first = self.pos(issue.first).line
                self.error(
                    issue.key, f"{what}: duplicate key {issue.key.value!r} (first at line {first})"
                )
        return items

    def check_fields(
        self, items: dict[str, tuple[yaml.Node, yaml.Node]], allowed: frozenset[str], what: str
    ) -> None:
        for name, (key, _) in items.items():
            if name not in allowed:
                hint = suggest(name, allowed) or f"allowed: {', '.join(sorted(allowed)) or '-'}"
                self.error(key, f"{what}: unknown field {name!r} ({hint})")

    def text(self, node: yaml.Node, what: str, pattern: re.Pattern[str] | None = None) -> str:
        if not isinstance(node, yaml.ScalarNode) or node.value == "":
            self.error(node, f"{what} must be a single value")
            return ""
        if pattern is not None and not pattern.fullmatch(node.value):
            self.error(node, f"{what}: {node.value!r} is not valid (expected {describe(pattern)})")
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
            self.refs.append(Ref(source, field_name, target, self.pos(node)))
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


def describe(pattern: re.Pattern[str]) -> str:
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


def suggest(word: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(known), n=1)
    return f"did you mean {close[0]!r}?" if close else ""


@dataclass
class NodeReader:
    """One node's fields, being read (the builders of :mod:`.nodes` and :mod:`.ringing`)."""

    reader: FlowReader
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


def flow_language(n: NodeReader, node: yaml.Node) -> str:
    """A language code that must be one of the flow's ``languages``."""
    language = n.reader.text(node, n.what("language"), LANGUAGE)
    if language and n.languages and language not in n.languages:
        n.reader.error(
            node,
            f"{n.what('language')} {language!r} is not one of the flow's "
            f"languages ({', '.join(n.languages)}); add it there with its prompts",
        )
    return language
