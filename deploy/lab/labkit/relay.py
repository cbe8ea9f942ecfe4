"""A TCP relay in front of Asterisk's HTTP port, that a fault campaign can cut.

The daemon's ``ari.url`` points at the relay; each connection the daemon opens
(REST requests and the event websocket alike) is piped to the upstream port.
``sever()`` closes every open connection at once (the daemon sees its websocket
drop and its requests fail, as on a network cut) and refuses new ones (they are
accepted and closed at once, as a firewall's reset would) until ``restore()``.
The daemon does not die; Asterisk does not notice anything but closed sockets.

    relay = Relay(upstream_port=8088)
    port = await relay.start()          # the daemon's ari.url: http://127.0.0.1:{port}
    await relay.sever(); ...; relay.restore()

``ThreadedRelay`` runs the same relay on its own thread for blocking tier-3 tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class Relay:
    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self.severed = False
        self.accepted = 0  # connections piped since start
        self.refused = 0  # connections closed at once while severed
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self, port: int = 0) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def sever(self) -> int:
        """Close every open connection and refuse new ones; returns how many were cut."""
        self.severed = True
        writers = list(self._writers)
        for writer in writers:
            writer.transport.abort()  # an RST, not a polite FIN: like a cable pulled
        for pipe in list(self._pipes):
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)
        return len(writers) // 2

    def restore(self) -> None:
        self.severed = False

    async def close(self) -> None:
        await self.sever()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.severed:
            self.refused += 1
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.transport.abort()  # Asterisk is down: the daemon sees a refused connection
            return
        self.accepted += 1
        self._writers.update((writer, up_writer))
        task = asyncio.current_task()
        assert task is not None
        self._pipes.add(task)
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        except asyncio.CancelledError:
            pass
        finally:
            self._pipes.discard(task)
            for one in (writer, up_writer):
                self._writers.discard(one)
                one.transport.abort()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            if writer.can_write_eof():
                writer.write_eof()


class ThreadedRelay:
    """The relay on a thread of its own, for blocking code (tier 3, the campaign)."""

    def __init__(self, upstream_port: int = 8088) -> None:
        self.relay = Relay(upstream_port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def port(self) -> int:
        return self.relay.port

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def start(self, port: int = 0) -> ThreadedRelay:
        self._thread.start()
        self._run(self.relay.start(port))
        return self

    def sever(self) -> float:
        """Cut every connection, refuse new ones; returns the time it began."""
        began = time.time()
        self._run(self.relay.sever())
        return began

    def restore(self) -> float:
        self._loop.call_soon_threadsafe(self.relay.restore)
        return time.time()

    def stop(self) -> None:
        self._run(self.relay.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()
