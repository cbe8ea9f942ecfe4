"""A call running through a compiled flow: ``step(state, event) -> (state, commands)``.

Pure: no I/O, no clock (menu timeouts are asked for with ``StartTimer`` and come
back as ``TimerFired``). Events are first reduced to a *trigger* (what happened,
from this call's point of view); the whole call is then one table,
``TRANSITIONS[(phase, trigger)]``. A pair not in the table keeps the state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from switchboard.ari import events as ari
from switchboard.flows import model as flow_model
from switchboard.flows.model import Flow
from switchboard.flows.prompts import media_uri
from switchboard.hours import DayState, state_at
from switchboard.routing.rank import Customer

from .commands import (
    AddToBridge,
    Answer,
    AskPosition,
    CancelTimer,
    Command,
    ContinueInDialplan,
    CreateBridge,
    DestroyBridge,
    FindAgent,
    FindTargets,
    Hangup,
    JoinQueue,
    KeepCallRecording,
    KeepVoicemail,
    LeaveQueue,
    Originate,
    PlaceCallback,
    Play,
    QueueReady,
    Record,
    RecordBridge,
    ReportAgent,
    RequestCallback,
    StartMoh,
    StartRinging,
    StartTimer,
    StopAgentSearch,
    StopMoh,
    StopPlayback,
    StopRinging,
)
from .events import (
    AgentFound,
    CallbackDecided,
    ChannelGone,
    CommandFailed,
    Drain,
    EngineEvent,
    GuardExpired,
    QueuePosition,
    TargetsFound,
    TimerFired,
)

VOICEMAIL_CONTEXT = "switchboard-voicemail"  # dialplan/extensions_switchboard.conf
_PASS_THROUGH = (flow_model.Language, flow_model.SetVars, flow_model.Goto, flow_model.HoursBranch)


class Phase(StrEnum):
    NEW = "new"
    IVR = "ivr"  # prompts and menus
    DIALING = "dialing"
    CONNECTED = "connected"
    RECORDING = "recording"  # voicemail: the caller speaks (or has hung up: saving)
    QUEUED = "queued"  # waiting in a queue with music; its phones may be ringing
    ENDED = "ended"
    HANDED_BACK = "handed_back"


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


TERMINAL = frozenset({Phase.ENDED, Phase.HANDED_BACK})


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


@dataclass(frozen=True, slots=True)
class CallState:
    call_id: str  # the caller's channel id
    flow: Flow
    entry: str
    stall_guard: float = 120.0
    phase: Phase = Phase.NEW
    node: str = ""
    language: str = ""
    vars: tuple[tuple[str, str], ...] = ()
    caller_number: str = ""
    dialed: str = ""
    seq: int = 0  # makes playback, timer and leg ids unique within the call
    playing: Playing | None = None
    timer: str = ""  # the menu timer now armed
    attempts: int = 0  # of the current menu
    menu_stack: tuple[str, ...] = ()  # menus the caller came through, for "back"
    menu_visits: int = 0
    typeahead: str = ""  # a key pressed during an interruptible play, for a menu right after
    legs: tuple[Leg, ...] = ()  # phones being rung
    waiting: tuple[int, ...] = ()  # route targets still to ring, in order (one at a time)
    lookup: str = ""  # the FindTargets request being answered
    leg: str = ""  # the agent leg talked to
    bridge_created: bool = False
    path: tuple[str, ...] = ()  # nodes entered, in order
    outcome: Outcome | None = None
    answered_by: str = ""
    route_result: str = ""  # why the last route failed
    route_log: tuple[tuple[str, str], ...] = ()  # (target, result) of every phone tried
    announce_timer: str = ""  # queue: when to say the caller's position next
    position_ask: str = ""  # queue: the AskPosition being answered
    callback_ask: str = ""  # queue: the RequestCallback being answered
    recording: str = ""  # the voicemail being recorded
    call_recording: str = ""  # the conversation being recorded (its bridge recording's name)
    caller_gone: bool = False  # hung up while the message is being saved
    started_at: datetime | None = None  # when the call arrived (the daemon's clock)
    language_chosen: bool = False  # a language node set it (a menu choice)
    customer: Customer | None = None  # the caller in the CRM, once an agents route asked
    search: str = ""  # agents route: this visit's search (FindAgent.search_id)
    agent: str = ""  # agents route: the agent reserved for this call (ringing or talking)
    agent_is_owner: bool = False  # ... who is the customer's owner (a short, uncounted ring)
    agents_tried: tuple[str, ...] = ()  # offered this call already (not offered again)
    gave_up: bool = False  # waited max_wait: the agent ringing now is the last try

    @property
    def caller(self) -> str:
        return self.call_id

    @property
    def bridge_id(self) -> str:
        return f"{self.call_id}-bridge"

    @property
    def ringing_legs(self) -> tuple[str, ...]:
        return tuple(leg.id for leg in self.legs)

    def leg_by_id(self, channel_id: str) -> Leg | None:
        return next((leg for leg in self.legs if leg.id == channel_id), None)

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
        leg=leg,
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


# -- triggers ------------------------------------------------------------------------------
class Trigger(StrEnum):
    CALLER_ENTERED = "caller_entered"
    PROMPT_DONE = "prompt_done"
    KEY = "key"
    TIMEOUT = "timeout"
    AGENT_ANSWERED = "agent_answered"
    CALLER_GONE = "caller_gone"
    AGENT_GONE = "agent_gone"
    SETUP_FAILED = "setup_failed"
    TARGETS_FOUND = "targets_found"
    AGENT_FOUND = "agent_found"
    STALE_AGENT = "stale_agent"  # reserved for an ask the call gave up on
    LEG_PROMPT_DONE = "leg_prompt_done"  # an answered external leg heard "press 1"
    LEG_KEY = "leg_key"
    LEG_TIMEOUT = "leg_timeout"  # it did not press the key in time
    RECORDED = "recorded"
    RECORD_FAILED = "record_failed"
    CALL_RECORD_FAILED = "call_record_failed"  # the conversation cannot be recorded
    ANNOUNCE = "announce"  # queue: time to say the caller's position
    POSITION = "position"  # queue: the daemon said it
    CALLBACK_DECIDED = "callback_decided"  # queue: the callback is taken or refused
    HANDBACK_FAILED = "handback_failed"
    STALLED = "stalled"
    DRAIN = "drain"


_LEG_ENDED = (ari.StasisEnd, ari.ChannelHangupRequest, ari.ChannelDestroyed)
# Commands that build the call: if Asterisk refuses one, the engine must decide what
# next (the runner stops the batch there). Refusals of the others change nothing.
SETUP_COMMANDS = (Answer, Play, Originate, CreateBridge, AddToBridge, Record)


def trigger_of(state: CallState, event: EngineEvent) -> Trigger | None:
    playing = state.playing
    legs = state.legs
    match event:
        case ari.StasisStart() if state.phase is Phase.NEW:
            return Trigger.CALLER_ENTERED
        case ari.StasisStart(channel=ch) if ch.id in state.ringing_legs:
            return Trigger.AGENT_ANSWERED
        case TargetsFound(request_id=request) if request and request == state.lookup:
            return Trigger.TARGETS_FOUND
        case AgentFound(request_id=request) if request and request == state.lookup:
            return Trigger.AGENT_FOUND
        case AgentFound(agent=agent) if agent:
            return Trigger.STALE_AGENT
        case ari.PlaybackFinished(playback=pb) if playing and pb.id == playing.playback_id:
            return Trigger.PROMPT_DONE
        case ari.PlaybackFinished(playback=pb) if any(leg.playback == pb.id for leg in legs):
            return Trigger.LEG_PROMPT_DONE
        case ari.ChannelDtmfReceived(channel=ch) if ch.id == state.caller:
            return Trigger.KEY
        case ari.ChannelDtmfReceived(channel=ch) if ch.id in state.ringing_legs:
            return Trigger.LEG_KEY
        case TimerFired(timer_id=timer) if timer and timer == state.timer:
            return Trigger.TIMEOUT
        case TimerFired(timer_id=timer) if timer and any(leg.timer == timer for leg in legs):
            return Trigger.LEG_TIMEOUT
        case TimerFired(timer_id=timer) if timer and timer == state.announce_timer:
            return Trigger.ANNOUNCE
        case QueuePosition(request_id=request) if request and request == state.position_ask:
            return Trigger.POSITION
        case CallbackDecided(request_id=request) if request and request == state.callback_ask:
            return Trigger.CALLBACK_DECIDED
        case ari.RecordingFinished(recording=rec) if state.recording == rec.name:
            return Trigger.RECORDED
        case ari.RecordingFailed(recording=rec) if state.recording == rec.name:
            return Trigger.RECORD_FAILED
        case CommandFailed(command=Record()):
            return Trigger.RECORD_FAILED
        case CommandFailed(command=RecordBridge(name=name)) if name == state.call_recording:
            return Trigger.CALL_RECORD_FAILED
        case ChannelGone(channel_id=gone):
            return _leg_gone(state, gone)
        case ari.ChannelHangupRequest(channel=ch) if ch.id in state.ringing_legs:
            return None  # ChannelDestroyed follows, with the cause (busy, no answer ...)
        case _ if isinstance(event, _LEG_ENDED):
            return _leg_gone(state, event.channel.id)
        case CommandFailed(command=ContinueInDialplan(), status=409):
            return None  # not in Stasis any more: the dialplan already has the caller
        case CommandFailed(command=ContinueInDialplan()):
            return Trigger.HANDBACK_FAILED
        case CommandFailed(command=cmd) if isinstance(cmd, SETUP_COMMANDS):
            return Trigger.SETUP_FAILED
        case GuardExpired(phase=phase) if phase == state.phase:
            return Trigger.STALLED
        case Drain():
            return Trigger.DRAIN
    return None


def _leg_gone(state: CallState, channel_id: str) -> Trigger | None:
    if channel_id == state.caller:
        return Trigger.CALLER_GONE
    if (state.leg and channel_id == state.leg) or channel_id in state.ringing_legs:
        return Trigger.AGENT_GONE
    return None


# -- entering nodes ------------------------------------------------------------------------
Step = tuple[CallState, list[Command]]
Handler = Callable[[CallState, EngineEvent], Step]


def _enter(state: CallState, node_id: str, cmds: list[Command]) -> Step:
    """Run nodes from ``node_id`` until one waits for the caller or Asterisk."""
    for _ in range(len(state.flow.nodes) + 1):  # the checker forbids loops of silent edges
        node = state.flow.nodes[node_id]
        state = replace(state, node=node_id, path=(*state.path, node_id), playing=None)
        if not isinstance(node.kind, (*_PASS_THROUGH, flow_model.Menu)):
            state = replace(state, typeahead="")  # a key is kept only for a menu right after
        match node.kind:
            case flow_model.Language(language=language, next=nxt):
                state, node_id = replace(state, language=language, language_chosen=True), nxt
            case flow_model.SetVars(vars=values, next=nxt):
                merged = {**state.variables, **values}
                state, node_id = replace(state, vars=tuple(sorted(merged.items()))), nxt
            case flow_model.Goto(target=target):
                node_id = target
            case flow_model.HoursBranch() as branch:
                node_id = _hours_branch(state, branch)
            case flow_model.Menu(on_fail=on_fail) if (
                state.menu_visits >= state.flow.max_menu_visits
            ):
                state, node_id = replace(state, typeahead=""), on_fail  # enough menus
            case flow_model.Menu() as menu:
                return _enter_menu(state, node_id, menu, cmds)
            case flow_model.Play(prompts=prompts, interruptible=interruptible, next=nxt):
                return _play(state, prompts, interruptible, After.NODE, nxt, cmds)
            case flow_model.Hangup(prompts=prompts) if prompts:
                return _play(state, prompts, False, After.HANGUP, "", cmds)
            case flow_model.Hangup():
                return _hang_up(state, cmds)
            case flow_model.Route() as route:
                return _dial(state, route, cmds)
            case flow_model.Queue() as queue:
                return _join_queue(state, queue, cmds)
            case flow_model.Voicemail(prompts=prompts):
                return _play(state, prompts, False, After.RECORD, "", cmds)
            case flow_model.Handback():
                return _finish_in_dialplan(state, Outcome.HANDED_BACK, cmds)
    return _finish_in_dialplan(state, Outcome.FAILED, cmds)  # a flow bug: never trap the caller


def _hours_branch(state: CallState, branch: flow_model.HoursBranch) -> str:
    """The branch for the time the call arrived. Without a time (Asterisk sent none we
    could read) the closed branch is taken: it still leads the caller somewhere."""
    if state.started_at is None:
        return branch.closed
    day_state = state_at(state.flow.calendars[branch.calendar], state.started_at)
    if day_state is DayState.OPEN:
        return branch.open
    return branch.holiday if day_state is DayState.HOLIDAY else branch.closed


def _enter_menu(state: CallState, node_id: str, menu: flow_model.Menu, cmds: list[Command]) -> Step:
    stack = state.menu_stack
    if not stack or stack[-1] != node_id:
        stack = (*stack, node_id)
    state = replace(state, menu_stack=stack, menu_visits=state.menu_visits + 1, attempts=0)
    if state.typeahead:
        key, state = state.typeahead, replace(state, typeahead="")
        return _menu_key(state, menu, key, cmds)
    return _play(state, menu.prompts, True, After.KEY, "", cmds)


def _play(
    state: CallState,
    prompts: tuple[str, ...],
    interruptible: bool,
    after: After,
    target: str,
    cmds: list[Command],
) -> Step:
    if not prompts:
        return _prompts_done(state, after, target, cmds)
    state, playback_id = state.next_id("pb")
    language = state.flow.language_for(state.language)
    media = prompts[0] if prompts[0].startswith("number:") else media_uri(prompts[0])
    cmds.append(Play(state.caller, media, playback_id, language))
    playing = Playing(playback_id, prompts[1:], interruptible, after, target)
    phase = Phase.QUEUED if after is After.MOH else Phase.IVR
    return replace(state, phase=phase, playing=playing), cmds


def _prompts_done(state: CallState, after: After, target: str, cmds: list[Command]) -> Step:
    state = replace(state, playing=None)
    if after is After.KEY:
        node = state.flow.nodes[state.node].kind
        assert isinstance(node, flow_model.Menu)
        state, timer = state.next_id("t")
        cmds.append(StartTimer(timer, node.timeout))
        return replace(state, timer=timer), cmds
    if after is After.HANGUP:
        return _hang_up(state, cmds)
    if after is After.RECORD:
        return _record(state, cmds)
    if after is After.MOH:
        return _back_to_music(state, cmds)
    return _enter(state, target, cmds)


def _menu_key(state: CallState, menu: flow_model.Menu, key: str, cmds: list[Command]) -> Step:
    choice = menu.action_for(key)
    if choice is None:
        return _menu_retry(state, menu, menu.invalid_prompt, cmds)
    if choice.action == "repeat":  # counts as a visit: repeating forever is a loop too
        if state.menu_visits >= state.flow.max_menu_visits:
            return _enter(state, menu.on_fail, cmds)
        state = replace(state, menu_visits=state.menu_visits + 1)
        return _play(state, menu.prompts, True, After.KEY, "", cmds)
    if choice.action == "back":
        stack = state.menu_stack
        previous = stack[-2] if len(stack) >= 2 else state.node
        rest = stack[:-2] if len(stack) >= 2 else ()
        return _enter(replace(state, menu_stack=rest), previous, cmds)
    return _enter(state, choice.target, cmds)


def _menu_retry(state: CallState, menu: flow_model.Menu, sorry: str, cmds: list[Command]) -> Step:
    """A wrong key or silence: one attempt used; repeat the menu or give up to on_fail."""
    state = replace(state, attempts=state.attempts + 1)
    sorry_prompts = (sorry,) if sorry else ()
    if state.attempts > menu.retries:
        return _play(state, sorry_prompts, False, After.NODE, menu.on_fail, cmds)
    return _play(state, sorry_prompts + menu.prompts, True, After.KEY, "", cmds)


def _dial(state: CallState, route: flow_model.Route, cmds: list[Command]) -> Step:
    """Ask which targets can ring now and in what order (TargetsFound comes back)."""
    if route.agents is not None:
        return _seek_agent(state, route.agents, cmds)
    request = f"{state.call_id}-find{len(state.path)}"  # unique: the path grows on each entry
    cmds.append(
        FindTargets(
            request,
            f"{state.flow.name}:{state.node}",
            route.strategy.value,
            tuple(t.presence for t in route.targets),
        )
    )
    return replace(state, phase=Phase.DIALING, lookup=request, legs=(), waiting=()), cmds


def _route_node(state: CallState) -> flow_model.Route:
    route = state.flow.nodes[state.node].kind
    assert isinstance(route, flow_model.Route)
    return route


def _targets_found(state: CallState, event: EngineEvent) -> Step:
    """Ring what can ring: all at once, or the first of a sequence. Targets that
    cannot ring (unregistered, unknown, busy) are skipped without waiting; if none
    can, on_fail at once."""
    assert isinstance(event, TargetsFound)
    route = _route_node(state)
    targets = route.targets
    skipped = tuple((targets[i].label, why) for i, why in event.skipped if i < len(targets))
    order = tuple(i for i in event.order if i < len(targets))
    state = replace(state, lookup="", route_log=state.route_log + skipped)
    if not order:
        why = skipped[0][1] if skipped and all(w == skipped[0][1] for _, w in skipped) else ""
        state = replace(state, route_result=why or "unreachable", phase=Phase.IVR)
        return _enter(state, route.on_fail, [])
    cmds: list[Command] = [StartRinging(state.caller)]
    if not state.bridge_created:
        cmds.append(CreateBridge(state.bridge_id))
    state = replace(state, bridge_created=True)
    if route.strategy.sequential:
        state = replace(state, waiting=order[1:])
        return _ring(state, route, order[:1], route.member_timeout, cmds)
    return _ring(state, route, order, route.timeout, cmds)


def _ring(
    state: CallState,
    route: flow_model.Route | flow_model.Queue,
    indices: tuple[int, ...],
    seconds: int,
    cmds: list[Command],
) -> Step:
    return _ring_targets(state, [route.targets[i] for i in indices], seconds, cmds)


def _ring_targets(
    state: CallState, targets: list[flow_model.Target], seconds: int, cmds: list[Command]
) -> Step:
    """Originate a leg to each target; each enters our app when answered."""
    args = ("leg", state.call_id)
    legs = list(state.legs)
    for target in targets:
        state, leg = state.next_id("leg")
        cmds.append(Originate(leg, target.endpoint, seconds, state.caller_number, args))
        legs.append(Leg(leg, target))
    return replace(state, legs=tuple(legs)), cmds


# -- routes to agents ----------------------------------------------------------------------
def _seek_agent(state: CallState, agents: flow_model.Agents, cmds: list[Command]) -> Step:
    """Ringback for the caller, a limit on the wait, and the first ask."""
    cmds.append(StartRinging(state.caller))
    if not state.bridge_created:
        cmds.append(CreateBridge(state.bridge_id))
    limit = ""
    if agents.max_wait:
        state, limit = state.next_id("t")
        cmds.append(StartTimer(limit, agents.max_wait))
    state = replace(
        state,
        phase=Phase.DIALING,
        bridge_created=True,
        legs=(),
        waiting=(),
        timer=limit,
        search=f"{state.call_id}-agents{len(state.path)}",  # unique: the path grows
        agent="",
        agent_is_owner=False,
        agents_tried=(),
        gave_up=False,
    )
    return _ask_agent(state, agents, cmds)


def _ask_agent(state: CallState, agents: flow_model.Agents, cmds: list[Command]) -> Step:
    """Who takes this call? (AgentFound comes back: now, or when someone frees up)"""
    state, request = state.next_id("ask")
    cmds.append(
        FindAgent(
            request_id=request,
            search_id=state.search,
            call_id=state.call_id,
            skills=agents.skills,
            language=agents.language or (state.language if state.language_chosen else ""),
            call_language=state.language,
            site=agents.site,
            caller=state.caller_number,
            owner_first=agents.owner_seconds > 0,
            exclude=state.agents_tried,
            wait=agents.max_wait > 0 and not state.gave_up,
            widen_after=agents.widen_after,
            any_after=agents.any_after,
        )
    )
    return replace(state, lookup=request), cmds


def _agents_of(state: CallState) -> flow_model.Agents:
    agents = _route_node(state).agents
    assert agents is not None
    return agents


def _agent_found(state: CallState, event: EngineEvent) -> Step:
    """The router's answer: ring the agent it reserved; or wait on; or give up."""
    assert isinstance(event, AgentFound)
    agents = _agents_of(state)
    if state.customer is None and event.customer is not None:
        state = replace(state, customer=event.customer)
    if event.error:
        return _no_agent(state, "routing_unavailable", [])
    if not event.agent or not event.endpoints:
        cmds: list[Command] = []
        if event.agent:  # nothing to ring: free them and ask again
            cmds.append(ReportAgent(state.call_id, event.agent, "cancelled"))
            tried = (*state.agents_tried, event.agent)
            return _ask_agent(replace(state, agents_tried=tried), agents, cmds)
        if agents.max_wait and not state.gave_up:
            return state, []  # the router keeps looking: the caller waits, hearing ringing
        return _no_agent(state, "no_agent", cmds)
    state = replace(
        state,
        lookup="",
        agent=event.agent,
        agent_is_owner=event.owner,
        agents_tried=(*state.agents_tried, event.agent),
    )
    seconds = agents.owner_seconds if event.owner else agents.ring_seconds
    phones = [flow_model.Target(endpoint) for endpoint in event.endpoints]  # ring at once
    return _ring_targets(state, phones, seconds, [])


