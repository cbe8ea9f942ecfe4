"""The API application: built once by the composition root, served on
``api.listen``; feature modules add routes to it.

Every route is either public (``public(app, name)``: health, readiness, the
spec, the login form, the web-callback form and its POST) or needs a token with
one scope (``scoped(app, scope, name)``, next to where the route is added). A
route that is neither is refused to everyone, and the app refuses to start.
``ApiServer`` serves the app through the guarded edge (``connections``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from aiohttp import web

from switchboard.config import ApiConfig, ApiScope
from switchboard.daemon import Supervisor
from switchboard.db import Database
from switchboard.flows.registry import FlowRegistry
from switchboard.live import LiveHub
from switchboard.metrics import Metrics
from switchboard.retention import CallerEraser

from .auth import AUTH_FAILURES, AuthFailures, authenticate, authorize
from .clients import TRUSTED_PROXIES
from .connections import Edge
from .errors import ApiError, Handler, errors_middleware
from .refusals import summarise

log = logging.getLogger("switchboard.api")


@dataclass(frozen=True, slots=True)
class ApiContext:
    """What the handlers may use, handed in by the composition root."""

    config: ApiConfig
    ari_connected: Callable[[], bool] = lambda: False
    supervisor: Supervisor | None = None  # calls, queues, the agent router
    flows: FlowRegistry | None = None
    database: Database | None = None
    metrics: Metrics | None = None
    voicemail_directory: Path | None = None  # audio is served only from under it
    recording_directory: Path | None = None  # (call recordings: the same)
    live: LiveHub | None = None  # call events as they happen (the pages)
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)  # the daemon's ("today")
    eraser: CallerEraser | None = None  # POST /privacy/erase (needs a database)


CONTEXT = web.AppKey("context", ApiContext)
PUBLIC = web.AppKey("public_routes", set[str])
SCOPES = web.AppKey("route_scopes", dict[str, ApiScope])
LOGIN_FIRST = web.AppKey("login_first_routes", set[str])
CLIENT = web.RequestKey("api_client", str)  # the name of the token used ("" for public routes)
LOGIN_PATH = "/login"


def public(app: web.Application, *route_names: str) -> None:
    """Mark routes (by name) as open without a token."""
    _undeclared(app, route_names)
    app[PUBLIC].update(route_names)


def scoped(app: web.Application, scope: ApiScope, *route_names: str) -> None:
    """Mark routes (by name) as needing a token with ``scope``."""
    _undeclared(app, route_names)
    app[SCOPES].update(dict.fromkeys(route_names, scope))


def login_first(app: web.Application, *route_names: str) -> None:
    """Browser pages among the scoped routes: without a (right) token, to the login page."""
    app[LOGIN_FIRST].update(route_names)


def _undeclared(app: web.Application, route_names: tuple[str, ...]) -> None:
    for name in route_names:
        if name in app[PUBLIC] or name in app[SCOPES]:
            raise ValueError(f"route {name!r} is declared twice (public or scoped)")


def unguarded_routes(app: web.Application) -> list[str]:
    """Routes that are neither public nor scoped (by name, or path when unnamed)."""
    return sorted(
        {
            resource.name or resource.canonical
            for resource in app.router.resources()
            if resource.name not in app[PUBLIC] and resource.name not in app[SCOPES]
        }
    )


async def refuse_unguarded(app: web.Application) -> None:
    """At start: every route says who may use it, or the server does not start."""
    if unguarded := unguarded_routes(app):
        raise RuntimeError(f"API routes neither public nor scoped: {', '.join(unguarded)}")


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    route, app = request.match_info.route, request.app
    # Public routes, and no route at all (a 404 or 405 without asking for a token).
    if route.resource is None or route.name in app[PUBLIC]:
        request[CLIENT] = ""
        return await handler(request)
    scope = app[SCOPES].get(route.name or "")
    if scope is None:  # (refuse_unguarded stops a server with one from starting)
        raise RuntimeError(f"route {route.name or route.resource.canonical!r} has no scope")
    try:
        token = authenticate(request, app[CONTEXT].config.tokens)
    except ApiError as refused:
        if route.name in app[LOGIN_FIRST] and refused.status == 401:
            login = f"{LOGIN_PATH}?next={quote(request.path_qs, safe='')}"
            cookie = refused.headers.get("Set-Cookie")  # a wrong cookie (an old token) goes
            headers = {"Set-Cookie": cookie} if cookie else None
            raise web.HTTPSeeOther(login, headers=headers) from None
        raise
    request[CLIENT] = token.name
    authorize(request, token, scope)
    return await handler(request)


async def health(request: web.Request) -> web.Response:
    """Liveness: the process answers (no token; nothing about its state)."""
    return web.json_response({"status": "ok"})


def make_app(context: ApiContext) -> web.Application:
    app = web.Application(
        middlewares=[errors_middleware, auth_middleware],
        client_max_size=context.config.max_body_bytes,
    )
    app[CONTEXT] = context
    app[PUBLIC], app[SCOPES], app[LOGIN_FIRST] = set(), {}, set()
    app.on_startup.append(refuse_unguarded)
    app[TRUSTED_PROXIES] = context.config.trusted_proxies
    app[AUTH_FAILURES] = AuthFailures(context.config.auth_failures)
    app.cleanup_ctx.append(refusal_summaries)
    app.router.add_get("/health", health, name="health")
    public(app, "health")
    from switchboard.pages import add_pages  # (they use this module's keys)

    from . import activity, agents, history, ops, privacy, recordings, voicemails

    for feature in (ops, activity, agents, history, recordings, voicemails, privacy):
        feature.add_routes(app)
    add_pages(app)
    return app


async def refusal_summaries(app: web.Application) -> AsyncIterator[None]:
    """The refused-requests summary line, once a minute while the app runs."""
    task = asyncio.create_task(summarise(app[AUTH_FAILURES].refusals, "requests"))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


class ApiServer:
    """Serves an app on ``api.listen`` between ``start()`` and ``stop()``, every
    connection through the edge's limits (``max_connections``: the configured
    number unless the composition root lowered it to fit the open-files limit)."""

    def __init__(
        self, app: web.Application, host: str, port: int, max_connections: int | None = None
    ) -> None:
        self.app = app
        self.host, self.port = host, port
        config = app[CONTEXT].config
        self.edge = Edge(config, max_connections or config.max_connections)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        self._listener: asyncio.Server | None = None
        self._summaries: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._runner.setup()  # the app's start-up; the runner keeps its connections
        server = self._runner.server
        assert server is not None
        loop = asyncio.get_running_loop()
        self._listener = await loop.create_server(
            lambda: self.edge.handler(server), self.host, self.port, reuse_address=True
        )
        if self.port == 0:
            self.port = int(self._listener.sockets[0].getsockname()[1])
        self._summaries = asyncio.create_task(summarise(self.edge.refusals, "connections"))
        log.info(
            "api.listening",
            extra={"host": self.host, "port": self.port,
                   "max_connections": self.edge.gate.total},
        )  # fmt: skip

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()  # no new connections; open ones are shut down below
        await self._runner.cleanup()
        if self._summaries is not None:
            self._summaries.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._summaries
