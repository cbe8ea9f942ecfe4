"""The first call flow: answer, greet, connect one extension, end both legs together.

``step(state, event) -> (state, commands)`` is pure: no I/O, no clock. Events are
first reduced to a *trigger* (what happened, from this call's point of view);
the whole call is then one table, ``TRANSITIONS[(phase, trigger)]``. A pair not
in the table is a defined path: the event is ignored and the state is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum

from switchboard.ari import events as ari

from .commands import (
    AddToBridge,
    Answer,
    Command,
    ContinueInDialplan,
    CreateBridge,
    DestroyBridge,
    Hangup,
    Originate,
    Play,
    StartRinging,
    StopRinging,
)
from .events import ChannelGone, CommandFailed, Drain, EngineEvent, GuardExpired


@dataclass(frozen=True, slots=True)
class SpineFlow:
    """The built-in flow of the spine: one greeting, one extension."""

    greeting: str  # media URI, e.g. "sound:switchboard/greeting"
    agent_endpoint: str  # e.g. "PJSIP/agent100"
    ring_timeout: int = 30  # seconds Asterisk rings the agent before giving up
    # Seconds a call may wait for Asterisk beyond what the phase itself takes (the
    # greeting, the ring timeout) before it is handed back: lost events never
    # leave a caller in silence.
    stall_guard: float = 60.0


class Phase(StrEnum):
    NEW = "new"
    GREETING = "greeting"
    DIALING = "dialing"
    CONNECTED = "connected"
    ENDED = "ended"
    HANDED_BACK = "handed_back"


class Outcome(StrEnum):
    ANSWERED = "answered"
    ABANDONED = "abandoned"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    UNREACHABLE = "unreachable"
    FAILED = "failed"
    HANDED_BACK_ON_STOP = "handed_back_on_stop"


TERMINAL = frozenset({Phase.ENDED, Phase.HANDED_BACK})


@dataclass(frozen=True, slots=True)
class CallState:
    call_id: str
    flow: SpineFlow
    phase: Phase = Phase.NEW
    caller_channel: str = ""
    caller_number: str = ""
    dialed: str = ""
    bridge_created: bool = False
    outcome: Outcome | None = None
    answered_by: str = ""

    # Ids are derived from the call id, so a restarted daemon can recognise its
    # own channels and bridges in Asterisk (see reconcile).
    @property
    def agent_channel(self) -> str:
        return f"{self.call_id}-agent"

    @property
    def bridge_id(self) -> str:
        return f"{self.call_id}-bridge"

    @property
    def greeting_playback(self) -> str:
        return f"{self.call_id}-greeting"

    @property
    def terminal(self) -> bool:
        return self.phase in TERMINAL


def guard_seconds(state: CallState) -> float | None:
    """How long the call may stay in its phase with no event; None: no limit."""
    if state.phase in (Phase.NEW, Phase.GREETING):
        return state.flow.stall_guard
    if state.phase is Phase.DIALING:
        return state.flow.ring_timeout + state.flow.stall_guard
    return None  # connected: a conversation takes as long as it takes


def dialed_number(event: ari.StasisStart) -> str:
    """The number the caller dialed: Stasis(app,inbound,${EXTEN}) passes it."""
    return event.args[1] if len(event.args) > 1 else event.channel.exten


def new_call(call_id: str, flow: SpineFlow) -> CallState:
    return CallState(call_id=call_id, flow=flow)


def adopt_connected(call_id: str, flow: SpineFlow, caller_channel: str) -> CallState:
    """A connected call found in Asterisk after a restart or reconnect."""
    return CallState(
        call_id=call_id,
        flow=flow,
        phase=Phase.CONNECTED,
        caller_channel=caller_channel,
        bridge_created=True,
        outcome=Outcome.ANSWERED,
        answered_by=flow.agent_endpoint,
    )


# -- triggers: what an event means for this call -------------------------------------------
class Trigger(StrEnum):
    CALLER_ENTERED = "caller_entered"
    GREETING_DONE = "greeting_done"
    AGENT_ANSWERED = "agent_answered"
    CALLER_GONE = "caller_gone"
    AGENT_GONE = "agent_gone"
    SETUP_FAILED = "setup_failed"  # a command that builds the call was refused
    HANDBACK_FAILED = "handback_failed"  # continue-in-dialplan was refused
    STALLED = "stalled"  # no event from Asterisk for too long
    DRAIN = "drain"


_LEG_ENDED = (ari.StasisEnd, ari.ChannelHangupRequest, ari.ChannelDestroyed)
_SETUP_COMMANDS = (Answer, Play, Originate, CreateBridge, AddToBridge)


def trigger_of(state: CallState, event: EngineEvent) -> Trigger | None:
    match event:
        case ari.StasisStart() if state.phase is Phase.NEW:
            return Trigger.CALLER_ENTERED
        case ari.StasisStart(channel=ch) if ch.id == state.agent_channel:
            return Trigger.AGENT_ANSWERED
        case ari.PlaybackFinished(playback=pb) if pb.id == state.greeting_playback:
            return Trigger.GREETING_DONE
        case ChannelGone(channel_id=gone):
            return _leg_gone(state, gone)
        case ari.ChannelHangupRequest(channel=ch) if (
            ch.id == state.agent_channel and state.phase is Phase.DIALING
        ):
            return None  # ChannelDestroyed follows, with the cause (busy, no answer ...)
        case _ if isinstance(event, _LEG_ENDED):
            return _leg_gone(state, event.channel.id)
        case CommandFailed(command=ContinueInDialplan(), status=409):
            return None  # not in Stasis any more: the dialplan already has the caller
        case CommandFailed(command=ContinueInDialplan()):
            return Trigger.HANDBACK_FAILED
        case CommandFailed(command=cmd) if isinstance(cmd, _SETUP_COMMANDS):
            return Trigger.SETUP_FAILED
        case GuardExpired(phase=phase) if phase == state.phase:
            return Trigger.STALLED
        case Drain():
            return Trigger.DRAIN
    return None


def _leg_gone(state: CallState, channel_id: str) -> Trigger | None:
    if channel_id == state.caller_channel:
        return Trigger.CALLER_GONE
    if channel_id == state.agent_channel:
        return Trigger.AGENT_GONE
    return None


# -- transitions ---------------------------------------------------------------------------
Step = tuple[CallState, list[Command]]
Handler = Callable[[CallState, EngineEvent], Step]


def _answer_and_greet(state: CallState, event: EngineEvent) -> Step:
    assert isinstance(event, ari.StasisStart)
    ch = event.channel
    state = replace(
        state,
        phase=Phase.GREETING,
        caller_channel=ch.id,
        caller_number=ch.caller_number,
        dialed=dialed_number(event),
    )
    return state, [Answer(ch.id), Play(ch.id, state.flow.greeting, state.greeting_playback)]


def _dial_agent(state: CallState, event: EngineEvent) -> Step:
    flow = state.flow
    originate = Originate(
        channel_id=state.agent_channel,
        endpoint=flow.agent_endpoint,
        timeout=flow.ring_timeout,
        caller_id=state.caller_number,
        app_args=("leg", state.call_id),
    )
    cmds: list[Command] = [
        StartRinging(state.caller_channel),
        CreateBridge(state.bridge_id),
        originate,
    ]
    return replace(state, phase=Phase.DIALING, bridge_created=True), cmds


def _connect(state: CallState, event: EngineEvent) -> Step:
    cmds: list[Command] = [
        StopRinging(state.caller_channel),
        AddToBridge(state.bridge_id, (state.caller_channel, state.agent_channel)),
    ]
    state = replace(
        state,
        phase=Phase.CONNECTED,
        outcome=Outcome.ANSWERED,
        answered_by=state.flow.agent_endpoint,
    )
    return state, cmds


def _caller_left(state: CallState, event: EngineEvent) -> Step:
    """The caller hung up: end whatever else this call holds."""
    outcome = state.outcome if state.phase is Phase.CONNECTED else Outcome.ABANDONED
    cmds: list[Command] = []
    if state.phase in (Phase.DIALING, Phase.CONNECTED):
        cmds.append(Hangup(state.agent_channel))
    cmds += _teardown_bridge(state)
    return replace(state, phase=Phase.ENDED, outcome=outcome), cmds


def _agent_left_connected(state: CallState, event: EngineEvent) -> Step:
    cmds: list[Command] = [Hangup(state.caller_channel), *_teardown_bridge(state)]
    return replace(state, phase=Phase.ENDED), cmds


def _agent_failed(state: CallState, event: EngineEvent) -> Step:
    """The agent did not answer (busy, no answer, unreachable): fallback in dialplan."""
    cause = event.cause if isinstance(event, ari.ChannelDestroyed) else -1
    return _hand_back(state, outcome_for_cause(cause), agent_gone=True)


def _setup_failed(state: CallState, event: EngineEvent) -> Step:
    greeting_failed = isinstance(event, CommandFailed) and isinstance(event.command, Play)
    if state.phase is Phase.GREETING and greeting_failed:
        return _dial_agent(state, event)  # no greeting is better than no agent
    return _hand_back(state, Outcome.FAILED)


def _drain(state: CallState, event: EngineEvent) -> Step:
    return _hand_back(state, Outcome.HANDED_BACK_ON_STOP)


def _stalled(state: CallState, event: EngineEvent) -> Step:
    return _hand_back(state, Outcome.FAILED)


def _handback_failed(state: CallState, event: EngineEvent) -> Step:
    # The dialplan would not take the caller back: do not leave them in silence.
    return state, [Hangup(state.caller_channel)]


def _hand_back(state: CallState, outcome: Outcome, *, agent_gone: bool = False) -> Step:
    cmds: list[Command] = []
    if state.phase is Phase.DIALING:
        cmds.append(StopRinging(state.caller_channel))
    if state.phase in (Phase.DIALING, Phase.CONNECTED) and not agent_gone:
        cmds.append(Hangup(state.agent_channel))
    cmds += _teardown_bridge(state)
    cmds.append(ContinueInDialplan(state.caller_channel))
    return replace(state, phase=Phase.HANDED_BACK, outcome=outcome), cmds


def _teardown_bridge(state: CallState) -> list[Command]:
    return [DestroyBridge(state.bridge_id)] if state.bridge_created else []


def outcome_for_cause(cause: int) -> Outcome:
    """Q.850 hangup cause of an unanswered agent leg -> outcome."""
    if cause == 17:  # user busy
        return Outcome.BUSY
    if cause in (18, 19, 16):  # no user response, no answer, normal (timeout)
        return Outcome.NO_ANSWER
    if cause in (1, 3, 20, 21, 27, 34, 38, 41, 42):  # unallocated, no route, absent ...
        return Outcome.UNREACHABLE
    return Outcome.FAILED


G, D, C, H = Phase.GREETING, Phase.DIALING, Phase.CONNECTED, Phase.HANDED_BACK
T = Trigger
TRANSITIONS: dict[tuple[Phase, Trigger], Handler] = {
    (Phase.NEW, T.CALLER_ENTERED): _answer_and_greet,
    (G, T.GREETING_DONE): _dial_agent,
    (G, T.CALLER_GONE): _caller_left,
    (G, T.SETUP_FAILED): _setup_failed,
    (G, T.STALLED): _stalled,
    (G, T.DRAIN): _drain,
    (D, T.AGENT_ANSWERED): _connect,
    (D, T.AGENT_GONE): _agent_failed,
    (D, T.CALLER_GONE): _caller_left,
    (D, T.SETUP_FAILED): _setup_failed,
    (D, T.STALLED): _stalled,
    (D, T.DRAIN): _drain,
    (C, T.CALLER_GONE): _caller_left,
    (C, T.AGENT_GONE): _agent_left_connected,
    (C, T.SETUP_FAILED): _setup_failed,
    (H, T.HANDBACK_FAILED): _handback_failed,
}


def step(state: CallState, event: EngineEvent) -> Step:
    """Advance one call by one event. Unknown (phase, trigger) pairs keep the state."""
    trigger = trigger_of(state, event)
    handler = TRANSITIONS.get((state.phase, trigger)) if trigger is not None else None
    if handler is None:
        return state, []
    return handler(state, event)