def _agent_rang_out(
    state: CallState, agents: flow_model.Agents, result: str, cmds: list[Command]
) -> Step:
    """The agent's phones all ended unanswered: the agent is freed (a missed call, unless
    it was the owner's short ring or the phone could not ring), and the next one asked."""
    missed = result in MISSED_RESULTS and not state.agent_is_owner
    cmds.append(ReportAgent(state.call_id, state.agent, "missed" if missed else "cancelled"))
    state = replace(state, agent="", agent_is_owner=False)
    if state.gave_up:
        return _no_agent(state, result, cmds)
    return _ask_agent(state, agents, cmds)


def _agents_wait_over(state: CallState, event: EngineEvent) -> Step:
    """Waited max_wait: an agent ringing now is the last try; with none, on_fail."""
    if _route_node(state).agents is None:
        return state, []
    state = replace(state, timer="")
    if state.legs:
        return replace(state, gave_up=True), []
    return _no_agent(state, "no_agent", [])


def _no_agent(state: CallState, why: str, cmds: list[Command]) -> Step:
    """Nobody takes the call here: on to the route's on_fail."""
    if state.timer:
        cmds.append(CancelTimer(state.timer))
    if state.lookup:
        cmds.append(StopAgentSearch(state.call_id, state.search))
    cmds.append(StopRinging(state.caller))
    route = _route_node(state)
    state = replace(
        state,
        phase=Phase.IVR,
        lookup="",
        search="",
        timer="",
        legs=(),
        route_result=why,
        route_log=(*state.route_log, ("agents", why)),
    )
    return _enter(state, route.on_fail, cmds)


