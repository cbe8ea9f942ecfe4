"""The API application: built once by the composition root, served on
``api.listen``; the route groups the root lists (``context.Mount``) add routes to it.

Every route is either public (``public(app, name)``: health, readiness, the
spec, the login form, the web-callback form and its POST) or needs a token with
one scope (``scoped(app, scope, name)``, next to where the route is added; both in
``context``). A route that is neither is refused to everyone, and the app refuses
to start.
``ApiServer`` serves the app through the guarded edge (``connections``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable
from urllib.parse import quote

from aiohttp import web

from .auth import AUTH_FAILURES, AuthFailures, authenticate, authorize
from .clients import TRUSTED_PROXIES
from .connections import Edge
from .context import CLIENT, CONTEXT, LOGIN_FIRST, PUBLIC, SCOPES, ApiContext, Mount, public
from .errors import ApiError, Handler, errors_middleware
from .refusals import summarise

log = logging.getLogger("switchboard.api")
LOGIN_PATH = "/login"


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


def make_app(context: ApiContext, mounts: Iterable[Mount]) -> web.Application:
    """The application: its guards, ``/health``, then each route group in order (the
    composition root lists them: ``switchboard.app.route_groups``)."""
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
    for mount in mounts:
        mount(app)
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
