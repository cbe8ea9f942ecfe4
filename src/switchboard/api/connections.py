"""The API's listening edge: how long a client may take and how many connections
it may hold, so slow or idle sockets cannot use up the daemon's file descriptors
(which its spools, ARI and PostgreSQL need too).

aiohttp's server (3.14) closes a connection that has not sent a whole request
head within ``keepalive_timeout`` of its start or of the previous response, but
does not time a head trickled in byte by byte from its first byte, nor a body
that stalls (a handler reading it waits for ever), nor count connections. So
each connection is served by a ``GuardedHandler`` (aiohttp's protocol with a
watchdog; aiohttp still parses the HTTP):

- ``api.header_timeout``: from a head's first byte to its end; then the
  connection is closed (there is no request yet to answer);
- ``api.body_timeout``: from the end of a head to the end of its body; then a
  handler reading it gets 408 ``body_timeout`` and the connection is closed
  after that answer (no handler yet: closed at once);
- ``api.keepalive_timeout``: aiohttp's own, for a connection with no request;
- ``api.max_connections`` at once, and ``api.max_connections_per_address``
  from one address (IPv6: its /64), counted by the socket's peer: a trusted
  proxy (``api.trusted_proxies``) is not limited per address, as all its
  clients share its address (it should limit them itself), only in the total.
  A connection over a limit is closed as soon as it is accepted.

Websockets (``/live``) leave the watchdog once upgraded (their heartbeat takes
over) and count as connections. ``ConnectionGate`` and the open-files sums are
pure; ``raise_open_files_limit`` touches the process.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.streams import StreamReader
from aiohttp.web_protocol import RequestHandler

from switchboard.config import ApiConfig

from .clients import address_key, is_trusted, parse_address
from .errors import ApiError
from .refusals import RefusalLog

log = logging.getLogger("switchboard.api")
FD_RESERVE = 256  # open files kept for the daemon's own work (ARI, PostgreSQL, spools)
MIN_CONNECTIONS = 16  # API connections allowed however low the open-files limit is
UNLIMITED_FILES = 1 << 20  # what "raise to the hard limit" asks for when that is unlimited


class ConnectionGate:
    """Connections open now, in all and per address key (pure: no sockets)."""

    def __init__(self, total: int, per_address: int, exempt: Callable[[str], bool]) -> None:
        self.total, self.per_address, self.exempt = total, per_address, exempt
        self.open = 0
        self._by_address: dict[str, int] = {}

    def admit(self, address: str) -> str:
        """Count a new connection from ``address``: "" if admitted, else the limit it
        is over (``max_connections``, ``max_connections_per_address``)."""
        if self.open >= self.total:
            return "max_connections"
        if not self.exempt(address):
            key = address_key(address)
            held = self._by_address.get(key, 0)
            if held >= self.per_address:
                return "max_connections_per_address"
            self._by_address[key] = held + 1
        self.open += 1
        return ""

    def release(self, address: str) -> None:
        """An admitted connection from ``address`` closed."""
        self.open -= 1
        if not self.exempt(address):
            key = address_key(address)
            held = self._by_address.pop(key, 0) - 1
            if held > 0:
                self._by_address[key] = held

    def held_by(self, address: str) -> int:
        return self._by_address.get(address_key(address), 0)


def open_files_target(soft: int, hard: int) -> int:
    """The soft open-files limit to ask for at start: the hard limit (when that is
    unlimited, ``UNLIMITED_FILES``), never lower than the soft limit now."""
    if soft == resource.RLIM_INFINITY:
        return soft
    wanted = UNLIMITED_FILES if hard == resource.RLIM_INFINITY else hard
    return max(soft, wanted)


def fd_reserve(agi_sessions: int) -> int:
    """Open files the daemon keeps for itself: ``FD_RESERVE``, plus one a FastAGI session."""
    return FD_RESERVE + agi_sessions


def connection_cap(configured: int, soft_limit: int, reserve: int) -> int:
    """API connections allowed at once: ``configured``, but no more than the open-files
    limit leaves after ``reserve`` (and at least ``MIN_CONNECTIONS``)."""
    if soft_limit == resource.RLIM_INFINITY:
        return configured
    return max(MIN_CONNECTIONS, min(configured, soft_limit - reserve))


def raise_open_files_limit() -> int:
    """Raise the soft open-files limit to the hard one where allowed; the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = open_files_target(soft, hard)
    if target == soft:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError) as exc:  # e.g. a seccomp filter refusing setrlimit
        log.info("daemon.open_files_kept", extra={"limit": soft, "error": str(exc)})
        return soft
    return target


