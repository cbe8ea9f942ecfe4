"""Tier 3: a real SIP call through real Asterisk into the switchboard daemon.

Given the lab Asterisk, the daemon connected as `switchboard`, and agent100's
phone (sipp UAS): a caller (sipp UAC) dials the company number, hears the
greeting, is bridged to agent100, hangs up; the agent's leg is hung up too and
no channel is left in Asterisk.
"""

from __future__ import annotations

import asyncio

import pytest

from labkit.daemon import DaemonProcess
from labkit.lab import (
    AGENT_PORTS,
    COMPANY_NUMBER,
    SCENARIOS,
    finish_sipp,
    run_caller,
    start_agent_uas,
    wait_for_channel_count,
)
from tests.e2e.observer import observe

pytestmark = pytest.mark.e2e


def only_call(daemon: DaemonProcess) -> str:
    calls = daemon.calls()
    assert len(calls) == 1, calls
    return calls[0]


async def test_caller_is_greeted_bridged_to_agent100_and_both_legs_end(
    daemon: DaemonProcess,
) -> None:
    async with observe() as asterisk:
        agent = start_agent_uas(AGENT_PORTS["agent100"])
        caller = await asyncio.to_thread(run_caller, COMPANY_NUMBER, None, 9000)
        agent_exit = await asyncio.to_thread(finish_sipp, agent)
        assert await asyncio.to_thread(wait_for_channel_count, 0) == 0
        await asyncio.sleep(0.3)  # let the last events arrive

    assert caller.returncode == 0, "caller's call failed (see artifacts/sipp)"
    assert agent_exit == 0, "agent100 did not get a clean call ending in BYE"
    call_id = only_call(daemon)

    # Asterisk played the greeting to the caller, start to finish.
    greeting = f"{call_id}-pb1"  # the call's first id: the greeting
    assert [
        e["playback"]["state"]
        for e in asterisk.of_type("PlaybackStarted")
        if e["playback"]["id"] == greeting
    ] == ["playing"]
    assert [
        e["playback"]["media_uri"]
        for e in asterisk.of_type("PlaybackFinished")
        if e["playback"]["id"] == greeting
    ] == ["sound:switchboard/greeting"]
    # Both legs entered the call's mixing bridge.
    bridged = {
        e["channel"]["id"]
        for e in asterisk.of_type("ChannelEnteredBridge")
        if e["bridge"]["id"] == f"{call_id}-bridge"
    }
    assert bridged == {call_id, f"{call_id}-leg2"}
    # Both channels were destroyed: the agent's leg did not outlive the caller.
    destroyed = {e["channel"]["id"] for e in asterisk.of_type("ChannelDestroyed")}
    assert {call_id, f"{call_id}-leg2"} <= destroyed

    path = [
        (t["from"], t["to"], t["event"])
        for t in daemon.trace(call_id)
        if t["msg"] == "call.transition"
    ]
    assert path[:4] == [
        ("new", "ivr", "StasisStart"),
        ("ivr", "dialing", "PlaybackFinished"),  # which phones can ring?
        ("dialing", "dialing", "TargetsFound"),  # agent100 is: ring it
        ("dialing", "connected", "StasisStart"),
    ]
    # Asterisk reports the caller's BYE as a hang-up request, then StasisEnd.
    assert path[4:] == [("connected", "ended", "ChannelHangupRequest")]
    hangup = next(t for t in daemon.trace(call_id) if t.get("to") == "ended")
    assert hangup["commands"] == [f"Hangup({call_id}-leg2)", f"DestroyBridge({call_id}-bridge)"]
    ended = daemon.trace(call_id)[-1]
    assert (ended["msg"], ended["outcome"], ended["answered_by"]) == (
        "call.end",
        "answered",
        "PJSIP/agent100",
    )


async def test_agent_who_does_not_answer_hands_the_caller_to_the_dialplan_fallback(
    daemon: DaemonProcess,
) -> None:
    """agent100 rings without answering until the daemon's ring timeout; the caller goes
    back to the dialplan, whose fallback group (agent101 answers) takes the call."""
    phones = {
        "agent100": start_agent_uas(
            AGENT_PORTS["agent100"], SCENARIOS / "agent_ring_no_answer.xml"
        ),
        "agent101": start_agent_uas(AGENT_PORTS["agent101"]),
        "agent102": start_agent_uas(
            AGENT_PORTS["agent102"], SCENARIOS / "agent_ring_no_answer.xml"
        ),
    }
    caller = await asyncio.to_thread(run_caller, COMPANY_NUMBER, None, 25000, 90)
    exits = {name: await asyncio.to_thread(finish_sipp, phone) for name, phone in phones.items()}
    assert caller.returncode == 0
    assert exits["agent101"] == 0, "the fallback group's agent101 did not take the call"
    assert await asyncio.to_thread(wait_for_channel_count, 0) == 0
    call_id = only_call(daemon)
    ended = daemon.wait_for("call.end", call_id)
    assert (ended["outcome"], ended["route_result"]) == ("handed_back", "no_answer")
    assert ended["path"] == ["welcome", "ring_agent100", "dialplan_fallback"]
    assert [t["to"] for t in daemon.trace(call_id) if t["msg"] == "call.transition"] == [
        "ivr",
        "dialing",
        "dialing",
        "handed_back",
    ]
