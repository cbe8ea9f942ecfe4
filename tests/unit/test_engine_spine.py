"""Tier 1: the spine flow, given / when / then, no I/O."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from switchboard.ari import events as ari
from switchboard.engine import (
    CallState,
    ChannelGone,
    CommandFailed,
    Drain,
    EngineEvent,
    GuardExpired,
    Outcome,
    Phase,
    SpineFlow,
    guard_seconds,
    new_call,
    step,
)
from switchboard.engine.commands import (
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

FLOW = SpineFlow(
    greeting="sound:switchboard/greeting", agent_endpoint="PJSIP/agent100", ring_timeout=25
)
CALLER = ari.Channel(id="c1", caller_number="+79161234567", exten="74951234567")
AGENT = ari.Channel(id="c1-agent")


def run(
    events: list[EngineEvent], state: CallState | None = None
) -> tuple[CallState, list[Command]]:
    state = state or new_call("c1", FLOW)
    issued: list[Command] = []
    for event in events:
        state, commands = step(state, event)
        issued += commands
    return state, issued


ENTER = ari.StasisStart(channel=CALLER, args=("inbound", "74951234567"))
GREETED = ari.PlaybackFinished(playback=ari.Playback(id="c1-greeting", target_uri="channel:c1"))
AGENT_UP = ari.StasisStart(channel=AGENT, args=("leg", "c1"))


def test_caller_is_answered_and_greeted() -> None:
    state, commands = run([ENTER])
    assert state.phase is Phase.GREETING
    assert state.caller_number == "+79161234567"
    assert state.dialed == "74951234567"
    assert commands == [Answer("c1"), Play("c1", "sound:switchboard/greeting", "c1-greeting")]


def test_after_the_greeting_the_agent_is_dialed_while_the_caller_hears_ringing() -> None:
    state, commands = run([ENTER, GREETED])
    assert state.phase is Phase.DIALING
    assert commands[2:] == [
        StartRinging("c1"),
        CreateBridge("c1-bridge"),
        Originate("c1-agent", "PJSIP/agent100", 25, "+79161234567", ("leg", "c1")),
    ]


def test_agent_answer_bridges_both_legs() -> None:
    state, commands = run([ENTER, GREETED, AGENT_UP])
    assert state.phase is Phase.CONNECTED
    assert state.outcome is Outcome.ANSWERED
    assert state.answered_by == "PJSIP/agent100"
    assert commands[-2:] == [StopRinging("c1"), AddToBridge("c1-bridge", ("c1", "c1-agent"))]


@pytest.mark.parametrize(
    "hangup",
    [
        ari.StasisEnd(channel=CALLER),
        ari.ChannelHangupRequest(channel=CALLER),
        ari.ChannelDestroyed(channel=CALLER, cause=16),
        ChannelGone("c1"),
    ],
)
def test_caller_hangup_while_connected_hangs_up_the_agent(hangup: EngineEvent) -> None:
    connected, _ = run([ENTER, GREETED, AGENT_UP])
    state, commands = step(connected, hangup)
    assert state.phase is Phase.ENDED
    assert state.outcome is Outcome.ANSWERED
    assert commands == [Hangup("c1-agent"), DestroyBridge("c1-bridge")]


def test_agent_hangup_while_connected_hangs_up_the_caller() -> None:
    connected, _ = run([ENTER, GREETED, AGENT_UP])
    state, commands = step(connected, ari.StasisEnd(channel=AGENT))
    assert state.phase is Phase.ENDED
    assert commands == [Hangup("c1"), DestroyBridge("c1-bridge")]


def test_caller_hangup_during_greeting_is_an_abandoned_call() -> None:
    state, commands = run([ENTER, ari.StasisEnd(channel=CALLER)])
    assert (state.phase, state.outcome) == (Phase.ENDED, Outcome.ABANDONED)
    assert commands[2:] == []


def test_caller_hangup_while_agent_rings_cancels_the_agent_leg() -> None:
    state, commands = run([ENTER, GREETED, ari.ChannelHangupRequest(channel=CALLER)])
    assert (state.phase, state.outcome) == (Phase.ENDED, Outcome.ABANDONED)
    assert commands[-2:] == [Hangup("c1-agent"), DestroyBridge("c1-bridge")]


@pytest.mark.parametrize(
    ("cause", "outcome"),
    [
        (17, Outcome.BUSY),
        (19, Outcome.NO_ANSWER),
        (20, Outcome.UNREACHABLE),
        (3, Outcome.UNREACHABLE),
        (127, Outcome.FAILED),
    ],
)
def test_unanswered_agent_sends_the_caller_to_the_dialplan_fallback(
    cause: int, outcome: Outcome
) -> None:
    dialing, _ = run([ENTER, GREETED])
    state, commands = step(dialing, ari.ChannelDestroyed(channel=AGENT, cause=cause))
    assert (state.phase, state.outcome) == (Phase.HANDED_BACK, outcome)
    # The agent's leg is already gone: no hang-up is sent for it.
    assert commands == [StopRinging("c1"), DestroyBridge("c1-bridge"), ContinueInDialplan("c1")]


def test_refused_originate_hands_the_caller_back() -> None:
    dialing, cmds = run([ENTER, GREETED])
    originate = cmds[-1]
    state, commands = step(dialing, CommandFailed(originate, 400, "Invalid endpoint"))
    assert (state.phase, state.outcome) == (Phase.HANDED_BACK, Outcome.FAILED)
    assert commands[-1] == ContinueInDialplan("c1")


def test_a_greeting_that_cannot_play_does_not_stop_the_call() -> None:
    greeting, cmds = run([ENTER])
    state, commands = step(greeting, CommandFailed(cmds[1], 500, "no such sound"))
    assert state.phase is Phase.DIALING
    assert isinstance(commands[-1], Originate)


def test_refused_answer_hands_the_caller_back() -> None:
    greeting, cmds = run([ENTER])
    state, commands = step(greeting, CommandFailed(cmds[0], 500, "boom"))
    assert state.phase is Phase.HANDED_BACK
    assert commands == [ContinueInDialplan("c1")]


def test_bridging_refused_hands_back_and_hangs_up_the_agent() -> None:
    connected, cmds = run([ENTER, GREETED, AGENT_UP])
    state, commands = step(connected, CommandFailed(cmds[-1], 422, "not in Stasis"))
    assert state.phase is Phase.HANDED_BACK
    assert commands == [Hangup("c1-agent"), DestroyBridge("c1-bridge"), ContinueInDialplan("c1")]


def test_if_the_dialplan_will_not_take_the_caller_back_they_are_hung_up_not_left() -> None:
    handed, cmds = run([ENTER, Drain()])
    _, commands = step(handed, CommandFailed(cmds[-1], 500, "boom"))
    assert commands == [Hangup("c1")]


@pytest.mark.parametrize("events", [[ENTER], [ENTER, GREETED]])
def test_drain_hands_unconnected_calls_back(events: list[EngineEvent]) -> None:
    before, _ = run(events)
    state, commands = step(before, Drain())
    assert (state.phase, state.outcome) == (Phase.HANDED_BACK, Outcome.HANDED_BACK_ON_STOP)
    assert commands[-1] == ContinueInDialplan("c1")


def test_drain_while_the_agent_rings_cancels_the_agent_leg() -> None:
    dialing, _ = run([ENTER, GREETED])
    _, commands = step(dialing, Drain())
    assert commands == [
        StopRinging("c1"),
        Hangup("c1-agent"),
        DestroyBridge("c1-bridge"),
        ContinueInDialplan("c1"),
    ]


def test_drain_leaves_a_connected_call_alone() -> None:
    connected, _ = run([ENTER, GREETED, AGENT_UP])
    assert step(connected, Drain()) == (connected, [])


def test_events_of_other_channels_and_playbacks_are_ignored() -> None:
    greeting, _ = run([ENTER])
    other = ari.PlaybackFinished(playback=ari.Playback(id="zz-greeting"))
    assert step(greeting, other) == (greeting, [])
    assert step(greeting, ari.StasisEnd(channel=ari.Channel(id="zz"))) == (greeting, [])
    assert step(greeting, ari.UnknownEvent(type="Weird")) == (greeting, [])


def test_ended_call_ignores_late_events() -> None:
    ended, _ = run([ENTER, ari.StasisEnd(channel=CALLER)])
    for late in (GREETED, AGENT_UP, ari.ChannelDestroyed(channel=AGENT), Drain()):
        assert step(ended, late) == (ended, [])


EVENTS = st.sampled_from(
    [
        GREETED,
        AGENT_UP,
        ari.StasisEnd(channel=CALLER),
        ari.StasisEnd(channel=AGENT),
        ari.ChannelDestroyed(channel=AGENT, cause=19),
        ChannelGone("c1"),
        ChannelGone("c1-agent"),
        Drain(),
        ari.ChannelDtmfReceived(channel=CALLER, digit="5"),
    ]
)


AGENT_GONE = {
    ari.StasisEnd(channel=AGENT),
    ari.ChannelDestroyed(channel=AGENT, cause=19),
    ChannelGone("c1-agent"),
}
CALLER_GONE = {ari.StasisEnd(channel=CALLER), ChannelGone("c1")}


@given(st.lists(EVENTS, max_size=12))
def test_no_event_sequence_strands_a_leg_or_ends_a_caller_twice(
    events: list[EngineEvent],
) -> None:
    state, commands = run([ENTER, *events])
    if state.phase is Phase.HANDED_BACK:
        assert ContinueInDialplan("c1") in commands
    if CALLER_GONE & set(events):
        assert state.terminal  # a caller who left ends the call
    if state.terminal and any(isinstance(c, Originate) for c in commands):
        assert Hangup("c1-agent") in commands or AGENT_GONE & set(events)
    if state.terminal and any(isinstance(c, CreateBridge) for c in commands):
        assert DestroyBridge("c1-bridge") in commands
    ends = [c for c in commands if isinstance(c, (Hangup, ContinueInDialplan))]
    assert len(ends) == len(set(ends))  # nothing ended twice


def test_continue_refused_with_409_means_the_dialplan_already_has_the_caller() -> None:
    handed, cmds = run([ENTER, Drain()])
    assert step(handed, CommandFailed(cmds[-1], 409, "Channel not in Stasis")) == (handed, [])


def test_agent_hangup_request_while_ringing_waits_for_the_cause_in_channel_destroyed() -> None:
    dialing, _ = run([ENTER, GREETED])
    assert step(dialing, ari.ChannelHangupRequest(channel=AGENT, cause=17)) == (dialing, [])
    state, _ = step(dialing, ari.ChannelDestroyed(channel=AGENT, cause=17))
    assert state.outcome is Outcome.BUSY


@pytest.mark.parametrize(
    ("events", "guard"),
    [
        ([], 60.0),
        ([ENTER], 60.0),
        ([ENTER, GREETED], 25 + 60.0),
        ([ENTER, GREETED, AGENT_UP], None),
    ],
)
def test_each_phase_has_a_guard_except_a_conversation(
    events: list[EngineEvent], guard: float | None
) -> None:
    state, _ = run(events)
    assert guard_seconds(state) == guard


@pytest.mark.parametrize("events", [[ENTER], [ENTER, GREETED]])
def test_a_stalled_call_is_handed_back_to_the_dialplan(events: list[EngineEvent]) -> None:
    before, _ = run(events)
    state, commands = step(before, GuardExpired(before.phase))
    assert (state.phase, state.outcome) == (Phase.HANDED_BACK, Outcome.FAILED)
    assert commands[-1] == ContinueInDialplan("c1")


def test_a_guard_from_an_earlier_phase_is_ignored() -> None:
    dialing, _ = run([ENTER, GREETED])
    assert step(dialing, GuardExpired(Phase.GREETING)) == (dialing, [])