def _stale_agent(state: CallState, event: EngineEvent) -> Step:
    """An agent reserved for an ask this call no longer waits for: free them."""
    assert isinstance(event, AgentFound)
    return state, [ReportAgent(state.call_id, event.agent, "cancelled")]


def _hang_up(state: CallState, cmds: list[Command]) -> Step:
    cmds += [*_teardown(state), Hangup(state.caller)]
    outcome = state.outcome if state.outcome is Outcome.CALLBACK else Outcome.HANGUP_BY_FLOW
    state = replace(state, phase=Phase.ENDED, outcome=outcome, timer="")
    return state, cmds


def _finish_in_dialplan(
    state: CallState, outcome: Outcome, cmds: list[Command], where: ContinueInDialplan | None = None
) -> Step:
    cmds += [*_teardown(state), where or ContinueInDialplan(state.caller)]
    state = replace(state, phase=Phase.HANDED_BACK, outcome=outcome, playing=None, timer="")
    return state, cmds


def _teardown(
    state: CallState, *, caller_gone: bool = False, leg_gone: bool = False
) -> list[Command]:
    """Stop what this call still holds in Asterisk (except the caller's channel)."""
    cmds: list[Command] = []
    if state.phase in (Phase.DIALING, Phase.QUEUED):
        # Phones first: leaving a queue frees them for the next caller at once.
        cmds += [CancelTimer(leg.timer) for leg in state.legs if leg.timer]
        cmds += [Hangup(leg.id) for leg in state.legs]
    if state.phase is Phase.QUEUED:
        cmds += _leave_queue(state, caller_gone=caller_gone)
    elif state.timer:
        cmds.append(CancelTimer(state.timer))
    if state.playing is not None and not caller_gone:
        cmds.append(StopPlayback(state.playing.playback_id))
    if state.phase is Phase.DIALING and (state.legs or state.search) and not caller_gone:
        cmds.append(StopRinging(state.caller))  # (an agents route rings back while it waits)
    if state.phase is Phase.CONNECTED and not leg_gone:
        cmds.append(Hangup(state.leg))
    if state.bridge_created:
        cmds.append(DestroyBridge(state.bridge_id))
    if state.agent:
        result = "talked" if state.phase is Phase.CONNECTED else "cancelled"
        cmds.append(ReportAgent(state.call_id, state.agent, result))
    if state.phase is Phase.DIALING and state.lookup and state.search:
        cmds.append(StopAgentSearch(state.call_id, state.search))
    if state.call_recording:  # the bridge is gone: Asterisk finishes the file
        cmds.append(_keep_recording(state, "ended"))
    return cmds


