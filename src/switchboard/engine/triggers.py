"""Events reduced to a *trigger*: what happened, from this call's point of view.

An answer, a timer or a recording counts only if the call's phase record is
waiting for it (its request id, timer id or name); anything else is not about
this call (None).
"""

from __future__ import annotations

from enum import StrEnum

from switchboard.ari import events as ari

from .commands import (
    AddToBridge,
    Answer,
    ContinueInDialplan,
    CreateBridge,
    Originate,
    Play,
    Record,
    RecordBridge,
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
from .state import AgentSearch, CallState, InLine, Phase, Recording, Ringing, Talking, WithTimer


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


def _lookup(state: CallState) -> str:
    """The request (FindTargets, FindAgent, JoinQueue) the phase waits an answer to."""
    wait = state.wait
    return wait.lookup if isinstance(wait, Ringing | AgentSearch | InLine) else ""


def _timer(state: CallState) -> str:
    """The phase's own timer: a menu's wait for a key, the limit on a wait."""
    wait = state.wait
    return wait.timer if isinstance(wait, WithTimer) else ""


def _in_line(state: CallState) -> InLine | None:
    wait = state.wait
    return wait if isinstance(wait, InLine) else None


def _recording(state: CallState) -> str:
    wait = state.wait
    return wait.name if isinstance(wait, Recording) else ""


def trigger_of(state: CallState, event: EngineEvent) -> Trigger | None:
    playing = state.playing
    match event:
        case ari.StasisStart() if state.phase is Phase.NEW:
            return Trigger.CALLER_ENTERED
        case ari.StasisStart(channel=ch) if ch.id in state.ringing_legs:
            return Trigger.AGENT_ANSWERED
        case TargetsFound(request_id=request) if request and request == _lookup(state):
            return Trigger.TARGETS_FOUND
        case AgentFound(request_id=request) if request and request == _lookup(state):
            return Trigger.AGENT_FOUND
        case AgentFound(agent=agent) if agent:
            return Trigger.STALE_AGENT
        case ari.PlaybackFinished(playback=pb) if playing and pb.id == playing.playback_id:
            return Trigger.PROMPT_DONE
        case ari.PlaybackFinished(playback=pb) if any(leg.playback == pb.id for leg in state.legs):
            return Trigger.LEG_PROMPT_DONE
        case ari.ChannelDtmfReceived(channel=ch) if ch.id == state.caller:
            return Trigger.KEY
        case ari.ChannelDtmfReceived(channel=ch) if ch.id in state.ringing_legs:
            return Trigger.LEG_KEY
        case TimerFired(timer_id=timer) if timer and timer == _timer(state):
            return Trigger.TIMEOUT
        case TimerFired(timer_id=timer) if timer and any(leg.timer == timer for leg in state.legs):
            return Trigger.LEG_TIMEOUT
        case TimerFired(timer_id=timer) if timer and (line := _in_line(state)) is not None:
            return Trigger.ANNOUNCE if timer == line.announce_timer else None
        case QueuePosition(request_id=request) if request and (line := _in_line(state)):
            return Trigger.POSITION if request == line.position_ask else None
        case CallbackDecided(request_id=request) if request and (line := _in_line(state)):
            return Trigger.CALLBACK_DECIDED if request == line.callback_ask else None
        case ari.RecordingFinished(recording=rec) if _recording(state) == rec.name:
            return Trigger.RECORDED
        case ari.RecordingFailed(recording=rec) if _recording(state) == rec.name:
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
    wait = state.wait
    if isinstance(wait, Talking) and wait.leg and channel_id == wait.leg:
        return Trigger.AGENT_GONE
    if channel_id in state.ringing_legs:
        return Trigger.AGENT_GONE
    return None
