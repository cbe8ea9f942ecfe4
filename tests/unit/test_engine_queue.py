"""Tier 1: a caller waiting in a queue: music, turns in arrival order (the daemon's
line), position announcements, the maximum wait to overflow, and the callback."""

from __future__ import annotations

import pytest

from switchboard.ari import events as ari
from switchboard.engine import Outcome, Phase, TimerFired
from switchboard.engine.commands import (
    AddToBridge,
    AskPosition,
    CancelTimer,
    CreateBridge,
    DestroyBridge,
    FindTargets,
    Hangup,
    JoinQueue,
    LeaveQueue,
    Originate,
    PlaceCallback,
    Play,
    QueueReady,
    RequestCallback,
    StartMoh,
    StartTimer,
    StopMoh,
    StopPlayback,
)
from switchboard.engine.events import CallbackDecided, QueuePosition, TargetsFound
from switchboard.flows import FlowError
from switchboard.flows.model import Queue
from tests.enginekit import in_line
from tests.flowkit import flow
from tests.unit.test_engine_flow import Caller

QUEUE_TEXT = """
languages: [en]
entry: {"100": wait}
nodes:
  wait:
    kind: queue
    name: sales
    endpoints: [PJSIP/100, PJSIP/101]
    ring_seconds: 15
    max_wait: 120
    announce_every: 30
    position_prompt: thanks
    callback_key: "5"
    callback_prompt: goodbye
    callback_refused_prompt: callback_refused
    callback_trunk: carrier
    on_timeout: overflow
  overflow: {kind: route, number: "+79871234567", trunk: carrier, on_fail: bye}
  bye: {kind: hangup}
"""
QUEUE = flow(QUEUE_TEXT)
PHONES = ("PJSIP/100", "PJSIP/101")
ARGS = ("leg", "c1")
TURN = "c1-q1"


def queued() -> Caller:
    caller = Caller(QUEUE, answer_lookups=False)
    issued = caller.dials()
    assert issued[1:] == [
        StartMoh("c1", "default"),
        JoinQueue("sales", "c1", TURN, "ring_all", PHONES),
        CreateBridge("c1-bridge"),
        StartTimer("c1-t1", 120),
        StartTimer("c1-t2", 30),
    ]
    assert caller.state.phase is Phase.QUEUED
    return caller


def test_a_caller_hears_music_and_takes_a_place_in_line() -> None:
    queued()


def test_on_the_callers_turn_the_free_phones_ring_while_the_music_plays() -> None:
    caller = queued()
    issued = caller.send(TargetsFound(TURN, order=(1,), skipped=((0, "busy"),)))
    assert issued == [Originate("c1-leg3", "PJSIP/101", 15, "+79161234567", ARGS)]
    answered = caller.send(ari.StasisStart(channel=ari.Channel(id="c1-leg3"), args=ARGS))
    assert answered == [
        LeaveQueue("sales", "c1"),
        CancelTimer("c1-t1"),
        CancelTimer("c1-t2"),
        StopMoh("c1"),
        AddToBridge("c1-bridge", ("c1", "c1-leg3")),
    ]
    assert (caller.state.phase, caller.state.answered_by) == (Phase.CONNECTED, "PJSIP/101")


def test_if_nobody_answers_the_caller_keeps_their_place_and_waits_on() -> None:
    caller = queued()
    caller.send(TargetsFound(TURN, order=(0, 1)))
    caller.send(ari.ChannelDestroyed(channel=ari.Channel(id="c1-leg3"), cause=19))
    issued = caller.send(ari.ChannelDestroyed(channel=ari.Channel(id="c1-leg4"), cause=19))
    assert issued == [QueueReady("sales", "c1")]
    assert caller.state.phase is Phase.QUEUED
    again = caller.send(TargetsFound(TURN, order=(0,)))  # the next turn: same request id
    assert again == [Originate("c1-leg5", "PJSIP/100", 15, "+79161234567", ARGS)]


def test_after_the_maximum_wait_the_caller_overflows() -> None:
    caller = queued()
    caller.send(TargetsFound(TURN, order=(0,)))
    issued = caller.send(TimerFired("c1-t1"))
    assert issued[:4] == [
        Hangup("c1-leg3"),  # before the phone is freed for the next caller
        LeaveQueue("sales", "c1"),
        CancelTimer("c1-t2"),
        StopMoh("c1"),
    ]
    find = issued[-1]
    assert find == FindTargets("c1-find2", "test.yaml:overflow", "ring_all", ("PJSIP/carrier",))
    mobile = caller.send(TargetsFound("c1-find2", order=(0,)))
    assert mobile[-1] == Originate(
        "c1-leg4", "PJSIP/+79871234567@carrier", 30, "+79161234567", ARGS
    )
    assert caller.state.route_result == "queue_timeout"
    assert caller.state.path == ("wait", "overflow")


