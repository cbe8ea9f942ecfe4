"""Compiled call flows: frozen dataclasses the engine runs. No YAML in here."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from switchboard.hours import Calendar

MAX_CHOICES = 5
MENU_KEYS = frozenset("1234567890*#")


@dataclass(frozen=True, slots=True)
class Pos:
    """Where a thing was written: for messages that point the author at it."""

    file: str
    line: int  # 1-based
    col: int  # 1-based

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


NOWHERE = Pos("<built-in>", 0, 0)


@dataclass(frozen=True, slots=True)
class Play:
    prompts: tuple[str, ...]
    next: str
    interruptible: bool = False


@dataclass(frozen=True, slots=True)
class Choice:
    """What a menu key does: go to a node, or navigate (back / repeat)."""

    target: str = ""
    action: Literal["goto", "back", "repeat"] = "goto"


@dataclass(frozen=True, slots=True)
class Menu:
    prompts: tuple[str, ...]
    choices: MappingProxyType[str, Choice]
    on_fail: str
    timeout: float = 5.0
    retries: int = 2
    invalid_prompt: str = ""
    timeout_prompt: str = ""
    repeat_key: str = ""
    back_key: str = ""

    def action_for(self, key: str) -> Choice | None:
        if key in self.choices:
            return self.choices[key]
        if key and key == self.back_key:
            return Choice(action="back")
        if key and key == self.repeat_key:
            return Choice(action="repeat")
        return None


@dataclass(frozen=True, slots=True)
class Language:
    language: str
    next: str


@dataclass(frozen=True, slots=True)
class SetVars:
    vars: MappingProxyType[str, str]
    next: str


@dataclass(frozen=True, slots=True)
class Route:
    """Ring one extension, or several at once (the first to answer gets the call)."""

    endpoints: tuple[str, ...]
    on_fail: str
    timeout: int = 30


@dataclass(frozen=True, slots=True)
class Goto:
    target: str


@dataclass(frozen=True, slots=True)
class Hangup:
    prompts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Voicemail:
    mailbox: str


@dataclass(frozen=True, slots=True)
class HoursBranch:
    """Branch on a calendar at the time the call arrived."""

    calendar: str
    open: str
    closed: str
    holiday: str  # the closed branch unless the author names one


@dataclass(frozen=True, slots=True)
class Handback:
    """Back to the dialplan's fallback (ring group, then voicemail)."""


NodeKind = (
    Play | Menu | Language | SetVars | Route | Goto | Hangup | Voicemail | Handback | HoursBranch
)


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    kind: NodeKind
    pos: Pos = field(default=NOWHERE, compare=False)


def silent_exits(kind: NodeKind) -> tuple[str, ...]:
    """Where a caller who presses nothing goes from this node (the no-input edges)."""
    match kind:
        case Play(next=nxt) | Language(next=nxt) | SetVars(next=nxt):
            return (nxt,)
        case Goto(target=target):
            return (target,)
        case Menu(on_fail=on_fail) | Route(on_fail=on_fail):
            return (on_fail,)
        case HoursBranch(open=opened, closed=closed, holiday=holiday):
            return tuple(dict.fromkeys((opened, closed, holiday)))
    return ()


def all_exits(kind: NodeKind) -> tuple[str, ...]:
    """Every node this node can lead to (silent exits and menu choices)."""
    exits = silent_exits(kind)
    if isinstance(kind, Menu):
        exits += tuple(c.target for c in kind.choices.values() if c.action == "goto")
    return exits


@dataclass(frozen=True, slots=True)
class Flow:
    """One flow file, compiled."""

    name: str  # the file it came from
    version: str  # content hash
    languages: tuple[str, ...]
    fallback_language: str
    entry: MappingProxyType[str, str]  # dialed number -> node id
    nodes: MappingProxyType[str, Node]
    max_menu_visits: int = 20
    calendars: MappingProxyType[str, Calendar] = field(default_factory=lambda: MappingProxyType({}))
    entry_pos: MappingProxyType[str, Pos] = field(
        default_factory=lambda: MappingProxyType({}), compare=False
    )  # where each number was written, for messages

    def language_for(self, wanted: str) -> str:
        """The language a caller who speaks ``wanted`` hears prompts in."""
        return wanted if wanted in self.languages else self.fallback_language


@dataclass(frozen=True, slots=True)
class FlowSet:
    """All flow files the daemon serves, as one immutable version."""

    flows: tuple[Flow, ...]
    version: str

    def for_number(self, dialed: str) -> tuple[Flow, str] | None:
        """The flow and entry node for a dialed number, or None if no flow serves it."""
        for flow in self.flows:
            if dialed in flow.entry:
                return flow, flow.entry[dialed]
        return None
