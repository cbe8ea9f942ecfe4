"""A call's state: what spans the call on ``CallState``, what one phase owns in its record.

The phase says what the call waits for; ``CallState.wait`` holds that phase's data
(a menu's timer and attempts, the phones of a route, an agent search, a place in
line, a voicemail being recorded, the leg talked to), so a field of one phase
cannot be read in another. A call that ends keeps the record it ended in (the
call log reads its agent and phones from it).

Phases: ``DIALING`` rings a plain route's phones; ``SEEKING_AGENT`` is a route to
agents (asking the router, ringing the agent it picked). Outside the engine both
are shown as ``dialing`` (``Phase.shown``): logs, the call log, the live pages and
the API keep the one word they always had.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from switchboard.ari import events as ari
from switchboard.flows import model as flow_model
from switchboard.flows.model import Flow
from switchboard.routing.rank import Customer

from .commands import Command
from .events import EngineEvent


class Phase(StrEnum):
    NEW = "new"
    IVR = "ivr"  # prompts and menus
    DIALING = "dialing"  # a route's phones ring
    SEEKING_AGENT = "seeking_agent"  # a route to agents: asking the router, ringing its pick
    CONNECTED = "connected"
    RECORDING = "recording"  # voicemail: the caller speaks (or has hung up: saving)
    QUEUED = "queued"  # waiting in a queue with music; its phones may be ringing
    ENDED = "ended"
    HANDED_BACK = "handed_back"

    @property
    def shown(self) -> Phase:
        """The phase as the world outside the engine knows it (a route to agents dials)."""
        return Phase.DIALING if self is Phase.SEEKING_AGENT else self


class Outcome(StrEnum):
    ANSWERED = "answered"
    ABANDONED = "abandoned"
    ABANDONED_IN_QUEUE = "abandoned_in_queue"
    CALLBACK = "callback_requested"  # left the queue keeping their place: called back
    VOICEMAIL = "voicemail"
    VOICEMAIL_DIALPLAN = "voicemail_dialplan"  # our recorder failed: Asterisk's VoiceMail()
    HANGUP_BY_FLOW = "hangup_by_flow"
    HANDED_BACK = "handed_back"
    HANDED_BACK_ON_STOP = "handed_back_on_stop"
    FAILED = "failed"
    # Never set by the engine: the daemon's journal (``calljournal``) for a call whose
    # channel was gone when a restarted daemon looked; it ended at or before the row's end.
    ENDED_UNOBSERVED = "ended_unobserved"


TERMINAL = frozenset({Phase.ENDED, Phase.HANDED_BACK})
RINGING_PHASES = frozenset({Phase.DIALING, Phase.SEEKING_AGENT, Phase.QUEUED})  # legs may ring


class After(StrEnum):
    """What happens when the prompts being played are done."""

    KEY = "key"  # a menu waits for a key
    NODE = "node"  # go on to ``Playing.target``
    HANGUP = "hangup"
    RECORD = "record"  # a voicemail node: the beep, then record
    MOH = "moh"  # a position announcement in a queue: back to the music


@dataclass(frozen=True, slots=True)
class Playing:
    playback_id: str
    rest: tuple[str, ...]  # prompts still to play after this one
    interruptible: bool
    after: After
    target: str = ""


@dataclass(frozen=True, slots=True)
class Leg:
    """A phone being rung for the caller (or, answered, asked to accept the call)."""

    id: str  # its channel id
    target: flow_model.Target
    answered: bool = False  # picked up; a confirming leg must still press the key
    playback: str = ""  # the confirm prompt playing to it
    timer: str = ""  # how long it has to press the key


# -- per-phase records ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class MenuWait:
    """IVR, at a menu: its prompts, then the wait for a key."""

    attempts: int = 0  # wrong keys and silences so far
    timer: str = ""  # the wait for a key, armed once the prompts are done


@dataclass(frozen=True, slots=True)
class Ringing:
    """DIALING: a plain route's phones."""

    lookup: str = ""  # the FindTargets being answered
    legs: tuple[Leg, ...] = ()  # phones ringing now
    waiting: tuple[int, ...] = ()  # targets still to ring, in order (one at a time)


@dataclass(frozen=True, slots=True)
class AgentSearch:
    """SEEKING_AGENT: the router picks an agent, their phones ring; then the next."""

    search: str  # this visit's search (FindAgent.search_id)
    lookup: str = ""  # the FindAgent being answered
    timer: str = ""  # the limit on the wait (max_wait)
    legs: tuple[Leg, ...] = ()  # the agent's phones ringing now
    agent: str = ""  # the agent reserved for this call (ringing)
    agent_is_owner: bool = False  # ... who is the customer's owner (a short, uncounted ring)
    agents_tried: tuple[str, ...] = ()  # offered this call already (not offered again)
    gave_up: bool = False  # waited max_wait: the agent ringing now is the last try


@dataclass(frozen=True, slots=True)
class InLine:
    """QUEUED: a place in a queue's line, with music; its phones may be ringing."""

    lookup: str  # the JoinQueue request (each turn's TargetsFound answers it)
    timer: str = ""  # the limit on the wait (max_wait)
    announce_timer: str = ""  # when to say the caller's position next
    position_ask: str = ""  # the AskPosition being answered
    callback_ask: str = ""  # the RequestCallback being answered
    legs: tuple[Leg, ...] = ()
    waiting: tuple[int, ...] = ()  # targets still to ring this turn, in order


@dataclass(frozen=True, slots=True)
class Recording:
    """RECORDING: a voicemail being recorded."""

    name: str  # the recording's name in Asterisk
    caller_gone: bool = False  # hung up while the message is being saved