def body_timed_out(seconds: float) -> ApiError:
    return ApiError(408, "body_timeout", f"the request body did not arrive within {seconds:g} s")


class Edge:
    """What every connection of one server shares: its limits, counts and refusal log."""

    def __init__(self, config: ApiConfig, max_connections: int) -> None:
        self.config = config
        self.gate = ConnectionGate(
            max_connections, config.max_connections_per_address, self.from_trusted_proxy
        )
        self.refusals = RefusalLog()

    def from_trusted_proxy(self, peer: str) -> bool:
        address = parse_address(peer)
        return address is not None and is_trusted(address, self.config.trusted_proxies)

    def refused(self, peer: str, reason: str) -> None:
        """A connection refused or closed for ``reason``: logged as refusals are."""
        if self.refusals.note(peer):
            log.info("api.connection_refused", extra={"peer": peer, "reason": reason})

    def handler(self, server: web.Server) -> GuardedHandler:
        """The protocol of one new connection (the listening socket's factory)."""
        return GuardedHandler(
            server,
            edge=self,
            loop=asyncio.get_running_loop(),
            keepalive_timeout=self.config.keepalive_timeout,
            access_log=None,
        )


class GuardedHandler(RequestHandler):
    """aiohttp's protocol for one connection, with the edge's limits and watchdog.

    It reads aiohttp's own state (``_request_count``, ``_messages``,
    ``_upgraded``, ``_current_request``): ``tests/adapter/test_api_edge.py``
    fails if a new aiohttp changes them."""

    def __init__(self, manager: web.Server, *, edge: Edge, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._edge = edge
        self._peer: str | None = None  # set once admitted (and counted)
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._body: StreamReader | None = None  # the body being received
        self._close_after_response = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peername = transport.get_extra_info("peername")
        peer = str(peername[0]) if isinstance(peername, tuple) and peername else ""
        refusal = self._edge.gate.admit(peer)
        super().connection_made(transport)
        if refusal:
            self._edge.refused(peer, refusal)
            self.force_close()
        else:
            self._peer = peer

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._peer is not None:
            self._edge.gate.release(self._peer)
            self._peer = None
        self._stop_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._upgraded or self._peer is None:
            super().data_received(data)
            return
        receiving_body = self._body is not None
        parsed = self._request_count
        super().data_received(data)
        if self._request_count != parsed:
            self._head_complete()
        elif data and not receiving_body and self._head_timer is None:
            # The first bytes of a head. (Bytes that end a body and start the next
            # head in one read are not timed here: keepalive_timeout bounds them.)
            loop = asyncio.get_running_loop()
            timeout = self._edge.config.header_timeout
            self._head_timer = loop.call_later(timeout, self._head_late, parsed)

    async def finish_response(
        self, request: web.BaseRequest, resp: web.StreamResponse, start_time: float | None
    ) -> tuple[web.StreamResponse, bool]:
        answered = await super().finish_response(request, resp, start_time)
        if self._close_after_response:  # the 408 is written: close (no lingering read)
            self.force_close()
        return answered

    def _head_complete(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        body = self._messages[-1][1] if self._messages else None
        if body is not None and not body.is_eof() and not self._upgraded:
            self._body = body
            loop = asyncio.get_running_loop()
            self._body_timer = loop.call_later(self._edge.config.body_timeout, self._body_late)
            body.on_eof(self._body_complete)

    def _body_complete(self) -> None:
        self._body = None
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _head_late(self, parsed: int) -> None:
        self._head_timer = None
        if self._request_count == parsed and not self._upgraded and self._peer is not None:
            self._edge.refused(self._peer, "header_timeout")
            self.force_close()

    def _body_late(self) -> None:
        self._body_timer = None
        body, self._body = self._body, None
        if body is None or body.is_eof() or self._peer is None:
            return
        self._edge.refused(self._peer, "body_timeout")
        request = self._current_request
        if request is not None and request.content is body:  # a handler may be reading it
            self._close_after_response = True
            body.set_exception(body_timed_out(self._edge.config.body_timeout))
        else:
            self.force_close()

    def _stop_timers(self) -> None:
        for timer in (self._head_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._body_timer = None
