"""An independent ARI listener for tier-3 tests: what did Asterisk itself report?

It connects as a second application, ``observer``, with ``subscribeAll=true``:
Asterisk then sends it the playback, bridge and channel events of every channel,
including those owned by ``switchboard`` (deploy/lab/NOTES.md, finding a).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from switchboard.ari.client import basic_auth_header

EVENTS_URL = "ws://127.0.0.1:8088/ari/events"


class Observer:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("type") == kind]


@contextlib.asynccontextmanager
async def observe() -> AsyncIterator[Observer]:
    observer = Observer()
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(
            EVENTS_URL,
            params={"app": "observer", "subscribeAll": "true"},
            headers={"Authorization": basic_auth_header("switchboard", "switchboard")},
        ) as ws,
    ):

        async def read() -> None:
            async for msg in ws:
                if msg.type is aiohttp.WSMsgType.TEXT:
                    observer.events.append(msg.json())

        reader = asyncio.create_task(read())
        try:
            yield observer
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
