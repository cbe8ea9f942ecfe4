"""``GET /live``: the websocket the pages follow (``?agent=ID`` or ``?wallboard=1``).

The server only talks: a fresh picture when the socket opens, then what changes.
A socket that falls behind the hub is closed (1013, try again later) and its page
reconnects and starts from a fresh picture. Only our own pages may open it: the
Origin header must name this host (the cookie would otherwise let any site a
logged-in browser visits read the calls).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from switchboard.api.errors import ApiError
from switchboard.live import CallEvent, LiveEvent, Subscription, SubscriptionDropped

from .board import screen_key, screen_message
from .views import PAGES, Pages, card_message, same_origin

log = logging.getLogger("switchboard.pages")
REFRESH_S = 2.0  # the wallboard is sent again at least this often (waits grow)
SETTLE_S = 0.2  # events this close together make one wallboard update
HEARTBEAT_S = 20.0
BAD_ORIGIN = "the live feed may only be opened by this server's own pages"


async def live_socket(request: web.Request) -> web.StreamResponse:
    if not same_origin(request):
        raise ApiError(403, "bad_origin", BAD_ORIGIN)
    pages = request.app[PAGES]
    agent = request.query.get("agent", "")
    if not agent and request.query.get("wallboard") != "1":
        raise ApiError(400, "invalid_query", "ask for ?agent=ID or ?wallboard=1")
    hub = pages.context.live
    if hub is None:
        raise ApiError(503, "no_live_events", "this server has no live events")
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT_S)
    await ws.prepare(request)
    pages.sockets.add(ws)
    try:
        if agent:
            profile = await pages.agent(agent, request.query.getall("endpoint", []))
            shown = ScreenShown(profile.id, frozenset(profile.endpoints))
            with hub.subscribe(shown.concerns) as feed:
                await _until_closed(ws, _screen(pages, ws, feed, shown))
        else:
            with hub.subscribe() as feed:
                await _until_closed(ws, _wallboard(pages, ws, feed))
    finally:
        pages.sockets.discard(ws)
    return ws


@dataclass(slots=True)
class ScreenShown:
    """An agent's screen: whose calls it follows, and the call it shows now."""

    agent: str
    endpoints: frozenset[str]
    call_id: str = ""

    def concerns(self, event: LiveEvent) -> bool:
        """Only these events reach the screen's queue (the hub offers it every event:
        with a hundred agents' screens open, a call step costs a hundred cheap tests,
        not a hundred queued events)."""
        return isinstance(event, CallEvent) and (
            event.agent == self.agent
            or event.endpoint in self.endpoints
            or event.call_id == self.call_id
        )


async def _until_closed(ws: web.WebSocketResponse, talker: Coroutine[Any, Any, None]) -> None:
    """Talk until the browser leaves, the server stops, or the socket falls behind."""
    listening = asyncio.create_task(_listen(ws))
    talking = asyncio.create_task(talker)
    try:
        await asyncio.wait({listening, talking}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (listening, talking):
            task.cancel()
        results = await asyncio.gather(listening, talking, return_exceptions=True)
    if isinstance(results[1], SubscriptionDropped):
        await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"fell behind; reconnect")
    elif isinstance(results[1], ConnectionError):
        pass  # the browser went away mid-send
    elif isinstance(results[1], Exception):
        log.error("pages.live_failed", exc_info=results[1])
        await ws.close(code=WSCloseCode.INTERNAL_ERROR)


async def _listen(ws: web.WebSocketResponse) -> None:
    """Read (and ignore) what the browser sends, so pings and the close are handled."""
    async for message in ws:
        if message.type is WSMsgType.ERROR:
            return


async def _screen(
    pages: Pages, ws: web.WebSocketResponse, feed: Subscription, shown: ScreenShown
) -> None:
    """The agent's screen: the call shown (when it changes), then its customer's card."""
    sent: tuple[object, ...] = ()
    carded = ""
    while True:
        message = screen_message(pages.board.screen(shown.agent, shown.endpoints))
        if screen_key(message) != sent:
            call_id, customer = str(message.get("call_id", "")), message.get("customer")
            shown.call_id = call_id  # (before any wait: its end must reach this queue)
            await ws.send_json(message)
            sent = screen_key(message)
            if isinstance(customer, dict) and customer["known"] and call_id != carded:
                carded = call_id
                card = await pages.card(int(customer["id"]))  # bounded: a second at most
                if card is not None:
                    await ws.send_json(card_message(call_id, card, pages.context.clock()))
        await feed.next()


async def _wallboard(pages: Pages, ws: web.WebSocketResponse, feed: Subscription) -> None:
    """The wallboard: now, then after every burst of events, and every REFRESH_S."""
    while True:
        await ws.send_json(await pages.wallboard())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(REFRESH_S):
                await feed.next()
                await asyncio.sleep(SETTLE_S)  # (the events of one step come together)
                feed.discard_pending()
