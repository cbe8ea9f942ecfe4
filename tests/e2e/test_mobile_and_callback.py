"""Tier 3 on real Asterisk: a forwarded mobile must press 1 to take the call (its
own voicemail must not swallow it), and a queue callback: the caller presses 5 and
hangs up; an agent is rung first, then the caller is called back through the trunk. A
caller whose number the dial policy refuses (a US premium-rate caller ID) hears that we
cannot call back and keeps their place: the agent ringing for them answers."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest

from labkit.daemon import DaemonProcess
from labkit.lab import (
    AGENT_PORTS,
    SCENARIOS,
    finish_sipp,
    run_caller,
    start_agent_uas,
    wait_for_channel_count,
)
from labkit.sipp_scenarios import CARRIER_PORT, call_pressing_keys, carrier_answer
from tests.pgkit import DATABASE_URL

pytestmark = pytest.mark.e2e

MOBILE_NUMBER = "74951234572"
QUEUE_NUMBER = "74951234571"
MOBILE = "+79871234567"
LAB_SCHEMA = "switchboard_lab"  # deploy/lab/switchboard.yaml


def test_the_mobile_that_presses_1_gets_the_caller(daemon: DaemonProcess) -> None:
    mobile = start_agent_uas(
        CARRIER_PORT, carrier_answer("mobile_accepts", 1000, keys=[(2000, "1")])
    )
    caller = run_caller(MOBILE_NUMBER, hold_ms=12000)
    assert finish_sipp(mobile) == 0
    assert caller.returncode == 0, caller.stderr.decode()[-2000:]
    (call_id,) = daemon.calls()
    end = daemon.wait_for("call.end", call_id)
    assert (end["outcome"], end["answered_by"]) == ("answered", MOBILE)
    played = [
        c
        for t in daemon.trace(call_id)
        if t["msg"] == "call.transition"
        for c in t["commands"]
        if c.startswith("Play(") and "accept_call" in c
    ]
    assert len(played) == 1  # the mobile heard "press 1 to take it"
    assert played[0].startswith(f"Play({call_id}-leg")
    assert wait_for_channel_count(0) == 0


def test_a_mobile_answered_by_its_voicemail_does_not_take_the_call(
    daemon: DaemonProcess,
) -> None:
    mobile = start_agent_uas(CARRIER_PORT, carrier_answer("mobile_voicemail", 1000))
    caller = run_caller(MOBILE_NUMBER, hold_ms=25000, timeout_s=60)
    assert finish_sipp(mobile) == 0  # Asterisk hung the mobile up (BYE)
    assert caller.returncode == 0, caller.stderr.decode()[-2000:]
    (call_id,) = daemon.calls()
    end = daemon.wait_for("call.end", call_id)
    assert end["outcome"] == "hangup_by_flow"  # on_fail: goodbye
    assert [tuple(e) for e in end["route_log"]] == [(MOBILE, "not_accepted")]
    assert wait_for_channel_count(0) == 0


async def callback_status(call_id: str) -> str:
    conn = await asyncpg.connect(DATABASE_URL, server_settings={"search_path": LAB_SCHEMA})
    try:
        status = await conn.fetchval("SELECT status FROM callbacks WHERE call_id = $1", call_id)
        return str(status or "")
    finally:
        await conn.close()


def test_a_queue_callback_rings_the_agent_first_then_the_caller(daemon: DaemonProcess) -> None:
    busy = start_agent_uas(AGENT_PORTS["agent100"], SCENARIOS / "agent_ring_no_answer.xml")
    customer = start_agent_uas(
        CARRIER_PORT, carrier_answer("callback_customer", 1000, hold_ms=3000)
    )
    caller = call_pressing_keys(QUEUE_NUMBER, [(4000, "5")], 15000, "queue_callback")
    assert caller.returncode == 0, caller.stderr.decode()[-2000:]
    assert finish_sipp(busy) == 0  # rang while the caller waited, then CANCELled
    agent = start_agent_uas(AGENT_PORTS["agent100"])  # takes the callback
    assert finish_sipp(agent, timeout=30) == 0
    assert finish_sipp(customer, timeout=30) == 0  # called back, talked, hung up
    waiting, callback = daemon.calls()[:2]
    first = daemon.wait_for("call.end", waiting)
    assert first["outcome"] == "callback_requested"
    second = daemon.wait_for("call.end", callback, within=30)
    assert (second["outcome"], second["answered_by"]) == ("answered", "+79161234567")
    assert callback.startswith("cb-")  # the agent's leg is the callback call
    deadline = time.monotonic() + 10
    while asyncio.run(callback_status(waiting)) != "done":
        assert time.monotonic() < deadline, "the callback is not marked done"
        time.sleep(0.2)
    assert wait_for_channel_count(0) == 0


async def callbacks_of(call_id: str) -> int:
    conn = await asyncpg.connect(DATABASE_URL, server_settings={"search_path": LAB_SCHEMA})
    try:
        return int(
            await conn.fetchval("SELECT count(*) FROM callbacks WHERE call_id = $1", call_id)
        )
    finally:
        await conn.close()


def test_a_premium_rate_caller_is_not_called_back_and_keeps_their_place(
    daemon: DaemonProcess,
) -> None:
    """The caller ID +1 900 ... (US premium rate) presses 5 while agent100 rings: the
    caller hears the refusal over a pause in the music, nothing is queued, the trunk is
    never dialled, and agent100, still ringing, answers them 8 s in."""
    agent = start_agent_uas(
        AGENT_PORTS["agent100"], carrier_answer("agent_answers_late", 8000)
    )  # answers after 8 s of ringing, then waits for the caller's BYE
    caller = call_pressing_keys(
        QUEUE_NUMBER, [(2000, "5")], 9000, "premium_caller", caller="+19005551234"
    )
    assert caller.returncode == 0, caller.stderr.decode()[-2000:]
    assert finish_sipp(agent, timeout=30) == 0  # rang on through the refusal, answered
    (call_id,) = daemon.calls()
    end = daemon.wait_for("call.end", call_id)
    assert (end["outcome"], end["answered_by"]) == ("answered", "PJSIP/agent100")
    refused = daemon.wait_for("callback.refused", call_id)
    assert (refused["reason"], refused["number"]) == ("country_not_allowed", "+1********34")
    commands = [c for t in daemon.trace(call_id) if t["msg"] == "call.transition"
                for c in t["commands"]]  # fmt: skip
    assert any(c.startswith("Play(") and "callback_refused" in c for c in commands)
    assert not any(c.startswith("PlaceCallback(") for c in commands)
    assert asyncio.run(callbacks_of(call_id)) == 0
    assert not [line for line in daemon.lines() if "@carrier" in str(line.get("commands", ""))]
    assert wait_for_channel_count(0) == 0
