"""The whole call as one table: ``TRANSITIONS[(phase, trigger)]`` is the handler.

``step(state, event)`` reduces the event to a trigger (``triggers.trigger_of``) and
runs the handler of the call's phase for it. A pair with no handler (or an event
that is not about this call) keeps the state and comes back as ``Step.ignored``:
the runner logs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from .commands import Command
from .events import EngineEvent
from .handlers import agents, common, ivr, queue, ring, voicemail
from .state import CallState, Handler, Phase
from .triggers import Trigger, trigger_of


@dataclass(frozen=True, slots=True)
class Ignored:
    """An event that changed nothing: ``trigger`` None, it is not about this call (or
    not any more: a stale answer, a leg's hangup request); else no transition of the
    phase takes it."""

    phase: Phase
    trigger: Trigger | None
    event: str  # the event's type name


class Step(NamedTuple):
    state: CallState
    commands: list[Command]
    ignored: Ignored | None = None


N, V, D, A = Phase.NEW, Phase.IVR, Phase.DIALING, Phase.SEEKING_AGENT
C, H, R, Q = Phase.CONNECTED, Phase.HANDED_BACK, Phase.RECORDING, Phase.QUEUED
T = Trigger
TRANSITIONS: dict[tuple[Phase, Trigger], Handler] = {
    (N, T.CALLER_ENTERED): ivr.start,
    (V, T.PROMPT_DONE): common.prompt_done,
    (V, T.KEY): ivr.key,
    (V, T.TIMEOUT): ivr.timeout,
    (V, T.CALLER_GONE): common.caller_left,
    (V, T.SETUP_FAILED): common.setup_failed,
    (V, T.STALLED): common.stalled,
    (V, T.DRAIN): common.drain,
    (D, T.TARGETS_FOUND): ring.targets_found,
    (D, T.AGENT_ANSWERED): ring.answered,
    (D, T.LEG_PROMPT_DONE): ring.leg_prompt_done,
    (D, T.LEG_KEY): ring.leg_key,
    (D, T.LEG_TIMEOUT): ring.leg_timeout,
    (D, T.AGENT_GONE): ring.leg_failed,
    (D, T.CALLER_GONE): common.caller_left,
    (D, T.SETUP_FAILED): common.setup_failed,
    (D, T.STALLED): common.stalled,
    (D, T.DRAIN): common.drain,
    (A, T.AGENT_FOUND): agents.agent_found,
    (A, T.TIMEOUT): agents.wait_over,
    (A, T.AGENT_ANSWERED): ring.answered,
    (A, T.AGENT_GONE): ring.leg_failed,
    (A, T.CALLER_GONE): common.caller_left,
    (A, T.SETUP_FAILED): common.setup_failed,
    (A, T.STALLED): common.stalled,
    (A, T.DRAIN): common.drain,
    (C, T.CALLER_GONE): common.caller_left,
    (C, T.AGENT_GONE): ring.agent_left_connected,
    (C, T.SETUP_FAILED): common.setup_failed,
    (C, T.CALL_RECORD_FAILED): ring.call_record_failed,
    (Q, T.TARGETS_FOUND): queue.turn,
    (Q, T.AGENT_ANSWERED): ring.answered,
    (Q, T.AGENT_GONE): ring.leg_failed,
    (Q, T.TIMEOUT): queue.timeout,
    (Q, T.ANNOUNCE): queue.announce,
    (Q, T.POSITION): queue.say_position,
    (Q, T.PROMPT_DONE): common.prompt_done,
    (Q, T.KEY): queue.key,
    (Q, T.CALLBACK_DECIDED): queue.callback_decided,
    (Q, T.CALLER_GONE): common.caller_left,
    (Q, T.SETUP_FAILED): common.setup_failed,
    (Q, T.STALLED): common.stalled,
    (Q, T.DRAIN): common.drain,
    (R, T.RECORDED): voicemail.recorded,
    (R, T.RECORD_FAILED): voicemail.record_failed,
    (R, T.CALLER_GONE): voicemail.caller_left_recording,
    (R, T.STALLED): voicemail.recording_stalled,
    (H, T.HANDBACK_FAILED): common.handback_failed,
    **{(phase, T.STALE_AGENT): agents.stale_agent for phase in (V, D, A, C, R, Q)},
}


def step(state: CallState, event: EngineEvent) -> Step:
    """Advance one call by one event. A pair with no transition keeps the state and
    is reported in ``Step.ignored``."""
    trigger = trigger_of(state, event)
    handler = TRANSITIONS.get((state.phase, trigger)) if trigger is not None else None
    if handler is None:
        return Step(state, [], Ignored(state.phase, trigger, type(event).__name__))
    return Step(*handler(state, event))