# -- handlers ------------------------------------------------------------------------------
def _start(state: CallState, event: EngineEvent) -> Step:
    assert isinstance(event, ari.StasisStart)
    ch = event.channel
    flow = state.flow
    language = flow.language_for(ch.language)
    state = replace(
        state,
        phase=Phase.IVR,
        caller_number=ch.caller_number,
        dialed=dialed_number(event),
        language=language,
        started_at=event.at,
    )
    return _enter(state, state.entry, [Answer(ch.id)])


def _prompt_done(state: CallState, event: EngineEvent) -> Step:
    playing = state.playing
    assert playing is not None
    if playing.rest:
        return _play(state, playing.rest, playing.interruptible, playing.after, playing.target, [])
    return _prompts_done(state, playing.after, playing.target, [])


def _key(state: CallState, event: EngineEvent) -> Step:
    assert isinstance(event, ari.ChannelDtmfReceived)
    node = state.flow.nodes[state.node].kind
    playing = state.playing
    cmds: list[Command] = []
    if playing is not None:
        if not playing.interruptible:
            return state, []  # documented: ignored, not buffered
        cmds.append(StopPlayback(playing.playback_id))
        state = replace(state, playing=None)
    if state.timer:
        cmds.append(CancelTimer(state.timer))
        state = replace(state, timer="")
    if isinstance(node, flow_model.Menu):
        return _menu_key(state, node, event.digit, cmds)
    if isinstance(node, flow_model.Play):  # an interruptible play: type-ahead
        return _enter(replace(state, typeahead=event.digit), node.next, cmds)
    return state, cmds


