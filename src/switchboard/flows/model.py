"""Compiled call flows: frozen dataclasses the engine runs. No YAML in here."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
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


class Strategy(StrEnum):
    """How a route rings its targets."""

    RING_ALL = "ring_all"  # all at once; the first to answer gets the call
    LINEAR = "linear"  # one at a time, in the order written (hunt group)
    ROUND_ROBIN = "round_robin"  # one at a time, each call starting after the last start
    LONGEST_IDLE = "longest_idle"  # one at a time, the one idle longest first

    @property
    def sequential(self) -> bool:
        return self is not Strategy.RING_ALL


@dataclass(frozen=True, slots=True)
class Target:
    """One phone a route rings: an extension, or an external number through a trunk."""

    endpoint: str  # what Asterisk dials: PJSIP/100, PJSIP/+79871234567@carrier
    number: str = ""  # E.164, for an external number
    trunk: str = ""  # the trunk's endpoint (PJSIP/carrier), for an external number

    @property
    def external(self) -> bool:
        return bool(self.number)

    @property
    def presence(self) -> str:
        """The endpoint whose state tells whether this target can be rung."""
        return self.trunk or self.endpoint

    @property
    def label(self) -> str:
        return self.number or self.endpoint


@dataclass(frozen=True, slots=True)
class Agents:
    """A route that rings the best free agent for this caller, chosen from the
    agents in PostgreSQL (skills, language, the customer's owner, longest idle).

    The customer's owner agent rings alone for ``owner_seconds``; then the best
    agent with the skills rings for ``ring_seconds``, then the next best, and so
    on. With nobody free the caller waits (ringback) up to ``max_wait`` seconds,
    the requirement widening after ``widen_after`` (any proficiency) and
    ``any_after`` (any agent speaking the language); then ``on_fail``.
    """

    skills: tuple[tuple[str, int], ...] = ()  # (skill, minimum proficiency 1-5)
    language: str = ""  # "": the caller's (chosen in a menu, else the CRM's, else the call's)
    site: str = ""  # the home site: agents elsewhere only if none here can (and if open)
    owner_seconds: int = 15  # 0: the owner is not rung first
    ring_seconds: int = 20  # how long each agent rings
    max_wait: int = 60  # waiting for a free agent, before on_fail (0: do not wait)
    widen_after: int = 30  # T1
    any_after: int = 60  # T2


@dataclass(frozen=True, slots=True)
class Route:
    """Ring extensions and/or external numbers; the first to answer gets the call.
    (A ``route`` written with ``agents:`` compiles to an ``AgentRoute`` instead.)"""

    targets: tuple[Target, ...]
    on_fail: str
    timeout: int = 20  # ring_all: how long every phone rings
    strategy: Strategy = Strategy.RING_ALL
    member_timeout: int = 15  # sequential strategies: how long each phone rings
    confirm_prompt: str = ""  # external legs hear this and must press confirm_key
    confirm_key: str = "1"
    confirm_timeout: float = 8.0  # after the confirm prompt, before it counts as no answer
    record: bool = False  # record the conversation once connected (bridge recording)

    @property
    def endpoints(self) -> tuple[str, ...]:
        return tuple(t.endpoint for t in self.targets)

    def ring_seconds(self) -> int:
        """The longest this route can ring before on_fail (for the stall guard)."""
        if self.strategy.sequential:
            return self.member_timeout * len(self.targets)
        return self.timeout

    def confirms(self, target: Target) -> bool:
        return bool(self.confirm_prompt) and target.external


@dataclass(frozen=True, slots=True)
class AgentRoute:
    """A ``route`` written with ``agents:``: ring the agents the router picks for
    this caller (see ``Agents``), one at a time; nobody takes the call: ``on_fail``."""

    agents: Agents
    on_fail: str
    record: bool = False  # record the conversation once connected (bridge recording)

    def ring_seconds(self) -> int:
        """The longest this route can ring before on_fail (for the stall guard): the
        wait, then the agent being offered when it ends."""
        return self.agents.max_wait + max(self.agents.ring_seconds, self.agents.owner_seconds)


@dataclass(frozen=True, slots=True)
class Queue:
    """Wait with music until a phone of the queue answers; callers are served in
    arrival order (the daemon keeps each queue's line). After ``max_wait`` seconds
    the caller goes to ``on_timeout``. With ``callback_key`` the caller may hang up
    and keep their place: they are called back when their turn comes."""

    name: str  # the queue's line, shared by every call that enters it
    targets: tuple[Target, ...]
    on_timeout: str
    strategy: Strategy = Strategy.RING_ALL
    ring_seconds: int = 15  # how long the phones ring each time the caller's turn comes
    max_wait: int = 120
    moh: str = "default"
    announce_every: int = 0  # seconds between position announcements; 0: none
    position_prompt: str = ""  # said before the position number ("you are caller number")
    callback_key: str = ""
    callback_prompt: str = ""  # said when the caller chooses the callback, before hanging up
    callback_refused_prompt: str = ""  # said when we cannot call them back (they stay in line)
    callback_trunk: str = ""  # the trunk the callback is dialed through (PJSIP/carrier)
    record: bool = False  # record the conversation once connected (bridge recording)


@dataclass(frozen=True, slots=True)
class Goto:
    target: str


@dataclass(frozen=True, slots=True)
class Hangup:
    prompts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Voicemail:
    """The caller hears the prompts and a beep, then speaks; the message is stored
    and emailed to the mailbox's address (daemon configuration)."""

    mailbox: str
    prompts: tuple[str, ...] = ()
    max_seconds: int = 180
    max_silence: int = 10  # seconds of silence that end the message (0: no limit)


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
    Play
    | Menu
    | Language
    | SetVars
    | Route
    | AgentRoute
    | Queue
    | Goto
    | Hangup
    | Voicemail
    | Handback
    | HoursBranch
)


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    kind: NodeKind
    pos: Pos = field(default=NOWHERE, compare=False)


def records(kind: NodeKind | None) -> bool:
    """Is a call connected by this node recorded? (the node's ``record``, which
    defaults to the flow's ``record_calls``)"""
    return isinstance(kind, Route | AgentRoute | Queue) and kind.record


def silent_exits(kind: NodeKind) -> tuple[str, ...]:
    """Where a caller who presses nothing goes from this node (the no-input edges)."""
    match kind:
        case Play(next=nxt) | Language(next=nxt) | SetVars(next=nxt):
            return (nxt,)
        case Goto(target=target):
            return (target,)
        case (
            Menu(on_fail=on_fail)
            | Route(on_fail=on_fail)
            | AgentRoute(on_fail=on_fail)
            | Queue(on_timeout=on_fail)
        ):
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
class BlocklistRule:
    """``blocklist:`` of a flow: a caller on the blocklist (``switchboard block``) goes
    to ``node`` instead of the entry; with ``anonymous``, so does a caller without a
    number."""

    node: str
    anonymous: bool = False


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
    endpoint_refs: tuple[tuple[str, Pos], ...] = field(default=(), compare=False)
    # every Asterisk endpoint the flow rings, with where it is written (check --live)
    skills: tuple[str, ...] = ()  # the skills this flow routes on (declared at the top)
    blocklist: BlocklistRule | None = None  # where blocked callers go (None: nobody is)

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
