"""Tier 1: recording a connected call. Given a flow whose route or queue records,
when the call is bridged, then the bridge (not a channel: 409 while bridged) is
recorded, noted first so a stop cannot lose it; when the call ends, the recording
is handed to the keeper; a refused recording never disturbs the call."""

from __future__ import annotations

from datetime import UTC, datetime

from switchboard.ari import events as ari
from switchboard.engine import CommandFailed, Outcome, Phase, step
from switchboard.engine.commands import (
    AddToBridge,
    ContinueInDialplan,
    DestroyBridge,
    Hangup,
    KeepCallRecording,
    Originate,
    RecordBridge,
    StopRinging,
)
from switchboard.engine.events import TargetsFound
from tests.flowkit import flow
from tests.unit.test_engine_flow import Caller

RECORDED = flow("""
languages: [en]
entry: {"100": agent}
nodes:
  agent: {kind: route, endpoint: PJSIP/agent100, record: true, on_fail: line}
  line: {kind: queue, endpoint: PJSIP/agent101, max_wait: 60, on_timeout: bye}
  bye: {kind: hangup}
""")
EVERY_CALL = flow("""
languages: [en]
record_calls: true
entry: {"100": line}
nodes:
  line: {kind: queue, endpoint: PJSIP/agent101, max_wait: 60, on_timeout: bye}
  bye: {kind: hangup}
""")
AT = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
ARGS = ("leg", "c1")


def connected(caller: Caller, leg: str) -> list[object]:
    caller.dials(at=AT)
    return list(caller.send(ari.StasisStart(channel=ari.Channel(id=leg), args=ARGS)))


def test_a_bridged_call_is_recorded_in_its_bridge_noted_before_it_is_asked_for() -> None:
    caller = Caller(RECORDED)
    issued = connected(caller, "c1-leg1")
    assert issued == [
        StopRinging("c1"),
        AddToBridge("c1-bridge", ("c1", "c1-leg1")),
        KeepCallRecording("c1-rec2", "c1", AT.isoformat(), "recording"),
        RecordBridge("c1-bridge", "c1-rec2", "wav"),
    ]
    assert (caller.state.phase, caller.state.call_recording) == (Phase.CONNECTED, "c1-rec2")


def test_when_the_call_ends_the_recording_is_kept_after_the_bridge_is_gone() -> None:
    caller = Caller(RECORDED)
    connected(caller, "c1-leg1")
    issued = caller.send(ari.ChannelHangupRequest(channel=ari.Channel(id="c1")))
    assert issued == [
        Hangup("c1-leg1"),
        DestroyBridge("c1-bridge"),
        KeepCallRecording("c1-rec2", "c1", AT.isoformat(), "ended"),
    ]
    assert caller.state.outcome is Outcome.ANSWERED


def test_the_agent_hanging_up_ends_the_recording_too() -> None:
    caller = Caller(RECORDED)
    connected(caller, "c1-leg1")
    issued = caller.send(ari.StasisEnd(channel=ari.Channel(id="c1-leg1")))
    assert issued == [
        DestroyBridge("c1-bridge"),
        KeepCallRecording("c1-rec2", "c1", AT.isoformat(), "ended"),
        Hangup("c1"),
    ]


def test_a_refused_recording_is_cancelled_and_the_call_goes_on() -> None:
    caller = Caller(RECORDED)
    connected(caller, "c1-leg1")
    refused = CommandFailed(RecordBridge("c1-bridge", "c1-rec2"), 500, "Internal Server Error")
    issued = caller.send(refused)
    assert issued == [KeepCallRecording("c1-rec2", "c1", AT.isoformat(), "cancel")]
    assert (caller.state.phase, caller.state.call_recording) == (Phase.CONNECTED, "")
    # Still talking; when it ends there is nothing to fetch.
    ended = caller.send(ari.ChannelHangupRequest(channel=ari.Channel(id="c1")))
    assert ended == [Hangup("c1-leg1"), DestroyBridge("c1-bridge")]


def test_a_late_refusal_of_another_recording_changes_nothing() -> None:
    caller = Caller(RECORDED)
    connected(caller, "c1-leg1")
    before = caller.state
    state, issued, _ = step(before, CommandFailed(RecordBridge("c1-bridge", "old"), 409, "exists"))
    assert (state, issued) == (before, [])


def test_a_route_without_record_connects_without_recording() -> None:
    caller = Caller(RECORDED, unreachable={"PJSIP/agent100": "unregistered"})
    caller.dials(at=AT)  # agent100 cannot ring: the queue (record not set) takes the call
    rung = caller.send(TargetsFound("c1-q2", order=(0,)))
    assert rung == [Originate("c1-leg2", "PJSIP/agent101", 15, "+79161234567", ARGS)]
    issued = caller.send(ari.StasisStart(channel=ari.Channel(id="c1-leg2"), args=ARGS))
    assert not [c for c in issued if isinstance(c, RecordBridge | KeepCallRecording)]
    assert caller.state.phase is Phase.CONNECTED


def test_record_calls_records_a_call_answered_from_a_queue() -> None:
    caller = Caller(EVERY_CALL, answer_lookups=False)
    caller.dials(at=AT)
    caller.send(TargetsFound("c1-q1", order=(0,)))
    issued = caller.send(ari.StasisStart(channel=ari.Channel(id="c1-leg2"), args=ARGS))
    assert issued[-3:] == [
        AddToBridge("c1-bridge", ("c1", "c1-leg2")),
        KeepCallRecording("c1-rec3", "c1", AT.isoformat(), "recording"),
        RecordBridge("c1-bridge", "c1-rec3"),
    ]


def test_a_call_that_never_connects_records_nothing() -> None:
    caller = Caller(RECORDED, unreachable={"PJSIP/agent100": "unregistered"})
    caller.dials(at=AT)
    issued = caller.send(ari.ChannelHangupRequest(channel=ari.Channel(id="c1")))
    assert caller.state.outcome is Outcome.ABANDONED_IN_QUEUE
    assert not [c for c in caller.commands if isinstance(c, RecordBridge | KeepCallRecording)]
    assert issued  # the queue's clean-up


def test_a_bridge_that_fails_takes_the_unasked_recording_with_it() -> None:
    caller = Caller(RECORDED)
    connected(caller, "c1-leg1")  # the runner stops the batch at the refused AddToBridge
    refused = CommandFailed(AddToBridge("c1-bridge", ("c1", "c1-leg1")), 422, "not in Stasis")
    issued = caller.send(refused)
    assert issued == [Hangup("c1-leg1"), DestroyBridge("c1-bridge"), ContinueInDialplan("c1")]
    assert (caller.state.outcome, caller.state.call_recording) == (Outcome.FAILED, "")
