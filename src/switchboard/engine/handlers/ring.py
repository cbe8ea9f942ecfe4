"""A route's phones, and the phones of any wait (route to agents, queue): legs
are rung, answer, confirm, fail; the first to take the call is connected."""

from __future__ import annotations

from dataclasses import replace

from switchboard.ari import events as ari
from switchboard.flows import model as flow_model
from switchboard.flows.prompts import media_uri

from ..commands import (
    AddToBridge,
    CancelTimer,
    Command,
    CreateBridge,
    FindTargets,
    Hangup,
    Originate,
    Play,
    RecordBridge,
    ReportAgent,
    StartRinging,
    StartTimer,
    StopPlayback,
    StopRinging,
)
from ..events import ChannelGone, CommandFailed, EngineEvent, TargetsFound, TimerFired
from ..state import (
    AgentSearch,
    CallState,
    InLine,
    Leg,
    Outcome,
    Phase,
    Result,
    Ringing,
    Talking,
    WithLegs,
)
from . import agents, common, queue


def dial(state: CallState, route: flow_model.Route, cmds: list[Command]) -> Result:
    """Ask which targets can ring now and in what order (TargetsFound comes back)."""
    request = f"{state.call_id}-find{len(state.path)}"  # unique: the path grows on each entry
    cmds.append(
        FindTargets(
            request,
            f"{state.flow.name}:{state.node}",
            route.strategy.value,
            tuple(t.presence for t in route.targets),
        )
    )
    return replace(state, phase=Phase.DIALING, wait=Ringing(lookup=request)), cmds


def _route_node(state: CallState) -> flow_model.Route:
    route = state.flow.nodes[state.node].kind
    assert isinstance(route, flow_model.Route)
    return route


def _ringing(state: CallState) -> Ringing:
    wait = state.wait
    assert isinstance(wait, Ringing)
    return wait


def targets_found(state: CallState, event: EngineEvent) -> Result:
    """Ring what can ring: all at once, or the first of a sequence. Targets that
    cannot ring (unregistered, unknown, busy) are skipped without waiting; if none
    can, on_fail at once."""
    assert isinstance(event, TargetsFound)
    route = _route_node(state)
    targets = route.targets
    skipped = tuple((targets[i].label, why) for i, why in event.skipped if i < len(targets))
    order = tuple(i for i in event.order if i < len(targets))
    wait = replace(_ringing(state), lookup="")
    state = replace(state, wait=wait, route_log=state.route_log + skipped)
    if not order:
        why = skipped[0][1] if skipped and all(w == skipped[0][1] for _, w in skipped) else ""
        state = replace(state, route_result=why or "unreachable", phase=Phase.IVR, wait=None)
        return common.enter(state, route.on_fail, [])
    cmds: list[Command] = [StartRinging(state.caller)]
    if not state.bridge_created:
        cmds.append(CreateBridge(state.bridge_id))
    state = replace(state, bridge_created=True)
    if route.strategy.sequential:
        state = replace(state, wait=replace(wait, waiting=order[1:]))
        return ring(state, route, order[:1], route.member_timeout, cmds)
    return ring(state, route, order, route.timeout, cmds)


def ring(
    state: CallState,
    route: flow_model.Route | flow_model.Queue,
    indices: tuple[int, ...],
    seconds: int,
    cmds: list[Command],
) -> Result:
    return ring_targets(state, [route.targets[i] for i in indices], seconds, cmds)


def ring_targets(
    state: CallState, targets: list[flow_model.Target], seconds: int, cmds: list[Command]
) -> Result:
    """Originate a leg to each target; each enters our app when answered."""
    args = ("leg", state.call_id)
    legs = list(state.legs)
    for target in targets:
        state, leg = state.next_id("leg")
        cmds.append(Originate(leg, target.endpoint, seconds, state.caller_number, args))
        legs.append(Leg(leg, target))
    return _with_legs(state, tuple(legs)), cmds


def _with_legs(state: CallState, legs: tuple[Leg, ...]) -> CallState:
    wait = state.wait
    assert isinstance(wait, WithLegs)
    return replace(state, wait=replace(wait, legs=legs))


def _update_leg(state: CallState, leg: Leg) -> CallState:
    return _with_legs(state, tuple(leg if old.id == leg.id else old for old in state.legs))


def answered(state: CallState, event: EngineEvent) -> Result:
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


def leg_prompt_done(state: CallState, event: EngineEvent) -> Result:
    assert isinstance(event, ari.PlaybackFinished)
    leg = next(leg for leg in state.legs if leg.playback == event.playback.id)
    state, timer = state.next_id("t")
    state = _update_leg(state, replace(leg, playback="", timer=timer))
    return state, [StartTimer(timer, _route_node(state).confirm_timeout)]


def leg_key(state: CallState, event: EngineEvent) -> Result:
    assert isinstance(event, ari.ChannelDtmfReceived)
    leg = state.leg_by_id(event.channel.id)
    assert leg is not None
    if not leg.answered or event.digit != _route_node(state).confirm_key:
        return state, []  # another key: the prompt says which one to press
    return _connect(state, leg, [])


