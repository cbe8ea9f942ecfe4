"""The ARI event websocket: connect, read, reconnect with backoff and jitter.

The stream knows nothing of calls. It hands each typed event to ``on_event``
(synchronously, in arrival order) and awaits ``on_connect`` after every
successful (re)connection, before reading, so the owner can reconcile what it
believes exists with what Asterisk says exists.

On every connection it first asks Asterisk for only the event types it parses
(``PUT /applications/{app}/eventFilter``): Asterisk otherwise sends an app every
variable set on its channels (``ChannelVarset``, about 25 a call, each with the
whole channel), which would be read, decoded and dropped.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp

from .client import basic_auth_header, segment
from .events import EVENT_TYPES, ApplicationReplaced, AriEvent, MalformedEvent, decode_message

log = logging.getLogger("switchboard.ari.stream")
STABLE_S = 10.0  # a connection that lasted this long resets the backoff
FILTER_TIMEOUT = aiohttp.ClientTimeout(total=10.0)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with "equal jitter": a random wait in [ceiling/2, ceiling].

    Half the ceiling is always waited, so a flapping Asterisk is not hammered;
    the random half spreads several daemons apart.
    """

    base: float = 0.5
    cap: float = 30.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        ceiling = min(self.cap, self.base * (2 ** min(attempt, 30)))
        return rng.uniform(ceiling / 2, ceiling)


class ApplicationTakenOver(Exception):
    """Another client connected with our application name and took it over."""


class EventStream:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        username: str,
        password: str,
        app: str,
        *,
        on_event: Callable[[AriEvent], None],
        on_connect: Callable[[], Awaitable[None]],
        backoff: Backoff | None = None,
        heartbeat: float = 10.0,
        rng: random.Random | None = None,
    ) -> None:
        scheme_url = base_url.rstrip("/").replace("http://", "ws://").replace("https://", "wss://")
        self._url = f"{scheme_url}/ari/events"
        self._filter_url = f"{base_url.rstrip('/')}/ari/applications/{segment(app)}/eventFilter"
        self._params = {"app": app, "subscribeAll": "false"}
        self._headers = {"Authorization": basic_auth_header(username, password)}
        self._session = session
        self._on_event = on_event
        self._on_connect = on_connect
        self._backoff = backoff or Backoff()
        self._heartbeat = heartbeat
        self._rng = rng or random.Random()
        self.reconnects = 0
        self.connected = False  # the websocket is open (for /ready)

    async def run(self) -> None:
        """Read events until cancelled; raise ApplicationTakenOver if replaced."""
        attempt = 0
        while True:
            connected_at = await self._connect_and_read()
            if connected_at is not None and time.monotonic() - connected_at >= STABLE_S:
                attempt = 0  # only a connection that held resets the backoff
            delay = self._backoff.delay(attempt, self._rng)
            attempt += 1
            self.reconnects += 1
            log.info("ari.reconnect_wait", extra={"seconds": round(delay, 3), "attempt": attempt})
            await asyncio.sleep(delay)

    async def _connect_and_read(self) -> float | None:
        """One connection's life; returns when it started, or None if it never opened."""
        try:
            async with self._session.ws_connect(
                self._url, params=self._params, headers=self._headers, heartbeat=self._heartbeat
            ) as ws:
                connected_at = time.monotonic()
                log.info("ari.connected", extra={"url": self._url})
                self.connected = True
                await self._filter_events()
                try:
                    await self._on_connect()
                except Exception:  # a reconcile bug must not leave us deaf to events
                    log.exception("ari.on_connect_failed")
                try:
                    await self._read(ws)
                finally:
                    self.connected = False
            log.warning("ari.disconnected", extra={"close_code": ws.close_code})
            return connected_at
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status == 401:
                log.error("ari.unauthorized", extra={"detail": "check ari.username/password"})
            else:
                log.warning("ari.connect_failed", extra={"error": f"HTTP {exc.status}"})
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.warning("ari.connect_failed", extra={"error": f"{type(exc).__name__}: {exc}"})
        return None

    async def _filter_events(self) -> None:
        """Only the events we parse; if Asterisk refuses, every event comes (as before)."""
        body = {"allowed": [{"type": kind} for kind in EVENT_TYPES]}
        try:
            async with self._session.put(
                self._filter_url, json=body, headers=self._headers, timeout=FILTER_TIMEOUT
            ) as resp:
                if resp.status >= 300:
                    text = await resp.text()
                    log.warning(
                        "ari.event_filter_refused",
                        extra={"status": resp.status, "body": text[:300]},
                    )
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("ari.event_filter_failed", extra={"error": f"{type(exc).__name__}: {exc}"})

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                if msg.type is aiohttp.WSMsgType.ERROR:
                    log.warning("ari.ws_error", extra={"error": str(ws.exception())})
                continue
            try:
                event = decode_message(msg.data)
            except MalformedEvent as exc:
                log.warning("ari.malformed_event", extra={"error": str(exc), "raw": msg.data[:500]})
                continue
            if isinstance(event, ApplicationReplaced):
                raise ApplicationTakenOver(event.application)
            try:
                self._on_event(event)
            except Exception:  # a bug in dispatch must not stop every other call's events
                log.exception("ari.dispatch_failed", extra={"event": type(event).__name__})