def _timeout(state: CallState, event: EngineEvent) -> Step:
    node = state.flow.nodes[state.node].kind
    assert isinstance(node, flow_model.Menu)
    return _menu_retry(replace(state, timer=""), node, node.timeout_prompt, [])


def _answered(state: CallState, event: EngineEvent) -> Step:
    """A leg picked up. An external number that must confirm hears the prompt first
    (a mobile's voicemail must not take the call); anyone else is connected."""
    assert isinstance(event, ari.StasisStart)
    leg = state.leg_by_id(event.channel.id)
    assert leg is not None
    route = state.flow.nodes[state.node].kind
    if not isinstance(route, flow_model.Route) or not route.confirms(leg.target) or leg.answered:
        return _connect(state, leg, [])
    state, playback = state.next_id("pb")
    language = state.flow.language_for(state.language)
    play = Play(leg.id, media_uri(route.confirm_prompt), playback, language)
    state = _update_leg(state, replace(leg, answered=True, playback=playback))
    return state, [play]


def _update_leg(state: CallState, leg: Leg) -> CallState:
    return replace(state, legs=tuple(leg if old.id == leg.id else old for old in state.legs))


def _leg_prompt_done(state: CallState, event: EngineEvent) -> Step:
    assert isinstance(event, ari.PlaybackFinished)
    leg = next(leg for leg in state.legs if leg.playback == event.playback.id)
    state, timer = state.next_id("t")
    state = _update_leg(state, replace(leg, playback="", timer=timer))
    return state, [StartTimer(timer, _route_node(state).confirm_timeout)]


def _leg_key(state: CallState, event: EngineEvent) -> Step:
    assert isinstance(event, ari.ChannelDtmfReceived)
    leg = state.leg_by_id(event.channel.id)
    assert leg is not None
    if not leg.answered or event.digit != _route_node(state).confirm_key:
        return state, []  # another key: the prompt says which one to press
    return _connect(state, leg, [])


def _leg_timeout(state: CallState, event: EngineEvent) -> Step:
    """An answered external leg did not press the key: its voicemail, most likely."""
    assert isinstance(event, TimerFired)
    leg = next(leg for leg in state.legs if leg.timer == event.timer_id)
    return _drop_leg(state, leg.id, "not_accepted", [Hangup(leg.id)])


def _connect(state: CallState, winner: Leg, cmds: list[Command]) -> Step:
    """The first leg to answer (and accept) is bridged; the others stop ringing at once."""
    if winner.timer:
        cmds.append(CancelTimer(winner.timer))
    if winner.playback:
        cmds.append(StopPlayback(winner.playback))
    for leg in state.legs:
        if leg.id != winner.id:
            cmds += [CancelTimer(leg.timer)] if leg.timer else []
            cmds.append(Hangup(leg.id))
    if state.phase is Phase.QUEUED:
        cmds += _leave_queue(state)
    else:
        cmds.append(StopRinging(state.caller))
        cmds += [CancelTimer(state.timer)] if state.timer else []  # an agents route's wait
    if state.playing is not None:  # e.g. the queue position being said
        cmds.append(StopPlayback(state.playing.playback_id))
    if state.agent:  # before the bridge: if that fails, the teardown still says "talked"
        cmds.append(ReportAgent(state.call_id, state.agent, "answered"))
    cmds.append(AddToBridge(state.bridge_id, (state.caller, winner.id)))
    if flow_model.records(state.flow.nodes[state.node].kind):
        state, name = state.next_id("rec")
        state = replace(state, call_recording=name)
        cmds += [_keep_recording(state, "recording"), RecordBridge(state.bridge_id, name)]
    log = [(winner.target.label, "answered")]
    log += [(leg.target.label, "answered_elsewhere") for leg in state.legs if leg != winner]
    state = replace(
        state,
        phase=Phase.CONNECTED,
        outcome=Outcome.ANSWERED,
        answered_by=winner.target.label,
        leg=winner.id,
        legs=(),
        waiting=(),
        route_log=state.route_log + tuple(log),
        timer="",
        announce_timer="",
        lookup="",
        position_ask="",
        playing=None,
    )
    return state, cmds


