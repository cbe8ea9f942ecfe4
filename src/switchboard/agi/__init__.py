"""FastAGI: Switchboard's routing for sites that keep their own dialplan.

``protocol`` (pure: the environment, replies, quoting), ``params`` (pure: what
each script asks), ``server`` (asyncio, bounded sessions), ``handlers`` (the
scripts ``route``, ``done``, ``hours``) and ``holds`` (agents handed out, until
released). See docs/agi.md.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from switchboard.ari.client import AriClient
from switchboard.config import AgiConfig
from switchboard.flows.registry import FlowRegistry

from .handlers import AgiHandlers
from .ports import AgentRouting
from .server import AgiServer

__all__ = ["AgiHandlers", "AgiServer", "start_agi"]


def start_agi(
    config: AgiConfig,
    router: AgentRouting,
    clock: Callable[[], datetime],
    client: AriClient,
    flows: FlowRegistry,
) -> list[asyncio.Task[None]]:
    """The server and its safety net, as tasks of the daemon (cancelled at its stop)."""

    async def live_channels() -> set[str]:
        return {channel.id for channel in await client.list_channels()}

    handlers = AgiHandlers(
        config,
        router,
        lambda: {n: c for flow in flows.current.flows for n, c in flow.calendars.items()},
        clock,
        live_channels,
    )
    server = AgiServer(config, handlers)
    return [
        asyncio.create_task(server.run(), name="agi"),
        asyncio.create_task(handlers.run(), name="agi-holds"),
    ]