def test_the_position_is_announced_over_a_pause_in_the_music() -> None:
    caller = queued()
    assert caller.send(TimerFired("c1-t2")) == [AskPosition("c1-pos2", "sales", "c1")]
    issued = caller.send(QueuePosition("c1-pos2", 3))
    assert issued == [StopMoh("c1"), Play("c1", "sound:switchboard/thanks", "c1-pb3", "en")]
    assert caller.hears_prompt_end() == [Play("c1", "number:3", "c1-pb4", "en")]
    assert caller.hears_prompt_end() == [StartMoh("c1", "default"), StartTimer("c1-t5", 30)]
    assert caller.state.phase is Phase.QUEUED


def test_an_agent_answering_during_the_announcement_stops_it() -> None:
    caller = queued()
    caller.send(TimerFired("c1-t2"))
    caller.send(QueuePosition("c1-pos2", 1))
    caller.send(TargetsFound(TURN, order=(0,)))
    issued = caller.send(ari.StasisStart(channel=ari.Channel(id="c1-leg4"), args=ARGS))
    assert issued == [
        LeaveQueue("sales", "c1"),
        CancelTimer("c1-t1"),
        StopPlayback("c1-pb3"),  # "you are caller number" stops: the agent is there
        AddToBridge("c1-bridge", ("c1", "c1-leg4")),
    ]
    assert caller.state.phase is Phase.CONNECTED
    assert caller.state.playing is None


def asks_for_a_callback(caller: Caller, request: str = "c1-cb4") -> None:
    """The caller presses 5: the engine asks the daemon, and nothing else happens yet
    (the phones ringing for them ring on until the answer)."""
    assert caller.presses("5") == [
        RequestCallback(
            request, "sales", "c1", "+79161234567", "100", PHONES, "ring_all", 15,
            "PJSIP/carrier",
        )
    ]  # fmt: skip
    assert in_line(caller.state).callback_ask == request


def test_pressing_the_callback_key_keeps_the_place_and_hangs_up_politely() -> None:
    caller = queued()
    caller.send(TargetsFound(TURN, order=(0,)))
    asks_for_a_callback(caller)
    issued = caller.send(CallbackDecided("c1-cb4"))
    assert issued == [
        Hangup("c1-leg3"),  # before the place becomes the callback's
        PlaceCallback("c1-cb4"),
        CancelTimer("c1-t1"),
        CancelTimer("c1-t2"),
        StopMoh("c1"),
        Play("c1", "sound:switchboard/goodbye", "c1-pb5", "en"),
    ]
    assert LeaveQueue("sales", "c1") not in issued  # the daemon turns the place into a callback
    assert caller.hears_prompt_end() == [DestroyBridge("c1-bridge"), Hangup("c1")]
    assert caller.state.outcome is Outcome.CALLBACK


def test_a_callback_caller_who_hangs_up_during_the_goodbye_still_gets_the_callback() -> None:
    caller = queued()
    caller.presses("5")
    caller.send(CallbackDecided("c1-cb3"))
    caller.send(ari.StasisEnd(channel=ari.Channel(id="c1")))
    assert caller.state.outcome is Outcome.CALLBACK


def test_a_refused_callback_is_said_and_the_caller_keeps_their_place() -> None:
    caller = queued()
    caller.send(TargetsFound(TURN, order=(0,)))  # PJSIP/100 rings for them
    asks_for_a_callback(caller)
    issued = caller.send(CallbackDecided("c1-cb4", refused="country_not_allowed"))
    assert issued == [
        CancelTimer("c1-t2"),  # the announcements start again after the prompt
        StopMoh("c1"),
        Play("c1", "sound:switchboard/callback_refused", "c1-pb5", "en"),
    ]  # no Hangup of the ringing phone, no PlaceCallback, no LeaveQueue
    assert (caller.state.phase, caller.state.outcome) == (Phase.QUEUED, None)
    assert caller.hears_prompt_end() == [StartMoh("c1", "default"), StartTimer("c1-t6", 30)]
    answered = caller.send(ari.StasisStart(channel=ari.Channel(id="c1-leg3"), args=ARGS))
    assert AddToBridge("c1-bridge", ("c1", "c1-leg3")) in answered
    assert caller.state.phase is Phase.CONNECTED


def test_a_callback_refused_during_the_position_announcement_stops_it() -> None:
    caller = queued()
    caller.send(TimerFired("c1-t2"))
    caller.send(QueuePosition("c1-pos2", 4))  # "you are caller number" plays (c1-pb3)
    asks_for_a_callback(caller)
    issued = caller.send(CallbackDecided("c1-cb4", refused="invalid_number"))
    assert issued == [
        StopPlayback("c1-pb3"),
        Play("c1", "sound:switchboard/callback_refused", "c1-pb5", "en"),
    ]
    assert caller.hears_prompt_end() == [StartMoh("c1", "default"), StartTimer("c1-t6", 30)]
    assert caller.state.phase is Phase.QUEUED


