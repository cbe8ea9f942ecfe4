"""Prompts and menus: the caller arrives, hears prompts, presses keys."""

from __future__ import annotations

from dataclasses import replace

from switchboard.ari import events as ari
from switchboard.flows import model as flow_model

from ..commands import Answer, CancelTimer, Command, StartTimer, StopPlayback
from ..events import EngineEvent
from ..state import After, CallState, MenuWait, Phase, Result, dialed_number
from . import common


def start(state: CallState, event: EngineEvent) -> Result:
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
    return common.enter(state, state.entry, [Answer(ch.id)])


def enter_menu(
    state: CallState, node_id: str, menu: flow_model.Menu, cmds: list[Command]
) -> Result:
    stack = state.menu_stack
    if not stack or stack[-1] != node_id:
        stack = (*stack, node_id)
    state = replace(state, menu_stack=stack, menu_visits=state.menu_visits + 1, wait=MenuWait())
    if state.typeahead:
        key, state = state.typeahead, replace(state, typeahead="")
        return _menu_key(state, menu, key, cmds)
    return common.play(state, menu.prompts, True, After.KEY, "", cmds)


def _menu_wait(state: CallState) -> MenuWait:
    wait = state.wait
    assert isinstance(wait, MenuWait)
    return wait


def wait_for_key(state: CallState, cmds: list[Command]) -> Result:
    """The menu's prompts are done: its timer starts."""
    node = state.flow.nodes[state.node].kind
    assert isinstance(node, flow_model.Menu)
    state, timer = state.next_id("t")
    cmds.append(StartTimer(timer, node.timeout))
    return replace(state, wait=replace(_menu_wait(state), timer=timer)), cmds


def _menu_key(state: CallState, menu: flow_model.Menu, key: str, cmds: list[Command]) -> Result:
    choice = menu.action_for(key)
    if choice is None:
        return _menu_retry(state, menu, menu.invalid_prompt, cmds)
    if choice.action == "repeat":  # counts as a visit: repeating forever is a loop too
        if state.menu_visits >= state.flow.max_menu_visits:
            return common.enter(state, menu.on_fail, cmds)
        state = replace(state, menu_visits=state.menu_visits + 1)
        return common.play(state, menu.prompts, True, After.KEY, "", cmds)
    if choice.action == "back":
        stack = state.menu_stack
        previous = stack[-2] if len(stack) >= 2 else state.node
        rest = stack[:-2] if len(stack) >= 2 else ()
        return common.enter(replace(state, menu_stack=rest), previous, cmds)
    return common.enter(state, choice.target, cmds)


def _menu_retry(state: CallState, menu: flow_model.Menu, sorry: str, cmds: list[Command]) -> Result:
    """A wrong key or silence: one attempt used; repeat the menu or give up to on_fail."""
    wait = _menu_wait(state)
    wait = replace(wait, attempts=wait.attempts + 1)
    state = replace(state, wait=wait)
    sorry_prompts = (sorry,) if sorry else ()
    if wait.attempts > menu.retries:
        return common.play(state, sorry_prompts, False, After.NODE, menu.on_fail, cmds)
    return common.play(state, sorry_prompts + menu.prompts, True, After.KEY, "", cmds)


def key(state: CallState, event: EngineEvent) -> Result:
    assert isinstance(event, ari.ChannelDtmfReceived)
    node = state.flow.nodes[state.node].kind
    playing = state.playing
    cmds: list[Command] = []
    if playing is not None:
        if not playing.interruptible:
            return state, []  # documented: ignored, not buffered
        cmds.append(StopPlayback(playing.playback_id))
        state = replace(state, playing=None)
    wait = state.wait
    if isinstance(wait, MenuWait) and wait.timer:
        cmds.append(CancelTimer(wait.timer))
        state = replace(state, wait=replace(wait, timer=""))
    if isinstance(node, flow_model.Menu):
        return _menu_key(state, node, event.digit, cmds)
    if isinstance(node, flow_model.Play):  # an interruptible play: type-ahead
        return common.enter(replace(state, typeahead=event.digit), node.next, cmds)
    return state, cmds


def timeout(state: CallState, event: EngineEvent) -> Result:
    node = state.flow.nodes[state.node].kind
    assert isinstance(node, flow_model.Menu)
    state = replace(state, wait=replace(_menu_wait(state), timer=""))
    return _menu_retry(state, node, node.timeout_prompt, [])
