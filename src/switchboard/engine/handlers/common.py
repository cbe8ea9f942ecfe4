"""What every feature shares: entering nodes, playing prompts, ending the call.

The feature modules and this one import each other as modules (``common.enter``,
``queue.leave_queue``): entering a node leads to any feature, and every feature
leads on to a node.
"""

from __future__ import annotations

from dataclasses import replace

from switchboard.flows import model as flow_model
from switchboard.flows.prompts import media_uri
from switchboard.hours import DayState, state_at

from ..commands import (
    AddToBridge,
    CancelTimer,
    Command,
    ContinueInDialplan,
    DestroyBridge,
    Hangup,
    KeepCallRecording,
    Originate,
    Play,
    ReportAgent,
    StopAgentSearch,
    StopPlayback,
    StopRinging,
)
from ..events import CommandFailed, EngineEvent
from ..state import (
    RINGING_PHASES,
    After,
    AgentSearch,
    CallState,
    Outcome,
    Phase,
    Playing,
    Result,
    Wait,
    WithTimer,
)
from . import agents, ivr, queue, ring, voicemail

_PASS_THROUGH = (flow_model.Language, flow_model.SetVars, flow_model.Goto, flow_model.HoursBranch)


def enter(state: CallState, node_id: str, cmds: list[Command]) -> Result:
    """Run nodes from ``node_id`` until one waits for the caller or Asterisk."""
    for _ in range(len(state.flow.nodes) + 1):  # the checker forbids loops of silent edges
        node = state.flow.nodes[node_id]
        state = replace(state, node=node_id, path=(*state.path, node_id), playing=None, wait=None)
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
                return ivr.enter_menu(state, node_id, menu, cmds)
            case flow_model.Play(prompts=prompts, interruptible=interruptible, next=nxt):
                return play(state, prompts, interruptible, After.NODE, nxt, cmds)
            case flow_model.Hangup(prompts=prompts) if prompts:
                return play(state, prompts, False, After.HANGUP, "", cmds)
            case flow_model.Hangup():
                return hang_up(state, cmds)
            case flow_model.Route() as route:
                return ring.dial(state, route, cmds)
            case flow_model.AgentRoute() as route:
                return agents.seek(state, route.agents, cmds)
            case flow_model.Queue() as line:
                return queue.join(state, line, cmds)
            case flow_model.Voicemail(prompts=prompts):
                return play(state, prompts, False, After.RECORD, "", cmds)
            case flow_model.Handback():
                return finish_in_dialplan(state, Outcome.HANDED_BACK, cmds)
    return finish_in_dialplan(state, Outcome.FAILED, cmds)  # a flow bug: never trap the caller


def _hours_branch(state: CallState, branch: flow_model.HoursBranch) -> str:
    """The branch for the time the call arrived. Without a time (Asterisk sent none we
    could read) the closed branch is taken: it still leads the caller somewhere."""
    if state.started_at is None:
        return branch.closed
    day_state = state_at(state.flow.calendars[branch.calendar], state.started_at)
    if day_state is DayState.OPEN:
        return branch.open
    return branch.holiday if day_state is DayState.HOLIDAY else branch.closed


def play(
    state: CallState,
    prompts: tuple[str, ...],
    interruptible: bool,
    after: After,
    target: str,
    cmds: list[Command],
) -> Result:
    if not prompts:
        return prompts_done(state, after, target, cmds)
    state, playback_id = state.next_id("pb")
    language = state.flow.language_for(state.language)
    media = prompts[0] if prompts[0].startswith("number:") else media_uri(prompts[0])
    cmds.append(Play(state.caller, media, playback_id, language))
    playing = Playing(playback_id, prompts[1:], interruptible, after, target)
    phase = Phase.QUEUED if after is After.MOH else Phase.IVR
    return replace(state, phase=phase, playing=playing), cmds


def prompts_done(state: CallState, after: After, target: str, cmds: list[Command]) -> Result:
    state = replace(state, playing=None)
    if after is After.KEY:
        return ivr.wait_for_key(state, cmds)
    if after is After.HANGUP:
        return hang_up(state, cmds)
    if after is After.RECORD:
        return voicemail.record(state, cmds)
    if after is After.MOH:
        return queue.back_to_music(state, cmds)
    return enter(state, target, cmds)


def prompt_done(state: CallState, event: EngineEvent) -> Result:
    playing = state.playing
    assert playing is not None
    if playing.rest:
        return play(state, playing.rest, playing.interruptible, playing.after, playing.target, [])
    return prompts_done(state, playing.after, playing.target, [])


def without_timer(wait: Wait | None) -> Wait | None:
    """The phase's record once its own timer is no longer armed."""
    if isinstance(wait, WithTimer) and wait.timer:
        return replace(wait, timer="")
    return wait