def leg_timeout(state: CallState, event: EngineEvent) -> Result:
    """An answered external leg did not press the key: its voicemail, most likely."""
    assert isinstance(event, TimerFired)
    leg = next(leg for leg in state.legs if leg.timer == event.timer_id)
    return drop_leg(state, leg.id, "not_accepted", [Hangup(leg.id)])


def _connect(state: CallState, winner: Leg, cmds: list[Command]) -> Result:
    """The first leg to answer (and accept) is bridged; the others stop ringing at once."""
    if winner.timer:
        cmds.append(CancelTimer(winner.timer))
    if winner.playback:
        cmds.append(StopPlayback(winner.playback))
    legs = state.legs
    for leg in legs:
        if leg.id != winner.id:
            cmds += [CancelTimer(leg.timer)] if leg.timer else []
            cmds.append(Hangup(leg.id))
    wait = state.wait
    if isinstance(wait, InLine):
        cmds += queue.leave_queue(state)
    else:
        cmds.append(StopRinging(state.caller))
        if isinstance(wait, AgentSearch) and wait.timer:  # an agents route's wait
            cmds.append(CancelTimer(wait.timer))
    if state.playing is not None:  # e.g. the queue position being said
        cmds.append(StopPlayback(state.playing.playback_id))
    agent = state.agent
    if agent:  # before the bridge: if that fails, the teardown still says "talked"
        cmds.append(ReportAgent(state.call_id, agent, "answered"))
    cmds.append(AddToBridge(state.bridge_id, (state.caller, winner.id)))
    if flow_model.records(state.flow.nodes[state.node].kind):
        state, name = state.next_id("rec")
        state = replace(state, call_recording=name)
        cmds += [common.keep_recording(state, "recording"), RecordBridge(state.bridge_id, name)]
    log = [(winner.target.label, "answered")]
    log += [(leg.target.label, "answered_elsewhere") for leg in legs if leg != winner]
    state = replace(
        state,
        phase=Phase.CONNECTED,
        outcome=Outcome.ANSWERED,
        answered_by=winner.target.label,
        wait=Talking(winner.id, agent),
        route_log=state.route_log + tuple(log),
        playing=None,
    )
    return state, cmds


def call_record_failed(state: CallState, event: EngineEvent) -> Result:
    """Asterisk would not record the conversation: the call goes on unrecorded
    (the refusal is in the log), and nothing is left to fetch."""
    cancel = common.keep_recording(state, "cancel")
    return replace(state, call_recording=""), [cancel]


def agent_left_connected(state: CallState, event: EngineEvent) -> Result:
    cmds = [*common.teardown(state, leg_gone=True), Hangup(state.caller)]
    wait = state.wait
    assert isinstance(wait, Talking)
    return replace(state, phase=Phase.ENDED, wait=replace(wait, leg="")), cmds


def leg_failed(state: CallState, event: EngineEvent) -> Result:
    """A rung leg ended unanswered (no answer, busy, unreachable, refused)."""
    gone = _leg_of(event)
    leg = state.leg_by_id(gone)
    cause = event.cause if isinstance(event, ari.ChannelDestroyed) else -1
    result = "not_accepted" if leg is not None and leg.answered else result_for_cause(cause)
    cmds: list[Command] = [CancelTimer(leg.timer)] if leg is not None and leg.timer else []
    return drop_leg(state, gone, result, cmds)


def drop_leg(state: CallState, gone: str, result: str, cmds: list[Command]) -> Result:
    """One leg is out. The next in a sequence rings; when none is left, the wait
    decides (a queue waits on, a route to agents asks for the next agent, a route
    takes on_fail)."""
    leg = state.leg_by_id(gone)
    label = leg.target.label if leg is not None else gone
    legs = tuple(leg for leg in state.legs if leg.id != gone)
    state = replace(
        _with_legs(state, legs),
        route_result=result,
        route_log=(*state.route_log, (label, result)),
    )
    if legs:
        return state, cmds
    wait = state.wait
    if isinstance(wait, InLine):
        return queue.rang_out(state, wait, cmds)
    if isinstance(wait, AgentSearch):
        return agents.rang_out(state, wait, result, cmds)
    route = _route_node(state)
    waiting = _ringing(state).waiting
    if waiting:
        nxt, rest = waiting[:1], waiting[1:]
        state = replace(state, wait=replace(_ringing(state), waiting=rest))
        return ring(state, route, nxt, route.member_timeout, cmds)
    cmds.append(StopRinging(state.caller))
    return common.enter(replace(state, phase=Phase.IVR, wait=None), route.on_fail, cmds)


def _leg_of(event: EngineEvent) -> str:
    match event:
        case ChannelGone(channel_id=channel_id):
            return channel_id
        case CommandFailed(command=Originate(channel_id=channel_id)):
            return channel_id
        case ari.StasisEnd(channel=ch) | ari.ChannelDestroyed(channel=ch):
            return ch.id  # (a rung leg's ChannelHangupRequest never gets here: see trigger_of)
    return ""


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
