"""What is happening now: calls in progress and who waits in which line."""

from __future__ import annotations

from aiohttp import web

from switchboard.config import ApiScope

from .context import CONTEXT, CallsView, scoped
from .errors import ApiError
from .query import params
from .render import jsonable


def supervisor_of(request: web.Request) -> CallsView:
    supervisor = request.app[CONTEXT].supervisor
    if supervisor is None:
        raise ApiError(503, "not_running", "no call supervisor in this process")
    return supervisor


async def live_calls(request: web.Request) -> web.Response:
    """GET /calls/live: every call the daemon runs now, oldest first."""
    params(request.query, ())
    calls = supervisor_of(request).live_calls()
    return web.json_response({"calls": jsonable(calls), "count": len(calls)})


async def queues(request: web.Request) -> web.Response:
    """GET /queues: each line (queue nodes by name, the agent router's as "agents")."""
    params(request.query, ())
    lines: dict[str, list[object]] = {}
    for caller in supervisor_of(request).waiting_callers():
        lines.setdefault(caller.line, []).append(jsonable(caller))
    body = [{"name": name, "waiting": waiting} for name, waiting in lines.items()]
    return web.json_response({"queues": body})


def mount(app: web.Application) -> None:
    app.router.add_get("/calls/live", live_calls, name="calls_live")
    app.router.add_get("/queues", queues, name="queues")
    scoped(app, ApiScope.READ, "calls_live", "queues")
