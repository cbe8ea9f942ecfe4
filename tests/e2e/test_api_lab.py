"""Tier 3: the daemon's HTTP API while a real SIP call runs through real Asterisk.

Given the lab daemon (API on 127.0.0.1:8090) and agent100's phone (sipp UAS):
while a caller (sipp UAC) is connected, ``GET /calls/live`` lists the call as
connected to agent100; after it ends, ``/metrics`` counts it as answered and no
call is in progress; ``/ready`` says every check is ok.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import aiohttp
import pytest

from labkit.daemon import DaemonProcess
from labkit.lab import (
    AGENT_PORTS,
    COMPANY_NUMBER,
    finish_sipp,
    run_caller,
    start_agent_uas,
    wait_for_channel_count,
)
from tests.apispec import check_response

pytestmark = pytest.mark.e2e
API = "http://127.0.0.1:8090"
AUTH = {"Authorization": "Bearer lab-token-0123456789"}  # deploy/lab/switchboard.yaml


async def get_json(session: aiohttp.ClientSession, path: str, status: int = 200) -> Any:
    async with session.get(API + path, headers=AUTH) as response:
        body = await response.json()
        assert response.status == status, body
        check_response("GET", path, status, body)
        return body


def answered(metrics: str) -> float:
    found = re.search(r'^switchboard_calls_total\{outcome="answered"\} (\S+)$', metrics, re.M)
    assert found is not None, metrics
    return float(found[1])


async def test_a_connected_call_is_live_in_the_api_and_counted_when_it_ends(
    daemon: DaemonProcess,
) -> None:
    async with aiohttp.ClientSession() as session:
        ready = await get_json(session, "/ready")
        assert ready == {"status": "ready",
                         "checks": {"ari": "ok", "flows": "ok", "database": "ok"}}  # fmt: skip
        agent = start_agent_uas(AGENT_PORTS["agent100"])
        caller = asyncio.create_task(asyncio.to_thread(run_caller, COMPANY_NUMBER, None, 6000))
        connected: list[dict[str, Any]] = []
        async with asyncio.timeout(20):
            while not connected:
                live = await get_json(session, "/calls/live")
                connected = [c for c in live["calls"] if c["status"] == "connected"]
                await asyncio.sleep(0.2)
        (call,) = connected
        assert call["dialed"] == COMPANY_NUMBER
        assert call["answered_by"] == "PJSIP/agent100"
        assert call["flow"]
        result = await caller
        assert await asyncio.to_thread(finish_sipp, agent) == 0
        assert result.returncode == 0, "the caller's call failed (see artifacts/sipp)"
        assert await asyncio.to_thread(wait_for_channel_count, 0) == 0
        async with asyncio.timeout(10):
            while (await get_json(session, "/calls/live"))["count"]:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
        async with session.get(API + "/metrics", headers=AUTH) as response:
            assert response.status == 200
            metrics = await response.text()
    assert answered(metrics) == 1.0  # (a fresh daemon per test)
    assert "switchboard_calls_in_progress 0.0" in metrics
    assert re.search(r"^switchboard_call_wait_seconds_count 1\.0$", metrics, re.M)
    assert call["call_id"] in daemon.calls()