def test_an_answer_for_another_request_changes_nothing() -> None:
    caller = queued()
    asks_for_a_callback(caller, "c1-cb3")
    assert caller.send(CallbackDecided("c1-cb9")) == []
    assert in_line(caller.state).callback_ask == "c1-cb3"


def test_other_keys_do_not_leave_the_line_and_any_caller_id_is_asked_about() -> None:
    caller = queued()
    assert caller.presses("1") == []
    anonymous = Caller(QUEUE, answer_lookups=False)
    anonymous.send(
        ari.StasisStart(channel=ari.Channel(id="c1"), args=("inbound", "100"))
    )  # no caller number: the daemon refuses it (dialpolicy), the engine does not judge
    (request,) = anonymous.presses("5")
    assert isinstance(request, RequestCallback)
    assert request.number == ""
    anonymous.send(CallbackDecided(request.request_id, refused="invalid_number"))
    assert anonymous.state.phase is Phase.QUEUED


def test_a_caller_who_hangs_up_in_the_queue_has_abandoned_it() -> None:
    caller = queued()
    caller.send(TargetsFound(TURN, order=(0, 1)))
    issued = caller.send(ari.StasisEnd(channel=ari.Channel(id="c1")))
    assert issued == [
        Hangup("c1-leg3"),
        Hangup("c1-leg4"),
        LeaveQueue("sales", "c1"),
        CancelTimer("c1-t1"),
        CancelTimer("c1-t2"),
        DestroyBridge("c1-bridge"),
    ]
    assert caller.state.outcome is Outcome.ABANDONED_IN_QUEUE


def test_a_refused_callback_in_a_queue_without_announcements_goes_back_to_music_only() -> None:
    quiet = flow(
        """
languages: [en]
entry: {"100": wait}
nodes:
  wait:
    kind: queue
    name: sales
    endpoints: [PJSIP/100]
    callback_key: "5"
    callback_prompt: goodbye
    callback_refused_prompt: callback_refused
    callback_trunk: carrier
    on_timeout: bye
  bye: {kind: hangup}
"""
    )
    caller = Caller(quiet, answer_lookups=False)
    caller.dials()
    (request,) = caller.presses("5")
    assert isinstance(request, RequestCallback)
    caller.send(CallbackDecided(request.request_id, refused="rate_limited"))
    assert caller.hears_prompt_end() == [StartMoh("c1", "default")]  # no announcement timer
    assert (caller.state.phase, in_line(caller.state).announce_timer) == (Phase.QUEUED, "")


@pytest.mark.parametrize(
    ("line", "needs"),
    [
        ("    callback_prompt: goodbye\n", "callback_prompt (what the caller hears before "
         "hanging up: that they will be called back)"),
        ("    callback_refused_prompt: callback_refused\n", "callback_refused_prompt (what the "
         "caller hears when their number cannot be called back: they keep their place)"),
        ("    callback_trunk: carrier\n", "callback_trunk (the PJSIP endpoint the caller is "
         "called back through, e.g. carrier)"),
    ],
)  # fmt: skip
def test_a_callback_key_without_what_it_needs_is_an_error(line: str, needs: str) -> None:
    with pytest.raises(FlowError) as error:
        flow(QUEUE_TEXT.replace(line, ""))
    problems = [str(p) for p in error.value.problems]
    assert problems == [f"test.yaml:13:5: node 'wait': callback_key needs {needs}"]


def test_a_queue_ringing_one_phone_at_a_time_serves_hundreds_but_ring_all_is_capped() -> None:
    phones = ", ".join(f"PJSIP/p{i}" for i in range(600))
    many = QUEUE_TEXT.replace("[PJSIP/100, PJSIP/101]", f"[{phones}]")
    served = flow(many.replace("    ring_seconds: 15\n", "    strategy: longest_idle\n"))
    kind = served.nodes["wait"].kind
    assert isinstance(kind, Queue)
    assert len(kind.targets) == 600
    with pytest.raises(FlowError) as error:
        flow(many)
    assert [str(p) for p in error.value.problems] == [
        "test.yaml:8:16: node 'wait': endpoints: 600 phones; ringing more than 20 at once "
        "overloads Asterisk (use strategy longest_idle, linear or round_robin, which ring "
        "one phone at a time)"
    ]


def test_a_queues_busy_phones_are_not_recorded_on_the_waiting_callers_call() -> None:
    caller = queued()
    for _ in range(3):  # three turns (same request id); PJSIP/100 busy at each
        (ring,) = caller.send(TargetsFound(TURN, order=(1,), skipped=((0, "busy"),)))
        assert isinstance(ring, Originate)
        assert ring.endpoint == "PJSIP/101"
        caller.send(ari.ChannelDestroyed(channel=ari.Channel(id=ring.channel_id), cause=19))
    assert caller.state.route_log == (("PJSIP/101", "no_answer"),) * 3