@dataclass(frozen=True, slots=True)
class Talking:
    """CONNECTED: the caller and a phone in the bridge."""

    leg: str  # the leg talked to ("" once it hung up)
    agent: str = ""  # a route to agents: whose phone it is


Wait = MenuWait | Ringing | AgentSearch | InLine | Recording | Talking
WithLegs = (Ringing, AgentSearch, InLine)
WithTimer = (MenuWait, AgentSearch, InLine)


@dataclass(frozen=True, slots=True)
class CallState:
    call_id: str  # the caller's channel id
    flow: Flow
    entry: str
    stall_guard: float = 120.0
    phase: Phase = Phase.NEW
    node: str = ""
    wait: Wait | None = None  # the data of the phase (see the records above)
    language: str = ""
    vars: tuple[tuple[str, str], ...] = ()
    caller_number: str = ""
    dialed: str = ""
    seq: int = 0  # makes playback, timer and leg ids unique within the call
    playing: Playing | None = None  # prompts to the caller (IVR; a queue's announcements)
    menu_stack: tuple[str, ...] = ()  # menus the caller came through, for "back"
    menu_visits: int = 0
    typeahead: str = ""  # a key pressed during an interruptible play, for a menu right after
    bridge_created: bool = False
    path: tuple[str, ...] = ()  # nodes entered, in order
    outcome: Outcome | None = None
    answered_by: str = ""
    route_result: str = ""  # why the last route failed
    route_log: tuple[tuple[str, str], ...] = ()  # (target, result) of every phone tried
    call_recording: str = ""  # the conversation being recorded (its bridge recording's name)
    started_at: datetime | None = None  # when the call arrived (the daemon's clock)
    language_chosen: bool = False  # a language node set it (a menu choice)
    customer: Customer | None = None  # the caller in the CRM, once an agents route asked

    @property
    def caller(self) -> str:
        return self.call_id

    @property
    def bridge_id(self) -> str:
        return f"{self.call_id}-bridge"

    # Read-only views for readers outside the engine (live pages, call log, snapshot).
    @property
    def legs(self) -> tuple[Leg, ...]:
        """Phones being rung for the caller (a route, a route to agents, a queue)."""
        wait = self.wait
        return wait.legs if isinstance(wait, WithLegs) else ()

    @property
    def ringing_legs(self) -> tuple[str, ...]:
        return tuple(leg.id for leg in self.legs)

    def leg_by_id(self, channel_id: str) -> Leg | None:
        return next((leg for leg in self.legs if leg.id == channel_id), None)

    @property
    def leg(self) -> str:
        """The leg talked to."""
        wait = self.wait
        return wait.leg if isinstance(wait, Talking) else ""

    @property
    def agent(self) -> str:
        """A route to agents: the agent reserved for this call (ringing or talking)."""
        wait = self.wait
        return wait.agent if isinstance(wait, AgentSearch | Talking) else ""

    @property
    def agent_is_owner(self) -> bool:
        wait = self.wait
        return wait.agent_is_owner if isinstance(wait, AgentSearch) else False

    @property
    def terminal(self) -> bool:
        return self.phase in TERMINAL

    @property
    def variables(self) -> dict[str, str]:
        return dict(self.vars)

    def next_id(self, what: str) -> tuple[CallState, str]:
        state = replace(self, seq=self.seq + 1)
        return state, f"{self.call_id}-{what}{state.seq}"


def new_call(call_id: str, flow: Flow, entry: str, stall_guard: float = 120.0) -> CallState:
    return CallState(call_id=call_id, flow=flow, entry=entry, stall_guard=stall_guard)


def adopt_connected(call_id: str, flow: Flow, leg: str) -> CallState:
    """A connected call found in Asterisk after a restart or reconnect."""
    return CallState(
        call_id=call_id,
        flow=flow,
        entry="",
        phase=Phase.CONNECTED,
        wait=Talking(leg),
        bridge_created=True,
        outcome=Outcome.ANSWERED,
    )


def guard_seconds(state: CallState) -> float | None:
    """How long the call may wait for any event in its phase; None: no limit."""
    if state.phase in (Phase.NEW, Phase.IVR):
        return state.stall_guard
    node = state.flow.nodes.get(state.node)
    kind = node.kind if node else None
    if state.phase is Phase.DIALING:
        ring = 0.0
        if isinstance(kind, flow_model.Route):
            ring = kind.ring_seconds() + (kind.confirm_timeout if kind.confirm_prompt else 0)
        return ring + state.stall_guard
    if state.phase is Phase.SEEKING_AGENT:
        ring = kind.ring_seconds() if isinstance(kind, flow_model.AgentRoute) else 0
        return ring + state.stall_guard
    if state.phase is Phase.RECORDING:
        record = kind.max_seconds if isinstance(kind, flow_model.Voicemail) else 0
        return record + state.stall_guard
    if state.phase is Phase.QUEUED:
        wait = kind.max_wait if isinstance(kind, flow_model.Queue) else 0
        return wait + state.stall_guard
    return None  # connected: a conversation takes as long as it takes


def dialed_number(event: ari.StasisStart) -> str:
    """The number the caller dialed: Stasis(app,inbound,${EXTEN}) passes it."""
    return event.args[1] if len(event.args) > 1 else event.channel.exten


# What a handler returns: the next state and the commands for Asterisk and the daemon.
Result = tuple[CallState, list[Command]]
Handler = Callable[[CallState, EngineEvent], Result]
