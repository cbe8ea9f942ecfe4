"""Tier 1: routes to agents in the engine (``agents:``): the owner rings first for a
short while, then the best agent; nobody free means waiting (ringback) up to
max_wait; an unreachable router sends the caller to on_fail at once; every
reserved agent is reported back (answered, talked, missed, cancelled).
Given / when / then, no I/O: the test plays the daemon's part."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from switchboard.ari import events as ari
from switchboard.engine import Drain, GuardExpired, Outcome, Phase, TimerFired, guard_seconds
from switchboard.engine.commands import (
    AddToBridge,
    CancelTimer,
    ContinueInDialplan,
    CreateBridge,
    DestroyBridge,
    FindAgent,
    FindTargets,
    Hangup,
    Originate,
    ReportAgent,
    StartRinging,
    StartTimer,
    StopAgentSearch,
    StopRinging,
)
from switchboard.engine.events import AgentFound
from switchboard.routing.rank import Customer, Segment
from tests.enginekit import lookup, timer
from tests.flowkit import flow
from tests.unit.test_engine_flow import Caller

AGENTS = flow("""
languages: [en, ru]
skills: [sales, support]
entry: {"100": welcome}
nodes:
  welcome: {kind: play, prompt: greeting, next: main}
  main:
    kind: menu
    prompt: main_menu
    choices: {"1": sales, "2": russian}
    on_fail: sales
  russian: {kind: language, language: ru, next: sales}
  sales:
    kind: route
    agents:
      skills: {sales: 3}
      owner_seconds: 10
      ring_seconds: 15
      max_wait: 45
      widen_after: 20
      any_after: 40
    on_fail: group
  group: {kind: route, endpoints: [PJSIP/100, PJSIP/101], on_fail: bye}
  bye: {kind: hangup, prompt: goodbye}
