"""Tier 2: the whole daemon (run_daemon) against the fake ARI, in this process."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from switchboard.app import run_daemon
from switchboard.config import Config
from switchboard.flows.registry import FlowRegistry
from tests.fake_ari import FakeAri


@contextlib.asynccontextmanager
async def running_daemon(fake: FakeAri, config: Config) -> AsyncIterator[None]:
    """The daemon runs with ``config`` until the block ends (then it stops and drains)."""
    registry = FlowRegistry(list(config.flows.files), config.flows.prompts)
    stop = asyncio.Event()
    task = asyncio.create_task(run_daemon(config, registry, stop))
    await fake.wait_connected(count=fake.connections + 1)
    await fake.wait_request("GET", "/bridges")  # the first reconcile is done
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.shield(task), 10)