def _keep_recording(state: CallState, stage: str) -> KeepCallRecording:
    started = state.started_at.isoformat() if state.started_at else ""
    return KeepCallRecording(state.call_recording, state.call_id, started, stage)


def _call_record_failed(state: CallState, event: EngineEvent) -> Step:
    """Asterisk would not record the conversation: the call goes on unrecorded
    (the refusal is in the log), and nothing is left to fetch."""
    cancel = _keep_recording(state, "cancel")
    return replace(state, call_recording=""), [cancel]


def _leg_failed(state: CallState, event: EngineEvent) -> Step:
    """A rung leg ended unanswered (no answer, busy, unreachable, refused)."""
    gone = _leg_of(event)
    leg = state.leg_by_id(gone)
    cause = event.cause if isinstance(event, ari.ChannelDestroyed) else -1
    result = "not_accepted" if leg is not None and leg.answered else result_for_cause(cause)
    cmds: list[Command] = [CancelTimer(leg.timer)] if leg is not None and leg.timer else []
    return _drop_leg(state, gone, result, cmds)


def _drop_leg(state: CallState, gone: str, result: str, cmds: list[Command]) -> Step:
    """One leg is out. The next in a sequence rings; when none is left, on_fail."""
    leg = state.leg_by_id(gone)
    label = leg.target.label if leg is not None else gone
    legs = tuple(leg for leg in state.legs if leg.id != gone)
    state = replace(
        state, legs=legs, route_result=result, route_log=(*state.route_log, (label, result))
    )
    if legs:
        return state, cmds
    node = state.flow.nodes[state.node].kind
    if isinstance(node, flow_model.Queue):
        if state.waiting:
            nxt, rest = state.waiting[:1], state.waiting[1:]
            return _ring(replace(state, waiting=rest), node, nxt, node.ring_seconds, cmds)
        # Nobody took it this time: the caller keeps their place and waits on.
        return state, [*cmds, QueueReady(node.name, state.call_id)]
    route = _route_node(state)
    if route.agents is not None:
        return _agent_rang_out(state, route.agents, result, cmds)
    if state.waiting:
        nxt, rest = state.waiting[:1], state.waiting[1:]
        return _ring(replace(state, waiting=rest), route, nxt, route.member_timeout, cmds)
    cmds.append(StopRinging(state.caller))
    return _enter(replace(state, phase=Phase.IVR), route.on_fail, cmds)


def _leg_of(event: EngineEvent) -> str:
    match event:
        case ChannelGone(channel_id=channel_id):
            return channel_id
        case CommandFailed(command=Originate(channel_id=channel_id)):
            return channel_id
        case ari.StasisEnd(channel=ch) | ari.ChannelDestroyed(channel=ch):
            return ch.id  # (a rung leg's ChannelHangupRequest never gets here: see trigger_of)
    return ""


# -- queues --------------------------------------------------------------------------------
def _join_queue(state: CallState, queue: flow_model.Queue, cmds: list[Command]) -> Step:
    """Music, a place at the end of the line, and a limit on the wait."""
    request = f"{state.call_id}-q{len(state.path)}"  # unique: the path grows on each entry
    presences = tuple(t.presence for t in queue.targets)
    cmds += [
        StartMoh(state.caller, queue.moh),
        JoinQueue(queue.name, state.call_id, request, queue.strategy.value, presences),
    ]
    if not state.bridge_created:
        cmds.append(CreateBridge(state.bridge_id))
    state, limit = state.next_id("t")
    cmds.append(StartTimer(limit, queue.max_wait))
    announce = ""
    if queue.announce_every:
        state, announce = state.next_id("t")
        cmds.append(StartTimer(announce, queue.announce_every))
    state = replace(
        state,
        phase=Phase.QUEUED,
        lookup=request,
        timer=limit,
        announce_timer=announce,
        bridge_created=True,
        legs=(),
        waiting=(),
    )
    return state, cmds


def _queue_node(state: CallState) -> flow_model.Queue:
    queue = state.flow.nodes[state.node].kind
    assert isinstance(queue, flow_model.Queue)
    return queue


def _leave_queue(state: CallState, *, caller_gone: bool = False) -> list[Command]:
    """Out of the line: the music stops, the timers too (legs are the caller's job)."""
    queue = _queue_node(state)
    cmds: list[Command] = [LeaveQueue(queue.name, state.call_id)]
    cmds += [CancelTimer(t) for t in (state.timer, state.announce_timer) if t]
    if not caller_gone and state.playing is None:
        cmds.append(StopMoh(state.caller))
    return cmds


def _out_of_line(state: CallState, **changes: Any) -> CallState:
    """The call has left its queue (its commands already issued): nothing of the
    wait is held any more."""
    return replace(
        state,
        phase=Phase.IVR,
        legs=(),
        waiting=(),
        lookup="",
        timer="",
        announce_timer="",
        playing=None,
        **changes,
    )


def _queue_turn(state: CallState, event: EngineEvent) -> Step:
    """The caller's turn: ring the phones the daemon found free (the music goes on)."""
    assert isinstance(event, TargetsFound)
    queue = _queue_node(state)
    targets = queue.targets
    skipped = tuple((targets[i].label, why) for i, why in event.skipped if i < len(targets))
    order = tuple(i for i in event.order if i < len(targets))
    state = replace(state, route_log=state.route_log + skipped)
    if state.legs:
        return state, []  # already ringing (a late turn): nothing to add
    if not order:
        return state, [QueueReady(queue.name, state.call_id)]
    if queue.strategy.sequential:
        state = replace(state, waiting=order[1:])
        return _ring(state, queue, order[:1], queue.ring_seconds, [])
    return _ring(state, queue, order, queue.ring_seconds, [])


def _queue_timeout(state: CallState, event: EngineEvent) -> Step:
    """Waited max_wait: out of the line, to on_timeout (overflow)."""
    queue = _queue_node(state)
    cmds: list[Command] = [CancelTimer(leg.timer) for leg in state.legs if leg.timer]
    cmds += [Hangup(leg.id) for leg in state.legs]  # before the phones are freed
    cmds += _leave_queue(replace(state, timer=""))  # (the limit has just fired)
    if state.playing is not None:
        cmds.append(StopPlayback(state.playing.playback_id))
    log = tuple((leg.target.label, "no_answer") for leg in state.legs)
    state = _out_of_line(state, route_result="queue_timeout", route_log=state.route_log + log)
    return _enter(state, queue.on_timeout, cmds)