""")
VIP = Customer(id=7, name="Ivan", segment=Segment.VIP, language="ru", owner_agent="a101")
ARGS = ("leg", "c1")


def at_the_route(key: str = "1") -> tuple[Caller, FindAgent]:
    caller = Caller(AGENTS)
    caller.dials()
    caller.hears_all()
    issued = caller.presses(key)
    caller.hears_all()
    asks = [c for c in caller.commands if isinstance(c, FindAgent)]
    assert asks, issued
    return caller, asks[-1]


def test_entering_the_route_rings_back_limits_the_wait_and_asks_for_an_agent() -> None:
    caller = Caller(AGENTS)
    caller.dials()
    caller.hears_all()
    assert caller.presses("1") == [
        CancelTimer("c1-t3"),
        StartRinging("c1"),
        CreateBridge("c1-bridge"),
        StartTimer("c1-t4", 45),
        FindAgent(
            request_id="c1-ask5",
            search_id="c1-agents3",
            call_id="c1",
            skills=(("sales", 3),),
            language="",  # nobody chose: the CRM's language, else the call's
            call_language="en",
            site="",
            caller="+79161234567",
            owner_first=True,
            exclude=(),
            wait=True,
            widen_after=20,
            any_after=40,
        ),
    ]
    assert caller.state.phase is Phase.SEEKING_AGENT
    assert caller.state.phase.shown is Phase.DIALING  # as logs, the call log and pages see it


def test_a_language_chosen_in_the_menu_is_what_the_agent_must_speak() -> None:
    _, ask = at_the_route("2")
    assert (ask.language, ask.call_language) == ("ru", "ru")


def test_the_owner_rings_alone_for_owner_seconds_then_the_next_agent_for_ring_seconds() -> None:
    caller, ask = at_the_route()
    found = AgentFound(ask.request_id, "a101", ("PJSIP/101",), owner=True, customer=VIP)
    assert caller.send(found) == [Originate("c1-leg6", "PJSIP/101", 10, "+79161234567", ARGS)]
    assert caller.state.customer == VIP
    # The owner's short ring runs out: freed without a missed call, the next is asked for.
    issued = caller.send(ari.ChannelDestroyed(channel=ari.Channel(id="c1-leg6"), cause=19))
    assert issued[0] == ReportAgent("c1", "a101", "cancelled")
    again = issued[1]
    assert isinstance(again, FindAgent)
    assert (again.search_id, again.exclude) == (ask.search_id, ("a101",))
    best = AgentFound(again.request_id, "a102", ("PJSIP/102", "PJSIP/112"), customer=VIP)
    assert caller.send(best) == [
        Originate("c1-leg8", "PJSIP/102", 15, "+79161234567", ARGS),
        Originate("c1-leg9", "PJSIP/112", 15, "+79161234567", ARGS),
    ]
    # One of the agent's phones answers: the other stops; the agent is on the call.
    answered = ari.StasisStart(channel=ari.Channel(id="c1-leg9"), args=ARGS)
    assert caller.send(answered) == [
        Hangup("c1-leg8"),
        StopRinging("c1"),
        CancelTimer("c1-t4"),
        ReportAgent("c1", "a102", "answered"),
        AddToBridge("c1-bridge", ("c1", "c1-leg9")),
    ]
    assert (caller.state.phase, caller.state.agent) == (Phase.CONNECTED, "a102")
    # The conversation ends: the agent goes to wrap-up (talked).
    hung_up = caller.send(ari.StasisEnd(channel=ari.Channel(id="c1")))
    assert ReportAgent("c1", "a102", "talked") in hung_up
    assert caller.state.outcome is Outcome.ANSWERED


def test_an_agent_who_lets_it_ring_out_is_reported_missed() -> None:
    caller, ask = at_the_route()
    caller.send(AgentFound(ask.request_id, "a102", ("PJSIP/102",)))
    issued = caller.send(ari.ChannelDestroyed(channel=ari.Channel(id="c1-leg6"), cause=19))
    assert issued[0] == ReportAgent("c1", "a102", "missed")
    assert caller.state.route_log[-1] == ("PJSIP/102", "no_answer")


def test_a_phone_that_cannot_ring_is_not_a_missed_call() -> None:
    caller, ask = at_the_route()
    caller.send(AgentFound(ask.request_id, "a102", ("PJSIP/102",)))
    issued = caller.send(ari.ChannelDestroyed(channel=ari.Channel(id="c1-leg6"), cause=20))
    assert issued[0] == ReportAgent("c1", "a102", "cancelled")


def test_nobody_free_the_caller_waits_then_max_wait_leads_to_on_fail() -> None:
    caller, ask = at_the_route()
    assert caller.send(AgentFound(ask.request_id, customer=VIP)) == []
    assert caller.state.phase is Phase.SEEKING_AGENT
    assert lookup(caller.state) == ask.request_id
    caller.answer_lookups = False
    issued = caller.send(TimerFired("c1-t4"))
    assert issued == [
        StopAgentSearch("c1", "c1-agents3"),
        StopRinging("c1"),
        FindTargets("c1-find4", "test.yaml:group", "ring_all", ("PJSIP/100", "PJSIP/101")),
    ]
    assert caller.state.route_log[-1] == ("agents", "no_agent")


def test_an_agent_ringing_when_the_wait_ends_is_the_last_try() -> None:
    caller, ask = at_the_route()
    caller.send(AgentFound(ask.request_id, "a102", ("PJSIP/102",)))
    assert caller.send(TimerFired("c1-t4")) == []  # let them answer
    caller.answer_lookups = False
    issued = caller.send(ari.ChannelDestroyed(channel=ari.Channel(id="c1-leg6"), cause=19))
    assert issued[0] == ReportAgent("c1", "a102", "missed")
    assert not any(isinstance(c, FindAgent) for c in issued)
    assert any(isinstance(c, FindTargets) for c in issued)  # on to the ring group


def test_the_router_unreachable_sends_the_caller_to_on_fail_at_once() -> None:
    caller, ask = at_the_route()
    caller.answer_lookups = False
    issued = caller.send(AgentFound(ask.request_id, error="database unreachable"))
    assert issued[:3] == [
        CancelTimer("c1-t4"),
        StopAgentSearch("c1", "c1-agents3"),
        StopRinging("c1"),
    ]
    assert caller.state.route_result == "routing_unavailable"
    assert caller.state.node == "group"


def test_an_agent_reserved_for_an_ask_the_call_gave_up_on_is_freed() -> None:
    caller, ask = at_the_route()
    caller.answer_lookups = False
    caller.send(TimerFired("c1-t4"))  # gave up; the router had just reserved a102
    assert caller.send(AgentFound(ask.request_id, "a102", ("PJSIP/102",))) == [
        ReportAgent("c1", "a102", "cancelled")
    ]


def test_the_caller_hanging_up_while_an_agent_rings_frees_the_agent() -> None:
    caller, ask = at_the_route()
    caller.send(AgentFound(ask.request_id, "a102", ("PJSIP/102",)))
    issued = caller.send(ari.StasisEnd(channel=ari.Channel(id="c1")))
    assert Hangup("c1-leg6") in issued
    assert ReportAgent("c1", "a102", "cancelled") in issued
    assert caller.state.outcome is Outcome.ABANDONED


def test_the_caller_hanging_up_while_waiting_leaves_the_line() -> None:
    caller, ask = at_the_route()
    caller.send(AgentFound(ask.request_id))
    issued = caller.send(ari.StasisEnd(channel=ari.Channel(id="c1")))
    assert StopAgentSearch("c1", "c1-agents3") in issued
    assert DestroyBridge("c1-bridge") in issued


def test_drain_while_waiting_hands_the_caller_back_and_leaves_the_line() -> None:
    caller, ask = at_the_route()
    caller.send(AgentFound(ask.request_id))
    issued = caller.send(Drain())
    assert StopAgentSearch("c1", "c1-agents3") in issued
    assert StopRinging("c1") in issued  # no ringback left on in the dialplan
    assert issued[-1] == ContinueInDialplan("c1")


def test_the_stall_guard_covers_the_whole_wait_and_the_last_ring() -> None:
    caller, _ = at_the_route()
    assert guard_seconds(caller.state) == 45 + 15 + 120


# -- property: every agent handed to a call is freed exactly once ---------------------------
EVENTS = st.sampled_from(
    ["agent", "none", "error", "stale", "answer", "ring_out", "timer", "hangup",
     "agent_hangup", "drain", "stall", "prompt", "key"]
)  # fmt: skip


@given(st.lists(st.tuples(EVENTS, st.integers(0, 5)), max_size=40))
@settings(max_examples=400, deadline=None)
def test_every_agent_handed_to_a_call_is_released_exactly_once(
    script: list[tuple[str, int]],
) -> None:
    caller, _ = at_the_route("12"[len(script) % 2])  # English or Russian
    caller.answer_lookups = len(script) % 3 > 0  # the ring group after on_fail, or not
    handed: list[str] = []

    def hand(request: str) -> None:
        agent = f"x{len(handed)}"
        handed.append(agent)
        caller.send(AgentFound(request, agent, (f"PJSIP/{agent}",), owner=len(handed) == 1))

    for what, n in script:
        state = caller.state
        if state.terminal:
            break
        legs = state.ringing_legs
        match what:
            case "agent" if lookup(state).startswith("c1-ask"):
                hand(lookup(state))
            case "none" if lookup(state).startswith("c1-ask"):
                caller.send(AgentFound(lookup(state)))
            case "error" if lookup(state).startswith("c1-ask"):
                caller.send(AgentFound(lookup(state), error="database down"))
            case "stale":
                hand(f"c1-old{n}")
            case "answer" if legs:
                leg = legs[n % len(legs)]
                caller.send(ari.StasisStart(channel=ari.Channel(id=leg), args=ARGS))
            case "ring_out" if legs:
                cause = (16, 17, 19, 20, 21, 0)[n]
                caller.send(
                    ari.ChannelDestroyed(channel=ari.Channel(id=legs[n % len(legs)]), cause=cause)
                )
            case "timer" if timer(state):
                caller.send(TimerFired(timer(state)))
            case "hangup":
                caller.send(ari.StasisEnd(channel=ari.Channel(id="c1")))
            case "agent_hangup" if state.leg:
                caller.send(ari.ChannelDestroyed(channel=ari.Channel(id=state.leg), cause=16))
            case "drain":
                caller.send(Drain())
            case "stall":
                caller.send(GuardExpired(state.phase))
            case "prompt" if state.playing is not None:
                caller.hears_prompt_end()
            case "key":
                caller.presses("123#"[n % 4])
    if not caller.state.terminal:
        caller.send(ari.StasisEnd(channel=ari.Channel(id="c1")))
    assert caller.state.terminal
    reports = [c for c in caller.commands if isinstance(c, ReportAgent)]
    for agent in handed:
        ends = [r.result for r in reports if r.agent == agent and r.result != "answered"]
        assert len(ends) == 1, (agent, reports)
        answered = [r for r in reports if r.agent == agent and r.result == "answered"]
        assert len(answered) <= 1
        if answered:
            assert ends == ["talked"]
    assert not [r for r in reports if r.agent not in handed]
