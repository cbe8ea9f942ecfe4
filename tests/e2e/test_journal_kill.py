"""Tier 3: a daemon SIGKILLed while a real SIP call is connected, started again: the
call is re-adopted and gets one row with its start, path and agent from before.

Given the lab Asterisk, an isolated daemon (its own schema and state folder) and
agent100's phone (sipp UAS): a caller talks for 12 s; 2 s after the bridge the daemon
is killed (no drain, no flush), a new one starts over the same folders, and the
caller hangs up to it.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from labkit.daemon import REPO, DaemonProcess, IsolatedDaemon
from labkit.lab import (
    AGENT_PORTS,
    COMPANY_NUMBER,
    finish_sipp,
    run_caller,
    start_agent_uas,
    wait_for_channel_count,
)

pytestmark = pytest.mark.e2e


def connected(daemon: DaemonProcess, within: float = 15.0) -> str:
    """The call id once the daemon has bridged the caller to an agent."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for line in daemon.lines():
            if line.get("msg") == "call.transition" and line.get("to") == "connected":
                return str(line["call_id"])
        time.sleep(0.1)
    raise AssertionError(f"no call connected in {within} s (log: {daemon.log_path})")


def test_a_call_connected_when_the_daemon_is_killed_keeps_its_history(
    lab: None, tmp_path: Path
) -> None:
    first = IsolatedDaemon(tmp_path, "journal-kill", prefix="jk")
    second = DaemonProcess(REPO / "artifacts" / "daemon" / "journal-kill-2.log", first.config)
    agent = start_agent_uas(AGENT_PORTS["agent100"])
    try:
        first.daemon.start()
        with ThreadPoolExecutor(1) as pool:
            caller = pool.submit(run_caller, COMPANY_NUMBER, None, 12000)
            call_id = connected(first.daemon)
            time.sleep(2)
            killed_at = time.time()
            assert first.daemon.kill() == -9
            second.start()  # (its first reconcile re-adopts the bridged call)
            assert caller.result(timeout=40).returncode == 0, "the caller's call failed"
        assert finish_sipp(agent) == 0, "agent100 did not get a clean call ending in BYE"
        assert wait_for_channel_count(0) == 0
        rows = first.wait_rows("SELECT * FROM calls WHERE ended_at IS NOT NULL")
        legs = first.fetch("SELECT target, result FROM call_legs")
    finally:
        finish_sipp(agent, timeout=1)
        code = second.stop()
        first.daemon.stop()
        first.drop()
    assert code == 0, f"the second daemon did not drain and exit 0, see {second.log_path}"
    (row,) = rows
    assert row["id"] == call_id
    assert (row["outcome"], row["category"]) == ("answered", "answered")
    assert json.loads(row["path"]) == ["welcome", "ring_agent100"]  # (seen by the first)
    assert row["caller"] != ""
    assert row["started_at"].timestamp() < row["answered_at"].timestamp() < killed_at
    assert row["ended_at"].timestamp() > killed_at + 5  # talked on after the kill
    assert legs == [{"target": "PJSIP/agent100", "result": "answered"}]
    assert any(
        line.get("msg") == "call.adopted" and line.get("journaled") for line in second.lines()
    )