def hang_up(state: CallState, cmds: list[Command]) -> Result:
    cmds += [*teardown(state), Hangup(state.caller)]
    outcome = state.outcome if state.outcome is Outcome.CALLBACK else Outcome.HANGUP_BY_FLOW
    state = replace(state, phase=Phase.ENDED, outcome=outcome, wait=without_timer(state.wait))
    return state, cmds


def finish_in_dialplan(
    state: CallState, outcome: Outcome, cmds: list[Command], where: ContinueInDialplan | None = None
) -> Result:
    cmds += [*teardown(state), where or ContinueInDialplan(state.caller)]
    wait = without_timer(state.wait)
    state = replace(state, phase=Phase.HANDED_BACK, outcome=outcome, playing=None, wait=wait)
    return state, cmds


def teardown(
    state: CallState, *, caller_gone: bool = False, leg_gone: bool = False
) -> list[Command]:
    """Stop what this call still holds in Asterisk (except the caller's channel)."""
    cmds: list[Command] = []
    phase, wait = state.phase, state.wait
    if phase in RINGING_PHASES:
        # Phones first: leaving a queue frees them for the next caller at once.
        legs = state.legs
        cmds += [CancelTimer(leg.timer) for leg in legs if leg.timer]
        cmds += [Hangup(leg.id) for leg in legs]
    if phase is Phase.QUEUED:
        cmds += queue.leave_queue(state, caller_gone=caller_gone)
    elif isinstance(wait, WithTimer) and wait.timer:
        cmds.append(CancelTimer(wait.timer))
    if state.playing is not None and not caller_gone:
        cmds.append(StopPlayback(state.playing.playback_id))
    ringing_back = phase is Phase.SEEKING_AGENT or (phase is Phase.DIALING and state.legs)
    if ringing_back and not caller_gone:
        cmds.append(StopRinging(state.caller))  # (an agents route rings back while it waits)
    if phase is Phase.CONNECTED and not leg_gone:
        cmds.append(Hangup(state.leg))
    if state.bridge_created:
        cmds.append(DestroyBridge(state.bridge_id))
    if state.agent:
        result = "talked" if phase is Phase.CONNECTED else "cancelled"
        cmds.append(ReportAgent(state.call_id, state.agent, result))
    if phase is Phase.SEEKING_AGENT and isinstance(wait, AgentSearch) and wait.lookup:
        cmds.append(StopAgentSearch(state.call_id, wait.search))
    if state.call_recording:  # the bridge is gone: Asterisk finishes the file
        cmds.append(keep_recording(state, "ended"))
    return cmds


def keep_recording(state: CallState, stage: str) -> KeepCallRecording:
    started = state.started_at.isoformat() if state.started_at else ""
    return KeepCallRecording(state.call_recording, state.call_id, started, stage)


# -- handlers of any phase -----------------------------------------------------------------
def caller_left(state: CallState, event: EngineEvent) -> Result:
    outcome = Outcome.ABANDONED_IN_QUEUE if state.phase is Phase.QUEUED else Outcome.ABANDONED
    if state.phase is Phase.CONNECTED or state.outcome is Outcome.CALLBACK:
        outcome = state.outcome or outcome
    cmds = teardown(state, caller_gone=True)
    wait = without_timer(state.wait)
    return replace(state, phase=Phase.ENDED, outcome=outcome, playing=None, wait=wait), cmds


def setup_failed(state: CallState, event: EngineEvent) -> Result:
    assert isinstance(event, CommandFailed)
    playing = state.playing
    if (
        isinstance(event.command, Play)
        and playing
        and event.command.playback_id == (playing.playback_id)
    ):
        return prompt_done(state, event)  # a prompt that cannot play is skipped
    if isinstance(event.command, Originate) and state.phase in RINGING_PHASES:
        return ring.leg_failed(state, event)
    if isinstance(event.command, Play):
        pb = event.command.playback_id
        leg = next((leg for leg in state.legs if leg.playback == pb), None)
        if leg is not None:  # the called person cannot hear "press 1": they cannot accept
            return ring.drop_leg(state, leg.id, "not_accepted", [Hangup(leg.id)])
        return state, []  # an old prompt: nothing to do
    if isinstance(event.command, AddToBridge):
        # The batch stopped at the bridge: the recording after it was never asked for.
        state = replace(state, call_recording="")
    return finish_in_dialplan(state, Outcome.FAILED, [])


def stalled(state: CallState, event: EngineEvent) -> Result:
    return finish_in_dialplan(state, Outcome.FAILED, [])


def drain(state: CallState, event: EngineEvent) -> Result:
    return finish_in_dialplan(state, Outcome.HANDED_BACK_ON_STOP, [])


def handback_failed(state: CallState, event: EngineEvent) -> Result:
    # The dialplan would not take the caller back: do not leave them in silence.
    return state, [Hangup(state.caller)]
