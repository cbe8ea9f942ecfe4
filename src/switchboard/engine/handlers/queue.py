"""Queues (``QUEUED``): music and a place in line; the phones ring at the caller's
turn; position announcements, the callback key, the limit on the wait."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from switchboard.ari import events as ari
from switchboard.flows import model as flow_model

from ..commands import (
    AskPosition,
    CancelTimer,
    Command,
    CreateBridge,
    Hangup,
    JoinQueue,
    LeaveQueue,
    PlaceCallback,
    QueueReady,
    RequestCallback,
    StartMoh,
    StartTimer,
    StopMoh,
    StopPlayback,
)
from ..events import CallbackDecided, EngineEvent, QueuePosition, TargetsFound
from ..state import After, CallState, InLine, Outcome, Phase, Result
from . import common, ring


def join(state: CallState, queue: flow_model.Queue, cmds: list[Command]) -> Result:
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
    wait = InLine(lookup=request, timer=limit, announce_timer=announce)
    return replace(state, phase=Phase.QUEUED, wait=wait, bridge_created=True), cmds


def _queue_node(state: CallState) -> flow_model.Queue:
    queue = state.flow.nodes[state.node].kind
    assert isinstance(queue, flow_model.Queue)
    return queue


def _line(state: CallState) -> InLine:
    wait = state.wait
    assert isinstance(wait, InLine)
    return wait


def leave_queue(state: CallState, *, caller_gone: bool = False) -> list[Command]:
    """Out of the line: the music stops, the timers too (legs are the caller's job)."""
    queue = _queue_node(state)
    line = _line(state)
    cmds: list[Command] = [LeaveQueue(queue.name, state.call_id)]
    cmds += [CancelTimer(t) for t in (line.timer, line.announce_timer) if t]
    if not caller_gone and state.playing is None:
        cmds.append(StopMoh(state.caller))
    return cmds


def _out_of_line(state: CallState, **changes: Any) -> CallState:
    """The call has left its queue (its commands already issued): nothing of the
    wait is held any more."""
    return replace(state, phase=Phase.IVR, wait=None, playing=None, **changes)


def turn(state: CallState, event: EngineEvent) -> Result:
    """The caller's turn: ring the phones the daemon found free (the music goes on).

    The phones that could not ring this turn (busy, logged out) are not recorded on
    the call: a queue's members being away is its normal state, not a try, and a
    turn comes every few seconds (a caller waiting a minute in a queue of 400 phones
    would carry thousands of such entries). The phones rung are recorded, as legs."""
    assert isinstance(event, TargetsFound)
    queue = _queue_node(state)
    order = tuple(i for i in event.order if i < len(queue.targets))
    line = _line(state)
    if line.legs:
        return state, []  # already ringing (a late turn): nothing to add
    if not order:
        return state, [QueueReady(queue.name, state.call_id)]
    if queue.strategy.sequential:
        state = replace(state, wait=replace(line, waiting=order[1:]))
        return ring.ring(state, queue, order[:1], queue.ring_seconds, [])
    return ring.ring(state, queue, order, queue.ring_seconds, [])


def rang_out(state: CallState, line: InLine, cmds: list[Command]) -> Result:
    """This turn's phones all ended unanswered: the next in a sequence rings; else the
    caller keeps their place and waits on."""
    queue = _queue_node(state)
    if line.waiting:
        nxt, rest = line.waiting[:1], line.waiting[1:]
        state = replace(state, wait=replace(line, waiting=rest))
        return ring.ring(state, queue, nxt, queue.ring_seconds, cmds)
    return state, [*cmds, QueueReady(queue.name, state.call_id)]


def timeout(state: CallState, event: EngineEvent) -> Result:
    """Waited max_wait: out of the line, to on_timeout (overflow)."""
    queue = _queue_node(state)
    line = _line(state)
    cmds: list[Command] = [CancelTimer(leg.timer) for leg in line.legs if leg.timer]
    cmds += [Hangup(leg.id) for leg in line.legs]  # before the phones are freed
    cmds += leave_queue(replace(state, wait=replace(line, timer="")))  # (it has just fired)
    if state.playing is not None:
        cmds.append(StopPlayback(state.playing.playback_id))
    log = tuple((leg.target.label, "no_answer") for leg in line.legs)
    state = _out_of_line(state, route_result="queue_timeout", route_log=state.route_log + log)
    return common.enter(state, queue.on_timeout, cmds)


def announce(state: CallState, event: EngineEvent) -> Result:
    queue = _queue_node(state)
    request = f"{state.call_id}-pos{state.seq}"
    wait = replace(_line(state), announce_timer="", position_ask=request)
    return replace(state, wait=wait), [AskPosition(request, queue.name, state.call_id)]


def say_position(state: CallState, event: EngineEvent) -> Result:
    """ "You are caller number N", over a pause in the music."""
    assert isinstance(event, QueuePosition)
    queue = _queue_node(state)
    state = replace(state, wait=replace(_line(state), position_ask=""))
    if event.position < 1:
        return back_to_music(state, [], music_on=True)
    prompts = (queue.position_prompt, f"number:{event.position}")
    return common.play(state, prompts, False, After.MOH, "", [StopMoh(state.caller)])


def back_to_music(state: CallState, cmds: list[Command], *, music_on: bool = False) -> Result:
    queue = _queue_node(state)
    if not music_on:
        cmds.append(StartMoh(state.caller, queue.moh))
    announce = ""
    if queue.announce_every:  # (a queue without announcements hears a refused callback)
        state, announce = state.next_id("t")
        cmds.append(StartTimer(announce, queue.announce_every))
    wait = replace(_line(state), announce_timer=announce)
    return replace(state, phase=Phase.QUEUED, wait=wait, playing=None), cmds


def key(state: CallState, event: EngineEvent) -> Result:
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
    return replace(state, wait=replace(_line(state), callback_ask=request)), [ask]


def callback_decided(state: CallState, event: EngineEvent) -> Result:
    assert isinstance(event, CallbackDecided)
    state = replace(state, wait=replace(_line(state), callback_ask=""))
    if event.refused:
        return _callback_refused(state)
    return _callback_taken(state, event.request_id)


def _callback_taken(state: CallState, request: str) -> Result:
    """The place is the callback's now: the caller hears that they will be called
    back and the call ends."""
    queue = _queue_node(state)
    line = _line(state)
    cmds: list[Command] = [CancelTimer(leg.timer) for leg in line.legs if leg.timer]
    cmds += [Hangup(leg.id) for leg in line.legs]  # before the place turns into a callback
    cmds.append(PlaceCallback(request))
    cmds += [CancelTimer(t) for t in (line.timer, line.announce_timer) if t]
    if state.playing is not None:
        cmds.append(StopPlayback(state.playing.playback_id))
    else:
        cmds.append(StopMoh(state.caller))
    state = _out_of_line(state, outcome=Outcome.CALLBACK)
    return common.play(state, (queue.callback_prompt,), False, After.HANGUP, "", cmds)


def _callback_refused(state: CallState) -> Result:
    """We cannot call this caller back: they hear so over a pause in the music and
    keep their place (phones ringing for them ring on; nothing is queued)."""
    queue = _queue_node(state)
    line = _line(state)
    cmds: list[Command] = []
    if line.announce_timer:  # (back to the music restarts it)
        cmds.append(CancelTimer(line.announce_timer))
    if state.playing is not None:
        cmds.append(StopPlayback(state.playing.playback_id))
    else:
        cmds.append(StopMoh(state.caller))
    state = replace(state, wait=replace(line, announce_timer=""))
    return common.play(state, (queue.callback_refused_prompt,), False, After.MOH, "", cmds)
