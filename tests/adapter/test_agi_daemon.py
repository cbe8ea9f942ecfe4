"""Tier 2: the FastAGI server inside the real daemon (run_daemon), with the fake ARI.

The server answers from the flows the daemon serves (their calendars) at the
daemon's clock; a port it cannot bind leaves the ARI calls untouched."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

import pytest

from switchboard.app import run_daemon
from switchboard.config import AgiConfig, DaemonConfig
from switchboard.flows.registry import FlowRegistry
from tests.adapter.test_daemon_fake_ari import connected_call, lab_config, logged
from tests.agikit import agi_call
from tests.fake_ari import FakeAri
from tests.flowkit import SPINE

OFFICE = (
    """
calendars:
  office:
    zone: Europe/Moscow
    weekly:
      mon-fri: "09:00-18:00"
"""
    + SPINE
)


@asynccontextmanager
async def daemon_with_agi(fake: FakeAri, agi: AgiConfig) -> AsyncIterator[None]:
    with tempfile.TemporaryDirectory() as flow_dir:
        (Path(flow_dir) / "flow.yaml").write_text(OFFICE)
        config = lab_config(fake, Path(flow_dir))
        start = datetime.fromisoformat("2026-11-30T19:30:00+03:00")  # Monday evening
        config = dataclasses.replace(
            config, agi=agi, daemon=DaemonConfig(drain_timeout=1.0, clock_start=start)
        )
        registry = FlowRegistry(list(config.flows.files), config.flows.prompts)
        stop = asyncio.Event()
        task = asyncio.create_task(run_daemon(config, registry, stop))
        await fake.wait_connected()
        await fake.wait_request("GET", "/bridges")  # first reconcile done
        try:
            yield
        finally:
            stop.set()
            assert await asyncio.wait_for(task, 10) == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_the_daemons_agi_server_reads_the_flows_calendars_at_the_daemons_clock(
    fake: FakeAri, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    async with daemon_with_agi(fake, AgiConfig(port=port)):
        await logged(caplog, "agi.listening")
        hours = await agi_call(port, "hours?calendar=office")
        assert hours.variables == {
            "SWITCHBOARD_OPEN": "0",
            "SWITCHBOARD_HOURS": "closed",
            "SWITCHBOARD_NEXT_CHANGE": "2026-12-01T09:00:00+03:00",
            "SWITCHBOARD_ERROR": "",
        }
        route = await agi_call(port, "route?skill=sales&fallback=PJSIP/100", uniqueid="1.1")
        assert route.variables["SWITCHBOARD_ERROR"] == (
            "routing unavailable: no database configured (add a database: section)"
        )
        assert route.variables["SWITCHBOARD_TARGET"] == "PJSIP/100"


async def test_an_agi_port_in_use_leaves_the_ari_calls_untouched(
    fake: FakeAri, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        agi = AgiConfig(port=taken.getsockname()[1])
        async with daemon_with_agi(fake, agi):
            await logged(caplog, "agi.listen_failed")
            caller = await connected_call(fake)  # greeted and bridged to the agent
            await fake.caller_hangs_up(caller)
            await fake.wait_request("DELETE", rf"/bridges/{caller}-bridge")
