"""Tier 1: the transition table: each phase owns its record, and what no
transition takes is reported (``Step.ignored``), never dropped silently."""

from __future__ import annotations

from switchboard.ari import events as ari
from switchboard.engine import Phase, Step, TimerFired, new_call, step
from switchboard.engine.commands import FindAgent, FindTargets
from switchboard.engine.events import AgentFound, TargetsFound
from switchboard.engine.state import AgentSearch, MenuWait, Ringing, Talking
from switchboard.engine.table import TRANSITIONS, Ignored
from switchboard.engine.triggers import Trigger
from switchboard.flows.model import AgentRoute
from tests.flowkit import flow

FLOW = flow("""
languages: [en]
entry: {"100": main, "200": sales, "300": ring}
nodes:
  main:
    kind: menu
    prompt: main_menu
    choices: {"1": ring, "2": sales}
    on_fail: bye
  ring: {kind: route, endpoint: PJSIP/100, on_fail: bye}
  sales:
    kind: route
    agents: {skills: [], max_wait: 30}
    on_fail: bye
  bye: {kind: hangup}
""")

CALLER = ari.Channel(id="c1", caller_number="+79161234567")


def entered(number: str) -> Step:
    state = new_call("c1", FLOW, FLOW.entry[number])
    return step(state, ari.StasisStart(channel=CALLER, args=("inbound", number)))


def test_a_route_with_agents_is_its_own_node_kind_and_phase() -> None:
    assert isinstance(FLOW.nodes["sales"].kind, AgentRoute)
    state, commands, ignored = entered("200")
    assert ignored is None
    assert state.phase is Phase.SEEKING_AGENT
    assert state.phase.shown is Phase.DIALING
    ask = next(c for c in commands if isinstance(c, FindAgent))
    assert isinstance(state.wait, AgentSearch)
    assert state.wait.lookup == ask.request_id
    assert state.wait.timer  # max_wait
    found = AgentFound(ask.request_id, "a1", ("PJSIP/101",))
    state, _, _ = step(state, found)
    assert state.agent == "a1"
    (leg,) = state.ringing_legs
    state, _, _ = step(state, ari.StasisStart(channel=ari.Channel(id=leg)))
    assert state.phase is Phase.CONNECTED
    assert state.wait == Talking(leg, "a1")
    assert (state.agent, state.leg) == ("a1", leg)


def test_each_phase_holds_its_own_record() -> None:
    state, _, _ = entered("100")
    assert state.phase is Phase.IVR
    assert isinstance(state.wait, MenuWait)
    state, commands, _ = entered("300")
    find = next(c for c in commands if isinstance(c, FindTargets))
    assert (state.phase, state.wait) == (Phase.DIALING, Ringing(lookup=find.request_id))
    state, _, _ = step(state, TargetsFound(find.request_id, (0,)))
    assert isinstance(state.wait, Ringing)
    assert state.wait.lookup == ""
    assert len(state.legs) == 1


def test_a_stale_event_is_reported_as_not_about_the_call() -> None:
    before, _, _ = entered("100")
    after, commands, ignored = step(before, TimerFired("c1-t99"))
    assert after is before
    assert commands == []
    assert ignored == Ignored(Phase.IVR, None, "TimerFired")


def test_a_trigger_the_phase_has_no_transition_for_is_reported() -> None:
    before, _, _ = entered("300")
    digit = ari.ChannelDtmfReceived(channel=CALLER, digit="5")  # a key while it rings
    after, commands, ignored = step(before, digit)
    assert (after, commands) == (before, [])
    assert ignored == Ignored(Phase.DIALING, Trigger.KEY, "ChannelDtmfReceived")


def test_every_transition_is_a_handler_of_a_feature_module() -> None:
    modules = {handler.__module__.rsplit(".", 1)[-1] for handler in TRANSITIONS.values()}
    assert modules == {"agents", "common", "ivr", "queue", "ring", "voicemail"}
    assert all(isinstance(p, Phase) and isinstance(t, Trigger) for p, t in TRANSITIONS)