def _announce(state: CallState, event: EngineEvent) -> Step:
    queue = _queue_node(state)
    request = f"{state.call_id}-pos{state.seq}"
    return replace(state, announce_timer="", position_ask=request), [
        AskPosition(request, queue.name, state.call_id)
    ]


def _say_position(state: CallState, event: EngineEvent) -> Step:
    """ "You are caller number N", over a pause in the music."""
    assert isinstance(event, QueuePosition)
    queue = _queue_node(state)
    state = replace(state, position_ask="")
    if event.position < 1:
        return _back_to_music(state, [], music_on=True)
    prompts = (queue.position_prompt, f"number:{event.position}")
    return _play(state, prompts, False, After.MOH, "", [StopMoh(state.caller)])


def _back_to_music(state: CallState, cmds: list[Command], *, music_on: bool = False) -> Step:
    queue = _queue_node(state)
    if not music_on:
        cmds.append(StartMoh(state.caller, queue.moh))
    announce = ""
    if queue.announce_every:  # (a queue without announcements hears a refused callback)
        state, announce = state.next_id("t")
        cmds.append(StartTimer(announce, queue.announce_every))
    return replace(state, phase=Phase.QUEUED, announce_timer=announce, playing=None), cmds


def _queue_key(state: CallState, event: EngineEvent) -> Step:
    """The callback key: ask whether this caller can be called back (the daemon checks
    the number and stores the request); the answer comes at once."""
    assert isinstance(event, ari.ChannelDtmfReceived)
    queue = _queue_node(state)
    agents = [t for t in queue.targets if not t.external]
    if not queue.callback_key or event.digit != queue.callback_key or not agents:
        return state, []  # other keys: the caller waits on (callbacks start at an extension)
    state, request = state.next_id("cb")
    ask = RequestCallback(
        request,
        queue.name,
        state.call_id,
        state.caller_number,
        state.dialed,
        tuple(t.endpoint for t in agents),
        queue.strategy.value,
        queue.ring_seconds,
        queue.callback_trunk,
    )
    return replace(state, callback_ask=request), [ask]


def _callback_decided(state: CallState, event: EngineEvent) -> Step:
    assert isinstance(event, CallbackDecided)
    state = replace(state, callback_ask="")
    if event.refused:
        return _callback_refused(state)
    return _callback_taken(state, event.request_id)


def _callback_taken(state: CallState, request: str) -> Step:
    """The place is the callback's now: the caller hears that they will be called
    back and the call ends."""
    queue = _queue_node(state)
    cmds: list[Command] = [CancelTimer(leg.timer) for leg in state.legs if leg.timer]
    cmds += [Hangup(leg.id) for leg in state.legs]  # before the place turns into a callback
    cmds.append(PlaceCallback(request))
    cmds += [CancelTimer(t) for t in (state.timer, state.announce_timer) if t]
    if state.playing is not None:
        cmds.append(StopPlayback(state.playing.playback_id))
    else:
        cmds.append(StopMoh(state.caller))
    state = _out_of_line(state, outcome=Outcome.CALLBACK)
    return _play(state, (queue.callback_prompt,), False, After.HANGUP, "", cmds)


def _callback_refused(state: CallState) -> Step:
    """We cannot call this caller back: they hear so over a pause in the music and
    keep their place (phones ringing for them ring on; nothing is queued)."""
    queue = _queue_node(state)
    cmds: list[Command] = []
    if state.announce_timer:  # (back to the music restarts it)
        cmds.append(CancelTimer(state.announce_timer))
    if state.playing is not None:
        cmds.append(StopPlayback(state.playing.playback_id))
    else:
        cmds.append(StopMoh(state.caller))
    state = replace(state, announce_timer="")
    return _play(state, (queue.callback_refused_prompt,), False, After.MOH, "", cmds)


# -- voicemail -----------------------------------------------------------------------------
def _record(state: CallState, cmds: list[Command]) -> Step:
    node = state.flow.nodes[state.node].kind
    assert isinstance(node, flow_model.Voicemail)
    state, name = state.next_id("vm")
    cmds.append(Record(state.caller, name, node.max_seconds, node.max_silence))
    state = replace(state, phase=Phase.RECORDING, recording=name, playing=None)
    # Noted now, so a message being recorded when the daemon stops is not lost.
    cmds.append(_keep(state, "recording", node.max_seconds + RECORDING_MARGIN_S))
    return state, cmds


RECORDING_MARGIN_S = 60


def _keep(state: CallState, stage: str = "fetch", wait_s: int = 0) -> KeepVoicemail:
    node = state.flow.nodes[state.node].kind
    assert isinstance(node, flow_model.Voicemail)
    started = state.started_at.isoformat() if state.started_at else ""
    return KeepVoicemail(
        state.recording,
        node.mailbox,
        state.call_id,
        state.caller_number,
        state.dialed,
        started,
        stage,
        wait_s,
    )


def _recorded(state: CallState, event: EngineEvent) -> Step:
    """The message is complete (the caller pressed #, fell silent, reached the limit
    or hung up): keep it, then end the call."""
    cmds: list[Command] = [_keep(state), *_teardown(state, caller_gone=state.caller_gone)]
    if not state.caller_gone:
        cmds.append(Hangup(state.caller))
    return replace(state, phase=Phase.ENDED, outcome=Outcome.VOICEMAIL), cmds


def _record_failed(state: CallState, event: EngineEvent) -> Step:
    """Our recorder failed: a caller still on the line leaves the message with
    Asterisk's VoiceMail() instead; nobody is left without a way to speak."""
    cancel = _keep(state, "cancel")
    if state.caller_gone:
        cmds = [cancel, *_teardown(state, caller_gone=True)]
        return replace(state, phase=Phase.ENDED, outcome=Outcome.FAILED), cmds
    node = state.flow.nodes[state.node].kind
    assert isinstance(node, flow_model.Voicemail)
    to_voicemail = ContinueInDialplan(state.caller, VOICEMAIL_CONTEXT, node.mailbox)
    state = replace(state, recording="")
    return _finish_in_dialplan(state, Outcome.VOICEMAIL_DIALPLAN, [cancel], to_voicemail)


