"""Tier 3: a caller waits in a queue on real Asterisk: music on hold while nobody
can take the call, a new turn a few seconds after a turn fails, then the agent."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

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

pytestmark = pytest.mark.e2e

QUEUE_NUMBER = "74951234571"


def test_a_caller_waits_with_music_until_the_agent_can_take_the_call(
    daemon: DaemonProcess,
) -> None:
    busy = start_agent_uas(AGENT_PORTS["agent100"], SCENARIOS / "agent_ring_no_answer.xml")
    with ThreadPoolExecutor(1) as pool:
        calling = pool.submit(run_caller, QUEUE_NUMBER, None, 26000, 60)
        # The first turn rings agent100 for ring_seconds (10 s), nobody answers; the
        # caller keeps their place with music, and the next turn finds the agent.
        assert finish_sipp(busy, timeout=20) == 0
        agent = start_agent_uas(AGENT_PORTS["agent100"])
        caller = calling.result(timeout=60)
    assert caller.returncode == 0, caller.stderr.decode()[-2000:]
    assert finish_sipp(agent) == 0
    (call_id,) = daemon.calls()
    end = daemon.wait_for("call.end", call_id)
    assert (end["outcome"], end["answered_by"]) == ("answered", "PJSIP/agent100")
    assert [tuple(e) for e in end["route_log"]] == [
        ("PJSIP/agent100", "no_answer"),
        ("PJSIP/agent100", "answered"),
    ]
    trace = daemon.trace(call_id)
    commands = [c for t in trace if t["msg"] == "call.transition" for c in t["commands"]]
    assert any(c.startswith("StartMoh(") for c in commands)
    assert any(c.startswith("QueueReady(") for c in commands)  # a turn failed, place kept
    refused = [t["result"] for t in trace if t["msg"] == "call.command_result"]
    assert not [r for r in refused if "StartMoh" in r or "StopMoh" in r], refused
    assert wait_for_channel_count(0) == 0
