"""Untrusted YAML -> composed nodes with their positions, or problems.

The one place that parses YAML: flow files, agent import files and the daemon's
config all come through :func:`compose`. Nodes are composed, never constructed: no
tag runs code, no type is guessed, and every value keeps its line and column for
the messages its reader writes. Before anything is parsed the file's size is
bounded and it must be UTF-8; where the caller's :class:`Rules` say so, anchors and
aliases are refused before anything is built from them (no "billion laughs") and
nesting is bounded before the composer's recursion could exhaust the stack.

The callers differ in their limits and in the words their problems use, so each
passes its own :class:`Rules`; :class:`Problem` is the one problem type of all
three.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import yaml

# libyaml's parser when PyYAML was built with it (marks are the same), else pure Python.
FAST_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
NULL_TAG = "tag:yaml.org,2002:null"
STR_TAG = "tag:yaml.org,2002:str"


class _Mark(Protocol):  # PyYAML's or libyaml's
    line: int  # 0-based
    column: int


@dataclass(frozen=True, slots=True)
class Problem:
    """One mistake in a file the operator or an author wrote: where and what.

    Shown as ``FILE:LINE:COL: message``; a 0 line or column is not shown (an import
    file's problems name the line, a config that cannot be read only the file), and
    ``field`` (the column or key an import file's problem is about) comes first."""

    file: str
    line: int  # 1-based; 0: the file as a whole
    message: str
    col: int = 0  # 1-based; 0: not shown
    field: str = ""
    warning: bool = False

    def __str__(self) -> str:
        where = (
            self.file
            + (f":{self.line}" if self.line else "")
            + (f":{self.col}" if self.col else "")
        )
        field = f"{self.field}: " if self.field else ""
        return f"{where}: {field}{'warning: ' if self.warning else ''}{self.message}"


@dataclass(frozen=True, slots=True)
class Rules:
    """What one kind of file may hold, and the words its reader's problems use.

    The templates are ``str.format``-ed with ``size`` and ``limit`` (too_big),
    ``limit`` (too_deep), and ``reason``, ``start`` and ``problem`` (not_utf8: the
    decoder's reason, the offending byte's offset, its whole message on one line);
    bad_yaml with ``problem``, the parser's words."""

    max_bytes: int
    too_big: str
    empty: str
    not_utf8: str
    bad_yaml: str = "not valid YAML: {problem}"
    max_depth: int | None = None  # None: nesting is not bounded here
    too_deep: str = ""
    no_aliases: str | None = None  # the refusal of an anchor or alias; None: allowed
    encoding: str = "utf-8"  # "utf-8-sig": a leading byte-order mark is skipped
    columns: bool = True  # positions carry the column, not the line alone
    bad_byte_line: bool = False  # a byte that is not UTF-8 is reported on its line, not at 1
    deep_alone: bool = True  # too deep: that problem alone, not the anchors seen before it
    whole_file: bool = False  # size, decoding, syntax, empty: the file is named, no position
    field: str = ""  # what these problems are about (import files: "file")
    loader: type[yaml.SafeLoader] = FAST_LOADER


def compose(file: str, raw: bytes, rules: Rules) -> tuple[yaml.Node | None, list[Problem]]:
    """The file's root node, or None and the problems (at least one)."""
    start = (0, 0) if rules.whole_file else (1, 1 if rules.columns else 0)

    def at(position: tuple[int, int], message: str) -> Problem:
        return Problem(file, position[0], message, col=position[1], field=rules.field)

    def marked(mark: _Mark | None) -> tuple[int, int]:
        if mark is None:
            return start
        return mark.line + 1, (mark.column + 1 if rules.columns else 0)

    if len(raw) > rules.max_bytes:
        return None, [at(start, rules.too_big.format(size=len(raw), limit=rules.max_bytes))]
    try:
        text = raw.decode(rules.encoding)
    except UnicodeDecodeError as exc:
        where = (raw[: exc.start].count(b"\n") + 1, 0) if rules.bad_byte_line else start
        message = rules.not_utf8.format(reason=exc.reason, start=exc.start, problem=_one_line(exc))
        return None, [at(where, message)]
    problems: list[Problem] = []
    try:
        if rules.max_depth is not None or rules.no_aliases is not None:
            depth = 0
            for event in yaml.parse(text, Loader=rules.loader):
                depth += isinstance(event, yaml.CollectionStartEvent)
                depth -= isinstance(event, yaml.CollectionEndEvent)
                if rules.max_depth is not None and depth > rules.max_depth:
                    deep = at(
                        marked(event.start_mark), rules.too_deep.format(limit=rules.max_depth)
                    )
                    return None, [deep] if rules.deep_alone else [*problems, deep]
                anchored = isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None)
                if anchored and rules.no_aliases is not None:
                    problems.append(at(marked(event.start_mark), rules.no_aliases))
            if problems:
                return None, problems
        node = yaml.compose(text, Loader=rules.loader)
    except yaml.YAMLError as exc:
        if rules.whole_file:
            return None, [at(start, rules.bad_yaml.format(problem=_one_line(exc)))]
        if isinstance(exc, yaml.MarkedYAMLError):
            where = marked(exc.problem_mark or exc.context_mark)
            return None, [at(where, rules.bad_yaml.format(problem=exc.problem or exc.context))]
        return None, [at(start, rules.bad_yaml.format(problem=exc))]
    if node is None:
        return None, [at(start, rules.empty)]
    return node, []


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


def line(node: yaml.Node) -> int:
    """The 1-based line a node starts on."""
    return int(node.start_mark.line) + 1


def column(node: yaml.Node) -> int:
    """The 1-based column a node starts at."""
    return int(node.start_mark.column) + 1


@dataclass(frozen=True, slots=True)
class KeyIssue:
    """A key a mapping cannot have: not a plain value (``first`` None), or a duplicate
    of the key ``first``."""

    key: yaml.Node
    first: yaml.Node | None = None


Entries = dict[str, tuple[yaml.Node, yaml.Node]]


def entries(node: yaml.MappingNode) -> tuple[Entries, list[KeyIssue]]:
    """Key -> (key node, value node) in file order; the keys that cannot be, in file order
    (each reader words them its own way)."""
    items: Entries = {}
    issues: list[KeyIssue] = []
    for key, value in node.value:
        if not isinstance(key, yaml.ScalarNode):
            issues.append(KeyIssue(key))
        elif key.value in items:
            issues.append(KeyIssue(key, items[key.value][0]))
        else:
            items[key.value] = (key, value)
    return items, issues