def _caller_left_recording(state: CallState, event: EngineEvent) -> Step:
    """Hanging up ends a message, it does not abandon it: wait for Asterisk to
    finish writing the file (RecordingFinished follows)."""
    return replace(state, caller_gone=True), []


def _recording_stalled(state: CallState, event: EngineEvent) -> Step:
    """No word from the recorder: keep what Asterisk has stored (the keeper looks
    for the file), and make sure the caller is not left on the line."""
    return _recorded(state, event)


def _caller_left(state: CallState, event: EngineEvent) -> Step:
    outcome = Outcome.ABANDONED_IN_QUEUE if state.phase is Phase.QUEUED else Outcome.ABANDONED
    if state.phase is Phase.CONNECTED or state.outcome is Outcome.CALLBACK:
        outcome = state.outcome or outcome
    cmds = _teardown(state, caller_gone=True)
    return replace(state, phase=Phase.ENDED, outcome=outcome, playing=None, timer=""), cmds


def _agent_left_connected(state: CallState, event: EngineEvent) -> Step:
    cmds = [*_teardown(state, leg_gone=True), Hangup(state.caller)]
    return replace(state, phase=Phase.ENDED, leg=""), cmds


def _setup_failed(state: CallState, event: EngineEvent) -> Step:
    assert isinstance(event, CommandFailed)
    playing = state.playing
    if (
        isinstance(event.command, Play)
        and playing
        and event.command.playback_id == (playing.playback_id)
    ):
        return _prompt_done(state, event)  # a prompt that cannot play is skipped
    if isinstance(event.command, Originate) and state.phase in (Phase.DIALING, Phase.QUEUED):
        return _leg_failed(state, event)
    if isinstance(event.command, Play):
        pb = event.command.playback_id
        leg = next((leg for leg in state.legs if leg.playback == pb), None)
        if leg is not None:  # the called person cannot hear "press 1": they cannot accept
            return _drop_leg(state, leg.id, "not_accepted", [Hangup(leg.id)])
        return state, []  # an old prompt: nothing to do
    if isinstance(event.command, AddToBridge):
        # The batch stopped at the bridge: the recording after it was never asked for.
        state = replace(state, call_recording="")
    return _finish_in_dialplan(state, Outcome.FAILED, [])


def _stalled(state: CallState, event: EngineEvent) -> Step:
    return _finish_in_dialplan(state, Outcome.FAILED, [])


def _drain(state: CallState, event: EngineEvent) -> Step:
    return _finish_in_dialplan(state, Outcome.HANDED_BACK_ON_STOP, [])


def _handback_failed(state: CallState, event: EngineEvent) -> Step:
    # The dialplan would not take the caller back: do not leave them in silence.
    return state, [Hangup(state.caller)]


# An agent's phone that ended unanswered with these results counts as their miss (it
# rang; any other result: it could not ring, not the agent's fault).
MISSED_RESULTS = frozenset({"no_answer", "busy"})


def result_for_cause(cause: int) -> str:
    """Q.850 hangup cause of an unanswered agent leg -> why the route failed."""
    if cause == 17:
        return "busy"
    if cause in (16, 18, 19):
        return "no_answer"
    if cause in (1, 3, 20, 21, 27, 34, 38, 41, 42):
        return "unreachable"
    return "failed"


N, V, D, C, H = Phase.NEW, Phase.IVR, Phase.DIALING, Phase.CONNECTED, Phase.HANDED_BACK
R, Q = Phase.RECORDING, Phase.QUEUED
T = Trigger
TRANSITIONS: dict[tuple[Phase, Trigger], Handler] = {
    (N, T.CALLER_ENTERED): _start,
    (V, T.PROMPT_DONE): _prompt_done,
    (V, T.KEY): _key,
    (V, T.TIMEOUT): _timeout,
    (V, T.CALLER_GONE): _caller_left,
    (V, T.SETUP_FAILED): _setup_failed,
    (V, T.STALLED): _stalled,
    (V, T.DRAIN): _drain,
    (D, T.TARGETS_FOUND): _targets_found,
    (D, T.AGENT_FOUND): _agent_found,
    (D, T.TIMEOUT): _agents_wait_over,
    (D, T.AGENT_ANSWERED): _answered,
    (D, T.LEG_PROMPT_DONE): _leg_prompt_done,
    (D, T.LEG_KEY): _leg_key,
    (D, T.LEG_TIMEOUT): _leg_timeout,
    (D, T.AGENT_GONE): _leg_failed,
    (D, T.CALLER_GONE): _caller_left,
    (D, T.SETUP_FAILED): _setup_failed,
    (D, T.STALLED): _stalled,
    (D, T.DRAIN): _drain,
    (C, T.CALLER_GONE): _caller_left,
    (C, T.AGENT_GONE): _agent_left_connected,
    (C, T.SETUP_FAILED): _setup_failed,
    (C, T.CALL_RECORD_FAILED): _call_record_failed,
    (Q, T.TARGETS_FOUND): _queue_turn,
    (Q, T.AGENT_ANSWERED): _answered,
    (Q, T.AGENT_GONE): _leg_failed,
    (Q, T.TIMEOUT): _queue_timeout,
    (Q, T.ANNOUNCE): _announce,
    (Q, T.POSITION): _say_position,
    (Q, T.PROMPT_DONE): _prompt_done,
    (Q, T.KEY): _queue_key,
    (Q, T.CALLBACK_DECIDED): _callback_decided,
    (Q, T.CALLER_GONE): _caller_left,
    (Q, T.SETUP_FAILED): _setup_failed,
    (Q, T.STALLED): _stalled,
    (Q, T.DRAIN): _drain,
    (R, T.RECORDED): _recorded,
    (R, T.RECORD_FAILED): _record_failed,
    (R, T.CALLER_GONE): _caller_left_recording,
    (R, T.STALLED): _recording_stalled,
    (H, T.HANDBACK_FAILED): _handback_failed,
    **{(phase, T.STALE_AGENT): _stale_agent for phase in (V, D, C, R, Q)},
}


def step(state: CallState, event: EngineEvent) -> Step:
    """Advance one call by one event. Unknown (phase, trigger) pairs keep the state."""
    trigger = trigger_of(state, event)
    handler = TRANSITIONS.get((state.phase, trigger)) if trigger is not None else None
    if handler is None:
        return state, []
    return handler(state, event)
